#!/usr/bin/python3
"""Reference for bench/measure_bench: Otsu + mean free path d_f + two-point correlation S2
per patch, written with scikit-image and numpy the way one would write it for real work
(vectorised per patch, index arrays precomputed once), single-threaded as numpy is.

  /usr/bin/python3 measure_reference.py PATCHES.mhd RESULTS.f64 [--repeats N] [--compare OTHER.f64]

PATCHES.mhd: the MetaImage stack (Nx x Ny x count, uint8) written by `measure_bench generate`.
RESULTS.f64: little-endian float64 records, one per patch (the layout of measure_bench):
  [threshold, vf, df_h, df_v, df, S2_x[0..R], S2_y[0..R], S2_radial[0..R]]
with R = min(Nx, Ny) // 2, d_f in micrometres (pixels * spacing).
With --compare, checks the two result files agree and prints the worst differences.

Definitions (the same as the C++ library's):
- Otsu: skimage.filters.threshold_otsu; foreground = pixels > threshold (the bright phase).
- d_f = L_L / N_L: on every row (horizontal test lines) and every column (vertical ones),
  L = foreground length, N = number of foreground intercepts, where an intercept touching an
  end of the test line counts 1/2 (ASTM E112); an intercept spanning the whole line counts 1/2.
  d_f = sum L / sum N over the lines of that direction (df_h, df_v) or of both (df);
  NaN when N = 0.
- S2(dx, dy) = #pairs both foreground / ((Nx-|dx|)(Ny-|dy|)), zero-padded FFT (not circular),
  |dx|, |dy| <= R; S2_x[r] = S2(r, 0), S2_y[r] = S2(0, r), radial[k] = mean over round(|d|) = k.
"""
import argparse
import sys
import time

import numpy as np
from skimage.filters import threshold_otsu


def read_mhd(path):
    header = {}
    with open(path, "r") as f:
        for line in f:
            if "=" in line:
                key, value = line.split("=", 1)
                header[key.strip()] = value.strip()
    dims = [int(v) for v in header["DimSize"].split()]
    spacing = [float(v) for v in header.get("ElementSpacing", "1 1 1").split()]
    if header.get("ElementType") != "MET_UCHAR":
        sys.exit("expected a uint8 (MET_UCHAR) stack, got " + header.get("ElementType", "?"))
    data_file = header["ElementDataFile"]
    import os

    raw = os.path.join(os.path.dirname(os.path.abspath(path)), data_file)
    stack = np.fromfile(raw, dtype=np.uint8).reshape(dims[2], dims[1], dims[0])  # z, y, x
    return stack, spacing


def padded_length(n):
    """Smallest 2/3/5-smooth integer >= n."""
    p = n
    while True:
        m = p
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        if m == 1:
            return p
        p += 1


class S2Reference:
    """Zero-padded FFT autocorrelation, normalised by valid pairs; index arrays made once."""

    def __init__(self, ny, nx, r):
        self.r = r
        self.shape = (padded_length(ny + r), padded_length(nx + r))
        d = np.arange(-r, r + 1)
        self.rows = d % self.shape[0]
        self.cols = d % self.shape[1]
        self.pairs = np.outer(ny - np.abs(d), nx - np.abs(d)).astype(np.float64)
        dist = np.floor(np.hypot(d[:, None], d[None, :]) + 0.5).astype(np.int64)  # round half up, as C++ lround
        self.bins = np.where(dist <= r, dist, r + 1).ravel()
        self.bin_count = np.bincount(self.bins, minlength=r + 2)[: r + 1]

    def __call__(self, fg):
        f = np.fft.rfft2(fg.astype(np.float64), s=self.shape)
        corr = np.fft.irfft2(f.real**2 + f.imag**2, s=self.shape)
        window = corr[np.ix_(self.rows, self.cols)]
        s2 = np.rint(window) / self.pairs  # counts are integers
        r = self.r
        radial = np.bincount(self.bins, weights=s2.ravel(), minlength=r + 2)[: r + 1] / self.bin_count
        return s2[r, r:], s2[r:, r], radial


def intercepts(fg, axis):
    """Foreground length and ASTM half-counted intercept number, summed over the lines along axis."""
    lines = fg if axis == 1 else fg.T
    length = np.count_nonzero(lines)
    starts = np.count_nonzero(lines[:, 1:] & ~lines[:, :-1]) + np.count_nonzero(lines[:, 0])
    ends_at_border = np.count_nonzero(lines[:, 0]) + np.count_nonzero(lines[:, -1])
    whole = np.count_nonzero(lines.all(axis=1))
    # Each intercept counts 1, minus 1/2 per line end it touches; a whole-line intercept counts 1/2.
    count = starts - 0.5 * ends_at_border + 0.5 * whole
    return float(length), float(count)


