#!/usr/bin/env bash
# Builds the project against the CUDA LibTorch of the machine's PyTorch (pip wheel), on a machine
# with no ITK: ITK (trimmed to the modules used), GTest and nlohmann-json come from a bundle made on
# a Debian 12 machine by make_itk_bundle.sh and unpacked at / without overwriting anything there.
#
#   device_build.sh SRC BUILD [ITK_BUNDLE.tar.xz]
#
# Environment: PYTHON (python3), JOBS (nproc), TARGETS (all), CXX_STANDARD (probed: 17, else 20),
#   CC/CXX (kept unless CXX links libstdc++ statically), EXTRA_CMAKE_ARGS.
#   Logs: BUILD/configure.log, BUILD/build.log.
# Afterwards run the programs with: export LD_LIBRARY_PATH=/opt/itkrt/lib:/usr/lib:$LD_LIBRARY_PATH
set -uo pipefail
SRC=$(realpath "${1:?usage: device_build.sh SRC BUILD [ITK_BUNDLE]}")
BUILD=$(realpath -m "${2:?usage: device_build.sh SRC BUILD [ITK_BUNDLE]}")
BUNDLE=${3:-}
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$BUILD"
if [ -n "$BUNDLE" ]; then
  stage=$(mktemp -d)
  if command -v xz >/dev/null; then tar -xJf "$BUNDLE" -C "$stage"
  else "$PYTHON" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$BUNDLE" | tar -x -C "$stage"
  fi || exit 1
  # no-clobber: the machine's own files (system libraries, headers) are never replaced
  cp -rn "$stage"/usr/. /usr/ 2>/dev/null; mkdir -p /opt/itkrt; cp -rn "$stage"/opt/itkrt/. /opt/itkrt/ 2>/dev/null
  [ -f /usr/lib/cmake/ITK-5.2/ITKConfig.cmake ] || { echo "the ITK bundle did not unpack"; exit 1; }
  rm -rf "$stage"
fi
export LD_LIBRARY_PATH=/opt/itkrt/lib:/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# A compiler that links libstdc++ statically (the GPU image's CXX=/opt/gcc/bin/g++ finds no
# libstdc++.so) leaves std::filesystem calls to the copies that PyTorch's libtorch exports, and
# std::filesystem::remove_all crashes there: use the system g++ then.
if [[ "$(${CXX:-c++} -print-file-name=libstdc++.so)" != /* ]] && [ -x /usr/bin/g++ ] &&
   [[ "$(/usr/bin/g++ -print-file-name=libstdc++.so)" == /* ]]; then
  echo "${CXX:-c++} has no shared libstdc++: using /usr/bin/gcc and /usr/bin/g++"
  export CC=/usr/bin/gcc CXX=/usr/bin/g++
fi
echo "compiler: $(${CXX:-c++} --version | head -1) (${CXX:-c++})"
TORCH_PREFIX=$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)') || exit 1
echo "torch $("$PYTHON" -c 'import torch; print(torch.__version__, torch.version.cuda)'), cmake prefix $TORCH_PREFIX"
TORCH_INC=$(dirname "$TORCH_PREFIX")/../include
[ -d "$TORCH_INC" ] || TORCH_INC=$("$PYTHON" -c 'import torch.utils.cpp_extension as e; print(e.include_paths()[0])')
if [ -z "${CXX_STANDARD:-}" ]; then
  # the oldest standard this LibTorch's headers compile with (the project wants 17)
  for std in 17 20; do
    if echo '#include <torch/torch.h>
#include <ATen/autocast_mode.h>
int main() { return 0; }' | ${CXX:-c++} -std=c++$std -fsyntax-only -x c++ -I"$TORCH_INC" -I"$TORCH_INC/torch/csrc/api/include" - \
      >"$BUILD/std_probe_$std.log" 2>&1; then CXX_STANDARD=$std; break; fi
  done
  [ -n "${CXX_STANDARD:-}" ] || { echo "LibTorch headers compile with neither C++17 nor C++20: see $BUILD/std_probe_*.log"; exit 1; }
fi
echo "C++ standard: $CXX_STANDARD"
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$TORCH_PREFIX/Torch" \
  -DCMAKE_CXX_STANDARD="$CXX_STANDARD" -DCMAKE_DISABLE_FIND_PACKAGE_VTK=ON -DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=ON \
  ${EXTRA_CMAKE_ARGS:-} >"$BUILD/configure.log" 2>&1 || { tail -40 "$BUILD/configure.log"; exit 1; }
grep -E 'LibTorch|CUDA|cuDNN|Torch|VTK|GTest' "$BUILD/configure.log" | head -20
ninja -C "$BUILD" -j "$JOBS" -k 0 ${TARGETS:-} >"$BUILD/build.log" 2>&1
rc=$?
grep -E 'error|FAILED' "$BUILD/build.log" | head -40
echo "build exit $rc"
exit $rc
