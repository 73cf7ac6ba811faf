#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang in build-fuzz/ (a build folder of its own: the
# GCC build in build/ is not touched) and runs each for SECONDS seconds (default 60), one after
# the other, starting from the seed corpus fuzz/corpus/<target>/ (new inputs go to
# build-fuzz/corpus/<target>/; the seeds are not changed). Exits non-zero at the first target that
# finds a crash, a leak, a sanitizer error, an abort (a broken round trip) or a timeout; libFuzzer
# then writes the input to build-fuzz/crash-*, leak-*, timeout-* and prints the command that
# reproduces it, e.g.  build-fuzz/FuzzTable build-fuzz/crash-<sha1>
#
#   bash scripts/fuzz.sh                          # CI: 60 s per target (.ci/run)
#   SECONDS_PER_TARGET=600 bash scripts/fuzz.sh   # the longer run: 10 minutes per target
#   bash scripts/fuzz.sh FuzzTable                # one target
#
# Targets: FuzzModelFile (the model-file/checkpoint container parser), FuzzTable (the CSV table
# reader), FuzzStudyConfig (the study's config parse, key/kind check and merge). Needs clang
# (Debian's clang 14 with libclang-rt-14-dev, installed here when missing); see CONTRIBUTING.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
seconds="${SECONDS_PER_TARGET:-60}"
targets=("$@")
((${#targets[@]})) || targets=(FuzzModelFile FuzzTable FuzzStudyConfig)
declare -A corpus=([FuzzModelFile]=model_file [FuzzTable]=table [FuzzStudyConfig]=study_config)

# clang and its runtimes (libFuzzer, the sanitizers: libclang-rt-14-dev, only recommended by clang).
missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "fuzz: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-fuzz -j "${SM_BUILD_JOBS:-$(nproc)}" --target "${targets[@]}"

for t in "${targets[@]}"; do
  [ -n "${corpus[$t]:-}" ] || { echo "fuzz: unknown target $t (use ${!corpus[*]})"; exit 2; }
  mkdir -p "build-fuzz/corpus/${corpus[$t]}"
  echo "fuzz: $t for $seconds s"
  # -timeout: an input taking over 10 s is a hang; -rss_limit_mb: a runaway allocation is a finding.
  # ASan's leak check stays on (a leak is a finding too).
  status=0
  (cd build-fuzz && "./$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "corpus/${corpus[$t]}" "$here/fuzz/corpus/${corpus[$t]}") >"build-fuzz/$t.log" 2>&1 || status=$?
  tail -n 60 "build-fuzz/$t.log"
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $t FAILED (exit $status): the input is in build-fuzz/ (crash-*, leak-*, timeout-*, oom-*);"
    echo "      reproduce with: build-fuzz/$t build-fuzz/<that file>"
    exit 1
  fi
done
echo "fuzz: ${targets[*]}: no crash in $seconds s each"
