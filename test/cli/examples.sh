#!/usr/bin/env bash
# The C++ examples (examples/*.cxx, built into build/examples) as ctest tests, each against an
# independent truth:
#   SegmentAndMeasure (reader -> Otsu -> descriptors -> writer) on an analytic stripe image whose
#     volume fraction and mean free paths follow from its geometry;
#   EncodeDecode (reader -> VQ encode -> VQ decode -> writer) against the same round trip through
#     the CLIs (MicrostructureEncode, MicrostructureDecode): identical index map and image;
#   GenerateAndMeasure (conditional source -> measurement -> writer) against MicrostructureMeasure
#     on the stack it wrote;
#   SynthesizeAndMeasure: Otsu's volume fraction within 3 pp of the true phase map's.
source "$(dirname "$0")/common.sh" || exit 1
examples=$(cd "$bin/../examples" && pwd)

# Stripes, 72 x 64 pixels of 0.5 um: columns 8-15, 24-31, 40-47, 56-63 bright (200), the rest 50.
# Volume fraction 32/72. Horizontal lines: 4 interior runs of 8 px -> d_f 8 px. Vertical lines: the
# 32 bright columns are one run each, cut by both edges -> 1/2 (ASTM E112) -> d_f 64 / (1/2) = 128 px.
# Pooled: (64*32 + 32*64) / (64*4 + 32/2) = 4096 / 272 px; physical: times 0.5 um.
$py - <<'PY'
w, h = 72, 64
row = bytes(200 if (x // 8) % 2 == 1 and x < 64 else 50 for x in range(w))
header = ("ObjectType = Image\nNDims = 2\nDimSize = %d %d\nElementSpacing = 0.5 0.5\n"
          "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n" % (w, h)).encode()
open("stripes.mha", "wb").write(header + row * h)
PY
"$examples/SegmentAndMeasure" stripes.mha stripes_phase.nrrd >seg.txt 2>&1 || { cat seg.txt; exit 1; }
$py - <<'PY' || exit 1
import sys
got = dict(line.split() for line in open("seg.txt"))
want = {"volume_fraction": 32 / 72, "mean_free_path_h_px": 8.0, "mean_free_path_v_px": 128.0,
        "mean_free_path_px": 4096 / 272, "mean_free_path_physical": 0.5 * 4096 / 272}
bad = [f"{k} {got.get(k)} (expected {v})" for k, v in want.items()
       if not abs(float(got.get(k, "nan")) - v) <= 1e-5 * v]  # printed to 6 digits
if not 50 <= float(got["otsu_threshold"]) < 200:
    bad.append(f"otsu_threshold {got['otsu_threshold']} (expected 50 <= t < 200)")
sys.exit("FAIL: " + "; ".join(bad) if bad else 0)
PY
# The written phase map: 1 on the bright columns, 0 elsewhere (read back through MicrostructureMeasure
# as a label image: the same volume fraction).
"$bin/MicrostructureMeasure" stripes_phase.nrrd --binary --outputTable phase.csv >/dev/null 2>&1 ||
  { echo "FAIL: the phase map the example wrote does not read back"; exit 1; }
$py -c "
import csv, sys
v = float(next(csv.DictReader(open('phase.csv')))['volume_fraction'])
sys.exit(0 if abs(v - 32 / 72) < 1e-12 else f'FAIL: the written phase map has volume fraction {v}')"

[ -x "$examples/EncodeDecode" ] || { echo "the network examples are not built (no LibTorch): skipped"; exit 77; }
"$bin/MicrostructureSynthesize" --coolingRates 1,10 --imagesPerRate 2 --size 128,128 --seed 3 ds >/dev/null 2>&1
"$bin/MicrostructurePatches" ds/micrographs.csv --conditions cooling_rate_C_per_s --patchSize 32,32 \
  --testFraction 0.25 --seed 1 --outputStack patches.nrrd --outputTable patches.csv >/dev/null 2>&1
"$bin/MicrostructureTrainVQVAE" patches.nrrd vq.model --table patches.csv --encoderChannels 8,16 --residualBlocks 1 \
  --codebookSize 16 --codeDimension 8 --batchSize 8 --steps 4 --precision float32 >/dev/null 2>&1
image=ds/images/synthetic_1Cps_000.png
"$examples/EncodeDecode" vq.model "$image" rec.png codes.png >enc.txt 2>&1 || { cat enc.txt; exit 1; }
"$bin/MicrostructureEncode" "$image" cli_codes.png --model vq.model >/dev/null 2>&1
"$bin/MicrostructureDecode" cli_codes.png cli_rec.png --model vq.model >/dev/null 2>&1
$py - <<'PY' || exit 1
import sys
import numpy as np
from skimage import io
got = dict(line.split(None, 1) for line in open("enc.txt"))
codes, cli_codes = io.imread("codes.png"), io.imread("cli_codes.png")
rec, cli_rec = io.imread("rec.png"), io.imread("cli_rec.png")
if codes.shape != (32, 32) or not np.array_equal(codes, cli_codes):
    sys.exit(f"FAIL: index map {codes.shape} differs from MicrostructureEncode's {cli_codes.shape}")
if rec.shape != (128, 128) or not np.array_equal(rec.astype(float), cli_rec.astype(float)):
    sys.exit(f"FAIL: reconstruction {rec.shape} differs from MicrostructureDecode's")
if got["index_map"].strip() != "32 x 32" or int(got["codes_used"].split()[0]) != len(np.unique(codes)):
    sys.exit(f"FAIL: printed {got}, the map uses {len(np.unique(codes))} codes")
PY

# Conditional source -> measurement -> writer: the stack it wrote, measured by MicrostructureMeasure,
# gives the mean volume fraction it printed.
"$bin/MicrostructureTrainPrior" patches.nrrd prior.model --vqvae vq.model --table patches.csv \
  --logConditions cooling_rate_C_per_s --layers 2 --hiddenChannels 8 --outputHiddenChannels 16 --batchSize 8 \
  --learningRate 0.003 --steps 6 --precision float32 >/dev/null 2>&1
"$examples/GenerateAndMeasure" vq.model prior.model 3 8 gen.nrrd >gen.txt 2>&1 || { cat gen.txt; exit 1; }
"$bin/MicrostructureMeasure" gen.nrrd --outputTable gen.csv >/dev/null 2>&1
$py - <<'PY' || exit 1
import csv, re, sys
text = open("gen.txt").read()
printed = float(re.search(r"ferrite fraction ([0-9.eE+-]+) %", text).group(1))
rows = list(csv.DictReader(open("gen.csv")))
mean = sum(100 * float(r["volume_fraction"]) for r in rows) / len(rows)
if "8 generated patches" not in text or len(rows) != 8 or abs(printed - mean) > 1e-4 * max(1.0, mean):
    sys.exit(f"FAIL: printed {printed} % over {text.split(',')[1].strip()}; the written stack: {len(rows)} patches, {mean} %")
PY

# Synthesis -> patches -> measurement: Otsu's volume fraction within 3 pp of the true phase map's.
"$examples/SynthesizeAndMeasure" 3 >syn.txt 2>&1 || { cat syn.txt; exit 1; }
$py - <<'PY' || exit 1
import sys
rate, patches, vf_otsu, vf_true = [float(x) for x in open("syn.txt").read().splitlines()[1].split()[:4]]
if rate != 3 or patches < 1 or abs(vf_otsu - vf_true) > 3:
    sys.exit(f"FAIL: {open('syn.txt').read()}")
PY
