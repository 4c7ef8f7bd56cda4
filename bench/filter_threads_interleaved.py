"""filter2d's thread threshold (``fastconv.filters._MACS_PER_THREAD``): two values alternating in one process.

Run: ``PYTHONPATH=. python bench/filter_threads_interleaved.py [rounds] [low_exp] [high_exp]`` (defaults
20, 20, 22: 1 << 20 against 1 << 22 multiply-adds per thread). Float32 256² and 512² images, the
kernels random5, random3, gaussian5 and laplacian with fresh outputs; each round times 20 calls per
threshold, the two thresholds in alternating order from round to round. Prints the median of the
round medians and their 10th-90th percentiles. The threshold changes only the thread count, so the
results are the same (checked first).
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
from fastconv import filters as F


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    lo, hi = (1 << int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20), (1 << int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 22)
    rng = np.random.default_rng(2024)
    kernels = {"random5": rng.standard_normal((5, 5)), "random3": rng.standard_normal((3, 3)),
               "gaussian5": fastconv.KERNELS["gaussian5"], "laplacian": fastconv.KERNELS["laplacian"]}
    saved = F._MACS_PER_THREAD
    res = {}
    try:
        for size in (256, 512):
            img = (np.random.default_rng(size).random((size, size)) * 255).astype(np.float32)
            for name, k in kernels.items():
                F._MACS_PER_THREAD = lo
                a = fastconv.filter2d(img, k)
                F._MACS_PER_THREAD = hi
                np.testing.assert_array_equal(fastconv.filter2d(img, k), a)
            for r in range(rounds):
                for name, k in kernels.items():
                    for th in ((hi, lo) if r % 2 else (lo, hi)):
                        F._MACS_PER_THREAD = th
                        ts = []
                        for _ in range(20):
                            t = time.perf_counter()
                            fastconv.filter2d(img, k)
                            ts.append(time.perf_counter() - t)
                        res.setdefault((size, name, th), []).append(np.median(ts))
    finally:
        F._MACS_PER_THREAD = saved
    for (size, name, th), v in sorted(res.items()):
        print(f"{size}² {name:9s} threshold {th >> 20} Mi: median {np.median(v) * 1e6:.1f} us "
              f"[{np.percentile(v, 10) * 1e6:.1f}-{np.percentile(v, 90) * 1e6:.1f}]")


if __name__ == "__main__":
    main()
