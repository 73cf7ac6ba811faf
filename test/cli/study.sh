#!/usr/bin/env bash
# MicrostructureStudy --preset tiny: the whole experiment in about a minute (synthetic data, tiny
# networks, the 3 degC/s condition held out). The results, the comparison table, the report page
# and every figure exist and are not trivial; a second run reuses every step; a bad config is a
# clear error.
set -euo pipefail
bin=$(cd "$1" && pwd)
[ -x "$bin/MicrostructureStudy" ] || { echo "skipped: no MicrostructureStudy (built without LibTorch)"; exit 0; }
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
run=()
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then run=(xvfb-run -a); fi

"${run[@]}" "$bin/MicrostructureStudy" st --preset tiny >out.txt 2>&1 || { tail -40 out.txt; exit 1; }
grep -q "<filter-progress>" out.txt || { echo "FAIL: no progress tags"; exit 1; }
$py - <<'PY'
import csv, json, os
r = json.load(open("st/report/results.json"))
roles = {c["condition"]: c["role"] for c in r["conditions"]}
assert roles == {"cooling_rate_C_per_s=1": "training", "cooling_rate_C_per_s=3": "held out",
                 "cooling_rate_C_per_s=30": "training"}, roles
held = [c for c in r["conditions"] if c["role"] == "held out"][0]
assert held["sets"]["generated"]["n"] == 16, held["sets"]["generated"]
assert held["sets"]["real"]["n"] > 0 and held["sets"]["real_train"]["n"] > 0
t = r["holdout_targets"]
for key in ("vf_mean_difference_pp", "df_mean_difference_percent", "vf_variance_ratio", "vf_ks"):
    assert isinstance(t[key], float), (key, t)
# The reported difference is the difference of the reported means.
g, real = held["sets"]["generated"], held["sets"]["real"]
assert abs(t["vf_mean_difference_pp"] - (g["vf_mean"] - real["vf_mean"])) < 1e-9
assert 0 <= t["vf_ks"] <= 1
assert r["memorisation"] and all(-1 <= m["generated_max_correlation"] <= 1 for m in r["memorisation"])
rows = list(csv.DictReader(open("st/report/comparison.csv")))
assert len(rows) == 9, len(rows)  # 3 conditions x (real, reconstructed, generated)
for f in ("vqvae.model", "prior.model", "patches.nrrd", "measure_real.csv", "config.json"):
    assert os.path.getsize("st/" + f) > 0, f
PY
# Second run: nothing retrained.
"${run[@]}" "$bin/MicrostructureStudy" st --preset tiny >out2.txt 2>&1 || { tail -20 out2.txt; exit 1; }
grep -q "train-vqvae: up to date" out2.txt && grep -q "train-prior: up to date" out2.txt \
  || { echo "FAIL: a second run retrained"; cat out2.txt; exit 1; }

# A config that is not JSON, and one naming a data file that does not exist.
echo "{ not json" > bad.json
if "$bin/MicrostructureStudy" st2 --preset tiny --config bad.json >out.txt 2>&1; then echo "FAIL: bad JSON accepted"; exit 1; fi
grep -q "not valid JSON" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }
echo '{ "data": { "source": "csv", "csv": { "path": "/nonexistent.csv" } } }' > missing.json
if "$bin/MicrostructureStudy" st3 --preset tiny --config missing.json >out.txt 2>&1; then echo "FAIL: missing data accepted"; exit 1; fi
grep -q "does not exist" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }
echo "ok"
