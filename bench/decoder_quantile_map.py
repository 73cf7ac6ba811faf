"""How far the decoder's grey levels account for the generated V_f spread (a diagnostic, not a benchmark).

The decoder, trained on squared error, outputs the mean of the patterns a code can stand for: its
reconstructions have about twice the real patches' share of pixels in the grey gap between the phases,
and Otsu per patch (the study's ruler) then moves each threshold with the patch's composition. This maps
the decoder's grey levels to the data's by one monotone quantile map T = F_real^-1 o F_reconstructed,
fitted on the study's TRAINING-split patches of the named rates pooled (no condition, no V_f, no
generated patch enters the fit), applies it to the reconstructed and generated patches of those rates,
measures them with MicrostructureMeasure (the study's rulers) and prints, per rate, the study's
figures before and after T against the real patches, and the count of the 12 network-alone targets
(V_f variance ratio 0.8-1.25, V_f KS <= 0.1, d_f variance ratio 0.67-1.5, d_f KS <= 0.15).
Session 34 (docs/cross_validation.md): T brings the reconstructions' V_f variance ratio to 1.01-1.03,
but moves the generated mean V_f up by 0.6-1.2 pp; it was not adopted.

Only the rates named are read: give the training rates of a fold, never its held-out one.

Usage: /usr/bin/python3 bench/decoder_quantile_map.py STUDY_DIR OUT_DIR MEASURE_BINARY COLUMN RATE [RATE ...]
  e.g. /usr/bin/python3 bench/decoder_quantile_map.py out/cv/folds/cooling_rate_C_per_s_10/seed-1 /tmp/qm \
         build/bin/MicrostructureMeasure cooling_rate_C_per_s 1 3 30
"""
import csv, os, subprocess, sys
import numpy as np
from scipy.stats import ks_2samp
from study_stack import read_nrrd

if len(sys.argv) < 6:
    sys.exit(__doc__)
study, outdir, measure, column = sys.argv[1:5]
rates = sys.argv[5:]
os.makedirs(outdir, exist_ok=True)

def write_nrrd(path, head, arr):
    lines = [l for l in head.splitlines() if not l.startswith('encoding:')]
    lines.append('encoding: raw')
    with open(path, 'wb') as fh:
        fh.write(('\n'.join(lines) + '\n\n').encode())
        fh.write(np.ascontiguousarray(arr, np.uint8).tobytes())

rows = list(csv.DictReader(open(study + '/patches.csv')))
_, real = read_nrrd(study + '/patches.nrrd')
rhead, rec = read_nrrd(study + '/reconstructed.nrrd')
inrates = lambda r: any(float(r[column]) == float(v) for v in rates)
fit = [int(r['patch']) for r in rows if r['split'] == 'train' and inrates(r)]
a, b = real[fit].ravel(), rec[fit].ravel()
hist_b = np.bincount(b, minlength=256).astype(float)
cdf_mid = (np.cumsum(hist_b) - 0.5 * hist_b) / hist_b.sum()
lut = np.clip(np.round(np.quantile(a, np.clip(cdf_mid, 0, 1))), 0, 255).astype(np.uint8)
np.savetxt(outdir + '/lut.txt', lut, fmt='%d')
gap = lambda x: np.mean((x >= 112) & (x <= 160))
print('fitted on %d training patches; grey gap real %.3f, reconstructed %.3f, mapped %.3f'
      % (len(fit), gap(a), gap(b), gap(lut[b])))
print('LUT (every 16th level):', ' '.join(str(v) for v in lut[::16]))

def run_measure(stack, table, out):
    subprocess.run([measure, stack, '--table', table, '--outputTable', out], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def col(path, name, keep=None):
    out = []
    for r in csv.DictReader(open(path)):
        if keep is None or keep(r):
            out.append(float(r[name]))
    return np.array(out)

# reconstructions of every patch of the named rates, mapped, measured as one stack with patches.csv
sel = [int(r['patch']) for r in rows if inrates(r)]
sub_csv = outdir + '/rec_rows.csv'
with open(sub_csv, 'w', newline='') as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
    w.writeheader()
    for i in sel:
        w.writerow(rows[i])
rhead_sub = rhead.replace('sizes: %d %d %d' % (rec.shape[2], rec.shape[1], rec.shape[0]),
                          'sizes: %d %d %d' % (rec.shape[2], rec.shape[1], len(sel)))
write_nrrd(outdir + '/rec_L.nrrd', rhead_sub, lut[rec[sel]])
run_measure(outdir + '/rec_L.nrrd', sub_csv, outdir + '/rec_L_measure.csv')

def stats(ref_vf, ref_df, vf, df):
    return dict(dvf=vf.mean() - ref_vf.mean(), ddf=100 * (df.mean() / ref_df.mean() - 1),
                vvr=vf.var() / ref_vf.var(), vks=ks_2samp(vf, ref_vf).statistic,
                dvr=df.var() / ref_df.var(), dks=ks_2samp(df, ref_df).statistic)

def targets(s):
    return [0.8 <= s['vvr'] <= 1.25, s['vks'] <= 0.1, 0.67 <= s['dvr'] <= 1.5, s['dks'] <= 0.15]

tot = {'base': 0, 'L': 0}
print('rate set        dV_f(pp) dd_f(%) Vf_var  Vf_KS   df_var  df_KS  targets')
for v in rates:
    keep = lambda r: float(r[column]) == float(v)
    rvf = 100 * col(study + '/measure_real.csv', 'volume_fraction', keep)
    rdf = col(study + '/measure_real.csv', 'mean_free_path_um', keep)
    slug = '%s_%s' % (column, v)  # the study's name for the condition, as bench/otsu_compression.py reads it
    gh, g = read_nrrd(study + '/generated/' + slug + '.nrrd')
    write_nrrd(outdir + '/' + slug + '_L.nrrd', gh, lut[g])
    run_measure(outdir + '/' + slug + '_L.nrrd', study + '/generated/' + slug + '.csv', outdir + '/' + slug + '_L_measure.csv')
    sets = {
        'reconstructed': (100 * col(study + '/measure_reconstructed.csv', 'volume_fraction', keep),
                          col(study + '/measure_reconstructed.csv', 'mean_free_path_um', keep)),
        'reconstr. L': (100 * col(outdir + '/rec_L_measure.csv', 'volume_fraction', keep),
                        col(outdir + '/rec_L_measure.csv', 'mean_free_path_um', keep)),
        'base': (100 * col(study + '/generated/' + slug + '_measure.csv', 'volume_fraction'),
                 col(study + '/generated/' + slug + '_measure.csv', 'mean_free_path_um')),
        'L': (100 * col(outdir + '/' + slug + '_L_measure.csv', 'volume_fraction'),
              col(outdir + '/' + slug + '_L_measure.csv', 'mean_free_path_um')),
    }
    for name, (vf, df) in sets.items():
        s = stats(rvf, rdf, vf, df)
        t = targets(s)
        if name in tot:
            tot[name] += sum(t)
        print('%-5s %-13s %+7.2f %+7.1f %6.2f %7.3f %7.2f %6.3f  %d' % (
            v, name, s['dvf'], s['ddf'], s['vvr'], s['vks'], s['dvr'], s['dks'], sum(t)))
print('network-alone targets met (of %d): base %d, L %d' % (4 * len(rates), tot['base'], tot['L']))
