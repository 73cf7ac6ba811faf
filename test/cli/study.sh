#!/usr/bin/env bash
# MicrostructureStudy --preset tiny: the whole experiment in about a minute (synthetic data, tiny
# networks, the 3 degC/s condition held out). The results, the comparison table, the report page
# and every figure exist and are not trivial; a second run (of the study moved elsewhere) reuses
# every step; a bad config is a clear error.
source "$(dirname "$0")/common.sh" || exit 1
[ -x "$bin/MicrostructureStudy" ] || { echo "skipped: no MicrostructureStudy (built without LibTorch)"; exit 77; }
run=()
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then run=(xvfb-run -a); fi

"${run[@]}" "$bin/MicrostructureStudy" st --preset tiny >out.txt 2>&1 || { tail -40 out.txt; exit 1; }
grep -q "<filter-progress>" out.txt || { echo "FAIL: no progress tags"; exit 1; }
$py - <<'PY'
import csv, json, math, os
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
# The baseline: the true means of 1 and 30 degC/s interpolated linearly in ln rate to 3 degC/s.
b = t["baseline_interpolation"]
assert t["baseline_interpolations"] == [b], t["baseline_interpolations"]  # one continuous parameter
assert b["parameter"] == "ln cooling_rate_C_per_s" and b["between"] == ["cooling_rate_C_per_s=1", "cooling_rate_C_per_s=30"], b
sets = {c["condition"]: c["sets"]["real"] for c in r["conditions"]}
w = (math.log(3) - math.log(1)) / (math.log(30) - math.log(1))
for key, value in (("vf_mean", "vf_mean_difference_pp"), ("df_mean", "df_mean_difference_percent")):
    at = (1 - w) * sets["cooling_rate_C_per_s=1"][key] + w * sets["cooling_rate_C_per_s=30"][key]
    want = at - real[key] if key == "vf_mean" else 100 * (at / real[key] - 1)
    assert abs(b[value] - want) < 1e-9, (key, b[value], want)
# The inverse at the held-out rate: the pooled posterior of ln rate for one whole held-out
# micrograph (4 of its patches), as MicrostructureInferCondition wrote it, against ln 3.
inv = r["inverse"]
assert abs(inv["truth"] - math.log(3)) < 1e-12 and inv["of"] == 1 and len(inv["micrographs"]) == 1, inv
m = inv["micrographs"][0]
summary = {s["image"]: s for s in csv.DictReader(open("st/inverse/holdout-0_summary.csv"))}
assert list(summary) == ["all"], summary  # --pooledOnly
for key, column in (("lower95", "lower95"), ("upper95", "upper95"), ("mean", "mean"), ("adjustment", "adjustment")):
    assert abs(m[key] - float(summary["all"][column])) < 1e-9, (key, m, summary)
assert m["patches"] == 4 and m["adjustment"] >= 1 and m["model_error"] == 0, m
assert m["lower95"] <= m["mean"] <= m["upper95"], m
assert abs(m["error"] - (m["mean"] - math.log(3))) < 1e-12
assert m["covered"] == (m["lower95"] <= math.log(3) <= m["upper95"]) and inv["covered"] == int(m["covered"])
# the grid: the trained range ln 1 .. ln 30 widened by a quarter each side, 9 values (tiny preset)
post = [row for row in csv.DictReader(open("st/inverse/holdout-0.csv"))]
values = [float(row["value"]) for row in post]
assert len(values) == 9 and abs(values[0] + 0.25 * math.log(30)) < 1e-5 and abs(values[-1] - 1.25 * math.log(30)) < 1e-5, values
assert r["memorisation"] and all(-1 <= m["generated_max_correlation"] <= 1 for m in r["memorisation"])
rows = list(csv.DictReader(open("st/report/comparison.csv")))
assert len(rows) == 9, len(rows)  # 3 conditions x (real, reconstructed, generated)
# Chord-length survival curves (fraction of a patch's ferrite chords longer than L, mean over the
# patches), recomputed here from the chord tables MicrostructureMeasure wrote.
import collections
import numpy as np
cs = held["chord_survival"]
L = cs["length_um"]
assert len(L) == 41 and L[0] == 0 and L[-1] > 0
def survival(path, rows):
    by = collections.defaultdict(list)
    for c in csv.DictReader(open(path)):
        if c["phase"] == "foreground" and (rows is None or int(c["row"]) in rows):
            by[int(c["row"])].append((float(c["length_um"]), float(c["count"])))
    return np.mean([[sum(n for l, n in ch if l > x) / sum(n for _, n in ch) for x in L] for ch in by.values()], axis=0)
