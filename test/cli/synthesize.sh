#!/usr/bin/env bash
# MicrostructureSynthesize: a tiny dataset (images, phase maps, CSV), the single-image mode,
# determinism by seed, and bad arguments -> non-zero exit and no files.
set -euo pipefail
bin=$(cd "$1" && pwd)
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$bin/MicrostructureSynthesize" ds --coolingRates 1,30 --imagesPerRate 2 --size 256,192 --seed 5 >/dev/null 2>&1
"$bin/MicrostructureSynthesize" ds2 --coolingRates 1,30 --imagesPerRate 2 --size 256,192 --seed 5 >/dev/null 2>&1
$py - <<'PY'
import csv, os
import numpy as np, skimage.io as io
r = list(csv.DictReader(open("ds/micrographs.csv")))
assert len(r) == 4, r
assert sorted({x["cooling_rate_C_per_s"] for x in r}) == ["1", "30"]
for x in r:
    img = io.imread(os.path.join("ds", x["file"]))
    ph = io.imread(os.path.join("ds", x["phase_map"]))
    assert img.shape == (192, 256) and img.dtype == np.uint8, img.shape
    assert set(np.unique(ph)) <= {0, 1, 2}
    # ferrite (label 1) is bright, pearlite (label 0) dark
    assert img[ph == 1].mean() > img[ph == 0].mean() + 80
    assert abs(float(x["ferrite_fraction_true"]) - (ph == 1).mean()) < 1e-9
    again = io.imread(os.path.join("ds2", x["file"]))
    assert (again == img).all(), "same seed must give the same image"
assert len({x["sample_id"] for x in r}) == 4
PY
"$bin/MicrostructureSynthesize" --output one.png --outputPhaseMap one_phase.png --coolingRate 6.5 \
  --size 128,128 --seed 2 >/dev/null 2>&1
[ -s one.png ] && [ -s one_phase.png ] || { echo "FAIL: single-image mode wrote nothing"; exit 1; }
for args in "bad --coolingRates 0" "bad --coolingRates -3" "bad --size 0,100" "bad --coolingRates abc"; do
  if "$bin/MicrostructureSynthesize" $args >out.txt 2>err.txt; then
    echo "FAIL: '$args' should have failed"; exit 1
  fi
  [ -s err.txt ] || { echo "FAIL: '$args' gave no message"; exit 1; }
  [ ! -e bad/micrographs.csv ] || { echo "FAIL: '$args' wrote a dataset"; exit 1; }
  echo "ok: '$args' -> $(tail -1 err.txt | head -c 150)"
done
echo "synthesize CLI: all checks passed"
