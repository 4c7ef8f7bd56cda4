"""filter2d's several-rows kernel against the row kernel, and the separable path against the general
one, calls alternating in one process.

* ``rows``: ``fastconv._filter.correlate2d_same_kernel`` with ``several_rows=True`` (blocks of 4
  output rows where the several-rows kernel serves: 9 taps or more, at AVX-512) and ``False``
  (one row at a time), random 3x3, 5x5 and 7x7 kernels and the laplacian; prints each median and
  their ratio (several rows / row kernel), on 1 and 2 threads. The two give the same bits.
* ``separable``: the separable kernel's two passes (not the fused kernel) against the general one
  on rank-1 kernels (gaussian3, gaussian5 and a 7x7 binomial kernel), ordinary stores for the general path and streaming stores
  for the separable one as ``filter2d`` picks them on outputs of 8 MiB and more; prints general /
  separable, the figure behind ``fastconv.filters._MEMORY_BOUND_FACTOR``.
* ``fused``: the fused separable kernel (AVX-512; ``--channels``, default 1) against the two passes
  and the general path (gaussian3, gaussian5, the 7x7 binomial kernel, sobel_x); the figures behind
  filter2d taking the separable path wherever the fused kernel pays and it has fewer taps.

Each figure is the median over ``--rounds`` rounds of one block of calls per variant. Use
``FASTCONV_SIMD=avx2`` (or ``baseline``) to measure a lower level.

Run: ``PYTHONPATH=. python bench/filter_rows_interleaved.py [rows|separable|fused] [--rounds 7]
[--sizes 512,2048] [--dtype float32] [--channels 1]``
"""
from __future__ import annotations

import argparse
import timeit

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
from fastconv import _filter, _simd
from fastconv.filters import _STREAM_BYTES, _plan

BINOMIAL7 = np.outer([1, 6, 15, 20, 15, 6, 1], [1, 6, 15, 20, 15, 6, 1]) / 4096.0


def _time(fns: dict, rounds: int, calls: int) -> dict:
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            times[k].append(min(timeit.repeat(f, number=calls, repeat=1)) / calls * 1e6)
    return {k: float(np.median(v)) for k, v in times.items()}


def _general_taps(k, ct):
    """The general path's tap lists of ``k`` (weights, kernel rows, kernel columns), unfactored."""
    rows_, cols = np.nonzero(k)
    return k[rows_, cols].astype(ct), rows_.astype(np.intp), cols.astype(np.intp)


def rows(sizes, dtype, rounds):
    rng = np.random.default_rng(0)
    kernels = {"random3": rng.standard_normal((3, 3)), "random5": rng.standard_normal((5, 5)),
               "random7": rng.standard_normal((7, 7)), "laplacian": np.asarray(fastconv.KERNELS["laplacian"])}
    for n in sizes:
        img = rng.standard_normal((n, n, 1)).astype(dtype)
        out = np.empty_like(img)
        calls = max(1, int(4e6 / n / n))
        for name, k in kernels.items():
            p = _plan(k, np.dtype(dtype))
            line = []
            for nt in (1, 2):
                fns = {on: (lambda on=on: _filter.correlate2d_same_kernel(
                    img, p.w, p.rows, p.cols, k.shape[0], k.shape[1], 0, 0.0, out, nt, False, on)) for on in (True, False)}
                t = _time(fns, rounds, calls)
                line.append(f"{nt}T {t[True]:.0f} / {t[False]:.0f} us = {t[True] / t[False]:.2f}")
            print(f"{n}x{n} {name} ({p.w.size} taps): several rows / row kernel: " + " | ".join(line))


