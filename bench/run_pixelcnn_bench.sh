#!/usr/bin/env bash
# Sampling 1000 latent maps of 16x16 from the paper-sized conditional gated PixelCNN prior
# (K = 512, 15 gated layers, random weights): the library's incremental sampler against its naive
# sampler (the paper's loop: whole network per position) and against the same prior written
# independently in PyTorch with the paper's loop (bench/pixelcnn_reference.py). The naive samplers
# are timed on NAIVE_COUNT maps and scaled linearly to COUNT. Checks that the naive and incremental
# samples are identical and that C++ and PyTorch give the same log-likelihoods. Builds nothing.
#
#   bash bench/run_pixelcnn_bench.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR: a built tree (cmake --build BUILD_DIR --target pixelcnn_bench).
# Environment: COUNT (1000), NAIVE_COUNT (2), THREADS (2: LibTorch / PyTorch threads), BATCH (250:
# maps per incremental batch), SEED (2021), PYTHON (/usr/bin/python3), OMP_WAIT_POLICY (PASSIVE:
# on a shared machine, OpenMP threads that spin while waiting slow small operations 10-100x).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: bash $0 BUILD_DIR [WORK_DIR]" >&2
  exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$1/bench/pixelcnn_bench"
work="${2:-$(mktemp -d "${TMPDIR:-/tmp}/pixelcnn_bench.XXXXXX")}"
python="${PYTHON:-/usr/bin/python3}"
count="${COUNT:-1000}"
naive="${NAIVE_COUNT:-2}"
threads="${THREADS:-2}"
batch="${BATCH:-250}"
seed="${SEED:-2021}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

if [[ ! -x "$bench" ]]; then
  echo "error: $bench not found; build it first: cmake --build $1 --target pixelcnn_bench" >&2
  exit 2
fi
mkdir -p "$work"
echo "== machine: $(nproc) cores, $(uptime | sed 's/.*load/load/'); OMP_WAIT_POLICY=$OMP_WAIT_POLICY"

echo "== C++ (itk::PixelCNNPriorModel, LibTorch, $threads thread(s))"
status=0
outc="$("$bench" "$work" "$count" "$naive" "$threads" "$batch" "$seed")" || status=$?
echo "$outc"
if [[ $status -ne 0 ]]; then
  echo "FAIL: pixelcnn_bench (naive and incremental samples differ, or an error)" >&2
fi

echo "== Python reference (PyTorch $("$python" -c 'import torch; print(torch.__version__)'), the paper's naive loop)"
outp="$("$python" "$here/pixelcnn_reference.py" "$work" --naive-count "$naive" --count "$count" \
  --threads "$threads")" || status=$?
echo "$outp"

inc=$(sed -n 's/^INCREMENTAL_SECONDS=//p' <<<"$outc")
nai=$(sed -n "s/^NAIVE_SECONDS_ESTIMATED_FOR_${count}=//p" <<<"$outc")
py=$(sed -n "s/^PYTHON_NAIVE_SECONDS_ESTIMATED_FOR_${count}=//p" <<<"$outp")
cinc=$(sed -n 's/^INCREMENTAL_CPU_SECONDS=//p' <<<"$outc")
cnai=$(sed -n "s/^NAIVE_CPU_SECONDS_ESTIMATED_FOR_${count}=//p" <<<"$outc")
cpy=$(sed -n "s/^PYTHON_NAIVE_CPU_SECONDS_ESTIMATED_FOR_${count}=//p" <<<"$outp")
same=$(sed -n 's/^IDENTICAL_MAPS=//p' <<<"$outc")
echo "== summary ($count maps of 16x16, K = 512, $threads thread(s); naive timed on $naive map(s), scaled)"
awk -v inc="$inc" -v nai="$nai" -v py="$py" -v cinc="$cinc" -v cnai="$cnai" -v cpy="$cpy" -v n="$count" -v same="$same" 'BEGIN {
  printf "                              wall-clock                     CPU (all threads)\n"
  printf "C++ incremental:            %9.1f s (%5.1f ms/map)        %9.1f s\n", inc, 1000 * inc / n, cinc
  printf "C++ naive (estimated):      %9.1f s  ratio %6.0fx        %9.1f s  ratio %6.0fx\n", nai, nai / inc, cnai, cnai / cinc
  printf "PyTorch naive (estimated):  %9.1f s  ratio %6.0fx        %9.1f s  ratio %6.0fx\n", py, py / inc, cpy, cpy / cinc
  printf "naive == incremental samples: %s maps\n", same
  printf "goals: incremental >= 100x naive (wall): %s; %d maps in < 60 s: %s\n", (nai / inc >= 100 ? "yes" : "NO"), n, (inc < 60 ? "yes" : "NO")
  printf "RATIO=%.1f\nCPU_RATIO=%.1f\n", nai / inc, cnai / cinc
}'
echo "== files in $work"
exit $status
