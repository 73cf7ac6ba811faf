#!/usr/bin/env bash
# MicrostructureTrainPrior -> MicrostructureGenerate on a tiny synthetic dataset: the prior trains
# on cached index maps (reused on a second run), resumes, and generates the asked number of
# micrographs of the right size (stack, one file per sample, index maps, table); with
# --compositionLevel phase it draws each map's composition first; same seed gives the same
# micrographs; a bad condition or a mismatched VQ-VAE gives a message, a non-zero exit and no output.
source "$(dirname "$0")/common.sh" || exit 1
[ -x "$bin/MicrostructureTrainPrior" ] || { echo "skipped: built without LibTorch"; exit 77; }

"$bin/MicrostructureSynthesize" --coolingRates 1,10 --imagesPerRate 2 --size 128,128 --seed 3 ds >/dev/null 2>&1
"$bin/MicrostructurePatches" ds/micrographs.csv --conditions cooling_rate_C_per_s --patchSize 32,32 \
  --testFraction 0.25 --seed 1 --outputStack patches.nrrd --outputTable patches.csv >/dev/null 2>&1
"$bin/MicrostructureTrainVQVAE" patches.nrrd vq.model --table patches.csv --encoderChannels 8,16 --residualBlocks 1 \
  --codebookSize 16 --codeDimension 8 --batchSize 8 --steps 4 >/dev/null 2>&1

prior=(--vqvae vq.model --table patches.csv --logConditions cooling_rate_C_per_s --layers 2 --hiddenChannels 8
       --outputHiddenChannels 16 --batchSize 8 --learningRate 0.003)
"$bin/MicrostructureTrainPrior" patches.nrrd prior.model "${prior[@]}" --steps 6 \
  --log prior_log.csv --returnparameterfile ret.txt >out.txt 2>&1 || { cat out.txt; exit 1; }
grep -q "<filter-progress>" out.txt || { echo "FAIL: no progress tags"; exit 1; }
head -c 12 prior.model | grep -q "ITKSMPRIOR 1" || { echo "FAIL: prior file magic"; exit 1; }
grep -q "condition_0 = ln_cooling_rate_C_per_s,continuous" prior.model || { echo "FAIL: schema not stored"; exit 1; }
grep -q "codebook_size = 16" prior.model || { echo "FAIL: K not taken from the VQ-VAE"; exit 1; }
# The architecture the CLI fixes: the embedding as wide as the stacks, the paper's kernels (no dilations:
# removed in session 33, so the file has no such line).
for line in "embedding_dimension = 8" "first_kernel_size = 7" "kernel_size = 3"; do
  grep -aqx "$line" prior.model || { echo "FAIL: the prior file lacks \"$line\""; grep -a "_size\|dimension" prior.model; exit 1; }
done
! grep -aq "^dilations" prior.model || { echo "FAIL: the prior file still has a dilations line"; exit 1; }
[ -s prior.model.maps.nrrd ] || { echo "FAIL: no index-map cache"; exit 1; }
$py - <<'PY'
import csv
rows = list(csv.DictReader(open("prior_log.csv")))
assert rows and rows[-1]["step"] == "6", rows
bits = float(rows[-1]["val_bits_per_index"])
assert 0 < bits < 8, bits  # log2(16) = 4 for a uniform guess; a few steps do not go far beyond
ret = dict(l.strip().split(" = ") for l in open("ret.txt") if " = " in l)
assert abs(float(ret["validationBitsPerIndex"]) - bits) < 1e-6
PY
# Second run: the cache is reused, --resume continues the checkpoint (written at the last step).
"$bin/MicrostructureTrainPrior" patches.nrrd prior.model "${prior[@]}" --steps 8 --resume >out.txt 2>&1 \
  || { cat out.txt; exit 1; }
grep -q "from the cache" out.txt || { echo "FAIL: cache not reused"; cat out.txt; exit 1; }
grep -q "resuming" out.txt || { echo "FAIL: not resumed"; exit 1; }
grep -q "training_steps = 8" prior.model || { echo "FAIL: resumed prior not at step 8"; exit 1; }

# A category that only the test split has (as UHCS's air-cooled sample) is in the schema: validation
# and generation can name it.
$py - <<'PY'
import csv
rows = list(csv.DictReader(open("patches.csv")))
for r in rows:
    r["method"] = "air" if r["split"] == "test" else "water"
