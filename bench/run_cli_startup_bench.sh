#!/usr/bin/env bash
# How long each CLI takes to answer --xml (3D Slicer asks every CLI at every start, unless it finds
# <name>.xml beside the executable), side by side: the launcher in BUILD/bin against the module that
# links LibTorch in BUILD/libexec/StochasticMicrostructure, best of ROUNDS, and the ratio. Goal:
# every CLI under 0.1 s.
# Usage: bash bench/run_cli_startup_bench.sh BUILD [ROUNDS]
set -euo pipefail
build="${1:?usage: bash bench/run_cli_startup_bench.sh BUILD [ROUNDS]}"; rounds="${2:-5}"
best() { # best wall time of $rounds runs of "$@" --xml, in seconds
  /usr/bin/python3 - "$rounds" "$@" <<'PY'
import subprocess, sys, time
rounds, cmd = int(sys.argv[1]), sys.argv[2:] + ["--xml"]
times = []
for _ in range(rounds):
    t = time.perf_counter(); subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True); times.append(time.perf_counter() - t)
print("%.4f" % min(times))
PY
}
printf "%-30s %12s %12s %8s %s\n" CLI "bin (s)" "module (s)" ratio "under 0.1 s"
for cli in "$build"/bin/Microstructure*; do
  case "$cli" in *.xml) continue ;; esac
  name=$(basename "$cli"); module="$build/libexec/StochasticMicrostructure/$name"
  t=$(best "$cli")
  if [ -x "$module" ]; then m=$(best "$module"); ratio=$(/usr/bin/python3 -c "print('%.1fx' % ($m / $t))"); else m="-"; ratio="-"; fi
  printf "%-30s %12s %12s %8s %s\n" "$name" "$t" "$m" "$ratio" "$(/usr/bin/python3 -c "print('yes' if $t < 0.1 else 'NO')")"
done
