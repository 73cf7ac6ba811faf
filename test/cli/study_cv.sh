#!/usr/bin/env bash
# MicrostructureStudy --crossValidate with the tiny preset: each condition held out in turn (folds
# "all": 3 degC/s interpolated between 1 and 30, the extremes extrapolated), every fold a whole study.
# The table's figures are those of each fold's results.json, recomputed here where they are new (S2
# RMS from the S2 tables, the targets met, the summary); a CSV dataset finds its interior fold itself;
# bad settings are clear errors.
source "$(dirname "$0")/common.sh" || exit 1
[ -x "$bin/MicrostructureStudy" ] || { echo "skipped: no MicrostructureStudy (built without LibTorch)"; exit 77; }
run=()
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then run=(xvfb-run -a); fi

echo '{ "cross_validation": { "folds": "all", "seeds": [1] } }' > all.json
"${run[@]}" "$bin/MicrostructureStudy" cv --preset tiny --crossValidate --config all.json >out.txt 2>&1 \
  || { grep -v filter-progress out.txt | tail -40; exit 1; }
grep -q "3 folds x 1 seeds = 3 studies" out.txt || { echo "FAIL: plan not announced"; exit 1; }
$py - <<'PY'
import csv, json, math
import numpy as np
cv = json.load(open("cv/cross_validation.json"))
rows = cv["folds"]
assert [(r["fold"], r["kind"], r["seed"]) for r in rows] == [
    ("cooling_rate_C_per_s=1", "extrapolation", 1), ("cooling_rate_C_per_s=3", "interpolation", 1),
    ("cooling_rate_C_per_s=30", "extrapolation", 1)], rows
limits = {"vf_mean_difference_pp": lambda v: abs(v) <= 1, "df_mean_difference_percent": lambda v: abs(v) <= 5,
          "vf_variance_ratio": lambda v: 0.8 <= v <= 1.25, "vf_ks": lambda v: v <= 0.1,
          "df_variance_ratio": lambda v: 0.67 <= v <= 1.5, "s2_rms": lambda v: v <= 0.01}
for r in rows:
    slug = r["fold"].replace("=", "_")
    study = f"cv/folds/{slug}/seed-1"
    res = json.load(open(study + "/report/results.json"))
    conf = json.load(open(study + "/config.json"))
    rate = float(r["fold"].split("=")[1])
    # The fold's study trained without the fold's rate and held it out.
    assert conf["holdout"] == [r["fold"]] and conf["unseen"] == [], conf
    assert rate not in conf["data"]["synthetic"]["train_rates"] and conf["data"]["synthetic"]["truth_rates"] == [rate]
    assert sorted(conf["data"]["synthetic"]["train_rates"] + [rate]) == [1, 3, 30]
    roles = {c["condition"]: c["role"] for c in res["conditions"]}
    assert roles[r["fold"]] == "held out" and list(roles.values()).count("training") == 2, roles
    t = res["holdout_targets"]
    for k in limits:
        assert t[k] == r[k], (k, t[k], r[k])
    assert r["targets_met"] == sum(limits[k](r[k]) for k in limits), r
    # S2 RMS: the mean radial S2 of the held-out condition's real patches against the generated ones.
    real = list(csv.DictReader(open(study + "/measure_real.csv")))
    keep = {i for i, m in enumerate(real) if float(m["cooling_rate_C_per_s"]) == rate}
    def mean_s2(path, rows):
        by = {}
        for s in csv.DictReader(open(path)):
            if rows is None or int(s["row"]) in rows:
                by.setdefault(float(s["r_um"]), []).append(float(s["s2_radial"]))
        return {k: np.mean(v) for k, v in by.items()}
    a = mean_s2(study + "/s2_real.csv", keep)
    b = mean_s2(f"{study}/generated/{slug}_s2.csv", None)
    common = sorted(set(a) & set(b))
    assert len(common) > 10
    rms = math.sqrt(np.mean([(a[k] - b[k]) ** 2 for k in common]))
    assert abs(rms - r["s2_rms"]) < 1e-9, (rms, r["s2_rms"])
    # Interpolation has the straight line through the training statistics; extrapolation none.
    if r["kind"] == "interpolation":
        assert t["baseline_interpolation"]["vf_mean_difference_pp"] == r["baseline_vf_mean_difference_pp"]
    else:
        assert r["baseline_vf_mean_difference_pp"] is None and "baseline_interpolation" not in t
    # Every fold has the nearest training condition (in ln rate) as a baseline: its own real statistics.
    nearest = {1: 3, 3: 1, 30: 3}[int(rate)]
    assert r["nearest_condition"] == f"cooling_rate_C_per_s={nearest}", r["nearest_condition"]
    real = {c["condition"]: c["sets"]["real"] for c in res["conditions"]}
    near, held = real[r["nearest_condition"]], real[r["fold"]]
    assert abs(r["nearest_vf_mean_difference_pp"] - (near["vf_mean"] - held["vf_mean"])) < 1e-9, r
    assert abs(r["nearest_vf_variance_ratio"] - near["vf_variance"] / held["vf_variance"]) < 1e-9, r
    assert abs(r["nearest_df_mean_difference_percent"] - 100 * (near["df_mean"] / held["df_mean"] - 1)) < 1e-9, r