def measure(stack, spacing, stages=None):
    """Per-patch results; stages (a dict), when given, gets the seconds spent per stage."""
    clock = time.perf_counter
    t_otsu = t_df = t_s2 = 0.0
    count, ny, nx = stack.shape
    r = min(nx, ny) // 2
    s2 = S2Reference(ny, nx, r)
    out = np.empty((count, 5 + 3 * (r + 1)), dtype=np.float64)
    for i in range(count):
        patch = stack[i]
        t0 = clock()
        t = threshold_otsu(patch)
        fg = patch > t
        t1 = clock()
        lh, nh = intercepts(fg, 1)
        lv, nv = intercepts(fg, 0)
        t2 = clock()
        x_curve, y_curve, radial = s2(fg)
        t3 = clock()
        t_otsu += t1 - t0
        t_df += t2 - t1
        t_s2 += t3 - t2
        out[i, 0] = t
        out[i, 1] = np.count_nonzero(fg) / fg.size
        out[i, 2] = lh * spacing[0] / nh if nh > 0 else np.nan
        out[i, 3] = lv * spacing[1] / nv if nv > 0 else np.nan
        out[i, 4] = (lh * spacing[0] + lv * spacing[1]) / (nh + nv) if nh + nv > 0 else np.nan
        out[i, 5 : 5 + r + 1] = x_curve
        out[i, 6 + r : 6 + 2 * r + 1] = y_curve
        out[i, 7 + 2 * r :] = radial
    if stages is not None:
        stages.update(otsu=t_otsu, df=t_df, s2=t_s2)
    return out


def compare(mine, other, r):
    """Prints the worst disagreements; returns True when they agree."""
    if mine.shape != other.shape:
        print(f"compare: shapes differ {mine.shape} vs {other.shape}")
        return False
    vf = np.abs(mine[:, 1] - other[:, 1])
    same_binary = vf == 0
    df = np.abs(mine[:, 2:5] - other[:, 2:5]) / np.abs(mine[:, 2:5])
    s2 = np.abs(mine[:, 5:] - other[:, 5:])
    print(f"compare: patches with identical volume fraction: {same_binary.sum()} / {len(vf)};"
          f" max |dVf| = {vf.max():.3g}")
    print(f"compare: d_f max relative difference (identical binarisations): "
          f"{np.nanmax(df[same_binary]) if same_binary.any() else float('nan'):.3g};"
          f" all patches: {np.nanmax(df):.3g}")
    print(f"compare: S2 curves max |difference| (identical binarisations): "
          f"{s2[same_binary].max() if same_binary.any() else float('nan'):.3g}; all patches: {s2.max():.3g}")
    nan_mismatch = np.isnan(mine[:, 2:5]) != np.isnan(other[:, 2:5])
    ok = (same_binary.mean() >= 0.99 and vf.max() < 0.01 and not nan_mismatch.any()
          and np.nanmax(df[same_binary]) < 1e-9 and s2[same_binary].max() < 1e-5)
    print("compare: " + ("AGREE" if ok else "DISAGREE"))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("patches")
    parser.add_argument("results")
    parser.add_argument("--compare", help="result file of measure_bench to check against")
    parser.add_argument("--repeats", type=int, default=3, help="report the best of this many runs (default 3)")
    args = parser.parse_args()

    stack, spacing = read_mhd(args.patches)
    seconds = float("inf")
    for _ in range(max(1, args.repeats)):
        stages = {}
        start = time.perf_counter()
        out = measure(stack, spacing, stages)
        elapsed = time.perf_counter() - start
        if elapsed < seconds:
            seconds, best_stages = elapsed, stages
    out.astype("<f8").tofile(args.results)
    print(f"python reference (skimage {__import__('skimage').__version__}, numpy {np.__version__}): "
          f"{len(stack)} patches of {stack.shape[2]}x{stack.shape[1]} in {seconds:.3f} s (best of {max(1, args.repeats)}) "
          f"({1e6 * seconds / len(stack):.0f} us/patch)")
    print(f"    Otsu {best_stages['otsu']:.3f} s, d_f {best_stages['df']:.3f} s, S2 {best_stages['s2']:.3f} s")
    print(f"PYTHON_SECONDS={seconds:.6f}")
    if args.compare:
        other = np.fromfile(args.compare, dtype="<f8").reshape(out.shape)
        return 0 if compare(out, other, min(stack.shape[1:]) // 2) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
