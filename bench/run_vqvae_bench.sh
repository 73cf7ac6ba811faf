#!/bin/bash
# VQ-VAE training and encoding throughput: itk::VQVAEModel (BUILD/bench/vqvae_bench) against
# the same network in PyTorch (bench/vqvae_reference.py, Debian's python3-torch: the same
# ATen, oneDNN and OpenBLAS), interleaved (ref, ours, ref, ours, ...) because the machine is
# shared; then the machine's peak (a large 3x3 convolution through oneDNN, a large sgemm) and
# the fraction of it that training reaches (peak measured in every round, best kept, as for
# the throughputs).
#
#   bash bench/run_vqvae_bench.sh BUILD
#
# Environment knobs: BATCH (64), STEPS (timed training steps per run, 5), WARMUP (1),
# ENCODE_IMAGES (256), THREADS (2), ROUNDS (3), PYTHON (/usr/bin/python3).
# Each side's figure is its best run (max over rounds); per run, training img/s counts all timed
# steps, "best step" the fastest one. Also the median over rounds of the per-round training ratio
# (the two runs of a round are adjacent in time, so see about the same load). Training FLOPs = 3 x forward FLOPs (forward, and a
# backward of twice the forward), forward counted analytically by both sides (2 x multiply-adds).
# MIXED=1 (default) also times bfloat16 mixed precision on both sides (ours: --precision bfloat16;
# the reference: torch.autocast on CPU), interleaved in the same rounds; MIXED=0 skips it.
set -euo pipefail
BUILD=${1:?usage: run_vqvae_bench.sh BUILD}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/bench/vqvae_bench
PYTHON=${PYTHON:-/usr/bin/python3}
BATCH=${BATCH:-64}; STEPS=${STEPS:-5}; WARMUP=${WARMUP:-1}; ENCODE_IMAGES=${ENCODE_IMAGES:-256}
THREADS=${THREADS:-2}; ROUNDS=${ROUNDS:-3}; MIXED=${MIXED:-1}
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" # OpenMP spin-waiting distorts both sides on a shared machine
[ -x "$BIN" ] || { echo "no $BIN: build it first (cmake --build $BUILD --target vqvae_bench)" >&2; exit 1; }
ARGS="--batch $BATCH --steps $STEPS --warmup $WARMUP --encode-images $ENCODE_IMAGES --threads $THREADS"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  "$PYTHON" "$HERE/vqvae_reference.py" $ARGS > "$TMP/ref.$r"
  "$BIN" $ARGS > "$TMP/ours.$r"
  if [ "$MIXED" = 1 ]; then
    "$PYTHON" "$HERE/vqvae_reference.py" $ARGS --autocast > "$TMP/refbf.$r"
    "$BIN" $ARGS --precision bfloat16 > "$TMP/oursbf.$r"
  fi
  "$PYTHON" "$HERE/vqvae_reference.py" --peak-only --threads "$THREADS" > "$TMP/peak.$r"
  rr=$(grep -h '^REF_TRAIN_IMG_S=' "$TMP/ref.$r" | cut -d= -f2)
  oo=$(grep -h '^OURS_TRAIN_IMG_S=' "$TMP/ours.$r" | cut -d= -f2)
  pp=$(grep -h '^PEAK_CONV3X3_GFLOPS=' "$TMP/peak.$r" | cut -d= -f2)
  awk -v r="$r" -v l="$(cut -d' ' -f1 /proc/loadavg)" -v a="$rr" -v b="$oo" -v p="$pp" \
    'BEGIN { printf "round %s (load %s): training ref %.2f img/s, ours %.2f img/s, conv peak %.0f GFLOP/s, ours/ref %.2f\n", r, l, a, b, p, b / a }' |
    tee -a "$TMP/rounds"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# max over rounds of KEY in files matching PATTERN
