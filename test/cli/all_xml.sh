#!/usr/bin/env bash
# Every command-line module answers --xml with a well-formed Slicer Execution
# Model description (a sanity bound only: under 3 s of CPU time, 10 s of wall time on a loaded CI
# machine; the LibTorch CLIs' launchers answer in milliseconds, bench/run_cli_startup_bench.sh), and
# --help with usage text; an unknown option is an error. The <name>.xml files beside the launchers
# are descriptions, not CLIs (cli.launcher checks them).
set -euo pipefail
bindir="$1"
shopt -s nullglob
clis=("$bindir"/Microstructure*)
[ ${#clis[@]} -gt 0 ] || { echo "no CLIs in $bindir"; exit 1; }
for cli in "${clis[@]}"; do
  name=$(basename "$cli")
  [[ "$name" == *.xml ]] && continue
  out=$(mktemp)
  TIMEFORMAT='%3R %3U %3S'
  times=$( { time "$cli" --xml >"$out" 2>/dev/null; } 2>&1 )
  xml=$(cat "$out"); rm -f "$out"
  read -r ms cpums < <(echo "$times" | awk '{ printf "%d %d\n", 1000 * $1, 1000 * ($2 + $3) }')
  if (( cpums > 3000 || ms > 10000 )); then
    echo "FAIL: $name --xml took ${cpums} ms of CPU, ${ms} ms of wall time (must be < 3 s of CPU, < 10 s)"; exit 1
  fi
  echo "$xml" | /usr/bin/python3 -c '
import sys, xml.dom.minidom
doc = xml.dom.minidom.parseString(sys.stdin.read())
root = doc.documentElement
assert root.tagName == "executable", root.tagName
for tag in ("category", "title", "description"):
    assert root.getElementsByTagName(tag), "missing <%s>" % tag
assert root.getElementsByTagName("parameters"), "no <parameters>"
names = [n.firstChild.data for n in root.getElementsByTagName("name")]
assert len(names) == len(set(names)), "duplicate parameter names"
for p in root.getElementsByTagName("parameters"):
    for el in p.childNodes:
        if el.nodeType == el.ELEMENT_NODE and el.tagName not in ("label", "description"):
            has_flag = el.getElementsByTagName("longflag") or el.getElementsByTagName("index")
            channel = el.getElementsByTagName("channel")
            is_return = channel and channel[0].firstChild.data == "output"  # read from --returnparameterfile
            assert has_flag or is_return, "parameter without longflag or index"
' || { echo "FAIL: $name --xml is not a valid Slicer description"; exit 1; }
  # (captured first: grep -q leaves at the first match, and under pipefail the CLI's next write to
  # the closed pipe would fail the test)
  help=$("$cli" --help) || { echo "FAIL: $name --help exited non-zero"; exit 1; }
  grep -q "Usage" <<<"$help" || { echo "FAIL: $name --help has no usage text"; exit 1; }
  if "$cli" --no-such-option >/dev/null 2>&1; then
    echo "FAIL: $name accepted an unknown option"; exit 1
  fi
  echo "ok: $name (--xml in ${cpums} ms of CPU, ${ms} ms wall)"
done