rows3 = {i for i, m in enumerate(csv.DictReader(open("st/measure_real.csv"))) if float(m["cooling_rate_C_per_s"]) == 3}
assert np.allclose(survival("st/chords_real.csv", rows3), cs["real"]["mean"], atol=1e-9, rtol=0)
assert np.allclose(survival("st/generated/cooling_rate_C_per_s_3_chords.csv", None), cs["generated"]["mean"], atol=1e-9, rtol=0)
for s in ("real", "generated"):
    m = np.array(cs[s]["mean"])
    assert m[0] == 1 and np.all(np.diff(m) <= 1e-12) and m[-1] < 0.2, (s, m)
    assert np.all(np.array(cs[s]["q05"]) <= m + 1e-12) and np.all(m <= np.array(cs[s]["q95"]) + 1e-12)
# Particles at the held-out rate: the density ratio and the weighted KS statistic of the interior
# particles' diameters, recomputed from the tables MicrostructureMeasure wrote.
def diameters(path, rows):
    d, w = [], []
    for p in csv.DictReader(open(path)):
        if float(p["weight"]) > 0 and (rows is None or int(p["row"]) in rows):
            d.append(float(p["diameter_um"]))
            w.append(float(p["weight"]))
    return np.array(d), np.array(w)
def weighted_ks(a, wa, b, wb):
    xs = np.union1d(a, b)
    return max(abs(wa[a <= x].sum() / wa.sum() - wb[b <= x].sum() / wb.sum()) for x in xs)
def density(path, rows):
    return np.mean([float(m["particle_density_per_um2"]) for i, m in enumerate(csv.DictReader(open(path)))
                    if rows is None or i in rows])
g = held["generated_vs_real"]
ra, rw = diameters("st/particles_real.csv", rows3)
ga, gw = diameters("st/generated/cooling_rate_C_per_s_3_particles.csv", None)
assert len(ra) > 10 and len(ga) > 10, (len(ra), len(ga))
assert abs(g["particle_diameter_ks"] - weighted_ks(ga, gw, ra, rw)) < 1e-12, g["particle_diameter_ks"]
expected = density("st/generated/cooling_rate_C_per_s_3_measure.csv", None) / density("st/measure_real.csv", rows3)
assert abs(g["particle_density_ratio"] - expected) < 1e-9, (g["particle_density_ratio"], expected)
# The preset's prior has the composition level, and no calibration: no calibration log.
assert not os.path.exists("st/prior_calibration.csv")
head = open("st/prior.model", "rb").read().split(b"end_header")[0].decode(errors="replace")
assert "\ncomposition_count = 1\n" in head and "calibration" not in head, head[:400]
for f in ("vqvae.model", "prior.model", "patches.nrrd", "measure_real.csv", "config.json"):
    assert os.path.getsize("st/" + f) > 0, f
