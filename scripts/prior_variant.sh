#!/usr/bin/env bash
# Trains a variant of the demo study's prior on a finished demo study's patches and VQ-VAE, and
# compares what it generates with the true patches at the held-out rate (3 degC/s, 1000 samples)
# and at the training rates (1, 10 and 30 degC/s, 300 samples): V_f and d_f differences, V_f variance
# ratio and KS statistics, as the study's report does. Used to compare prior settings at equal cost
# without retraining the VQ-VAE.
# Usage: bash scripts/prior_variant.sh STUDY_DIR OUT_DIR [MicrostructureTrainPrior options that
#        override the demo's, e.g. --mirrors --seed 2 --dilations 1,2,4,8 --schedule cosine;
#        --calibrationSamples 0 for the uncalibrated prior]
#        PATCHES=stack.nrrd TABLE=table.csv train the prior on another patch stack of the same
#        micrographs (e.g. MicrostructurePatches --stride 64,64 on STUDY_DIR/data/micrographs.csv with
#        the study's --testFraction and --seed); the real patches compared with stay the study's.
source "$(dirname "${BASH_SOURCE[0]}")/variant_common.sh"
variant_folders "$1" "$2" vqvae.model measure_real.csv
shift 2
patches="${PATCHES:-$study/patches.nrrd}"; table="${TABLE:-$study/patches.csv}"
start=$(date +%s)
"$bin/MicrostructureTrainPrior" "$patches" "$out/prior.model" --vqvae "$study/vqvae.model" \
  --table "$table" --log "$out/prior_log.csv" --checkpointInterval ${CHECKPOINT_INTERVAL:-0} \
  --steps 300 --batchSize 16 --learningRate 0.002 --seed 1 --layers 8 --hiddenChannels 32 --embeddingDimension 32 \
  --firstKernelSize 7 --kernelSize 3 --outputHiddenChannels 96 --precision auto --logConditions cooling_rate_C_per_s \
  --calibrationSamples 150 --calibrationRounds 2 --calibrationLog "$out/calibration.csv" \
  --exclude cooling_rate_C_per_s=3,cooling_rate_C_per_s=2,cooling_rate_C_per_s=6.5,cooling_rate_C_per_s=20 "$@" \
  >"$out/train.log" 2>&1 || { tail "$out/train.log"; exit 1; }
trained=$(date +%s)
for r in 3 1 10 30; do
  n=300; [ "$r" = 3 ] && n=1000
  ln=$(/usr/bin/python3 -c "import math; print(math.log($r))")
  "$bin/MicrostructureGenerate" "$out/gen$r.nrrd" --vqvae "$study/vqvae.model" --prior "$out/prior.model" \
    --condition "ln_cooling_rate_C_per_s=$ln" --samples $n --seed 3 --batchSize 100 --outputTable "$out/gen$r.csv" \
    >"$out/gen$r.log" 2>&1
  "$bin/MicrostructureMeasure" "$out/gen$r.nrrd" --table "$out/gen$r.csv" --outputTable "$out/gen${r}_measure.csv" \
    >"$out/measure$r.log" 2>&1
done
echo "prior $* : training $((trained - start)) s, generating and measuring $(( $(date +%s) - trained )) s"
/usr/bin/python3 - "$study" "$out" <<'PY'
import csv, sys
import numpy as np
from scipy import stats
study, out = sys.argv[1:]
real = list(csv.DictReader(open(study + "/measure_real.csv")))
import os
log = list(csv.DictReader(open(out + "/prior_log.csv"))) if os.path.exists(out + "/prior_log.csv") else []
if log:  # none after --resume of a finished training (calibration only)
    print("last epoch: train %.3f, validation %.3f bits/index" % (float(log[-1]["train_bits_per_index"]),
                                                                   float(log[-1]["val_bits_per_index"])))
for r in ("3", "1", "10", "30"):
    R = [x for x in real if x["cooling_rate_C_per_s"] == r]
    G = list(csv.DictReader(open(f"{out}/gen{r}_measure.csv")))
    rv, gv = (np.array([float(x["volume_fraction"]) for x in S]) * 100 for S in (R, G))
    rd, gd = (np.array([float(x["mean_free_path_um"]) for x in S]) for S in (R, G))
    print(f"{r:>2} degC/s ({len(gv)} vs {len(rv)} patches): V_f {gv.mean() - rv.mean():+.2f} pp, "
          f"d_f {100 * (gd.mean() / rd.mean() - 1):+.1f} %, V_f variance ratio {gv.var(ddof=1) / rv.var(ddof=1):.2f}, "
          f"V_f KS {stats.ks_2samp(rv, gv).statistic:.3f}")
PY
