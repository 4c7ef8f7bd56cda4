"""filter2d's thread rule: two values of one of its settings alternating in one process.

Run: ``PYTHONPATH=. python bench/filter_threads_interleaved.py [rounds] [low_exp] [high_exp]`` (defaults
20, 20, 22: ``fastconv.filters._MACS_PER_THREAD`` 1 << 20 against 1 << 22 multiply-adds per thread), or
``PYTHONPATH=. python bench/filter_threads_interleaved.py pixel [rounds] [low] [high]`` (defaults 20, 0,
4: ``fastconv.filters._PIXEL_MACS``, the multiply-adds each output pixel counts besides its taps).
Float32 256², 384² and 512² images, the kernels random5, random3, gaussian5, gaussian3, sobel_x and
laplacian with fresh outputs; each round times 20 calls per value, the two values in alternating
order from round to round. Prints the median of the round medians and their 10th-90th percentiles.
The setting changes only the thread count, so the results are the same (checked first).
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
from fastconv import filters as F


def main():
    args = sys.argv[1:]
    pixel = bool(args) and args[0] == "pixel"
    if pixel:
        args = args[1:]
    rounds = int(args[0]) if args else 20
    if pixel:
        setting, lo, hi = "_PIXEL_MACS", int(args[1]) if len(args) > 1 else 0, int(args[2]) if len(args) > 2 else 4
    else:
        setting = "_MACS_PER_THREAD"
        lo, hi = (1 << int(args[1]) if len(args) > 1 else 1 << 20), (1 << int(args[2]) if len(args) > 2 else 1 << 22)
    rng = np.random.default_rng(2024)
    kernels = {"random5": rng.standard_normal((5, 5)), "random3": rng.standard_normal((3, 3)),
               "gaussian5": fastconv.KERNELS["gaussian5"], "gaussian3": fastconv.KERNELS["gaussian3"],
               "sobel_x": fastconv.KERNELS["sobel_x"], "laplacian": fastconv.KERNELS["laplacian"]}
    saved = getattr(F, setting)
    res = {}
    try:
        for size in (256, 384, 512):
            img = (np.random.default_rng(size).random((size, size)) * 255).astype(np.float32)
            for name, k in kernels.items():
                setattr(F, setting, lo)
                a = fastconv.filter2d(img, k)
                setattr(F, setting, hi)
                np.testing.assert_array_equal(fastconv.filter2d(img, k), a)
            for r in range(rounds):
                for name, k in kernels.items():
                    for th in ((hi, lo) if r % 2 else (lo, hi)):
                        setattr(F, setting, th)
                        ts = []
                        for _ in range(20):
                            t = time.perf_counter()
                            fastconv.filter2d(img, k)
                            ts.append(time.perf_counter() - t)
                        res.setdefault((size, name, th), []).append(np.median(ts))
    finally:
        setattr(F, setting, saved)
    for (size, name, th), v in sorted(res.items()):
        shown = th if pixel else f"{th >> 20} Mi"
        print(f"{size}² {name:9s} {setting} {shown}: median {np.median(v) * 1e6:.1f} us "
              f"[{np.percentile(v, 10) * 1e6:.1f}-{np.percentile(v, 90) * 1e6:.1f}]")


if __name__ == "__main__":
    main()
