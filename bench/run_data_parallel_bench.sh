#!/usr/bin/env bash
# Data-parallel scaling of VQ-VAE training on one machine, side by side in one run: the demo's
# VQ-VAE (MicrostructureTrainVQVAE, float32) trained for the same global batch as
#   (a) 1 process with 1 thread,
#   (b) 2 processes with 1 thread each (c10d Gloo on loopback, the batch split 2 ways),
#   (c) 1 process with 2 threads,
#   (d) 1 process with 1 thread on half the batch: one rank's compute alone,
#   (e) two such processes at once, independent (no communication): one rank's compute when the two
#       share the machine (memory bandwidth, caches).
# Each is timed at STEPS1 and STEPS2 steps; the difference removes start-up and data loading, so the
# figures are steady training throughput. Prints images per second, the ratios (b)/(a) (target >= 1.8)
# and (b)/(c) (target >= 1.0), the share of a 2-process step that is not one rank's compute alone,
# 1 - t(d) / t(b), and of it what sharing the machine explains, 1 - t(d) / t(e); the rest, 1 - t(e) /
# t(b), is communication (gradient all-reduce, synchronised batch normalisation) and waiting.
#
#   bash bench/run_data_parallel_bench.sh BUILD [WORK_DIR]
#
# Environment: BATCH (32, global), STEPS1 (4), STEPS2 (24), ROUNDS (2: best of).
set -euo pipefail
BUILD=${1:?usage: run_data_parallel_bench.sh BUILD [WORK_DIR]}
bin=$(cd "$BUILD/bin" && pwd)
work=${2:-$(mktemp -d "${TMPDIR:-/tmp}/dp_bench.XXXXXX")}
BATCH=${BATCH:-32}; STEPS1=${STEPS1:-4}; STEPS2=${STEPS2:-24}; ROUNDS=${ROUNDS:-2}
export OMP_WAIT_POLICY=PASSIVE
mkdir -p "$work" && cd "$work"
[ -x "$bin/MicrostructureTrainVQVAE" ] || { echo "no $bin/MicrostructureTrainVQVAE: build first" >&2; exit 1; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"

"$bin/MicrostructureSynthesize" --coolingRates 1,10,30 --imagesPerRate 2 --size 512,512 --seed 1 ds >/dev/null 2>&1
"$bin/MicrostructurePatches" ds/micrographs.csv --conditions cooling_rate_C_per_s --patchSize 128,128 \
  --testFraction 0.2 --seed 1 --outputStack patches.nrrd --outputTable patches.csv >/dev/null 2>&1
net=(--table patches.csv --encoderChannels 32,64 --residualBlocks 2 --codebookSize 512 --codeDimension 64
     --precision float32 --checkpointInterval 0)

# seconds WORLD THREADS BATCH STEPS: wall time of one run (rank 0's), a fresh model each time.
seconds() {
  local world=$1 threads=$2 batch=$3 steps=$4 port r start
  rm -f m.model m.model.checkpoint
  port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  start=$(date +%s.%N)
  if [ "$world" = pair ]; then # two independent one-process runs at once
    for r in 0 1; do
      "$bin/MicrostructureTrainVQVAE" patches.nrrd "m$r.model" "${net[@]}" --batchSize "$batch" --steps "$steps" \
        --threads "$threads" >"run$r.txt" 2>&1 &
      pids[r]=$!
    done
    for r in 0 1; do wait "${pids[r]}" || { cat "run$r.txt"; exit 1; }; done
    rm -f m0.model m1.model m0.model.checkpoint m1.model.checkpoint
  elif [ "$world" = 1 ]; then
    "$bin/MicrostructureTrainVQVAE" patches.nrrd m.model "${net[@]}" --batchSize "$batch" --steps "$steps" \
      --threads "$threads" >run.txt 2>&1 || { cat run.txt; exit 1; }
  else
    for ((r = 0; r < world; ++r)); do
      MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=$world RANK=$r LOCAL_RANK=$r \
        "$bin/MicrostructureTrainVQVAE" patches.nrrd m.model "${net[@]}" --batchSize "$batch" --steps "$steps" \
        --threads "$threads" >"run$r.txt" 2>&1 &
      pids[r]=$!
    done
    for ((r = 0; r < world; ++r)); do wait "${pids[r]}" || { cat "run$r.txt"; exit 1; }; done
  fi
  /usr/bin/python3 -c "import sys; print(float(sys.argv[1]) - float(sys.argv[2]))" "$(date +%s.%N)" "$start"
}
# per_step WORLD THREADS BATCH: best over ROUNDS of (t(STEPS2) - t(STEPS1)) / (STEPS2 - STEPS1).
per_step() {
  local times="" i a b
  for ((i = 0; i < ROUNDS; ++i)); do
    a=$(seconds "$@" "$STEPS1"); b=$(seconds "$@" "$STEPS2")
    times="$times $a,$b"
  done
  /usr/bin/python3 -c "import sys; n = int(sys.argv[1]); print(min((float(b) - float(a)) / n for a, b in (x.split(',') for x in sys.argv[2:])))" \
    $((STEPS2 - STEPS1)) $times
}
a=$(per_step 1 1 "$BATCH")
b=$(per_step 2 1 "$BATCH")
c=$(per_step 1 2 "$BATCH")
d=$(per_step 1 1 $((BATCH / 2)))
e=$(per_step pair 1 $((BATCH / 2)))
/usr/bin/python3 - "$BATCH" "$a" "$b" "$c" "$d" "$e" <<'PY'
import sys
batch = int(sys.argv[1]); a, b, c, d, e = map(float, sys.argv[2:])
print(f"VQ-VAE training, demo network, 128 x 128 patches, global batch {batch}, float32 (seconds per step, images/s):")
for name, t in (("(a) 1 process x 1 thread", a), ("(b) 2 processes x 1 thread", b), ("(c) 1 process x 2 threads", c),
                (f"(d) 1 process x 1 thread, batch {batch // 2}", d),
                (f"(e) 2 such processes at once, independent", e)):
    per = name.startswith(("(d)", "(e)"))
    print(f"  {name:42s} {t:7.3f} s  {(batch / 2 if per else batch) / t:7.1f} img/s" + (" per process" if per else ""))
print(f"scaling 2 processes / 1 process (1 thread each): {a / b:.2f}x (target >= 1.8)")
print(f"2 processes x 1 thread against 1 process x 2 threads: {c / b:.2f}x (target >= 1.0)")
print(f"share of a 2-process step beyond one rank's compute alone, 1 - t(d) / t(b): {100 * (1 - d / b):.1f} %; "
      f"sharing the machine explains 1 - t(d) / t(e) = {100 * (1 - d / e):.1f} % of t(e); "
      f"communication and waiting, 1 - t(e) / t(b): {100 * (1 - e / b):.1f} %")
print(f"SCALING={a / b:.3f} VERSUS_THREADS={c / b:.3f}")
PY
