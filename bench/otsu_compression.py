"""How the ruler's Otsu per patch treats decoded images (a diagnostic, not a benchmark).

Per condition of a study folder, the reconstructions (reconstructed.nrrd) against their originals
(patches.nrrd): the V_f variance ratio and mean difference under Otsu per patch (the study's ruler)
and under one threshold for all patches of the condition (Otsu of them pooled), and the slope of the
per-patch Otsu threshold on the original's V_f. A decoder that puts pixels between the two phases'
grey levels lets each image's own threshold move with its composition; when the pooled threshold keeps
the spread and Otsu per patch does not, the loss of spread is the ruler meeting blurred boundaries,
not codes that lost the composition. The generated patches of the condition
(generated/COLUMN_VALUE.nrrd, where the study made them) are read the same way against the real ones.

Only the conditions named are read: give the training conditions of a fold, never its held-out one.

Usage: /usr/bin/python3 bench/otsu_compression.py STUDY_DIR COLUMN VALUE [VALUE ...]
  e.g. /usr/bin/python3 bench/otsu_compression.py out/cv/folds/cooling_rate_C_per_s_10/seed-1 \
         cooling_rate_C_per_s 1 3 30
"""
import csv, os, sys
import numpy as np
from skimage.filters import threshold_otsu
from study_stack import nrrd


if len(sys.argv) < 4:
    sys.exit(__doc__)
study, column, values = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = list(csv.DictReader(open(study + '/patches.csv')))
real, rec = nrrd(study + '/patches.nrrd'), nrrd(study + '/reconstructed.nrrd')
print('condition  n  | Otsu per patch: Vf var ratio, dVf (pp) | pooled threshold: ratio, dVf | '
      'threshold slope on Vf (grey levels per unit), real / reconstructed || generated: pixels in the grey gap '
      '(112..160), real / generated; Otsu per patch: Vf var ratio; pooled threshold: Vf var ratio')
for value in values:
    idx = [int(r['patch']) for r in rows if float(r[column]) == float(value)]
    if not idx:
        sys.exit('no patch has %s = %s' % (column, value))
    a, b = real[idx], rec[idx]
    ta = np.array([threshold_otsu(p) for p in a])
    tb = np.array([threshold_otsu(p) for p in b])
    va = np.array([(p > t).mean() for p, t in zip(a, ta)])
    vb = np.array([(p > t).mean() for p, t in zip(b, tb)])
    pa, pb = threshold_otsu(a.ravel()), threshold_otsu(b.ravel())
    ga = np.array([(p > pa).mean() for p in a])
    gb = np.array([(p > pb).mean() for p in b])
    line = '%s=%s %4d | %.2f %+.2f | %.2f %+.2f | %.0f / %.0f' % (
        column, value, len(idx), vb.var() / va.var(), 100 * (vb.mean() - va.mean()),
        gb.var() / ga.var(), 100 * (gb.mean() - ga.mean()),
        np.polyfit(va, ta, 1)[0], np.polyfit(va, tb, 1)[0])
    generated = '%s/generated/%s_%s.nrrd' % (study, column, value)
    if os.path.exists(generated):
        g = nrrd(generated)
        vg = np.array([(p > threshold_otsu(p)).mean() for p in g])
        pg = threshold_otsu(g.ravel())
        gap = lambda images: np.mean((images >= 112) & (images <= 160))
        line += ' || %.3f / %.3f; %.2f; %.2f' % (gap(a), gap(g), vg.var() / va.var(),
                                                 np.array([(p > pg).mean() for p in g]).var() / ga.var())
    print(line)
