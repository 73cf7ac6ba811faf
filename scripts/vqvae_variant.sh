#!/usr/bin/env bash
# Trains a variant of the demo study's VQ-VAE on a finished demo study's patches, reconstructs every
# patch with it, and compares the reconstructions with the real patches at 1, 3, 10 and 30 degC/s
# (V_f difference, variance ratio, KS, skewness, per-patch error; d_f difference), as the report's
# "reconstructed" set does. The output folder then serves as a study for scripts/prior_variant.sh
# (its vqvae.model, and links to the study's patches and real measurements).
# Usage: bash scripts/vqvae_variant.sh STUDY_DIR OUT_DIR [MicrostructureTrainVQVAE options that
#        override the demo's, e.g. --steps 960 --learningRate 0.002 --seed 2]
source "$(dirname "${BASH_SOURCE[0]}")/variant_common.sh"
variant_folders "$1" "$2" patches.nrrd measure_real.csv
shift 2
start=$(date +%s)
"$bin/MicrostructureTrainVQVAE" "$study/patches.nrrd" "$out/vqvae.model" --table "$study/patches.csv" \
  --log "$out/vqvae_log.csv" --checkpointInterval 0 --steps 640 --batchSize 16 --learningRate 0.001 --seed 1 \
  --encoderChannels 32,64 --residualBlocks 2 --codebookSize 512 --codeDimension 64 --codebookUpdate ema \
  --commitmentCost 0.25 --phaseLossWeight 8 --phaseLossSoftness 0.02 --histogramLossWeight 6 --schedule cosine \
  --validationPatches 256 --precision auto \
  --exclude "cooling_rate_C_per_s=3,cooling_rate_C_per_s=2,cooling_rate_C_per_s=6.5,cooling_rate_C_per_s=20" "$@" \
  >"$out/train.log" 2>&1 || { tail "$out/train.log"; exit 1; }
trained=$(date +%s)
"$bin/MicrostructureEncode" "$study/patches.nrrd" "$out/maps_real.nrrd" --model "$out/vqvae.model" >"$out/encode.log" 2>&1
"$bin/MicrostructureDecode" "$out/maps_real.nrrd" "$out/reconstructed.nrrd" --model "$out/vqvae.model" >"$out/decode.log" 2>&1
"$bin/MicrostructureMeasure" "$out/reconstructed.nrrd" --table "$study/patches.csv" \
  --outputTable "$out/measure_reconstructed.csv" >"$out/measure.log" 2>&1
ln -sf "$study/patches.nrrd" "$out/patches.nrrd"; ln -sf "$study/patches.csv" "$out/patches.csv"
ln -sf "$study/measure_real.csv" "$out/measure_real.csv"
echo "vqvae $* : training $((trained - start)) s, reconstructing and measuring $(( $(date +%s) - trained )) s"
/usr/bin/python3 - "$study" "$out" <<'PY'
import csv, sys
import numpy as np
from scipy import stats
study, out = sys.argv[1:]
log = list(csv.DictReader(open(out + "/vqvae_log.csv")))
print("last epoch: validation MSE %.4f, codes in use %s" % (float(log[-1]["val_mse"]), log[-1]["val_codes_in_use"]))
real = list(csv.DictReader(open(study + "/measure_real.csv")))
rec = list(csv.DictReader(open(out + "/measure_reconstructed.csv")))
ks = []
for r in ("1", "3", "10", "30"):
    R = [x for x in real if x["cooling_rate_C_per_s"] == r]
    G = [x for x in rec if x["cooling_rate_C_per_s"] == r]
    rv, gv = (np.array([float(x["volume_fraction"]) for x in S]) * 100 for S in (R, G))
    rd, gd = (np.array([float(x["mean_free_path_um"]) for x in S]) for S in (R, G))
    ks.append(stats.ks_2samp(rv, gv).statistic)
    print(f"{r:>2} degC/s ({len(gv)} patches): V_f {gv.mean() - rv.mean():+.2f} pp, variance ratio "
          f"{gv.var(ddof=1) / rv.var(ddof=1):.2f}, KS {ks[-1]:.3f}, skewness {stats.skew(gv):+.2f} (real "
          f"{stats.skew(rv):+.2f}), mean |error| {np.abs(gv - rv).mean():.2f} pp; d_f {100 * (gd.mean() / rd.mean() - 1):+.1f} %")
print(f"V_f KS, mean of the four rates: {np.mean(ks):.3f}")
PY
