#!/usr/bin/env bash
# MicrostructureTrainVQVAE -> MicrostructureEncode -> MicrostructureDecode on a tiny synthetic
# dataset: the model, log, checkpoint and return parameters exist and agree; --resume finishes a
# run; encode/decode give the right shapes and spacing on a stack and on a non-square micrograph;
# bad input gives a message, a non-zero exit and no output.
source "$(dirname "$0")/common.sh" || exit 1
[ -x "$bin/MicrostructureTrainVQVAE" ] || { echo "skipped: no MicrostructureTrainVQVAE (built without LibTorch)"; exit 77; }

"$bin/MicrostructureSynthesize" --coolingRates 1,10 --imagesPerRate 2 --size 128,128 --seed 3 ds >/dev/null 2>&1
"$bin/MicrostructurePatches" ds/micrographs.csv --conditions cooling_rate_C_per_s --patchSize 32,32 \
  --testFraction 0.25 --seed 1 --outputStack patches.nrrd --outputTable patches.csv >/dev/null 2>&1

tiny=(--encoderChannels 8,16 --residualBlocks 1 --codebookSize 16 --codeDimension 8 --batchSize 8 --learningRate 0.003)
"$bin/MicrostructureTrainVQVAE" patches.nrrd model.vq --table patches.csv "${tiny[@]}" --steps 6 \
  --checkpointInterval 2 --log log.csv --returnparameterfile ret.txt >out.txt 2>&1 || { cat out.txt; exit 1; }
grep -q "<filter-progress>" out.txt || { echo "FAIL: no progress tags"; exit 1; }
[ -s model.vq ] && [ -s model.vq.checkpoint ] || { echo "FAIL: model or checkpoint missing"; exit 1; }
head -c 13 model.vq | grep -q "ITKSMVQVAE 1" || { echo "FAIL: model file magic"; exit 1; }
$py - <<'PY'
import csv
rows = list(csv.DictReader(open("log.csv")))
assert rows and rows[-1]["step"] == "6", rows
train = [r for r in csv.DictReader(open("patches.csv")) if r["split"] == "train"]
test = [r for r in csv.DictReader(open("patches.csv")) if r["split"] == "test"]
assert len(train) // 8 >= 1 and test
assert int(rows[-1]["val_patches"]) == len(test), (rows[-1]["val_patches"], len(test))
for key in ("val_mse", "vf_bias_pp", "df_bias_percent"):
    float(rows[-1][key])
ret = dict(l.strip().split(" = ") for l in open("ret.txt") if " = " in l)
assert abs(float(ret["validationMSE"]) - float(rows[-1]["val_mse"])) < 1e-6, ret
assert int(ret["codesInUse"]) == int(rows[-1]["val_codes_in_use"])
PY
grep -q "training_steps = 6" model.vq || { echo "FAIL: model does not record 6 steps"; exit 1; }

# --resume continues the checkpoint to the new length.
"$bin/MicrostructureTrainVQVAE" patches.nrrd model.vq --table patches.csv "${tiny[@]}" --steps 10 --resume \
  --checkpointInterval 2 --log log.csv >out.txt 2>&1 || { cat out.txt; exit 1; }
grep -q "resuming" out.txt || { echo "FAIL: did not resume"; cat out.txt; exit 1; }
grep -q "training_steps = 10" model.vq || { echo "FAIL: resumed model is not at step 10"; exit 1; }

# Encode / decode a stack: 32 x 32 patches -> 8 x 8 maps (2 halvings) -> 32 x 32 images.
"$bin/MicrostructureEncode" patches.nrrd maps.nrrd --model model.vq >/dev/null 2>&1
"$bin/MicrostructureDecode" maps.nrrd decoded.nrrd --model model.vq >/dev/null 2>&1
# ... and a non-square micrograph.
"$bin/MicrostructureSynthesize" -o micro.png --coolingRate 3 --size 96,64 --seed 2 >/dev/null 2>&1
"$bin/MicrostructureEncode" micro.png micro_maps.nrrd --model model.vq >/dev/null 2>&1
$py - <<'PY'
import numpy as np, skimage.io as io
import re
def header(path):
    text = open(path, "rb").read(2000).split(b"\n\n")[0].decode()
    return dict(l.split(": ", 1) for l in text.splitlines()[1:] if ": " in l and not l.startswith("#"))
