#!/usr/bin/env bash
# MicrostructureTrainVQVAE, MicrostructureTrainPrior and MicrostructureGenerate as data-parallel jobs, started the way torchrun
# starts one (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT): two processes on loopback train
# with the global batch split between them and end where one process does (validation figures to
# 1e-4); only rank 0 writes the model, log and return values; generation and the study share their
# work the same way. A bad environment gets a message
# naming the variable. (The library-level checks, weights, a killed rank and a distributed resume,
# are itkDataParallelTest.)
source "$(dirname "$0")/common.sh" || exit 1
[ -x "$bin/MicrostructureTrainPrior" ] || { echo "skipped: built without LibTorch"; exit 77; }

"$bin/MicrostructureSynthesize" --coolingRates 1,10 --imagesPerRate 2 --size 128,128 --seed 3 ds >/dev/null 2>&1
"$bin/MicrostructurePatches" ds/micrographs.csv --conditions cooling_rate_C_per_s --patchSize 32,32 \
  --testFraction 0.25 --seed 1 --outputStack patches.nrrd --outputTable patches.csv >/dev/null 2>&1

# WORLD (default 2) processes, as torchrun starts them on one machine: job NAME PROGRAM ARGS... (rank
# r's stderr in NAMEr.txt, its return values in NAME_retr.txt); returns the last failing exit status.
job() {
  local name=$1 program=$2 port status=0 r world=${WORLD:-2}
  shift 2
  # A free port below the kernel's ephemeral range (as torchrun's 29500 is), with the 15 after it free
  # too: the study's k-th distributed step meets at MASTER_PORT + 1 + k when free, and a port in the ephemeral
  # range can be taken meanwhile by any client connection (a bind to port 0 gave such ports, and a
  # study step once failed with "Address already in use").
  port=$($py - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    p = random.randrange(20000, max(low - 16, 20100))
    try:
        for q in range(p, p + 16):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
    except OSError:
        continue
    print(p); break
else:
    raise SystemExit("no 16 consecutive free ports found below the ephemeral range in 200 tries")
PY
) || { echo "FAIL: $name: no free port for MASTER_PORT"; return 1; }
  # HOLD_NEXT_PORT=1: another program listens on MASTER_PORT + 1 meanwhile (the study's first step must
  # meet elsewhere).
  local holder=
  if [[ -n ${HOLD_NEXT_PORT:-} ]]; then
    $py -c 'import socket, sys, time; s = socket.socket(); s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(); time.sleep(3600)' \
      $((port + 1)) &
    holder=$!
    sleep 1
  fi
  for ((r = 0; r < world; ++r)); do
    MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=$world RANK=$r LOCAL_RANK=$r SM_DISTRIBUTED_TIMEOUT=60 \
      "$bin/$program" "$@" --returnparameterfile "${name}_ret$r.txt" >"$name$r.txt" 2>&1 &
    pids[r]=$!
  done
  for ((r = 0; r < world; ++r)); do wait "${pids[r]}" || status=$?; done
  [[ -z $holder ]] || kill "$holder"
  if grep -q "no c10d Gloo backend" "${name}0.txt"; then
    echo "skipped: built without c10d Gloo (libgloo-dev)"; exit 77
  fi
  grep -q "process 0 of $world of a data-parallel job (writes" "${name}0.txt" || { echo "FAIL: $name rank 0 line"; cat "${name}0.txt"; exit 1; }
  grep -q "process 1 of $world of a data-parallel job" "${name}1.txt" || { echo "FAIL: $name rank 1 line"; cat "${name}1.txt"; exit 1; }
  return $status
}
ret() { $py -c 'import sys; print(dict(l.strip().split(" = ") for l in open(sys.argv[1]) if " = " in l).get(sys.argv[2], ""))' "$@"; }
close() { $py -c 'import sys; a, b, t = map(float, sys.argv[1:]); sys.exit(abs(a - b) >= t)' "$@"; }

# The VQ-VAE: batch normalisation, EMA codebook and dead-code restarts over the whole batch.
vq=(--table patches.csv --encoderChannels 8,16 --residualBlocks 1 --codebookSize 16 --codeDimension 8 --batchSize 8
    --steps 6 --precision float32)
