#!/usr/bin/env bash
# MicrostructureSynthesize: a tiny dataset (files, CSV columns and rows, phase maps with labels
# 0/1/2 that match the images), one image with -o, --xml, and bad arguments: a message, a
# non-zero exit and no files.
source "$(dirname "$0")/common.sh" || exit 1
cli="$bin/MicrostructureSynthesize"

"$cli" --xml | $py -c 'import sys, xml.dom.minidom; d = xml.dom.minidom.parseString(sys.stdin.read()); assert d.documentElement.getElementsByTagName("title")[0].firstChild.data == "Synthesize Microstructures"'

"$cli" --coolingRates 1,6.5 --imagesPerRate 2 --size 200,150 --seed 4 ds >/dev/null 2>log.txt || { cat log.txt; exit 1; }
$py - <<'PY'
import csv, numpy as np, skimage.io as io
rows = list(csv.DictReader(open("ds/micrographs.csv")))
assert len(rows) == 4, len(rows)
for col in ("file", "micrograph_id", "sample_id", "microconstituent", "um_per_px", "cooling_rate_C_per_s",
            "seed", "phase_map", "ferrite_fraction_true", "mean_free_path_true_um"):
    assert col in rows[0], col
assert sorted({float(r["cooling_rate_C_per_s"]) for r in rows}) == [1.0, 6.5]
assert len({r["seed"] for r in rows}) == 4
for r in rows:
    g = io.imread("ds/" + r["file"]); p = io.imread("ds/" + r["phase_map"])
    assert g.shape == (150, 200) and p.shape == (150, 200) and g.dtype == np.uint8, (g.shape, p.shape)
    assert set(np.unique(p)) <= {0, 1, 2}
    assert abs(float(r["um_per_px"]) - 0.34) < 1e-12
    f = float(r["ferrite_fraction_true"])
    assert abs(f - (p == 1).mean()) < 1e-9, (f, (p == 1).mean())
    assert g[p == 1].mean() > 170 and g[p == 0].mean() < 90
print("dataset ok")
PY

# One image, regenerated from the dataset's seed: identical.
row=$($py -c 'import csv; r = list(csv.DictReader(open("ds/micrographs.csv")))[2]; print(r["seed"], r["cooling_rate_C_per_s"], r["file"])')
set -- $row
"$cli" -o one.png --outputPhaseMap one_phase.png --coolingRate "$2" --seed "$1" --size 200,150 >/dev/null 2>&1
cmp <($py -c 'import skimage.io as io, sys; sys.stdout.buffer.write(io.imread("one.png").tobytes())') \
    <($py -c 'import skimage.io as io, sys; sys.stdout.buffer.write(io.imread("ds/'"$3"'").tobytes())')

# Bad arguments: non-zero exit, a message, and nothing written.
for args in "--coolingRates 0 bad1" "--coolingRates 1,-2 bad2" "--coolingRates 1,x bad3" "--size 0,10 bad4" \
            "--spacing -1 bad5" "--imagesPerRate 0 bad6" "-o bad7.png --coolingRate nan" "-o bad8.png --coolingRate 5000"; do
  if "$cli" $args >/dev/null 2>err.txt; then echo "FAIL: accepted: $args"; exit 1; fi
  [ -s err.txt ] || { echo "FAIL: no message for: $args"; exit 1; }
done
for f in bad1 bad2 bad3 bad4 bad5 bad6 bad7.png bad8.png; do
  [ ! -e "$f" ] || { echo "FAIL: $f was written"; exit 1; }
done
echo "ok"
