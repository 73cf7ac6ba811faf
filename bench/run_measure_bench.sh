#!/usr/bin/env bash
# Otsu + mean free path d_f + two-point correlation S2 on 1000 patches of 128x128: the C++
# library (bench/measure_bench, 1 and 2 threads) against the scikit-image/numpy reference
# (bench/measure_reference.py), in one run. Checks that the results agree, prints the times
# and the speed-up. Builds nothing.
#
#   bash bench/run_measure_bench.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR: a configured and built tree (cmake --build BUILD_DIR --target measure_bench).
# WORK_DIR: where the patch stack and the result files go (default: a new temporary folder).
# Environment: COUNT (1000), SIZE (128), SEED (2021), REPEATS (3: best of), PYTHON (/usr/bin/python3).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: bash $0 BUILD_DIR [WORK_DIR]" >&2
  exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$1/bench/measure_bench"
work="${2:-$(mktemp -d "${TMPDIR:-/tmp}/measure_bench.XXXXXX")}"
python="${PYTHON:-/usr/bin/python3}"
count="${COUNT:-1000}"
size="${SIZE:-128}"
seed="${SEED:-2021}"
repeats="${REPEATS:-3}"

if [[ ! -x "$bench" ]]; then
  echo "error: $bench not found; build it first: cmake --build $1 --target measure_bench" >&2
  exit 2
fi
mkdir -p "$work"
patches="$work/patches_${count}x${size}_seed${seed}.mhd"

echo "== data: $count patches of ${size}x${size}, seed $seed -> $patches"
"$bench" generate "$patches" "$count" "$size" "$seed"

echo "== C++ (the library's filters; $(ldd "$bench" | grep -o 'libITKCommon-[0-9.]*' | head -1), FFTW)"
out1="$("$bench" measure "$patches" "$work/cxx_1thread.f64" 1 "$repeats")"
echo "$out1"
out2="$("$bench" measure "$patches" "$work/cxx_2threads.f64" 2 "$repeats")"
echo "$out2"
if ! cmp -s "$work/cxx_1thread.f64" "$work/cxx_2threads.f64"; then
  echo "FAIL: the 1-thread and 2-thread C++ results differ" >&2
  exit 1
fi
echo "C++ 1-thread and 2-thread results are bit-identical"

echo "== Python reference"
status=0
outp="$("$python" "$here/measure_reference.py" "$patches" "$work/python.f64" --repeats "$repeats" \
  --compare "$work/cxx_2threads.f64")" || status=$?
echo "$outp"

cxx1=$(sed -n 's/^CXX_SECONDS=//p' <<<"$out1")
cxx2=$(sed -n 's/^CXX_SECONDS=//p' <<<"$out2")
py=$(sed -n 's/^PYTHON_SECONDS=//p' <<<"$outp")
echo "== summary ($count patches of ${size}x${size}, best of $repeats, $(nproc) cores)"
awk -v py="$py" -v c1="$cxx1" -v c2="$cxx2" 'BEGIN {
  printf "python (1 thread):  %8.3f s\n", py
  printf "C++ 1 thread:       %8.3f s   speed-up %5.1fx\n", c1, py / c1
  printf "C++ 2 threads:      %8.3f s   speed-up %5.1fx   (2 vs 1 thread: %.2fx)\n", c2, py / c2, c1 / c2
  printf "RATIO=%.2f\n", py / c2
}'
if [[ $status -ne 0 ]]; then
  echo "FAIL: C++ and Python results disagree (see compare: lines above)" >&2
  exit 1
fi

echo "== S2 by route: FFTW directly, ITK's FFT factory, VNL's FFT (an ITK without FFTW)"
"$bench" s2routes "$patches" 200 "$repeats"

echo "== Particle labelling by route: OpenCV against ITK"
"$bench" particles "$patches" "$count" "$repeats"
