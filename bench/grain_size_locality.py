"""Where the generated d_f spread lives: across a patch or inside it (a diagnostic, not a benchmark).

Per 128 x 128 patch: Otsu, then in each of its four 64 x 64 quadrants the volume fraction and the
mean free path (pooled horizontal and vertical lines, a run cut by an edge counting 1/2). The residual
of ln d_f on V_f says how irregular the grain size is at the quadrant's scale; the correlation of the
residuals between the quadrants of one patch says how much of it is a patch-wide "style".
Real patches of a condition against the generated ones at that condition, from one fold-seed of a
cross-validation (or any study folder with patches.nrrd, patches.csv and generated/).

Usage: /usr/bin/python3 bench/grain_size_locality.py STUDY_DIR RATE
  e.g. /usr/bin/python3 bench/grain_size_locality.py out/cv/folds/cooling_rate_C_per_s_3/seed-1 3
"""
import csv, gzip, sys, numpy as np
from skimage.filters import threshold_otsu
def nrrd(path):
    raw = open(path, 'rb').read(); end = raw.index(b'\n\n'); hdr = raw[:end].decode()
    f = dict(l.split(': ', 1) for l in hdr.splitlines()[1:] if ': ' in l)
    data = raw[end + 2:]
    if f.get('encoding', 'raw') == 'gzip': data = gzip.decompress(data)
    sx, sy, n = [int(v) for v in f['sizes'].split()]
    return np.frombuffer(data, np.uint8).reshape(n, sy, sx)
def df(b):
    fg = b.sum(); n = 0.0
    for lines in (b, b.T):
        d = np.diff(lines.astype(np.int8), axis=1)
        starts = (d == 1).sum(1) + lines[:, 0]; 
        edge = lines[:, 0].astype(float) + lines[:, -1] - (lines.all(1)).astype(float)  # runs cut by edges
        n += (starts - edge).sum() + 0.5 * edge.sum()
    return 2 * fg / n if n > 0 else np.nan
def stats(stack):
    out = []
    for p in stack:
        b = p > threshold_otsu(p)
        q = [b[:64, :64], b[:64, 64:], b[64:, :64], b[64:, 64:]]
        out.append([(x.mean(), df(x)) for x in q] + [(b.mean(), df(b))])
    return np.array(out)  # n x 5 x 2
fold = sys.argv[1]
rows = list(csv.DictReader(open(fold + '/patches.csv')))
real = nrrd(fold + '/patches.nrrd')[[i for i, r in enumerate(rows) if float(r['cooling_rate_C_per_s']) == float(sys.argv[2])]]
gen = nrrd(fold + '/generated/cooling_rate_C_per_s_%s.nrrd' % sys.argv[2])
for name, s in (('real', stats(real)), ('generated', stats(gen))):
    v, l = s[:, :4, 0], np.log(s[:, :4, 1])
    # residual of ln d_f on V_f (pooled slope over quadrants)
    slope = np.polyfit(v.ravel(), l.ravel(), 1)[0]
    r = l - slope * v; r -= r.mean()
    c = np.corrcoef(r.T); off = c[~np.eye(4, dtype=bool)].mean()
    vc = np.corrcoef((v - v.mean()).T)[~np.eye(4, dtype=bool)].mean()
    print('%-9s n %4d  whole: V_f %.3f sd %.3f  d_f %.2f sd %.2f | quadrants: ln d_f resid sd %.3f, corr between quadrants %.2f (V_f corr %.2f), slope %.2f'
          % (name, len(s), s[:, 4, 0].mean(), s[:, 4, 0].std(), s[:, 4, 1].mean(), s[:, 4, 1].std(), r.std(), off, vc, slope))
