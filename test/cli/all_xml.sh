#!/usr/bin/env bash
# Every command-line module answers --xml with a well-formed Slicer Execution
# Model description, within a second, and --help with usage text; an unknown
# option is an error.
set -euo pipefail
bindir="$1"
shopt -s nullglob
clis=("$bindir"/Microstructure*)
[ ${#clis[@]} -gt 0 ] || { echo "no CLIs in $bindir"; exit 1; }
for cli in "${clis[@]}"; do
  name=$(basename "$cli")
  start=$(date +%s%N)
  xml=$("$cli" --xml)
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  if (( ms > 1000 )); then
    echo "FAIL: $name --xml took ${ms} ms (must be < 1 s)"; exit 1
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
            assert has_flag, "parameter without longflag or index"
' || { echo "FAIL: $name --xml is not a valid Slicer description"; exit 1; }
  "$cli" --help | grep -q "Usage" || { echo "FAIL: $name --help"; exit 1; }
  if "$cli" --no-such-option >/dev/null 2>&1; then
    echo "FAIL: $name accepted an unknown option"; exit 1
  fi
  echo "ok: $name (--xml in ${ms} ms)"
done
