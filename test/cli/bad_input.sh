#!/usr/bin/env bash
# Bad input and a full disk against the CLIs: each is a clear error naming the
# file and a non-zero exit, never a crash, a wrong result with exit 0, or a
# good output replaced by a broken one.
source "$(dirname "$0")/common.sh" || exit 1

fail() { echo "FAIL: $*"; exit 1; }
# expect_error "<part of the message>" command...: non-zero exit (not a signal) and the message on stderr.
expect_error() {
  local want=$1; shift
  local rc=0
  "$@" >/dev/null 2>err.txt || rc=$?
  [ "$rc" -ne 0 ] || fail "exit 0: $*"
  [ "$rc" -lt 128 ] || { cat err.txt; fail "killed by signal $((rc - 128)): $*"; }
  grep -qF -- "$want" err.txt || { cat err.txt; fail "no '$want' in the message of: $*"; }
}

# 1. A micrograph list with its header row only.
printf 'file,um_per_px\n' > empty.csv
expect_error "No rows in 'empty.csv'" "$bin/MicrostructureMeasure" empty.csv --outputTable t.csv --outputSummary s.json
[ ! -e t.csv ] && [ ! -e s.json ] || fail "outputs written for an empty list"

# 5. NaN and Inf pixels are refused, naming the file.
$py - <<'PY'
import numpy as np
for name, bad in (("inf", np.inf), ("nan", np.nan), ("ok", 0.0)):
    a = np.zeros((32, 32), np.float32)
    a[:, :16] = 100.0
    a[5, 7] = bad
    with open(name + ".mha", "wb") as f:
        f.write(b"ObjectType = Image\nNDims = 2\nDimSize = 32 32\nElementType = MET_FLOAT\n"
                b"ElementDataFile = LOCAL\n" + a.tobytes())
    with open(name + ".nrrd", "wb") as f:
        f.write(b"NRRD0004\ntype: float\ndimension: 2\nsizes: 32 32\nencoding: raw\nendian: little\n\n" + a.tobytes())
PY
for f in inf.mha nan.mha inf.nrrd nan.nrrd; do
  expect_error "'$f' has 1 pixel value(s) that are NaN or infinite" "$bin/MicrostructureMeasure" $f --outputTable t.csv
  [ ! -e t.csv ] || fail "a table was written for $f"
done
"$bin/MicrostructureMeasure" ok.mha --outputTable ok.csv >/dev/null 2>&1 || fail "the finite image was refused"

# 3. A full disk (file-size limit of 4 KiB; the CLIs ignore SIGXFSZ) keeps a good output as it was.
"$bin/MicrostructureSynthesize" -o good.png --seed 1 --size 200,150 >/dev/null 2>&1
"$bin/MicrostructureSynthesize" -o good.mha --seed 1 --size 200,150 >/dev/null 2>&1
"$bin/MicrostructureMeasure" good.mha --outputChords chords.csv >/dev/null 2>&1
cp good.png good.png.orig; cp good.mha good.mha.orig; cp chords.csv chords.csv.orig
[ "$(stat -c %s chords.csv)" -gt 4096 ] || fail "the chord table is too small for the test"
limited() { (ulimit -f 4; "$@"); }
expect_error "Could not write 'good.png'" limited "$bin/MicrostructureSynthesize" -o good.png --seed 2 --size 200,150
cmp good.png good.png.orig || fail "good.png was changed by a failed write"
expect_error "Could not write 'good.mha'" limited "$bin/MicrostructureSynthesize" -o good.mha --seed 2 --size 200,150
cmp good.mha good.mha.orig || fail "good.mha was changed by a failed write"
expect_error "Could not write 'chords.csv'" limited "$bin/MicrostructureMeasure" good.png --outputChords chords.csv
cmp chords.csv chords.csv.orig || fail "chords.csv was changed by a failed write"
if ls -A | grep -q '\.tmp-'; then ls -A; fail "a temporary file was left behind"; fi
echo OK