best() { cat $TMP/$1.* | grep "^$2=" | cut -d= -f2 | sort -g | tail -1; }
get() { grep -h "^$2=" "$TMP/$1" | cut -d= -f2; }
RT=$(best ref REF_TRAIN_IMG_S); OT=$(best ours OURS_TRAIN_IMG_S)
RB=$(best ref REF_TRAIN_IMG_S_BEST_STEP); OB=$(best ours OURS_TRAIN_IMG_S_BEST_STEP)
RC=$(best ref REF_TRAIN_IMG_PER_CPU_S); OC=$(best ours OURS_TRAIN_IMG_PER_CPU_S)
RE=$(best ref REF_ENCODE_IMG_S); OE=$(best ours OURS_ENCODE_IMG_S)
RF=$(get ref.1 REF_FORWARD_GFLOP_PER_IMAGE); OF=$(get ours.1 OURS_FORWARD_GFLOP_PER_IMAGE)
PC=$(best peak PEAK_CONV3X3_GFLOPS); PG=$(best peak PEAK_SGEMM_GFLOPS)

MEDIAN=$(awk '{ print $NF }' "$TMP/rounds" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
awk -v rt="$RT" -v ot="$OT" -v rb="$RB" -v ob="$OB" -v rc="$RC" -v oc="$OC" -v re="$RE" -v oe="$OE" \
    -v rf="$RF" -v of="$OF" -v pc="$PC" -v pg="$PG" -v batch="$BATCH" -v threads="$THREADS" -v med="$MEDIAN" 'BEGIN {
  printf "\nVQ-VAE 128x128, batch %d, %d threads; forward %.4f GFLOP/image (ref counts %.4f)\n", batch, threads, of, rf
  printf "%-34s %12s %12s %8s\n", "", "PyTorch ref", "C++ (ours)", "ours/ref"
  printf "%-34s %12.2f %12.2f %8.2f\n", "training img/s (all timed steps)", rt, ot, ot / rt
  printf "%-34s %12.2f %12.2f %8.2f\n", "training img/s (best step)", rb, ob, ob / rb
  printf "%-34s %12.2f %12.2f %8.2f\n", "training img per CPU-second", rc, oc, oc / rc
  printf "%-34s %12.2f %12.2f %8.2f\n", "encoding img/s", re, oe, oe / re
  printf "%-34s %12.1f %12.1f\n", "training GFLOP/s (3 x forward)", 3 * rf * rt, 3 * of * ot
  printf "peak: 3x3 convolution (oneDNN) %.1f GFLOP/s, sgemm %.1f GFLOP/s\n", pc, pg
  printf "%-34s %11.1f%% %11.1f%%\n", "training, fraction of conv peak", 100 * 3 * rf * rt / pc, 100 * 3 * of * ot / pc
  printf "%-34s %11.1f%% %11.1f%%\n", "training, fraction of sgemm peak", 100 * 3 * rf * rt / pg, 100 * 3 * of * ot / pg
  printf "median over rounds of training ours/ref (same round, adjacent in time): %.2f\n", med
  printf "RATIO_TRAIN=%.3f\nRATIO_TRAIN_MEDIAN_ROUND=%.3f\nRATIO_ENCODE=%.3f\n", ot / rt, med, oe / re
}'
if [ "$MIXED" = 1 ]; then
  RBF=$(best refbf REF_TRAIN_IMG_S); OBF=$(best oursbf OURS_TRAIN_IMG_S)
  awk -v rt="$RT" -v ot="$OT" -v rb="$RBF" -v ob="$OBF" -v of="$OF" 'BEGIN {
    printf "\nbfloat16 mixed precision (convolutions in bfloat16; quantizer, losses, weights, Adam in float32)\n"
    printf "%-34s %12s %12s %8s\n", "training img/s", "PyTorch ref", "C++ (ours)", "ours/ref"
    printf "%-34s %12.2f %12.2f %8.2f\n", "float32", rt, ot, ot / rt
    printf "%-34s %12.2f %12.2f %8.2f\n", "bfloat16 mixed (autocast)", rb, ob, ob / rb
    printf "%-34s %12s %12.2f %8.2f\n", "ours bfloat16 vs ref float32", "", ob, ob / rt
    printf "ours bfloat16 / ours float32: %.2f; ours bfloat16: %.1f GFLOP/s\n", ob / ot, 3 * of * ob
    printf "RATIO_TRAIN_BF16_VS_REF_FP32=%.3f\nRATIO_TRAIN_BF16_VS_REF_BF16=%.3f\n", ob / rt, ob / rb
  }'
fi
