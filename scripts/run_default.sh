#!/usr/bin/env bash
# The main job on the embedded default (no download): the study of Noguchi & Inoue (2021) on
# synthetic ferrite-pearlite micrographs. Trains the VQ-VAE and the conditional PixelCNN prior on
# 1, 10 and 30 degC/s, holds 3 degC/s out (as the paper's interpolation experiment, but checked
# against the truth), generates patches for every rate (also the unseen 2, 6.5 and 20 degC/s),
# measures real, reconstructed and generated patches, and writes the report.
# Usage: bash scripts/run_default.sh [output folder, default out/study] [extra MicrostructureStudy options]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${SM_BIN_DIR:-$here/build/bin}"
out="${1:-$here/out/study}"
shift || true
[ -x "$bin/MicrostructureStudy" ] || { echo "Build first: bash scripts/setup.sh" >&2; exit 1; }
run=()
if [ -z "${DISPLAY:-}" ]; then
  if command -v xvfb-run >/dev/null; then
    run=(xvfb-run -a)   # VTK draws the report's charts offscreen through an X display
  else
    echo "No X display and no xvfb-run: the report will have tables but no figures (apt install xvfb)." >&2
  fi
fi
echo "Main job: the study on the embedded synthetic default (about 9 minutes on 2 cores, 8.5-9 measured on AMD EPYCs; at most 15)."
echo "Output: $out (report: $out/report/index.html). Steps already done are reused on a re-run."
"${run[@]}" "$bin/MicrostructureStudy" "$out" --preset demo "$@"
