#!/usr/bin/env bash
# Installs every dependency from Debian packages, then configures and builds
# the module in build/ (Release). Safe to run again: installed packages are
# skipped and the build is incremental.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

packages=(
  build-essential cmake ninja-build pkg-config
  libinsighttoolkit5-dev        # ITK 5.2.1
  libfftw3-dev                  # ITK is built with FFTW and links it
  libtorch-dev                  # LibTorch 1.13.1, CPU
  libgloo-dev                   # the headers of LibTorch's c10d Gloo backend: data-parallel training
  libopenblas0-pthread          # without it LibTorch falls back to reference BLAS (~4x slower)
  libopencv-dev                 # OpenCV 4.6
  libvtk9-dev                   # VTK 9.1 charts for the report
  libgtest-dev libgmock-dev googletest
  clang-format                  # the layout check of the C++ sources (.clang-format; clang-format 14)
  libbenchmark-dev
  nlohmann-json3-dev            # the study's JSON config and summaries
  xvfb xauth                    # VTK 9.1 renders offscreen only with an X display
  chromium                      # headless check that the study report renders
  python3 python3-numpy python3-skimage python3-torch   # bench/ references and test cross-checks
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

jobs="${SM_BUILD_JOBS:-$(nproc)}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
echo "setup: built in $here/build (CLIs in build/bin)"
