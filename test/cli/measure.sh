#!/usr/bin/env bash
# MicrostructureMeasure on images with analytic answers: a 2D micrograph, a
# stack with its patch table grouped by a column, a CSV list of micrographs;
# bad input gives a message, a non-zero exit and no output files.
source "$(dirname "$0")/common.sh" || exit 1

# Vertical stripes: ferrite (200) columns [0,10), [20,30), ... [80,90) in a 100x100 image.
# Horizontal lines: L_L = 0.5, 4 interior segments + 1 cut by the left edge (1/2) per row:
# d_H = 50 / 4.5 px. Two patches of a stack: stripes of width 10 and of width 5 (period 10).
$py - <<'PY'
import numpy as np, skimage.io as io
def stripes(w, p):
    a = np.full((100, 100), 50, np.uint8)
    for c in range(0, 100, p):
        a[:, c:c + w] = 200
    return a
io.imsave("stripes.png", stripes(10, 20), check_contrast=False)
io.imsave("rgb.png", np.dstack([stripes(10, 20)] * 3), check_contrast=False)
stack = np.stack([stripes(10, 20), stripes(5, 10)])
open("stack.raw", "wb").write(stack.tobytes())
with open("stack.mhd", "w") as f:
    f.write("ObjectType = Image\nNDims = 3\nDimSize = 100 100 2\nElementSpacing = 0.5 0.5 1\n"
            "ElementType = MET_UCHAR\nElementDataFile = stack.raw\n")
with open("patches.csv", "w") as f:
    f.write("patch,cooling_rate\n0,1\n1,30\n")
with open("list.csv", "w") as f:
    f.write("file,um_per_px,cooling_rate\nstripes.png,0.25,3\nstripes.png,0.5,3\n")
with open("three.csv", "w") as f:
    f.write("patch\n0\n1\n2\n")
PY

"$bin/MicrostructureMeasure" stripes.png --pixelSize 0.5 --outputTable one.csv --returnparameterfile rp.txt >/dev/null 2>&1
$py - <<'PY'
import csv
r = list(csv.DictReader(open("one.csv")))
assert len(r) == 1, r
assert abs(float(r[0]["volume_fraction"]) - 0.5) < 1e-12
assert abs(float(r[0]["mean_free_path_h_px"]) - 50 / 4.5) < 1e-9, r[0]["mean_free_path_h_px"]
assert abs(float(r[0]["mean_free_path_h_um"]) - 25 / 4.5) < 1e-9
rp = dict(l.split(" = ") for l in open("rp.txt").read().splitlines())
assert abs(float(rp["meanVolumeFraction"]) - 0.5) < 1e-12, rp
PY

# Slicer's progress protocol on stdout: a start, progress values in [0, 1] that never go back,
# and an end.
"$bin/MicrostructureMeasure" stack.mhd --outputTable progress.csv >progress.txt 2>/dev/null
$py - <<'PY'
import re
out = open("progress.txt").read()
assert out.index("<filter-start>") < out.index("<filter-end>"), out
values = [float(v) for v in re.findall(r"<filter-progress>([^<]*)</filter-progress>", out)]
assert values and values[-1] == 1.0, values
assert all(0.0 <= a <= b <= 1.0 for a, b in zip(values, values[1:])), values
PY

"$bin/MicrostructureMeasure" stack.mhd --table patches.csv --groupBy cooling_rate --edgeRule whole \
  --outputTable stack.csv --outputSummary stack.json >/dev/null 2>&1
