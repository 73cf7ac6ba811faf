#!/usr/bin/env bash
# Scores a variant of the demo preset by cross-validation inside the training conditions, never on
# a held-out condition: the settings of CONFIG (the same keys as a study's config.json, merged over
# the demo preset) are run as `MicrostructureStudy --crossValidate`, every fold-seed a whole study.
# With BASE, a finished cross-validation of the demo, its fold studies are copied first, so that the
# steps the variant does not change (data, and the VQ-VAE when only prior settings change) are
# reused: a prior variant then costs its prior training and generation only.
# Usage: bash scripts/cv_variant.sh OUT CONFIG.json [BASE]
#   e.g. echo '{"prior": {"steps": 1200}}' > longer.json
#        bash scripts/cv_variant.sh out/cv-longer longer.json out/cv
# Prints the per-fold-seed targets and the summary (OUT/cross_validation.csv and .json).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${SM_BIN_DIR:-$here/build/bin}" # a copy of build/bin needs build/libexec beside it (the LibTorch modules)
[ $# -ge 2 ] || { sed -n 2,11p "$0" >&2; exit 2; }
out="$1"; config="$2"; base="${3:-}"
[ -s "$config" ] || { echo "cv_variant: no config $config (a JSON object of settings)" >&2; exit 2; }
[ -x "$bin/MicrostructureStudy" ] || { echo "cv_variant: build first (bash scripts/setup.sh)" >&2; exit 2; }
export OMP_WAIT_POLICY=PASSIVE
if [ -n "$base" ]; then
  [ -s "$base/cross_validation.csv" ] || { echo "cv_variant: $base is not a finished cross-validation" >&2; exit 2; }
  mkdir -p "$out/folds"
  for fold in "$base"/folds/*/seed-*; do
    rel="${fold#"$base"/}"
    [ -e "$out/$rel" ] || { mkdir -p "$(dirname "$out/$rel")"; cp -a "$fold" "$out/$rel"; }
  done
fi
run=()
[ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null && run=(xvfb-run -a)
start=$(date +%s)
"${run[@]}" "$bin/MicrostructureStudy" "$out" --preset demo --config "$config" --crossValidate >"$out.log" 2>&1 ||
  { grep -v filter-progress "$out.log" | tail -20; exit 1; }
echo "cross-validation of $config: $(( $(date +%s) - start )) s; $out/cross_validation.html"
column -s, -t < "$out/cross_validation.csv" | cut -c1-220
