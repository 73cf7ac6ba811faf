#!/usr/bin/env bash
# Writes docs/results.md from a finished run of the main job: the study's own report/results.md
# (MicrostructureStudy writes it from results.json, so its numbers are the run's), headed by how the
# run was made: the command, the commit, the CPU and the time of its steps.
# Usage: bash scripts/run_default.sh out/study && bash scripts/results_doc.sh out/study
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
study="${1:-$here/out/study}"
results="$study/report/results.md"
[ -s "$results" ] || { echo "results_doc: no $results: run the main job first (bash scripts/run_default.sh $study)" >&2; exit 2; }
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
cores="$(nproc)"
if grep -q avx512_bf16 /proc/cpuinfo; then kind="AVX512-BF16"; elif grep -q avx512f /proc/cpuinfo; then kind="AVX-512";
elif grep -q avx2 /proc/cpuinfo; then kind="AVX2 only"; else kind="no AVX2"; fi
# The steps' time from results.json (empty when every step was reused by a re-run).
seconds="$(awk '/"timings_s": \{/ {on = 1; next} on && /\}/ {on = 0} on {gsub(/[",]/, ""); s += $2} END {printf "%.0f", s}' \
  "$study/report/results.json")"
tmp="$here/docs/results.md.tmp"
{
  echo "# Current results of the main job"
  echo
  echo "Made by \`bash scripts/run_default.sh\` and \`bash scripts/results_doc.sh\` (on its study folder), written"
  echo "at commit $(git -C "$here" rev-parse --short HEAD) on $(date -u +%Y-%m-%d), on $cores cores of $cpu ($kind)$(
    [ "$seconds" != 0 ] && echo ", the study's steps taking $seconds s in all")."
  echo "Another CPU kind rounds differently in its kernels and, without AVX-512, trains with the demo's"
  echo "\`slow_cpu\` steps: its figures differ (README, *Current results*)."
  tail -n +2 "$results" | sed 's/^## /### /'
} > "$tmp"
mv "$tmp" "$here/docs/results.md"
echo "wrote $here/docs/results.md"