def separable(sizes, dtype, rounds):
    rng = np.random.default_rng(0)
    kernels = {"gaussian3": np.asarray(fastconv.KERNELS["gaussian3"]),
               "gaussian5": np.asarray(fastconv.KERNELS["gaussian5"]), "binomial7": BINOMIAL7}
    ct = np.dtype(dtype)
    for n in sizes:
        img = rng.standard_normal((n, n, 1)).astype(dtype)
        out = np.empty_like(img)
        calls = max(1, int(4e6 / n / n))
        stream = img.nbytes >= _STREAM_BYTES
        for name, k in kernels.items():
            s = _plan(k, ct)
            assert s.separable
            wg, ri, ci = _general_taps(k, ct)
            kh, kw = k.shape
            line = []
            for nt in (1, 2):
                fns = {
                    "separable": lambda: _filter.correlate2d_separable_kernel(  # the two passes
                        img, s.w, s.rows, s.w2, s.cols, kh, kw, 0, 0.0, out, nt, stream, False),
                    "general": lambda: _filter.correlate2d_same_kernel(img, wg, ri, ci, kh, kw, 0, 0.0, out, nt),
                }
                t = _time(fns, rounds, calls)
                line.append(f"{nt}T {t['general']:.0f} / {t['separable']:.0f} us = {t['general'] / t['separable']:.2f}")
            print(f"{n}x{n} {name}: general / separable: " + " | ".join(line))


def fused(sizes, dtype, rounds, channels=1):
    """The fused separable kernel against the two passes (ordinary and, on 8 MiB outputs and more,
    streaming stores, as filter2d picks them where the fused kernel does not run) and the general
    path, on images of ``channels`` channels (kernels it does not serve there skipped); prints each
    median and fused / general, fused / two passes."""
    rng = np.random.default_rng(0)
    kernels = {"gaussian3": np.asarray(fastconv.KERNELS["gaussian3"]),
               "gaussian5": np.asarray(fastconv.KERNELS["gaussian5"]), "binomial7": BINOMIAL7,
               "sobel_x": np.asarray(fastconv.KERNELS["sobel_x"])}
    ct = np.dtype(dtype)
    for n in sizes:
        img = rng.standard_normal((n, n, channels)).astype(dtype)
        out = np.empty_like(img)
        calls = max(1, int(4e6 / img.size))
        stream = img.nbytes >= _STREAM_BYTES
        for name, k in kernels.items():
            if not _filter.separable_fused_serves(ct, n, channels, k.shape[1]):
                print(f"{n}x{n}x{channels} {name}: the fused kernel does not run here")
                continue
            s = _plan(k, ct)
            wg, ri, ci = _general_taps(k, ct)
            kh, kw = k.shape
            line = []
            for nt in (1, 2):
                fns = {
                    "fused": lambda: _filter.correlate2d_separable_kernel(
                        img, s.w, s.rows, s.w2, s.cols, kh, kw, 0, 0.0, out, nt, False, True),
                    "two passes": lambda: _filter.correlate2d_separable_kernel(
                        img, s.w, s.rows, s.w2, s.cols, kh, kw, 0, 0.0, out, nt, stream, False),
                    "general": lambda: _filter.correlate2d_same_kernel(img, wg, ri, ci, kh, kw, 0, 0.0, out, nt),
                }
                t = _time(fns, rounds, calls)
                line.append(f"{nt}T {t['fused']:.0f} / {t['two passes']:.0f} / {t['general']:.0f} us: "
                            f"{t['fused'] / t['general']:.2f} {t['fused'] / t['two passes']:.2f}")
            print(f"{n}x{n}x{channels} {name}: fused / two passes / general, fused/general fused/two passes: "
                  + " | ".join(line))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="?", default="rows", choices=["rows", "separable", "fused"])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sizes", default="512,2048")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--channels", type=int, default=1, help="fused: channels of the images")
    a = ap.parse_args()
    print(f"SIMD {_simd.simd_level()}; several-rows kernel runs: {_filter.several_rows_runs()}; {a.dtype}")
    sizes = [int(s) for s in a.sizes.split(",")]
    if a.what == "fused":
        fused(sizes, getattr(np, a.dtype), a.rounds, a.channels)
    else:
        (rows if a.what == "rows" else separable)(sizes, getattr(np, a.dtype), a.rounds)


if __name__ == "__main__":
    main()