with open("patches_method.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)
PY
"$bin/MicrostructureTrainPrior" patches.nrrd prior_m.model --vqvae vq.model --table patches_method.csv \
  --logConditions cooling_rate_C_per_s --categorical method --layers 2 --hiddenChannels 8 \
  --outputHiddenChannels 16 --batchSize 8 --steps 2 --compositionLevel phase >out.txt 2>&1 || { cat out.txt; exit 1; }
grep -q "condition_1 = method,categorical,air,water" prior_m.model || { echo "FAIL: categories"; exit 1; }
# (With two parameters the composition level's report gives the others a value: it used to ask the
# level at the first parameter alone and fail, as examples/uhcs_study.json did.)
grep -q "the other parameters at their mean or first category" out.txt || { echo "FAIL: composition report"; cat out.txt; exit 1; }
"$bin/MicrostructureGenerate" gm.nrrd --vqvae vq.model --prior prior_m.model --samples 2 \
  --condition ln_cooling_rate_C_per_s=1,method=air >/dev/null 2>&1 || { echo "FAIL: generating a test-only category"; exit 1; }

gen=(--vqvae vq.model --prior prior.model --condition ln_cooling_rate_C_per_s=1.2 --samples 5 --batchSize 2)
"$bin/MicrostructureGenerate" g1.nrrd "${gen[@]}" --seed 7 --outputIndexMaps g1_maps.nrrd --outputFolder g1 \
  --outputTable g1.csv >out.txt 2>&1 || { cat out.txt; exit 1; }
"$bin/MicrostructureGenerate" g2.nrrd "${gen[@]}" --seed 7 >/dev/null 2>&1
"$bin/MicrostructureGenerate" g3.nrrd "${gen[@]}" --seed 8 --latentSize 12,6 >/dev/null 2>&1
$py - <<'PY'
import csv, glob, numpy as np, skimage.io as io
def sizes(path):
    text = open(path, "rb").read(3000).split(b"\n\n")[0].decode()
    return [l.split(": ", 1)[1].split() for l in text.splitlines() if l.startswith("sizes:")][0]
assert sizes("g1.nrrd") == ["32", "32", "5"], sizes("g1.nrrd")
assert sizes("g1_maps.nrrd") == ["8", "8", "5"], sizes("g1_maps.nrrd")
assert sizes("g3.nrrd") == ["48", "24", "5"], sizes("g3.nrrd")  # any latent size: 12 x 6 -> 48 x 24
files = sorted(glob.glob("g1/sample_*.png"))
assert len(files) == 5, files
assert io.imread(files[0]).shape == (32, 32)
rows = list(csv.DictReader(open("g1.csv")))
assert len(rows) == 5 and rows[0]["ln_cooling_rate_C_per_s"] == "1.2", rows[0]
assert open("g1.nrrd", "rb").read() == open("g2.nrrd", "rb").read(), "same seed, different output"
PY

# The inverse direction: posterior over ln cooling rate for the generated stack and for one micrograph.
"$bin/MicrostructureInferCondition" g1.nrrd post.csv --vqvae vq.model --prior prior.model \
  --parameter ln_cooling_rate_C_per_s --grid -1:4:11 --outputSummary post_summary.csv >out.txt 2>&1 \
  || { cat out.txt; exit 1; }
"$bin/MicrostructureInferCondition" ds/images/$(ls ds/images | head -1) post1.csv --vqvae vq.model --prior prior.model \
  --parameter ln_cooling_rate_C_per_s --outputSummary post1_summary.csv >/dev/null 2>&1
# A grid too coarse for the pooled posterior (it needs three values about its peak) is refused at once.
if "$bin/MicrostructureInferCondition" g1.nrrd bad.csv --vqvae vq.model --prior prior.model \
  --parameter ln_cooling_rate_C_per_s --grid 0:1:2 >out.txt 2>&1; then echo "FAIL: a 2-value grid was accepted"; exit 1; fi
grep -q "count from 3 to 100000" out.txt || { echo "FAIL: unclear message"; cat out.txt; exit 1; }
# So are a negative model error and patch count, before any likelihood is computed.
for bad in "--modelError -0.1" "--maximumPatches -1"; do
  if "$bin/MicrostructureInferCondition" g1.nrrd bad.csv --vqvae vq.model --prior prior.model \
    --parameter ln_cooling_rate_C_per_s $bad >out.txt 2>&1; then echo "FAIL: $bad was accepted"; exit 1; fi
  grep -q -- "${bad% *} " out.txt && ! grep -q "filter-progress>0.2" out.txt \
    || { echo "FAIL: $bad not refused at once"; cat out.txt; exit 1; }
done
$py - <<'PY'
import csv, math, collections
rows = list(csv.DictReader(open("post.csv")))
by = collections.defaultdict(list)
for r in rows:
    by[r["image"]].append(r)
assert sorted(by) == ["0", "1", "2", "3", "4", "all"], sorted(by)
summary = {r["image"]: r for r in csv.DictReader(open("post_summary.csv"))}
a = summary["all"]
assert float(a["lower95"]) <= float(a["mean"]) <= float(a["upper95"])
assert a["tiles"] == "5" and float(a["adjustment"]) >= 1, a
for image, rs in by.items():
    assert [float(r["value"]) for r in rs] == [-1 + 0.5 * i for i in range(11)]
    p = [float(r["posterior"]) for r in rs]
    assert abs(sum(p) - 1) < 1e-9, (image, sum(p))
    # posterior proportional to exp(log-likelihood / adjustment) (uniform prior on the grid); the
    # adjustment is 1 for one patch, the sandwich's for the pooled ones
    adjustment = float(summary[image]["adjustment"])
    assert image == "all" or adjustment == 1, (image, adjustment)
    ll = [float(r["log_likelihood"]) for r in rs]
    z = [math.exp((l - max(ll)) / adjustment) for l in ll]
    assert all(abs(a - b / sum(z)) < 1e-6 for a, b in zip(p, z))
    assert abs(float(rs[0]["exp_value"]) - math.exp(-1)) < 1e-9
# pooled (composite) log-likelihood = sum over the patches
for v in range(11):
    s = sum(float(by[str(k)][v]["log_likelihood"]) for k in range(5))
    assert abs(s - float(by["all"][v]["log_likelihood"])) < 1e-6 * max(1, abs(s))
# default grid (61 values); one micrograph of 128 x 128 -> one 32 x 32 map, cut into the 16 tiles of
# 8 x 8 that the prior was trained on (patches of 32 x 32): 16 tiles and the pooled posterior
one = list(csv.DictReader(open("post1.csv")))
assert len(one) == 17 * 61, len(one)
one_summary = {r["image"]: r for r in csv.DictReader(open("post1_summary.csv"))}
assert sorted(one_summary, key=lambda k: (k == "all", k)) == sorted([str(k) for k in range(16)]) + ["all"], one_summary
assert one_summary["all"]["tiles"] == "16", one_summary["all"]
PY

# Bad condition: the message names the prior's parameters; no output.
if "$bin/MicrostructureGenerate" bad.nrrd --vqvae vq.model --prior prior.model --condition cooling=3 >out.txt 2>&1; then
  echo "FAIL: accepted an unknown parameter"; exit 1; fi
grep -q "ln_cooling_rate_C_per_s: number, trained on" out.txt || { echo "FAIL: message lacks the schema"; cat out.txt; exit 1; }
[ ! -e bad.nrrd ] || { echo "FAIL: output written on error"; exit 1; }
# A VQ-VAE with another codebook size does not fit the prior.
"$bin/MicrostructureTrainVQVAE" patches.nrrd vq32.model --table patches.csv --encoderChannels 8,16 --residualBlocks 1 \
  --codebookSize 32 --codeDimension 8 --batchSize 8 --steps 1 >/dev/null 2>&1
if "$bin/MicrostructureGenerate" bad.nrrd --vqvae vq32.model --prior prior.model \
    --condition ln_cooling_rate_C_per_s=1 >out.txt 2>&1; then echo "FAIL: mismatched models accepted"; exit 1; fi
grep -q "16" out.txt && grep -q "32" out.txt || { echo "FAIL: unclear mismatch message"; cat out.txt; exit 1; }
[ ! -e bad.nrrd ] || { echo "FAIL: output written on error"; exit 1; }
# A second continuous parameter (the patch column x: 0, 32, 64, 96) is stored standardised, as the
# paper encodes one (no degree or exponential terms after its range), and generation takes x as it is.
"$bin/MicrostructureTrainPrior" patches.nrrd prior_x.model "${prior[@]}" --steps 1 --conditions x >out.txt 2>&1 ||
  { cat out.txt; exit 1; }
line=$(grep -a "^condition_0 = " prior_x.model) || { echo "FAIL: no condition_0 line"; exit 1; }
/usr/bin/python3 - "$line" <<'PY' || exit 1
import csv, statistics, sys
fields = sys.argv[1].split(" = ", 1)[1].split(",")
x = [float(r["x"]) for r in csv.DictReader(open("patches.csv")) if r["split"] == "train"]
want = [statistics.fmean(x), statistics.pstdev(x), min(x), max(x)]
if fields[:2] != ["x", "continuous"] or len(fields) != 6 or any(
        abs(float(f) - w) > 1e-9 * max(1.0, abs(w)) for f, w in zip(fields[2:], want)):
    sys.exit(f"FAIL: condition_0 is {fields}, expected x,continuous and the training rows' {want}")
PY
"$bin/MicrostructureGenerate" gen_x.nrrd --vqvae vq.model --prior prior_x.model --samples 2 \
  --condition ln_cooling_rate_C_per_s=1,x=16 >out.txt 2>&1 || { cat out.txt; exit 1; }
[ -s gen_x.nrrd ] || { echo "FAIL: nothing generated with two continuous parameters"; exit 1; }

# --resume with a changed architecture option is refused, naming the option and the checkpoint's value.
if "$bin/MicrostructureTrainPrior" patches.nrrd prior.model "${prior[@]}" --steps 10 --resume --layers 3 \
    >out.txt 2>&1; then echo "FAIL: --resume accepted another --layers"; exit 1; fi
grep -q -- "--layers 3 differs from the checkpoint .* (2)" out.txt || { echo "FAIL: unclear resume message"; cat out.txt; exit 1; }
grep -q "training_steps = 8" prior.model || { echo "FAIL: the model changed on a refused resume"; exit 1; }
"$bin/MicrostructureTrainVQVAE" patches.nrrd vqr.model --table patches.csv --encoderChannels 8,16 --residualBlocks 1 \
  --codebookSize 16 --codeDimension 8 --batchSize 8 --steps 2 --checkpointInterval 1 >/dev/null 2>&1
if "$bin/MicrostructureTrainVQVAE" patches.nrrd vqr.model --table patches.csv --encoderChannels 8,16 \
    --residualBlocks 1 --codebookSize 32 --codeDimension 8 --batchSize 8 --steps 3 --resume >out.txt 2>&1; then
  echo "FAIL: --resume accepted another --codebookSize"; exit 1; fi
grep -q -- "--codebookSize 32 differs from the checkpoint" out.txt || { echo "FAIL: unclear VQ-VAE resume message"; cat out.txt; exit 1; }
# A VQ-VAE of the same codebook size but other weights (vqr.model, 16 codes) does not fit the prior either.
grep -aq "^vqvae_weights_fnv1a64 = " prior.model || { echo "FAIL: the prior does not record its VQ-VAE"; exit 1; }
if "$bin/MicrostructureGenerate" bad.nrrd --vqvae vqr.model --prior prior.model \
    --condition ln_cooling_rate_C_per_s=1 >out.txt 2>&1; then echo "FAIL: a prior ran on another VQ-VAE"; exit 1; fi
grep -q "another VQ-VAE" out.txt || { echo "FAIL: unclear message for another VQ-VAE"; cat out.txt; exit 1; }
[ ! -e bad.nrrd ] || { echo "FAIL: output written on error"; exit 1; }
# Sizes that wrap or cannot be allocated are refused before any work.
for bad in "--encoderChannels -4,8" "--encoderChannels 8,1e3" "--codebookSize 100000000" "--codeDimension 100000"; do
  if "$bin/MicrostructureTrainVQVAE" patches.nrrd vqbad.model --table patches.csv $bad --steps 1 >out.txt 2>&1; then
    echo "FAIL: accepted $bad"; exit 1; fi
  grep -q -- "${bad%% *}" out.txt || { echo "FAIL: the message for $bad does not name the option"; cat out.txt; exit 1; }
  [ ! -e vqbad.model ] || { echo "FAIL: output written for $bad"; exit 1; }
done
# A condition far outside the trained range (its biases would overflow into NaN logits) is refused.
for far in -1000 1e10; do
  if "$bin/MicrostructureGenerate" far.nrrd --vqvae vq.model --prior prior.model --samples 2 \
      --condition ln_cooling_rate_C_per_s=$far >out.txt 2>&1; then echo "FAIL: generated at ln rate $far"; exit 1; fi
  grep -q "too far outside" out.txt || { echo "FAIL: unclear message at ln rate $far"; cat out.txt; exit 1; }
  [ ! -e far.nrrd ] || { echo "FAIL: output written at ln rate $far"; exit 1; }
done

# The composition level, with the composition budget it carries: stored in the file, and generation draws it.
"$bin/MicrostructureTrainPrior" patches.nrrd prior_top.model "${prior[@]}" --steps 2 --compositionLevel phase \
  >out.txt 2>&1 || { cat out.txt; exit 1; }
grep -q "composition level: the share of the bright phase per map" out.txt || { echo "FAIL: no composition level report"; cat out.txt; exit 1; }
grep -aq "^composition_count = 1" prior_top.model || { echo "FAIL: the composition level is not in the file"; exit 1; }
grep -aq "^composition_budget = 1" prior_top.model || { echo "FAIL: the composition budget is not in the file"; exit 1; }
"$bin/MicrostructureGenerate" gen_top.nrrd --vqvae vq.model --prior prior_top.model --samples 3 \
  --condition ln_cooling_rate_C_per_s=1 >out.txt 2>&1 || { cat out.txt; exit 1; }
[ -s gen_top.nrrd ] || { echo "FAIL: nothing generated with the composition level"; exit 1; }
# --compositionCandidates: 4 maps drawn per map kept; the same seed repeats; 0 is refused, naming the option.
for run in a b; do
  "$bin/MicrostructureGenerate" gen_cand_$run.nrrd --vqvae vq.model --prior prior_top.model --samples 3 \
    --condition ln_cooling_rate_C_per_s=1 --compositionCandidates 4 >out.txt 2>&1 || { cat out.txt; exit 1; }
done
cmp -s gen_cand_a.nrrd gen_cand_b.nrrd || { echo "FAIL: candidates not repeatable with the same seed"; exit 1; }
if "$bin/MicrostructureGenerate" bad.nrrd --vqvae vq.model --prior prior_top.model --samples 3 \
    --condition ln_cooling_rate_C_per_s=1 --compositionCandidates 0 >out.txt 2>&1; then echo "FAIL: 0 candidates accepted"; exit 1; fi
grep -q -- "compositionCandidates" out.txt || { echo "FAIL: unclear message for 0 candidates"; cat out.txt; exit 1; }
[ ! -e bad.nrrd ] || { echo "FAIL: output written on error"; exit 1; }
# The generator draws each map's composition from the seed: the same seed repeats, another differs.
for run in a:1 b:1 c:2; do
  "$bin/MicrostructureGenerate" gen_top_${run%%:*}.nrrd --vqvae vq.model --prior prior_top.model \
    --condition ln_cooling_rate_C_per_s=1 --samples 3 --seed ${run##*:} >out.txt 2>&1 || { cat out.txt; exit 1; }
done
cmp -s gen_top_a.nrrd gen_top_b.nrrd || { echo "FAIL: seed 1 not repeatable with the composition level"; exit 1; }
cmp -s gen_top_a.nrrd gen_top_c.nrrd && { echo "FAIL: seeds 1 and 2 gave the same patches"; exit 1; }
# Removed options (the calibrations', the budget's switch, mirrors, and the settings fixed in session 23) are
# refused as unknown, naming the option.
for removed in "--calibrationSamples 10" "--compositionBudget" "--mirrors" "--cache c.nrrd" "--checkpointInterval 2" \
               "--epochs 2" "--schedule cosine" "--embeddingDimension 8" "--firstKernelSize 5" "--kernelSize 3" \
               "--dilations 1,2"; do
  if "$bin/MicrostructureTrainPrior" patches.nrrd prior_bad.model "${prior[@]}" --steps 1 $removed \
      >out.txt 2>&1; then echo "FAIL: $removed accepted"; exit 1; fi
  grep -q -- "${removed%% *}" out.txt || { echo "FAIL: unclear message for $removed"; cat out.txt; exit 1; }
  [ ! -e prior_bad.model ] || { echo "FAIL: output written on error"; exit 1; }
done
echo "ok"