s = cv["summary"]
assert s["interpolation"]["fold_seeds"] == 1 and s["extrapolation"]["fold_seeds"] == 2
ex = [r for r in rows if r["kind"] == "extrapolation"]
assert abs(s["extrapolation"]["vf_ks"]["mean"] - np.mean([r["vf_ks"] for r in ex])) < 1e-12
assert s["extrapolation"]["vf_ks"]["worst"] == max(r["vf_ks"] for r in ex)
assert s["extrapolation"]["vf_ks"]["met"] == sum(r["vf_ks"] <= 0.1 for r in ex)
a = s["interpolation"]["against_interpolation"]
i = rows[1]
assert abs(a["model_mean_abs_vf_difference_pp"] - abs(i["vf_mean_difference_pp"])) < 1e-12
assert abs(a["interpolation_mean_abs_log_vf_variance_ratio"] - abs(math.log(i["baseline_vf_variance_ratio"]))) < 1e-12
assert "against_interpolation" not in s["extrapolation"]
n = s["extrapolation"]["against_nearest"]
assert n["fold_seeds"] == 2 and abs(n["nearest_mean_abs_vf_difference_pp"] - np.mean([abs(r["nearest_vf_mean_difference_pp"]) for r in ex])) < 1e-12, n
assert n["beats_nearest"] == (n["model_mean_abs_vf_difference_pp"] < n["nearest_mean_abs_vf_difference_pp"]
                              and n["model_mean_abs_log_vf_variance_ratio"] < n["nearest_mean_abs_log_vf_variance_ratio"])
# The inverse's model error: over the interpolation fold's held-out micrograph(s), what the
# posterior's width does not account for of its error.
inv = [m for r in rows if r["kind"] == "interpolation" for m in r["inverse"]]
assert len(inv) == 1 and inv[0]["model_error"] == 0, inv  # the folds run without a model error
e2 = np.mean([m["error"] ** 2 for m in inv])
sd2 = np.mean([((m["upper95"] - m["lower95"]) / (2 * 1.959964)) ** 2 for m in inv])
v = s["interpolation"]["inverse"]
assert v["micrographs"] == 1 and abs(v["model_error"] - math.sqrt(max(0.0, e2 - sd2))) < 1e-12, v
assert v["covered_without_model_error"] == sum(m["covered"] for m in inv)
table = list(csv.DictReader(open("cv/cross_validation.csv")))
assert [t["fold"] for t in table] == [r["fold"] for r in rows] and float(table[1]["vf_ks"]) == round(rows[1]["vf_ks"], 3)
PY
if ! grep -q "this build has no VTK" out.txt; then
  grep -q "<table" cv/cross_validation.html || { echo "FAIL: no cross_validation.html table"; exit 1; }
fi

# A CSV dataset (the micrographs of the 3 degC/s fold above) finds its interior condition itself;
# the other excluded conditions stay out of training and are not generated.
cat > csv.json <<JSON
{ "data": { "source": "csv", "csv": { "path": "$work/cv/folds/cooling_rate_C_per_s_3/seed-1/data/micrographs.csv" } },
  "holdout": [], "unseen": ["cooling_rate_C_per_s=30"], "cross_validation": { "seeds": [2] } }
JSON
if "${run[@]}" "$bin/MicrostructureStudy" cvcsv --preset tiny --crossValidate --config csv.json >out.txt 2>&1; then
  echo "FAIL: a CSV dataset with two training conditions has no interior fold but ran"; exit 1
fi
grep -q "no fold" out.txt || { echo "FAIL: unclear message"; grep -v filter-progress out.txt | tail; exit 1; }
sed -i 's/"unseen": \["cooling_rate_C_per_s=30"\]/"unseen": []/' csv.json
"${run[@]}" "$bin/MicrostructureStudy" cvcsv --preset tiny --crossValidate --config csv.json >out.txt 2>&1 \
  || { grep -v filter-progress out.txt | tail -40; exit 1; }
