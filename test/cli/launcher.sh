#!/usr/bin/env bash
# The CLIs that run the networks are launchers (apps/launcher/MicrostructureLauncher.cxx) in front of
# their modules in libexec/StochasticMicrostructure/: --xml is answered without LibTorch, with the
# module's own description, also written beside the launcher as <name>.xml for 3D Slicer;
# everything else reaches the module with its arguments, streams and exit status; a launcher
# without its module says so and exits 127.
source "$(dirname "$0")/common.sh" || exit 1
libexec="$bin/../libexec/StochasticMicrostructure"
[ -d "$libexec" ] || { echo "skipped: no LibTorch modules (built without LibTorch)"; exit 77; }
count=0
for module in "$libexec"/Microstructure*; do
  name=$(basename "$module")
  count=$((count + 1))
  ! ldd "$bin/$name" | grep -q libtorch || { echo "FAIL: $bin/$name links LibTorch"; exit 1; }
  "$bin/$name" --xml >launcher.xml
  "$module" --xml >module.xml
  cmp -s launcher.xml module.xml || { echo "FAIL: $name --xml differs from its module's"; exit 1; }
  cmp -s launcher.xml "$bin/$name.xml" || { echo "FAIL: $bin/$name.xml differs from $name --xml"; exit 1; }
  # Forwarding: the module's usage error, on stderr, with its exit status.
  set +e
  "$bin/$name" --noSuchOption >out.txt 2>err.txt; launcher_rc=$?
  "$module" --noSuchOption >/dev/null 2>module_err.txt; module_rc=$?
  set -e
  [ "$launcher_rc" -eq "$module_rc" ] && [ "$launcher_rc" -ne 0 ] && cmp -s err.txt module_err.txt ||
    { echo "FAIL: $name --noSuchOption: exit $launcher_rc against the module's $module_rc"; cat err.txt; exit 1; }
done
[ "$count" -ge 7 ] || { echo "FAIL: $count modules in $libexec, expected the 7 that run the networks"; exit 1; }
# A launcher whose module is missing.
mkdir -p alone/bin
cp "$bin/MicrostructureGenerate" alone/bin/
set +e
alone/bin/MicrostructureGenerate --help >out.txt 2>err.txt; rc=$?
set -e
[ "$rc" -eq 127 ] && grep -q "cannot run the module .*libexec/StochasticMicrostructure/MicrostructureGenerate" err.txt &&
  grep -q "rebuild" err.txt || { echo "FAIL: a launcher without its module (exit $rc)"; cat err.txt; exit 1; }
alone/bin/MicrostructureGenerate --xml | cmp -s - "$bin/MicrostructureGenerate.xml" ||
  { echo "FAIL: --xml needs the module"; exit 1; }