"$bin/MicrostructureTrainVQVAE" patches.nrrd vq.model "${vq[@]}" --returnparameterfile vq_ret.txt >vq.txt 2>&1 ||
  { cat vq.txt; exit 1; }
job vq_two MicrostructureTrainVQVAE patches.nrrd vq_two.model "${vq[@]}" ||
  { echo "FAIL: the VQ-VAE job"; tail -n 5 vq_two0.txt vq_two1.txt; exit 1; }
grep -q "wrote vq_two.model" vq_two0.txt || { echo "FAIL: rank 0 did not write the VQ-VAE"; exit 1; }
! grep -q "wrote vq_two.model" vq_two1.txt || { echo "FAIL: rank 1 wrote the VQ-VAE"; exit 1; }
close "$(ret vq_ret.txt validationMSE)" "$(ret vq_two_ret0.txt validationMSE)" 1e-5 ||
  { echo "FAIL: validation MSE $(ret vq_ret.txt validationMSE) (1 process) against $(ret vq_two_ret0.txt validationMSE)"; exit 1; }
[ "$(ret vq_ret.txt codesInUse)" = "$(ret vq_two_ret0.txt codesInUse)" ] || { echo "FAIL: codes in use"; exit 1; }
[ -z "$(ret vq_two_ret1.txt validationMSE 2>/dev/null)" ] || { echo "FAIL: rank 1 returned values"; exit 1; }

# The prior, on the maps of one of those VQ-VAEs.
prior=(--vqvae vq.model --table patches.csv --logConditions cooling_rate_C_per_s --layers 2 --hiddenChannels 8
       --outputHiddenChannels 16 --batchSize 8 --learningRate 0.003 --steps 6 --precision float32)
"$bin/MicrostructureTrainPrior" patches.nrrd one.model "${prior[@]}" --log one_log.csv \
  --returnparameterfile one_ret.txt >one.txt 2>&1 || { cat one.txt; exit 1; }
job two MicrostructureTrainPrior patches.nrrd two.model "${prior[@]}" --log two_log.csv ||
  { echo "FAIL: the prior job"; tail -n 5 two0.txt two1.txt; exit 1; }
grep -q "wrote two.model" two0.txt || { echo "FAIL: rank 0 did not write the model"; exit 1; }
! grep -q "wrote two.model" two1.txt || { echo "FAIL: rank 1 wrote the model"; exit 1; }
grep -q "training_steps = 6" two.model || { echo "FAIL: the job's model is not at step 6"; exit 1; }
close "$(ret one_ret.txt validationBitsPerIndex)" "$(ret two_ret0.txt validationBitsPerIndex)" 1e-4 ||
  { echo "FAIL: validation bits $(ret one_ret.txt validationBitsPerIndex) against $(ret two_ret0.txt validationBitsPerIndex)"; exit 1; }
$py - <<'PY'
import csv
a = list(csv.DictReader(open("one_log.csv")))
b = list(csv.DictReader(open("two_log.csv")))
assert [r["step"] for r in a] == [r["step"] for r in b], (a, b)
for x, y in zip(a, b):  # the logged training loss is the whole batch's
    assert abs(float(x["train_bits_per_index"]) - float(y["train_bits_per_index"])) < 1e-4, (x, y)
PY

# Generation shared by the processes: the same stack and index maps as one process, written by rank 0
# alone; 2 processes with 3 batches (2 + 2 + 1 samples), 3 processes with 2 batches (rank 0 has none).
gen=(--vqvae vq.model --prior one.model --condition ln_cooling_rate_C_per_s=1 --seed 4)
"$bin/MicrostructureGenerate" g_one.nrrd "${gen[@]}" --samples 5 --batchSize 2 --outputIndexMaps g_one_maps.nrrd \
  --outputTable g_one.csv >g_one.txt 2>&1 || { cat g_one.txt; exit 1; }
job g_two MicrostructureGenerate g_two.nrrd "${gen[@]}" --samples 5 --batchSize 2 --outputIndexMaps g_two_maps.nrrd \
  --outputTable g_two.csv || { echo "FAIL: the generation job"; tail -n 5 g_two0.txt g_two1.txt; exit 1; }