p, m, d = header("patches.nrrd"), header("maps.nrrd"), header("decoded.nrrd")
n = int(p["sizes"].split()[2])
assert m["sizes"].split() == ["8", "8", str(n)], m["sizes"]
assert d["sizes"].split() == ["32", "32", str(n)], d["sizes"]
sp = [float(x) for x in re.findall(r"[-0-9.e]+", m["space directions"])]
sp0 = [float(x) for x in re.findall(r"[-0-9.e]+", p["space directions"])]
assert abs(sp[0] - 4 * sp0[0]) < 1e-9, (sp, sp0)
mm = header("micro_maps.nrrd")
assert mm["sizes"].split() == ["24", "16"], mm["sizes"]
PY

# The losses against the decoder's bias and mixed precision reach the model: the file records the
# weights, and the run says which arithmetic it used. bfloat16 asked for explicitly needs AVX-512
# (oneDNN has no bfloat16 convolutions below it): without it, a clear refusal and no model.
precision=bfloat16; cpu_has_avx512 || precision=float32
if ! cpu_has_avx512; then
  if "$bin/MicrostructureTrainVQVAE" patches.nrrd bf.vq --table patches.csv "${tiny[@]}" --steps 3 \
      --precision bfloat16 >out.txt 2>&1; then echo "FAIL: bfloat16 accepted without AVX-512"; exit 1; fi
  grep -q "bfloat16 needs a CPU with AVX-512" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }
  [ ! -e bf.vq ] || { echo "FAIL: output written on error"; exit 1; }
fi
"$bin/MicrostructureTrainVQVAE" patches.nrrd lossy.vq --table patches.csv "${tiny[@]}" --steps 3 \
  --phaseLossWeight 2.5 --phaseLossSoftness 0.0625 --phaseLossThreshold own --histogramLossWeight 1.5 \
  --interfaceLossWeight 0.75 --precision $precision --checkpointInterval 0 >out.txt 2>&1 || { cat out.txt; exit 1; }
grep -q "phase_loss_weight = 2.5" lossy.vq && grep -q "histogram_loss_weight = 1.5" lossy.vq &&
  grep -q "phase_loss_softness = 0.0625" lossy.vq && grep -q "interface_loss_weight = 0.75" lossy.vq &&
  grep -q "phase_loss_threshold = own" lossy.vq ||
  { echo "FAIL: loss weights not in the model file"; exit 1; }
grep -qE "\($precision[,)]" out.txt || { echo "FAIL: precision not reported"; cat out.txt; exit 1; }
if "$bin/MicrostructureTrainVQVAE" patches.nrrd bad.vq --table patches.csv "${tiny[@]}" --steps 2 \
    --phaseLossWeight -1 >out.txt 2>&1; then echo "FAIL: accepted a negative phase loss weight"; exit 1; fi
grep -q "PhaseLossWeight must be >= 0" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }
[ ! -e bad.vq ] || { echo "FAIL: output written on error"; exit 1; }

# Bad input: a message, a non-zero exit, no output.
if "$bin/MicrostructureTrainVQVAE" patches.nrrd bad.vq --table ds/micrographs.csv "${tiny[@]}" --steps 2 \
    >out.txt 2>&1; then echo "FAIL: accepted a table that does not belong to the stack"; exit 1; fi
grep -q "rows" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }
[ ! -e bad.vq ] || { echo "FAIL: output written on error"; exit 1; }
if "$bin/MicrostructureEncode" patches.nrrd bad.nrrd --model patches.csv >out.txt 2>&1; then
  echo "FAIL: encoded with a file that is not a model"; exit 1; fi
grep -q "not a VQ-VAE model file" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }
[ ! -e bad.nrrd ] || { echo "FAIL: output written on error"; exit 1; }
echo "ok"
