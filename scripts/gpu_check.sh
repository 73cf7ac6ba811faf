#!/usr/bin/env bash
# CUDA check of the networks on a GPU machine (e.g. a PyTorch-only image: pip torch + CUDA, no ITK):
# builds against the CUDA LibTorch of the machine's python3 torch (gpu_build.sh), runs the network
# gtests and the CLI tests, trains both networks on CUDA in float32 and bfloat16 with the CLIs, compares
# Encode/Decode/Generate on CUDA and on the CPU (TF32 on and off), and times VQ-VAE training against
# the PyTorch reference (bench/vqvae_reference.py) on the GPU.
#
#   bash scripts/gpu_check.sh [BUILD_DIR] [OUT_DIR]
#
# BUILD_DIR (default /tmp/sm-gpu-build), OUT_DIR (default ./gpu_check): logs and summary.txt.
# Environment: ITK_BUNDLE (a tar.xz from scripts/make_itk_bundle.sh, for a machine without ITK),
#   SKIP_BUILD=1 (use BUILD_DIR as it is), DEVICE (cuda:0), BENCH_STEPS (30), SHIM_PYTHON=1 (point
#   /usr/bin/python3, which the CLI tests call, at the torch python when it lacks numpy/scikit-image:
#   only on a throw-away machine).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$(realpath -m "${1:-/tmp/sm-gpu-build}"); O=$(realpath -m "${2:-gpu_check}")
DEV=${DEVICE:-cuda:0}; PY=${PYTHON:-python3}
mkdir -p "$O"; SUM=$O/summary.txt; : > "$SUM"
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
ms() { local a=$(date +%s%N); "$@"; local rc=$?; LAST_MS=$(( ($(date +%s%N) - a) / 1000000 )); return $rc; }
note() { echo "$*" | tee -a "$SUM"; }
ulimit -c 0
note "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null)"
note "$($PY -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)')"
TESTS="itkVQVAEModelTest itkPixelCNNPriorModelTest itkVQVAETrainerTest itkPixelCNNPriorTrainerTest itkVQEncodeDecodeImageFilterTest"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  el "build"
  TARGETS="${TARGETS:-MicrostructureDecode MicrostructureEncode MicrostructureGenerate MicrostructureInferCondition MicrostructureMeasure MicrostructurePatches MicrostructureStudy MicrostructureSynthesize MicrostructureTrainPrior MicrostructureTrainVQVAE $TESTS vqvae_bench pixelcnn_bench}" \
    ms bash "$HERE/scripts/gpu_build.sh" "$HERE" "$B" ${ITK_BUNDLE:-} > "$O/build.txt" 2>&1
  rc=$?; note "BUILD exit=$rc seconds=$(( LAST_MS / 1000 )) deprecation_warnings=$(grep -c deprecated "$B/build.log")"
  [ $rc = 0 ] || { tail -30 "$O/build.txt"; exit 1; }
fi
[ -d /opt/itkrt/lib ] && export LD_LIBRARY_PATH=/opt/itkrt/lib:/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
BIN=$B/bin

el "gtests and CLI tests (in the background)"
for t in $TESTS; do
  ( cd "$O" && ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=2 SM_BIN_DIR=$BIN timeout 300 "$B/test/$t" > "$O/$t.log" 2>&1
    echo "GTEST $t exit=$? $(grep -E '^\[  (PASSED|FAILED)  \]' "$O/$t.log" | tr '\n' ' ')" >> "$O/gtests.txt" ) &
done
if ! /usr/bin/python3 -c 'import numpy, skimage' 2>/dev/null && [ "${SHIM_PYTHON:-0}" = 1 ]; then
  mv /usr/bin/python3 /usr/bin/python3.system 2>/dev/null
  printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v $PY)" > /usr/bin/python3; chmod +x /usr/bin/python3
fi
if /usr/bin/python3 -c 'import numpy, skimage' 2>/dev/null; then
  ( cd "$B" && timeout 300 ctest -R '^cli\.' -j 4 --output-on-failure > "$O/ctest_cli.log" 2>&1
    echo "CTEST_CLI exit=$? $(grep -E 'tests passed|tests failed' "$O/ctest_cli.log")" >> "$O/gtests.txt" ) &
else
  note "CLI tests skipped: /usr/bin/python3 has no numpy/scikit-image (SHIM_PYTHON=1 on a throw-away machine)"
fi