$py - <<'PY'
import json
cv = json.load(open("cvcsv/cross_validation.json"))
assert [(r["fold"], r["kind"], r["seed"]) for r in cv["folds"]] == [("cooling_rate_C_per_s=3", "interpolation", 2)], cv["folds"]
conf = json.load(open("cvcsv/folds/cooling_rate_C_per_s_3/seed-2/config.json"))
assert conf["holdout"] == ["cooling_rate_C_per_s=3"] and conf["data"]["seed"] == 2 and conf["prior"]["seed"] == 2
PY

# Bad settings: clear errors naming the key.
for bad in '{ "cross_validation": { "seeds": "x" } }' '{ "cross_validation": { "folds": [] } }' \
           '{ "cross_validation": { "rates": [1, 3] } }' '{ "cross_validation": { "folds": [7] } }'; do
  echo "$bad" > bad.json
  if "$bin/MicrostructureStudy" cvbad --preset tiny --crossValidate --config bad.json >out.txt 2>&1; then
    echo "FAIL: accepted $bad"; exit 1
  fi
  grep -q "cross_validation" out.txt || { echo "FAIL: unclear message for $bad"; cat out.txt; exit 1; }
done
# A key the study does not read (misspelt) is refused, naming it with its path; before, it was ignored.
for bad in '{ "prior": { "calibraton_samples": 0 } }:prior.calibraton_samples' '{ "generte": {} }:generte' \
           '{ "data": { "synthetic": { "train_rate": [1] } } }:data.synthetic.train_rate' \
           '{ "slow_cpu": { "vqvae": { "step": 1 } } }:vqvae.step'; do
  echo "${bad%:*}" > bad.json
  if "$bin/MicrostructureStudy" cvbad --preset tiny --config bad.json >out.txt 2>&1; then
    echo "FAIL: accepted ${bad%:*}"; exit 1
  fi
  grep -qF "\"${bad##*:}\", which the study does not read" out.txt || { echo "FAIL: unclear message for ${bad%:*}"; cat out.txt; exit 1; }
done
# A value of another kind than the preset's is refused before any step, naming its key (before, a
# type error named no key, after the steps before it had run); a config that is no regular file too.
for bad in '{ "prior": { "steps": "ten" } }|"prior.steps" a text or a list' '{ "data": 5 }|"data" a number' \
           '{ "prior": { "composition_level": 1 } }|"prior.composition_level" a number' '{ "holdout": {} }|"holdout" an object'; do
  echo "${bad%%|*}" > bad.json; rm -rf cvbad
  if "$bin/MicrostructureStudy" cvbad --preset tiny --config bad.json >out.txt 2>&1; then
    echo "FAIL: accepted ${bad%%|*}"; exit 1
  fi
  grep -qF "gives ${bad#*|}" out.txt || { echo "FAIL: unclear message for ${bad%%|*}"; cat out.txt; exit 1; }
  [ ! -e cvbad/logs ] || { echo "FAIL: a step ran for ${bad%%|*}"; exit 1; }
done
if "$bin/MicrostructureStudy" cvbad --preset tiny --config /dev/zero >out.txt 2>&1; then echo "FAIL: /dev/zero accepted"; exit 1; fi
grep -q "a device, not a regular file" out.txt || { echo "FAIL: unclear message for /dev/zero"; cat out.txt; exit 1; }
# Every key of the UHCS examples (2 CPU cores; paper scale on a GPU) is one the study reads (their
# data folder is made missing here: the error must be about the data, not a key).
for example in uhcs_study uhcs_study_gpu; do
  $py - "$(dirname "$0")/../../examples/$example.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["data"]["csv"]["path"] = "no/such/micrographs.csv"
c["device"] = "cpu"  # the GPU example names cuda:0; the keys are what is checked here
json.dump(c, open("uhcs.json", "w"))
PY
  if "$bin/MicrostructureStudy" cvuhcs --config uhcs.json >out.txt 2>&1; then echo "FAIL: ran without data"; exit 1; fi
  grep -q "does not read" out.txt && { echo "FAIL: $example has a key the study does not read"; cat out.txt; exit 1; }
  grep -q "no/such/micrographs.csv" out.txt || { echo "FAIL: unclear message for missing data"; cat out.txt; exit 1; }
done
# The GPU example is the 2-core one at paper scale: the same data, split and measurement.
$py - "$(dirname "$0")/../../examples" <<'PY' || exit 1
import json, sys
a, b = (json.load(open(f"{sys.argv[1]}/{n}.json")) for n in ("uhcs_study", "uhcs_study_gpu"))
drift = [k for k in ("data", "holdout", "unseen", "measure") if a.get(k) != b.get(k)]
if drift:
    sys.exit(f"FAIL: examples/uhcs_study_gpu.json's {', '.join(drift)} differ from uhcs_study.json's")
PY
echo "ok"