PY
# results.md, the users' summary of results.json: its numbers are results.json's, rounded as printed
# (V_f % 2 decimals, d_f um 3, ratios 2, KS 3, S2 RMS 4), and a target is met as results.json says.
$py - <<'PY'
import json, re
r = json.load(open("st/report/results.json"))
lines = open("st/report/results.md", encoding="utf-8").read().splitlines()
assert lines[0] == "# Microstructure study: results" and len(lines) <= 80, (lines[:1], len(lines))
def table(header):  # the body of the table whose header row starts with `header`, as lists of cells
    start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 2
    body = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        body.append([c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return body
def fixed(v, digits):
    return "–" if v is None else "%.*f" % (digits, v)
rows = {(c[0], c[2]): c for c in table("| condition |")}
assert len(rows) == 3 * len(r["conditions"]), sorted(rows)
for c in r["conditions"]:
    for s in ("real", "reconstructed", "generated"):
        d, cmp = c["sets"][s], c.get(s + "_vs_real") or {}
        want = [c["label"], c["role"], s, str(d["n"]), fixed(d.get("vf_mean"), 2), fixed(d.get("df_mean"), 3)]
        want += ["–"] * 4 if s == "real" else [fixed(cmp.get("vf_variance_ratio"), 2), fixed(cmp.get("vf_ks"), 3),
                                                fixed(cmp.get("df_variance_ratio"), 2), fixed(cmp.get("s2_rms"), 4)]
        assert rows[(c["label"], s)] == want, (rows[(c["label"], s)], want)
# the held-out generated V_f mean and variance ratio, spelled out
held = [c for c in r["conditions"] if c["role"] == "held out"][0]
row = rows[(held["label"], "generated")]
assert row[4] == "%.2f" % held["sets"]["generated"]["vf_mean"] and row[6] == "%.2f" % held["generated_vs_real"]["vf_variance_ratio"], row
t = r["holdout_targets"]
targets = {c[0]: c[1:] for c in table("| target |")}
met = 0
for label, key, digits, ok in (("|dV_f| <= 1 pp", "vf_mean_difference_pp", 2, "vf_mean_ok"),
                               ("|dd_f| <= 5 %", "df_mean_difference_percent", 2, "df_mean_ok"),
                               ("V_f variance ratio 0.8-1.25", "vf_variance_ratio", 2, "vf_variance_ok"),
                               ("V_f KS <= 0.1", "vf_ks", 3, "vf_ks_ok"),
                               ("d_f variance ratio 0.67-1.5", "df_variance_ratio", 2, "df_variance_ok"),
                               ("S2 RMS <= 0.01", "s2_rms", 4, "s2_ok")):
    v = t.get(key)
    want = [fixed(v, digits), "–" if v is None else "yes" if t[ok] else "no"]
    assert targets[label] == want, (label, targets[label], want)
    met += v is not None and t[ok]
assert len(targets) == 6 and "%d of 6 targets met." % met in lines, (targets, met)
PY
cp st/report/results.md first.md

# The report page and its figures need VTK: a build without it writes results.json and
# comparison.csv only (and says so).
if grep -q "this build has no VTK" out.txt; then
  echo "built without VTK: the report page is not checked"
else
$py - <<'PY'
# The report: every figure the page shows exists and is a real picture (many colours), and the
# kinds the issue asks for are all there.
import json, os, re, numpy as np, skimage.io as io
html = open("st/report/index.html", encoding="utf-8").read()
assert "http" not in html and "<script" not in html, "the page must open offline"
figures = re.findall(r'<img[^>]*src="([^"]+)"', html)
kinds = ("box_volume_fraction", "box_mean_free_path", "s2_", "montage_", "pca_encoder", "pca_codebook",
         "training_vqvae", "training_prior", "chords_")
for k in kinds:
    assert any(f.startswith(k) for f in figures), (k, figures)
for f in figures:
    img = io.imread("st/report/" + f)
    assert img.shape[0] >= 150 and img.shape[1] >= 200, (f, img.shape)
    colours = len(np.unique(img.reshape(-1, img.shape[-1]) if img.ndim == 3 else img.reshape(-1, 1), axis=0))
    assert colours >= 8, (f, colours)
assert "<table" in html and "held-out" in html.lower() or "held out" in html.lower()
assert "Prior calibration" not in html
assert "interpolating the training conditions" in html and "in ln cooling_rate_C_per_s" in html
inv = json.load(open("st/report/results.json"))["inverse"]["micrographs"][0]
import math
assert "The inverse: which rate made a held-out micrograph?" in html
assert 'href="results.json"' in html and 'href="results.md"' in html
assert "%.2f .. %.2f" % (math.exp(inv["lower95"]), math.exp(inv["upper95"])) in html, "the inverse's interval is not on the page"
PY
fi
# The page renders in headless Chromium: every image loads (naturalWidth > 0 in the rendered DOM).
if [ -x /usr/bin/chromium ] && [ -f st/report/index.html ]; then
  page="file://$work/st/report/index.html"
  timeout 120 /usr/bin/chromium --headless --no-sandbox --disable-gpu --user-data-dir="$work/chrome" \
    --virtual-time-budget=5000 --window-size=1000,1400 --screenshot="$work/shot.png" "$page" >/dev/null 2>&1 || true
  timeout 120 /usr/bin/chromium --headless --no-sandbox --disable-gpu --user-data-dir="$work/chrome" \
    --dump-dom "$page" >dom.html 2>/dev/null || true
  $py - <<'PY'
import re, numpy as np, skimage.io as io
dom = open("dom.html", encoding="utf-8").read()
html = open("st/report/index.html", encoding="utf-8").read()
assert len(re.findall("<img", dom)) == len(re.findall("<img", html)) > 0, "Chromium's DOM lacks the figures"
shot = io.imread("shot.png")
assert shot.shape[0] == 1400 and shot.shape[1] == 1000, shot.shape
assert len(np.unique(shot.reshape(-1, shot.shape[-1]), axis=0)) > 50, "blank screenshot"
PY
fi

# Second run, of the study moved to another folder (named with a trailing slash): nothing retrained,
# and the report is written again (a finished study without results.md gets it: the same one).
mv st moved
rm moved/report/results.md
"${run[@]}" "$bin/MicrostructureStudy" moved/ --preset tiny >out2.txt 2>&1 || { tail -20 out2.txt; exit 1; }
mv moved st
grep -q "train-vqvae: up to date" out2.txt && grep -q "train-prior: up to date" out2.txt \
  || { echo "FAIL: a second run retrained"; cat out2.txt; exit 1; }
cmp -s first.md st/report/results.md || { echo "FAIL: the second run's results.md differs or is missing"; exit 1; }

# Third run with another prior: the prior retrains from scratch (its old checkpoint has other
# settings and must not be resumed), the VQ-VAE is reused.
echo '{ "prior": { "layers": 2 } }' > prior2.json
"${run[@]}" "$bin/MicrostructureStudy" st --preset tiny --config prior2.json >out3.txt 2>&1 || { tail -20 out3.txt; exit 1; }
grep -q "train-vqvae: up to date" out3.txt || { echo "FAIL: a prior change retrained the VQ-VAE"; cat out3.txt; exit 1; }
grep -q "train-prior: settings changed" out3.txt || { echo "FAIL: stale prior checkpoint not dropped"; cat out3.txt; exit 1; }
! grep -q "resuming" st/logs/train-prior.log || { echo "FAIL: resumed a checkpoint of other settings"; exit 1; }
grep -qa "^layers = 2" st/prior.model || { echo "FAIL: prior.model does not have the new layer count"; exit 1; }
# A setting of the removed calibrations is refused before any step, naming the key and why.
echo '{ "prior": { "calibration_samples": 150 } }' > cal.json
if "$bin/MicrostructureStudy" st5 --preset tiny --config cal.json >out.txt 2>&1; then echo "FAIL: a calibration key accepted"; exit 1; fi
grep -q '"prior.calibration_samples": the prior.s post-hoc calibrations were removed' out.txt \
  || { echo "FAIL: unclear message for a removed calibration key"; cat out.txt; exit 1; }
[ ! -e st5/prior.model ] || { echo "FAIL: a step ran"; exit 1; }
# So is a key of a removed prior option, naming the key and why (here in slow_cpu's settings too).
for removed in '{ "prior": { "composition_budget": true } }|prior.composition_budget|carries the composition budget' \
               '{ "slow_cpu": { "prior": { "composition_budget": false } } }|prior.composition_budget|carries' \
               '{ "prior": { "mirrors": false } }|prior.mirrors|mirrored patches' \
               '{ "prior": { "embedding_dimension": 8 } }|prior.embedding_dimension|prior.hidden_channels channels' \
               '{ "prior": { "schedule": "cosine" } }|prior.schedule|constant learning rate' \
               '{ "prior": { "condition_degree": 1 } }|prior.condition_degree|linearly, as the paper does' \
               '{ "prior": { "condition_exponentials": [] } }|prior.condition_exponentials|1 / cooling rate'; do
  echo "${removed%%|*}" > removed.json
  if "$bin/MicrostructureStudy" st5 --preset tiny --config removed.json >out.txt 2>&1; then
    echo "FAIL: accepted ${removed%%|*}"; exit 1; fi
  rest=${removed#*|}
  grep -qF "\"${rest%%|*}\", which the study no longer reads: " out.txt && grep -qF "${rest#*|}" out.txt \
    || { echo "FAIL: unclear message for ${removed%%|*}"; cat out.txt; exit 1; }
  [ ! -e st5/prior.model ] || { echo "FAIL: a step ran"; exit 1; }
done

# A config that is not JSON, and one naming a data file that does not exist.
echo "{ not json" > bad.json
if "$bin/MicrostructureStudy" st2 --preset tiny --config bad.json >out.txt 2>&1; then echo "FAIL: bad JSON accepted"; exit 1; fi
grep -q "not valid JSON" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }
echo '{ "data": { "source": "csv", "csv": { "path": "/nonexistent.csv" } } }' > missing.json
if "$bin/MicrostructureStudy" st3 --preset tiny --config missing.json >out.txt 2>&1; then echo "FAIL: missing data accepted"; exit 1; fi
grep -q "does not exist" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }

# slow_cpu: applies before the user's settings on a CPU without AVX-512 and only there (the truth
# from /proc/cpuinfo and the ONEDNN_MAX_CPU_ISA cap: cpu_has_avx512), never over a setting the user gave; {} turns it off; not an object is an error.
# The missing data file stops each run right after it wrote config.json.
slow_check() { # preset, setting (section.key), config, its value without AVX-512, and with it
  echo "$3" > slow.json; rm -rf st4
  "$bin/MicrostructureStudy" st4 --preset "$1" --device cpu --config slow.json >out.txt 2>&1 && { echo "FAIL: ran"; exit 1; }
  want=$5; cpu_has_avx512 || want=$4
  got=$($py -c 'import json, sys; a, b = sys.argv[1].split("."); print(json.load(open("st4/config.json"))[a][b])' "$2")
  [ "$got" = "$want" ] || { echo "FAIL: $2 $got, want $want for $3"; cat out.txt; exit 1; }
  if [ "$want" != "$5" ]; then grep -q "no AVX-512" out.txt || { echo "FAIL: slow_cpu applied silently"; exit 1; }; fi
}
nodata='"data": { "source": "csv", "csv": { "path": "/nonexistent.csv" } }'
slow_check tiny prior.layers "{ $nodata, \"slow_cpu\": { \"prior\": { \"layers\": 2 } } }" 2 3
slow_check tiny prior.layers "{ $nodata, \"prior\": { \"layers\": 4 }, \"slow_cpu\": { \"prior\": { \"layers\": 2 } } }" 4 4
slow_check tiny prior.layers "{ $nodata, \"slow_cpu\": {} }" 3 3
# The demo's own: half the VQ-VAE's steps without AVX-512.
slow_check demo vqvae.steps "{ $nodata }" 320 640
echo "{ $nodata, \"slow_cpu\": 2 }" > slow.json
if "$bin/MicrostructureStudy" st5 --preset tiny --config slow.json >out.txt 2>&1; then echo "FAIL: bad slow_cpu accepted"; exit 1; fi
grep -q "slow_cpu must be an object" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }
# The inverse's settings are checked before any step runs, naming the key.
for bad in -1 2.5; do
  echo "{ \"inverse\": { \"images\": $bad } }" > inv.json
  if "$bin/MicrostructureStudy" st7 --preset tiny --config inv.json >out.txt 2>&1; then echo "FAIL: images $bad accepted"; exit 1; fi
  grep -q "inverse.images must be an integer from 0 to 1000000 (it is $bad)" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }
  [ ! -e st7/data ] || { echo "FAIL: a step ran before the config was checked"; exit 1; }
