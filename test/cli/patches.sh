#!/usr/bin/env bash
# MicrostructurePatches: a small micrograph CSV -> stack + table with a split by sample; a
# failing call (missing column, unreadable image) exits non-zero and leaves no files.
set -euo pipefail
bin=$(cd "$1" && pwd)
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
$py - <<'PY'
import numpy as np, skimage.io as io
rng = np.random.default_rng(0)
rows = ["file,sample_id,um_per_px,rate"]
for i in range(6):
    io.imsave("m%d.png" % i, rng.integers(0, 255, (100, 130), dtype=np.uint8), check_contrast=False)
    rows.append("m%d.png,s%d,0.5,%d" % (i, i // 2, [1, 3, 10][i % 3]))
open("list.csv", "w").write("\n".join(rows) + "\n")
open("badcol.csv", "w").write("path,um_per_px\nm0.png,0.5\n")
open("missing.csv", "w").write("file,um_per_px\nnope.png,0.5\n")
PY
"$bin/MicrostructurePatches" list.csv --conditions rate --patchSize 64,32 --flip --testFraction 0.34 \
  --outputStack p.nrrd --outputTable p.csv --returnparameterfile rp.txt >/dev/null 2>&1
$py - <<'PY'
import csv
r = list(csv.DictReader(open("p.csv")))
# 130x100 with 64x32 patches: 2 x 3 = 6 per image, doubled by --flip, 6 images.
assert len(r) == 72, len(r)
assert sum(x["flipped"] == "1" for x in r) == 36
by_sample = {}
for x in r:
    by_sample.setdefault(x["sample_id"], set()).add(x["split"])
assert all(len(v) == 1 for v in by_sample.values()), by_sample
assert sum("test" in v for v in by_sample.values()) == 1  # round(0.34 * 3)
assert "numberOfPatches = 72" in open("rp.txt").read()
hdr = open("p.nrrd", "rb").read(400).decode("latin-1")
assert "sizes: 64 32 72" in hdr, hdr
PY
for args in "badcol.csv" "missing.csv" "list.csv --patchSize 64" "list.csv --where rate"; do
  if "$bin/MicrostructurePatches" $args --outputStack bad.nrrd --outputTable bad.csv >out.txt 2>err.txt; then
    echo "FAIL: '$args' should have failed"; exit 1
  fi
  grep -qi "error\|must\|takes\|give" err.txt || { echo "FAIL: '$args' gave no clear message"; cat err.txt; exit 1; }
  [ ! -e bad.nrrd ] && [ ! -e bad.csv ] || { echo "FAIL: '$args' left output files"; exit 1; }
  ls -a | grep -q '\.tmp-' && { echo "FAIL: temporary files left"; exit 1; }
  echo "ok: '$args' -> $(tail -1 err.txt | head -c 150)"
done
echo "patches CLI: all checks passed"
