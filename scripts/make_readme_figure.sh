#!/usr/bin/env bash
# Remakes docs/synthetic_rates.png (the README's picture): one synthetic micrograph per cooling
# rate (1, 3, 10, 30 degC/s; 384 x 384 px at 0.34 um/px), side by side, each above its true
# phase map (white ferrite, gray boundaries, black pearlite). Developer tool: uses Debian's python3.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${SM_BIN_DIR:-$here/build/bin}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin/MicrostructureSynthesize" "$tmp/ds" --coolingRates 1,3,10,30 --imagesPerRate 1 --size 384,384 --seed 7 >/dev/null
/usr/bin/python3 - "$tmp/ds" "$here/docs/synthetic_rates.png" <<'PY'
import csv, os, sys
import numpy as np, skimage.io as io
ds, out = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(os.path.join(ds, "micrographs.csv"))))
gap = 8
tiles = []
for r in rows:
    img = io.imread(os.path.join(ds, r["file"]))
    ph = io.imread(os.path.join(ds, r["phase_map"]))
    ph = np.choose(ph, [0, 255, 128]).astype(np.uint8)
    tiles.append(np.vstack([img, np.full((gap, img.shape[1]), 255, np.uint8), ph]))
sep = np.full((tiles[0].shape[0], gap), 255, np.uint8)
montage = np.hstack(sum([[t, sep] for t in tiles], [])[:-1])
io.imsave(out, montage, check_contrast=False)
PY
echo "wrote $here/docs/synthetic_rates.png"