done
echo '{ "inverse": { "model_error": -1 } }' > inv.json
if "$bin/MicrostructureStudy" st8 --preset tiny --config inv.json >out.txt 2>&1; then echo "FAIL: bad inverse accepted"; exit 1; fi
grep -q "inverse.model_error must be a number >= 0" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }

# A killed study leaves no step running: its children die with it (PR_SET_PDEATHSIG, no shell between).
echo '{ "vqvae": { "steps": 100000 } }' > long.json
"$bin/MicrostructureStudy" st6 --preset tiny --config long.json >out.txt 2>&1 &
study=$!
for _ in $(seq 1 300); do
  pgrep -f "MicrostructureTrainVQVAE.*st6/" >/dev/null && break
  sleep 0.2
done
pgrep -f "MicrostructureTrainVQVAE.*st6/" >/dev/null || { echo "FAIL: the VQ-VAE step did not start"; cat out.txt; exit 1; }
[ "$(ps -o ppid= -p "$(pgrep -f "MicrostructureTrainVQVAE.*st6/" | head -1)" | tr -d ' ')" = "$study" ] ||
  { echo "FAIL: the step is not the study's own child (a shell between?)"; exit 1; }
kill -9 "$study"
wait "$study" 2>/dev/null || true
for _ in $(seq 1 50); do
  pgrep -f "MicrostructureTrainVQVAE.*st6/" >/dev/null || break
  sleep 0.2
done
if pgrep -f "MicrostructureTrainVQVAE.*st6/" >/dev/null; then
  pkill -f "MicrostructureTrainVQVAE.*st6/"; echo "FAIL: the VQ-VAE training outlived the killed study"; exit 1
fi
echo "ok"
