#!/usr/bin/env bash
# Runs a command with the kernels (and the slow_cpu settings) of another CPU kind, on a CPU that has
# a superset of its instructions: LibTorch's own kernels (ATEN_CPU_CAPABILITY), oneDNN's convolutions
# (ONEDNN_MAX_CPU_ISA, which itk::GetCPUInstructionSet reports, so the study's slow_cpu settings and
# the refusal of bfloat16 without AVX-512 follow) and OpenBLAS (OPENBLAS_CORETYPE) are capped to that
# kind's instruction set.
# What it does not reproduce: the other kind's speed, and oneDNN's vendor-specific blocking (an Intel
# and an AMD CPU with the same instruction set may still sum in different orders).
# Usage: bash scripts/emulate_cpu.sh KIND COMMAND [ARGS...]
#   KIND avx2:   a CPU with AVX2 only (e.g. AMD Zen 2/3): slow_cpu settings, bfloat16 refused;
#   KIND avx512: AVX-512 without bfloat16 (e.g. Intel Skylake-SP, Ice Lake).
#   e.g. bash scripts/emulate_cpu.sh avx2 ctest --test-dir build -j 2
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,12p "$0" >&2; exit 2; }
kind="$1"; shift
case "$kind" in
  avx2)   export ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell ;;
  avx512) export ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI ATEN_CPU_CAPABILITY=avx512 OPENBLAS_CORETYPE=SkylakeX ;;
  *) echo "emulate_cpu: unknown kind '$kind': use avx2 or avx512" >&2; exit 2 ;;
esac
export DNNL_MAX_CPU_ISA="$ONEDNN_MAX_CPU_ISA" # oneDNN before 2.5 reads this name
exec "$@"
