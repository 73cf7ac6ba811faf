# The preamble of the command-line tests (test/cli/*.sh), sourced as their first command:
#   source "$(dirname "$0")/common.sh" || exit 1
# Not a test itself (test/CMakeLists.txt leaves it out). The test's first argument is the folder
# of the built CLIs (ctest gives build/bin). It sets:
#   strict mode: set -euo pipefail
#   bin   the CLIs' folder, absolute
#   py    the Python with numpy and scikit-image that checks the outputs
#   work  a new temporary folder, the current one, removed when the test exits
set -euo pipefail
bin=$(cd "$1" && pwd)
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# Whether the networks run with AVX-512 here: the CPU's flag (/proc/cpuinfo), unless
# ONEDNN_MAX_CPU_ISA caps oneDNN below it (scripts/emulate_cpu.sh), as itk::CPUHasAVX512 says.
cpu_has_avx512() {
  grep -qw avx512f /proc/cpuinfo || return 1
  case "${ONEDNN_MAX_CPU_ISA:-${DNNL_MAX_CPU_ISA:-ALL}}" in ALL | all | AVX512* | avx512*) return 0 ;; *) return 1 ;; esac
}