$py - <<'PY'
import csv, json
r = list(csv.DictReader(open("stack.csv")))
assert [x["cooling_rate"] for x in r] == ["1", "30"]
# whole-count rule: width 10 period 20 -> 5 segments per row, d_H = 50/5 = 10 px;
# width 5 period 10 -> 10 segments per row, d_H = 5 px.
assert abs(float(r[0]["mean_free_path_h_px"]) - 10) < 1e-9, r[0]["mean_free_path_h_px"]
assert abs(float(r[1]["mean_free_path_h_px"]) - 5) < 1e-9, r[1]["mean_free_path_h_px"]
assert abs(float(r[1]["mean_free_path_h_um"]) - 2.5) < 1e-9
s = json.load(open("stack.json"))
assert s["group_by"] == "cooling_rate"
assert [g["group"] for g in s["groups"]] == ["1", "30"]
assert s["groups"][1]["metrics"]["volume_fraction"]["mean"] == 0.5
PY

# S2 of width-10 period-20 stripes along x: a triangle wave; S2(0) = 0.5, S2(10) = 0.5 * (n-valid
# pairs both in stripes) = 0 at r = 10 (a stripe never overlaps its shift by its own width), and
# S2 along y stays 0.5.
"$bin/MicrostructureMeasure" stripes.png --outputCorrelation s2.csv --correlationDistance 20 >/dev/null 2>&1
$py - <<'PY'
import csv
r = list(csv.DictReader(open("s2.csv")))
assert len(r) == 21, len(r)
assert abs(float(r[0]["s2_x"]) - 0.5) < 1e-6 and abs(float(r[10]["s2_x"])) < 1e-6, (r[0], r[10])
assert abs(float(r[20]["s2_x"]) - 0.5) < 1e-6
assert all(abs(float(x["s2_y"]) - 0.5) < 1e-6 for x in r)
PY

# Chords of the width-10 period-20 stripes: per row 4 interior ferrite chords and 4 interior
# pearlite chords of 10 px (the ferrite stripe at the left edge and the pearlite one at the right
# edge are cut, so left out); vertical chords span the whole image, cut by both edges: none.
"$bin/MicrostructureMeasure" stripes.png --pixelSize 0.5 --outputChords chords.csv >/dev/null 2>&1
$py - <<'PY'
import csv
r = list(csv.DictReader(open("chords.csv")))
got = {(x["phase"], x["direction"], x["length_px"]): int(x["count"]) for x in r}
assert got == {("foreground", "h", "10"): 400, ("background", "h", "10"): 400}, got
assert all(x["length_um"] == "5" for x in r)
PY

# Particles: bright discs of radius 6 on a dark 100 x 100 image, three inside, one cut by the left edge
# (counted) and one by the right edge (not counted). The particle table must match scikit-image's
# labelling (areas, boxes), and the density is 4 counted / (99 x 99 px of 0.5 um).
$py - <<'PY'
import numpy as np, skimage.io as io
y, x = np.mgrid[0:100, 0:100]
a = np.full((100, 100), 40, np.uint8)
for cx, cy in [(30, 30), (70, 30), (50, 70), (0, 50), (99, 80)]:
    a[(x - cx) ** 2 + (y - cy) ** 2 <= 36] = 220
io.imsave("discs.png", a, check_contrast=False)
PY
"$bin/MicrostructureMeasure" discs.png --pixelSize 0.5 --outputTable discs.csv --outputParticles particles.csv >/dev/null 2>&1
$py - <<'PY'
import csv, math
import numpy as np, skimage.io as io, skimage.measure as measure
m = io.imread("discs.png") > 128
props = measure.regionprops(measure.label(m, connectivity=1))
truth = sorted((p.bbox[0], p.bbox[1], p.bbox[3] - p.bbox[1], p.bbox[2] - p.bbox[0], int(p.area)) for p in props)
r = list(csv.DictReader(open("particles.csv")))
got = sorted((int(x["top"]), int(x["left"]), int(x["width"]), int(x["height"]), int(x["area_px"])) for x in r)
assert got == truth, (got, truth)
assert sum(int(x["counted"]) for x in r) == 4, r
assert sum(int(x["edge"]) for x in r) == 2, r
for x in r:
    assert abs(float(x["diameter_um"]) - 0.5 * 2 * math.sqrt(int(x["area_px"]) / math.pi)) < 1e-9, x
    assert (float(x["weight"]) > 0) == (x["edge"] == "0"), x
