#!/usr/bin/env bash
# The main job on the embedded default (no download): synthesize ferrite-pearlite
# micrographs at the paper's four cooling rates (and three unseen ones), cut
# them into 128x128 patches, and measure every patch (Otsu, volume fraction,
# mean free path) with a summary per cooling rate: the paper's Tables I and II
# for the training data, with the truth at unseen rates beside them.
# Usage: bash scripts/run_default.sh [output folder, default out/default]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${SM_BIN_DIR:-$here/build/bin}"
out="${1:-$here/out/default}"
[ -x "$bin/MicrostructureMeasure" ] || { echo "Build first: bash scripts/setup.sh" >&2; exit 1; }
mkdir -p "$out"
echo "Main job on the embedded default: 7 cooling rates x 4 micrographs of 1024x768 px at 0.34 um/px."
echo "Takes about 10 seconds on 2 cores. Output: $out"
"$bin/MicrostructureSynthesize" "$out/micrographs" --coolingRates 1,2,3,6.5,10,20,30 --imagesPerRate 4 --seed 1
"$bin/MicrostructurePatches" "$out/micrographs/micrographs.csv" --conditions cooling_rate_C_per_s \
  --patchSize 128,128 --testFraction 0.25 --seed 1 \
  --outputStack "$out/patches.nrrd" --outputTable "$out/patches.csv"
"$bin/MicrostructureMeasure" "$out/patches.nrrd" --table "$out/patches.csv" --groupBy cooling_rate_C_per_s \
  --outputTable "$out/measurements.csv" --outputSummary "$out/summary.json"
echo "Done: per-patch measurements in $out/measurements.csv, summary per cooling rate in $out/summary.json"