"$bin/MicrostructureGenerate" g3_one.nrrd "${gen[@]}" --samples 3 --batchSize 2 >g3.txt 2>&1 || { cat g3.txt; exit 1; }
WORLD=3 job g_three MicrostructureGenerate g_three.nrrd "${gen[@]}" --samples 3 --batchSize 2 ||
  { echo "FAIL: the 3-process generation job"; tail -n 5 g_three0.txt g_three1.txt g_three2.txt; exit 1; }
$py - <<'PY'
import numpy as np
def read(path):  # an attached NRRD: header, blank line, raw (possibly gzip) data
    import gzip
    raw = open(path, "rb").read()
    head, data = raw.split(b"\n\n", 1)
    fields = dict(l.split(": ", 1) for l in head.decode().splitlines()[1:] if ": " in l)
    if fields.get("encoding") == "gzip":
        data = gzip.decompress(data)
    dtype = {"unsigned char": np.uint8, "uchar": np.uint8, "unsigned short": np.uint16, "ushort": np.uint16}[fields["type"]]
    return np.frombuffer(data, dtype).reshape([int(x) for x in fields["sizes"].split()][::-1])
for a, b in (("g_one.nrrd", "g_two.nrrd"), ("g_one_maps.nrrd", "g_two_maps.nrrd"), ("g3_one.nrrd", "g_three.nrrd")):
    x, y = read(a), read(b)
    assert x.shape == y.shape and np.array_equal(x, y), (a, b, x.shape, y.shape)
assert read("g_one.nrrd").shape[0] == 5 and read("g3_one.nrrd").shape[0] == 3
assert len(set(read("g_one.nrrd").reshape(5, -1).sum(axis=1))) == 5  # five different samples
assert open("g_one.csv").read() == open("g_two.csv").read()
PY
grep -q "generated 5 micrographs" g_two0.txt || { echo "FAIL: rank 0 did not write"; cat g_two0.txt; exit 1; }
! grep -q "generated" g_two1.txt || { echo "FAIL: rank 1 wrote"; exit 1; }

# The study as a 2-process job: rank 0 runs it, rank 1 runs its rank of every training and generation
# step (their logs .rank1), and the study ends complete on both, with its first step's usual port
# (MASTER_PORT + 1) taken by another program.
HOLD_NEXT_PORT=1 OMP_NUM_THREADS=1 job study MicrostructureStudy study --preset tiny ||
  { echo "FAIL: the 2-process study"; tail -n 5 study0.txt study1.txt; exit 1; }
for step in train-vqvae train-prior generate-cooling_rate_C_per_s_3; do
  grep -q "process 1 of 2 of a data-parallel job" "study/logs/$step.log.rank1" ||
    { echo "FAIL: rank 1 did not run its part of $step"; exit 1; }
  grep -q "process 0 of 2 of a data-parallel job" "study/logs/$step.log" || { echo "FAIL: $step on rank 0"; exit 1; }
done
! ls study/logs | grep -q "measure.*rank1" || { echo "FAIL: rank 1 ran a measurement"; exit 1; }
$py - <<'PY'
import json
r = json.load(open("study/report/results.json"))
assert r["holdout_targets"]["generated"] > 0, r["holdout_targets"]
PY

# Bad environments name the variable; nothing is written.
export MASTER_ADDR=127.0.0.1 MASTER_PORT=29999 WORLD_SIZE=2
RANK=2 "$bin/MicrostructureTrainPrior" patches.nrrd bad.model "${prior[@]}" >bad.txt 2>&1 && { echo "FAIL: RANK=2 of 2"; exit 1; }
grep -q "RANK=2 is not below WORLD_SIZE=2" bad.txt || { echo "FAIL: message"; cat bad.txt; exit 1; }
unset MASTER_PORT
RANK=0 "$bin/MicrostructureTrainVQVAE" patches.nrrd bad.model "${vq[@]}" >bad.txt 2>&1 && { echo "FAIL: no port"; exit 1; }
grep -q "MASTER_PORT" bad.txt || { echo "FAIL: message"; cat bad.txt; exit 1; }
[ ! -e bad.model ] || { echo "FAIL: a model was written"; exit 1; }
echo "PASS"
