#!/usr/bin/env bash
# MicrostructurePatches: a small micrograph CSV -> stack + table with a split by sample, exact
# pixel values and flips; resampling mixed pixel sizes; --range; --xml; Slicer progress; a
# failing call (missing column, malformed CSV, unreadable/RGB image, ...) exits non-zero with a
# clear message and leaves no files; --confineReads refuses files outside the dataset's folder.
source "$(dirname "$0")/common.sh" || exit 1

# --xml: the module's description, with its title, category and the options of the dataset tool.
"$bin/MicrostructurePatches" --xml | $py -c '
import sys, xml.dom.minidom
root = xml.dom.minidom.parseString(sys.stdin.read()).documentElement
text = lambda tag: root.getElementsByTagName(tag)[0].firstChild.data.strip()
assert text("title") == "Microstructure Patches", text("title")
assert text("category") == "Microstructure", text("category")
longflags = {n.firstChild.data for n in root.getElementsByTagName("longflag")}
for f in ("outputStack", "outputTable", "conditions", "where", "range", "pixelSize", "patchSize", "stride",
          "flip", "testFraction", "seed", "maxPatchesPerImage"):
    assert f in longflags or "--" + f in longflags, (f, longflags)
'

$py - <<'PY'
import numpy as np, skimage.io as io
rng = np.random.default_rng(0)
rows = ["file,sample_id,um_per_px,rate"]
for i in range(6):
    io.imsave("m%d.png" % i, rng.integers(0, 255, (100, 130), dtype=np.uint8), check_contrast=False)
    rows.append("m%d.png,s%d,0.5,%d" % (i, i // 2, [1, 3, 10][i % 3]))
open("list.csv", "w").write("\n".join(rows) + "\n")
# Mixed pixel sizes: 200x200 at 0.5 um and 100x100 at 1.0 um -> both 100x100 at 1.0 um.
io.imsave("fine.png", np.full((200, 200), 90, np.uint8), check_contrast=False)
io.imsave("coarse.png", np.full((100, 100), 160, np.uint8), check_contrast=False)
open("mixed.csv", "w").write("file,sample_id,um_per_px\nfine.png,a,0.5\ncoarse.png,b,1.0\n")
io.imsave("rgb.png", np.zeros((100, 130, 3), np.uint8), check_contrast=False)
open("badcol.csv", "w").write("path,um_per_px\nm0.png,0.5\n")
open("missing.csv", "w").write("file,um_per_px\nnope.png,0.5\n")
open("ragged.csv", "w").write("file,um_per_px\nm0.png,0.5,extra\n")
open("rgb.csv", "w").write("file,um_per_px\nrgb.png,0.5\n")
PY

"$bin/MicrostructurePatches" list.csv --conditions rate --patchSize 64,32 --flip --testFraction 0.34 \
  --outputStack p.nrrd --outputTable p.csv --returnparameterfile rp.txt >progress.txt 2>/dev/null
$py - <<'PY'
import csv, re
import numpy as np, skimage.io as io
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
# The stack (NRRD, gzip) holds exactly the micrograph pixels at the table's corners.
raw = open("p.nrrd", "rb").read()
head, body = raw.split(b"\n\n", 1)
hdr = head.decode("latin-1")
assert "sizes: 64 32 72" in hdr, hdr
if "encoding: gzip" in hdr:
    import zlib
    body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
stack = np.frombuffer(body, np.uint8).reshape(72, 32, 64)
for k, x in enumerate(r):
    m = io.imread(x["file"])
    cx, cy = int(x["x"]), int(x["y"])
    want = m[cy:cy + 32, cx:cx + 64]
    if x["flipped"] == "1":
        want = want[:, ::-1]
    assert (stack[k] == want).all(), k
# Slicer progress on stdout: start, values in [0, 1] that never go back, end.
out = open("progress.txt").read()
assert out.index("<filter-start>") < out.index("<filter-end>"), out
values = [float(v) for v in re.findall(r"<filter-progress>([^<]*)</filter-progress>", out)]
assert values and all(0.0 <= a <= b <= 1.0 for a, b in zip(values, values[1:])), values
PY

# Mixed pixel sizes resampled to 1 um: 2 x 2 patches of 50 from each; --range keeps one of them.
"$bin/MicrostructurePatches" mixed.csv --pixelSize 1.0 --patchSize 50,50 --testFraction 0 \
  --outputStack mixed.mha --outputTable mixed.csv.out >/dev/null 2>&1
"$bin/MicrostructurePatches" mixed.csv --pixelSize 1.0 --patchSize 50,50 --range um_per_px=0.4:0.6 \
  --outputStack fine.mha --outputTable fine.csv.out >/dev/null 2>&1
$py - <<'PY'
import csv
r = list(csv.DictReader(open("mixed.csv.out")))
assert len(r) == 8 and {x["um_per_px"] for x in r} == {"1"}, r
assert {x["split"] for x in r} == {"train"}
f = list(csv.DictReader(open("fine.csv.out")))
assert len(f) == 4 and {x["file"] for x in f} == {"fine.png"}, f
assert "DimSize = 50 50 8" in open("mixed.mha", "rb").read(600).decode("latin-1")
PY

# Failures: non-zero exit, a message saying what to do, no output and no temporary file left.
for args in "badcol.csv" "missing.csv" "ragged.csv" "rgb.csv" "nothere.csv" "mixed.csv" \
  "list.csv --patchSize 64" "list.csv --patchSize 256,256" "list.csv --where rate" \
  "list.csv --where rate=99" "list.csv --range rate=1" "list.csv --conditions nope"; do
  if "$bin/MicrostructurePatches" $args --outputStack bad.nrrd --outputTable bad.csv >out.txt 2>err.txt; then
    echo "FAIL: '$args' should have failed"; exit 1
  fi
  grep -qi "error\|must\|takes\|give\|use\|check" err.txt || { echo "FAIL: '$args' gave no clear message"; cat err.txt; exit 1; }
  [ ! -e bad.nrrd ] && [ ! -e bad.csv ] || { echo "FAIL: '$args' left output files"; exit 1; }
  if ls -a | grep -q '\.tmp'; then echo "FAIL: temporary files left after '$args'"; ls -a; exit 1; fi
  echo "ok: '$args' -> $(tail -1 err.txt | head -c 160)"
done
# --confineReads: a table whose file column leaves its folder (../, an absolute path) is refused,
# naming the table, the row's file and the folder, before anything is written; without it, read.
mkdir -p ds
cp m0.png ds/in.png
printf 'file,sample_id,um_per_px\nin.png,a,0.5\n../m1.png,b,0.5\n' > ds/rel.csv
printf 'file,sample_id,um_per_px\nin.png,a,0.5\n%s,b,0.5\n' "$work/m1.png" > ds/abs.csv
for csv in ds/rel.csv ds/abs.csv; do
  entry=$(tail -1 "$csv" | cut -d, -f1)
  if "$bin/MicrostructurePatches" "$csv" --confineReads ds --patchSize 64,32 --outputStack c.nrrd \
    --outputTable c.csv >out.txt 2>err.txt; then
    echo "FAIL: $csv read '$entry' outside ds/ with --confineReads"; exit 1
  fi
  for want in "$csv" "'$entry'" "outside the folder '$work/ds'" "--confineReads"; do
    grep -qF -- "$want" err.txt || { echo "FAIL: the refusal of $csv does not name $want"; cat err.txt; exit 1; }
  done
  [ ! -e c.nrrd ] && [ ! -e c.csv ] || { echo "FAIL: $csv refused but left output files"; exit 1; }
  "$bin/MicrostructurePatches" "$csv" --patchSize 64,32 --outputStack c.nrrd --outputTable c.csv >/dev/null 2>&1 \
    || { echo "FAIL: $csv without --confineReads was refused"; exit 1; }
  [ "$(grep -c "$entry" c.csv)" -gt 0 ] || { echo "FAIL: $csv without --confineReads left out '$entry'"; exit 1; }
  rm -f c.nrrd c.csv
  # MicrostructureMeasure reads the same file column of a micrograph list.
  if "$bin/MicrostructureMeasure" "$csv" --confineReads ds --outputTable c.csv >out.txt 2>err2.txt; then
    echo "FAIL: MicrostructureMeasure read '$entry' outside ds/ with --confineReads"; exit 1
  fi
  grep -qF "outside the folder '$work/ds'" err2.txt || { echo "FAIL: Measure's refusal is unclear"; cat err2.txt; exit 1; }
  [ ! -e c.csv ] || { echo "FAIL: Measure refused $csv but left c.csv"; exit 1; }
  "$bin/MicrostructureMeasure" "$csv" --outputTable c.csv >/dev/null 2>&1 || { echo "FAIL: Measure refused $csv"; exit 1; }
  rm -f c.csv
  echo "ok: $csv -> $(tail -1 err.txt | head -c 160)"
done
# Inside the folder it reads as before.
printf 'file,sample_id,um_per_px\nin.png,a,0.5\n' > ds/in.csv
"$bin/MicrostructurePatches" ds/in.csv --confineReads ds --patchSize 64,32 --testFraction 0 --outputStack c.nrrd \
  --outputTable c.csv >/dev/null 2>&1 || { echo "FAIL: a table inside its folder was refused"; exit 1; }
echo "patches CLI: all checks passed"