el "tiny study on $DEV, then both networks in float32 and bfloat16"
W=$O/work; mkdir -p "$W"
ms timeout 300 "$BIN/MicrostructureStudy" "$W/tiny" --preset tiny --device "$DEV" > "$O/study_tiny.log" 2>&1
note "STUDY_TINY exit=$? ms=$LAST_MS"
P=$W/tiny/patches.nrrd; TB=$W/tiny/patches.csv
VQ="--table $TB --exclude cooling_rate_C_per_s=3 --steps 150 --batchSize 32 --encoderChannels 32,64 --residualBlocks 2 --codebookSize 512 --codeDimension 64 --codebookUpdate ema --commitmentCost 0.25 --phaseLossWeight 3 --histogramLossWeight 3 --learningRate 0.001 --schedule cosine --seed 1"
PR="--table $TB --exclude cooling_rate_C_per_s=3 --logConditions cooling_rate_C_per_s --steps 150 --batchSize 16 --layers 8 --hiddenChannels 48 --outputHiddenChannels 128 --learningRate 0.002 --seed 1"
for prec in float32 bfloat16; do
  ms timeout 200 "$BIN/MicrostructureTrainVQVAE" "$P" "$W/vq_$prec.model" $VQ --device "$DEV" --precision $prec --log "$O/vq_$prec.csv" > "$O/vq_$prec.log" 2>&1
  note "TRAIN_VQVAE $prec exit=$? ms=$LAST_MS warning_lines=$(grep -ci warn "$O/vq_$prec.log") last: $(tail -1 "$O/vq_$prec.csv" | cut -d, -f1-4)"
  ms timeout 200 "$BIN/MicrostructureTrainPrior" "$P" "$W/prior_$prec.model" --vqvae "$W/vq_float32.model" $PR --device "$DEV" --precision $prec --log "$O/prior_$prec.csv" > "$O/prior_$prec.log" 2>&1
  note "TRAIN_PRIOR $prec exit=$? ms=$LAST_MS warning_lines=$(grep -ci warn "$O/prior_$prec.log") last: $(tail -1 "$O/prior_$prec.csv" | cut -d, -f1-4)"
done

el "CUDA vs CPU: Encode / Decode / Generate with the float32 models"
cat > "$W/cmp.py" <<'PYEOF'
import gzip, sys
import numpy as np
T = {"unsigned char": "u1", "short": "i2", "unsigned short": "u2", "int": "i4", "unsigned int": "u4", "float": "f4", "double": "f8"}
def read(p):
    d = open(p, "rb").read(); e = d.index(b"\n\n") + 2
    f = dict(l.split(": ", 1) for l in d[:e].decode("latin-1").splitlines()[1:] if ": " in l and not l.startswith("#"))
    raw = gzip.decompress(d[e:]) if f.get("encoding", "raw") in ("gzip", "gz") else d[e:]
    s = [int(x) for x in f["sizes"].split()]
    return np.frombuffer(raw, ("<" if f.get("endian", "little") == "little" else ">") + T[f["type"]], int(np.prod(s))).reshape(s[::-1])
a, b = read(sys.argv[1]), read(sys.argv[2]); d = np.abs(a.astype(float) - b.astype(float))
line = f"COMPARE {sys.argv[3]}: max_abs_diff {d.max():.4g} mean_abs_diff {d.mean():.4g} equal_fraction {np.mean(d == 0):.4f}"
if a.ndim == 3 and a.dtype.kind in "ui":
    ne = (a.reshape(len(a), -1) != b.reshape(len(b), -1)); line += f" maps_identical {int((~ne.any(1)).sum())}/{len(a)}"
print(line)
PYEOF
for v in cuda cpu cuda_notf32; do
  d=$DEV; e=""; [ $v = cpu ] && d=cpu; [ $v = cuda_notf32 ] && e="NVIDIA_TF32_OVERRIDE=0"
  env $e "$BIN/MicrostructureEncode" "$P" "$W/maps_$v.nrrd" --model "$W/vq_float32.model" --device $d > "$O/encode_$v.log" 2>&1 || note "ENCODE $v failed"
  env $e "$BIN/MicrostructureDecode" "$W/maps_cuda.nrrd" "$W/rec_$v.nrrd" --float --model "$W/vq_float32.model" --device $d > "$O/decode_$v.log" 2>&1 || note "DECODE $v failed"
  env $e "$BIN/MicrostructureGenerate" "$W/gen_$v.nrrd" --vqvae "$W/vq_float32.model" --prior "$W/prior_float32.model" --condition ln_cooling_rate_C_per_s=1.0986 --samples 64 --seed 7 --batchSize 64 --outputIndexMaps "$W/genidx_$v.nrrd" --device $d > "$O/generate_$v.log" 2>&1 || note "GENERATE $v failed"
done
for p in "cuda cpu" "cuda_notf32 cpu"; do set -- $p
  for k in maps rec genidx; do $PY "$W/cmp.py" "$W/${k}_$1.nrrd" "$W/${k}_$2.nrrd" "${k}_$1_vs_$2" 2>&1 | tee -a "$SUM"; done
done

el "waiting for the tests"
wait
cat "$O/gtests.txt" | tee -a "$SUM"

el "VQ-VAE training throughput on $DEV (batch 64, paper architecture): ours vs the PyTorch reference"
BA="--batch 64 --steps ${BENCH_STEPS:-30} --warmup 5 --encode-images 1024 --threads 8 --device $DEV"
env -u LD_LIBRARY_PATH $PY "$HERE/bench/vqvae_reference.py" $BA > "$O/ref_fp32.txt" 2>&1
"$B/bench/vqvae_bench" $BA > "$O/ours_fp32.txt" 2>&1
env -u LD_LIBRARY_PATH $PY "$HERE/bench/vqvae_reference.py" $BA --autocast > "$O/ref_bf16.txt" 2>&1
"$B/bench/vqvae_bench" $BA --precision bfloat16 > "$O/ours_bf16.txt" 2>&1
for f in ref_fp32 ours_fp32 ref_bf16 ours_bf16; do note "BENCH $f $(grep -E 'TRAIN_IMG_S=|BEST_STEP=|ENCODE_IMG_S=|rror' "$O/$f.txt" | tr '\n' ' ')"; done
el "done: $SUM"
