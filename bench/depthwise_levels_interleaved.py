"""CPU time of the depthwise conv kernels (fastconv._conv_depthwise) at each SIMD level, interleaved.

For every channel count C (depthwise 3x3, padding 1, N64 8x8 images, w (3, 3, 1, C)), dtype and
stride, the kernel calls forward and backward (dx, dw, db) run at each level this CPU has from
AVX2 up (the ``level`` argument of the kernels) and at the level they pick (``auto``,
``_conv_depthwise.depthwise_level``), round-robin in one process on one thread; the median
per-call ``time.thread_time()`` of each is printed with its spread (quartiles), in
microseconds; ``auto/avx2`` is auto's median over the AVX2 median (the criterion: at most 1
beyond noise) and ``auto/best`` over the best forced level's.

Run: ``python bench/depthwise_levels_interleaved.py [--rounds 15] [--reps 20] [--cs 1,3,8,...]``
"""
from __future__ import annotations

import argparse
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

from fastconv import _conv_depthwise, _simd


def layer(n, h, c, dtype, stride, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, h, c)).astype(dtype)
    w = rng.standard_normal((3, 3, 1, c)).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    ho = (h + 2 - 3) // stride + 1
    dy = rng.standard_normal((n, ho, ho, c)).astype(dtype)
    return x, w, b, dy


def calls(x, w, b, dy, stride, level, parts=16):
    K = _conv_depthwise
    s, c = stride, x.shape[3]
    y = np.empty(dy.shape, x.dtype)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    dwp, dbp = np.empty((parts, 9 * c), x.dtype), np.empty((parts, c), x.dtype)
    return {
        "fwd": lambda: K.depthwise_forward_kernel(x, w, b, y, 1, 1, s, s, 1, 1, 1, level),
        "bwd": lambda: K.depthwise_backward_kernel(x, w, dy, dx, dw, db, dwp, dbp, 1, 1, s, s, 1, 1, True, 1, level),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--cs", default="1,3,8,12,16,24,32,64")
    ap.add_argument("--dtypes", default="float32,float64")
    a = ap.parse_args()
    run = _simd.SIMD_LEVELS.index(_simd.simd_level())
    levels = {name: i for i, name in enumerate(_simd.SIMD_LEVELS) if 1 <= i <= run} | {"auto": -1}
    print(f"levels: {list(levels)}; us per call, median [q1, q3] of {a.rounds} rounds x {a.reps} calls")
    for dt in a.dtypes.split(","):
        for c in map(int, a.cs.split(",")):
            for stride in (1, 2):
                data = layer(64, 8, c, dt, stride)
                fns = {lv: calls(*data, stride, i) for lv, i in levels.items()}
                kinds = ["fwd", "bwd"]
                times = {(lv, k): [] for lv in fns for k in kinds}
                for _ in range(a.rounds):
                    for k in kinds:
                        for lv, f in fns.items():
                            f[k]()
                            t0 = time.thread_time()
                            for _ in range(a.reps):
                                f[k]()
                            times[lv, k].append((time.thread_time() - t0) / a.reps * 1e6)
                auto = _conv_depthwise.depthwise_level(dt, c)
                for k in kinds:
                    row, meds = [], {}
                    for lv in fns:
                        q1, med, q3 = np.percentile(times[lv, k], [25, 50, 75])
                        meds[lv] = med
                        row.append(f"{lv} {med:8.1f} [{q1:7.1f},{q3:7.1f}]")
                    best = min(m for lv, m in meds.items() if lv != "auto")
                    print(f"{dt} C{c:<3d} s{stride} {k} auto={auto:7s} " + "  ".join(row)
                          + f"  auto/avx2 {meds['auto'] / meds['avx2']:5.2f}  auto/best {meds['auto'] / best:5.2f}",
                          flush=True)


if __name__ == "__main__":
    main()