t = list(csv.DictReader(open("discs.csv")))[0]
assert abs(float(t["particle_density_per_um2"]) - 4 / (99 * 99 * 0.25)) < 1e-12, t["particle_density_per_um2"]
assert t["particles_counted"] == "4", t["particles_counted"]
inner = [float(x["diameter_um"]) for x in r if x["edge"] == "0"]
assert abs(float(t["particle_mean_diameter_um"]) - sum(inner) / 3) < 1e-9  # equal boxes: equal weights
PY

# Smoothing before Otsu, and the phase map that was measured: noisy stripes (noise sd 60 on a
# contrast of 150). The written map is 0/1 with the table's volume fraction; smoothing 1 px makes
# far fewer noise particles than raw Otsu.
$py - <<'PY'
import numpy as np, skimage.io as io
rng = np.random.default_rng(1)
a = np.full((100, 100), 50.0)
for c in range(0, 100, 20):
    a[:, c:c + 10] = 200
io.imsave("noisy.png", np.clip(a + rng.normal(0, 60, a.shape), 0, 255).astype(np.uint8), check_contrast=False)
PY
"$bin/MicrostructureMeasure" noisy.png --outputTable raw.csv --outputPhaseMap raw_pm.png >/dev/null 2>&1
"$bin/MicrostructureMeasure" noisy.png --smoothing 1 --outputTable smooth.csv --outputPhaseMap smooth_pm.png >/dev/null 2>&1
$py - <<'PY'
import csv
import numpy as np, skimage.io as io
for name in ("raw", "smooth"):
    pm = io.imread(name + "_pm.png")
    t = list(csv.DictReader(open(name + ".csv")))[0]
    assert pm.shape == (100, 100) and set(np.unique(pm)) <= {0, 1}, (name, np.unique(pm))
    assert abs(pm.mean() - float(t["volume_fraction"])) < 1e-12, (name, pm.mean(), t["volume_fraction"])
raw = float(list(csv.DictReader(open("raw.csv")))[0]["particles_counted"])
smooth = float(list(csv.DictReader(open("smooth.csv")))[0]["particles_counted"])
assert raw > 50 and smooth < raw / 5, (raw, smooth)
PY

"$bin/MicrostructureMeasure" list.csv --groupBy cooling_rate --outputSummary list.json >/dev/null 2>&1
$py - <<'PY'
import json
s = json.load(open("list.json"))
g = s["groups"][0]["metrics"]["mean_free_path_h_um"]
# pixel sizes 0.25 and 0.5 um: d_H = 11.11 px -> 2.78 and 5.56 um
assert g["n"] == 2 and abs(g["mean"] - (50 / 4.5) * 0.375) < 1e-9, g
assert g["ci95_low"] < g["mean"] < g["ci95_high"]
PY

# Bad input: an RGB image, a missing file, a stack with a table of the wrong length.
for args in "rgb.png" "missing.png" "stack.mhd --table three.csv" "stripes.png --edgeRule sideways" \
  "stripes.png --smoothing -1" "stripes.png --smoothing nan" "list.csv --outputPhaseMap bad.png"; do
  if "$bin/MicrostructureMeasure" $args --outputTable bad.csv --outputSummary bad.json >out.txt 2>err.txt; then
    echo "FAIL: '$args' should have failed"; exit 1
  fi
  [ -s err.txt ] || { echo "FAIL: '$args' gave no message"; exit 1; }
  [ ! -e bad.csv ] && [ ! -e bad.json ] && [ ! -e bad.png ] || { echo "FAIL: '$args' left output files"; exit 1; }
  ls -a | grep -q '\.tmp-' && { echo "FAIL: temporary files left"; exit 1; }
  echo "ok: '$args' -> $(head -c 160 err.txt)"
done
echo "measure CLI: all checks passed"
