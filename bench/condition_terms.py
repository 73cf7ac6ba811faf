#!/usr/bin/python3
"""Which terms of a process parameter should the prior see? Picks MicrostructureTrainPrior's
--conditionExponentials from the real statistics of the TRAINING conditions only (never a held-out
one): for each statistic (mean volume fraction, mean free path per condition) and each candidate
term f of the parameter x (x itself, or exp(a x) for the rates a; for an ln_ parameter exp(a x) is
the value to the power a), a straight line in f is fitted to all training conditions but one and
asked to predict the one left out. The term with the smallest leave-one-out error wins per
statistic; the prior gets x and every winning exp(a x) (x is always in). With three training
values that is one term at most per statistic, and x + one term meets all three exactly.

Usage: /usr/bin/python3 bench/condition_terms.py STUDY_DIR/measure_real.csv \
           [--column cooling_rate_C_per_s] [--train 1,10,30] [--linear] [--rates -0.25,-0.5,-1,-1.5,-2]
  --train: the training values (default: the study's config.json next to the CSV, data.synthetic.train_rates)
  --linear: the column enters as it is (x = value), not as ln(value)
Prints each candidate's leave-one-out errors and the option line to give MicrostructureTrainPrior.
"""
import argparse
import csv
import json
import math
import os
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("measure")
    ap.add_argument("--column", default="cooling_rate_C_per_s")
    ap.add_argument("--train", default="")
    ap.add_argument("--linear", action="store_true")
    ap.add_argument("--rates", default="-0.25,-0.5,-1,-1.5,-2")
    args = ap.parse_args()
    if args.train:
        train = [float(v) for v in args.train.split(",")]
    else:
        config = os.path.join(os.path.dirname(os.path.abspath(args.measure)), "config.json")
        try:
            train = [float(v) for v in json.load(open(config))["data"]["synthetic"]["train_rates"]]
        except (OSError, KeyError, ValueError) as e:
            sys.exit(f"give --train: no training values in {config} ({e})")
    if len(train) < 3:
        sys.exit(f"{len(train)} training values: leave-one-out needs at least 3")
    rows = list(csv.DictReader(open(args.measure)))
    if not rows or args.column not in rows[0]:
        sys.exit(f"{args.measure} has no column {args.column}: give --column")
    name = args.column if args.linear else "ln_" + args.column
    x = np.array([v if args.linear else math.log(v) for v in train])
    stats = {"volume_fraction": "pp", "mean_free_path_um": "%"}
    means = {s: [] for s in stats}
    for v in train:
        sel = [r for r in rows if math.isclose(float(r[args.column]), v, rel_tol=1e-9)]
        if not sel:
            sys.exit(f"no rows with {args.column} = {v} in {args.measure}")
        for s in stats:
            vals = [float(r[s]) for r in sel if math.isfinite(float(r[s]))]
            means[s].append(sum(vals) / len(vals))
    rates = [float(a) for a in args.rates.split(",")]
    candidates = [("x", None)] + [(f"exp({a:g} x)", a) for a in rates]
    picked = set()
    for s, unit in stats.items():
        y = np.array(means[s])
        print(f"{s}: training means " + ", ".join(f"{v:g}: {m:.4g}" for v, m in zip(train, y)))
        best = None
        for label, a in candidates:
            f = x if a is None else np.exp(a * x)
            errors = []
            for i in range(len(x)):
                keep = [j for j in range(len(x)) if j != i]
                slope, intercept = np.polyfit(f[keep], y[keep], 1)
                p = intercept + slope * f[i]
                errors.append(100 * (p - y[i]) if unit == "pp" else 100 * (p / y[i] - 1))
            rms = math.sqrt(sum(e * e for e in errors) / len(errors))
            print(f"  {label:>14}: left out " + ", ".join(f"{v:g}: {e:+.2f} {unit}" for v, e in zip(train, errors))
                  + f"; rms {rms:.2f} {unit}")
            if best is None or rms < best[0]:
                best = (rms, label, a)
        print(f"  -> {best[1]}")
        if best[2] is not None:
            picked.add(best[2])
    if picked:
        print("--conditionExponentials " + ",".join(f"{name}:{a:g}" for a in sorted(picked)))
    else:
        print("no term beats the line in x: leave --conditionExponentials out")


if __name__ == "__main__":
    main()
