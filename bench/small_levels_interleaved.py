"""CPU time of the small-reduction conv kernels (fastconv._conv_small) at each SIMD level, interleaved.

For every layer (C -> Cout, 3x3, padding 1, N64 8x8 images) and dtype, the kernel calls
forward, backward without dx (weight gradient), backward with dx at stride 1 (dx as a
correlation) and at stride 2 (dx scattered) run at each level this CPU has (the ``level``
argument of the kernels), round-robin in one process on one thread, and the median per-call
``time.thread_time()`` of each is printed with its spread (quartiles), in microseconds.
``auto`` is the level the kernels pick for the layer (``_conv_small.layer_level``).

Run: ``python bench/small_levels_interleaved.py [--rounds 15] [--reps 20]``
"""
from __future__ import annotations

import argparse
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

from fastconv import _conv_small, _simd


def layer(n, h, c, cout, dtype, stride, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, h, c)).astype(dtype)
    k = 3 if c <= 3 else 2  # at most 32 taps Kh*Kw*C
    w = rng.standard_normal((k, k, c, cout)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    ho = (h + 2 - k) // stride + 1
    dy = rng.standard_normal((n, ho, ho, cout)).astype(dtype)
    return x, w, b, dy


def calls(x, w, b, dy, stride, level):
    y = np.empty(dy.shape, x.dtype)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    K = _conv_small
    s = stride
    return {
        "fwd": lambda: K.conv2d_forward_small_kernel(x, w, b, y, 1, 1, s, s, 1, level),
        "dw": lambda: K.conv2d_backward_small_kernel(x, w, dy, dx, dw, db, 1, 1, s, s, False, 1, level),
        "bwd": lambda: K.conv2d_backward_small_kernel(x, w, dy, dx, dw, db, 1, 1, s, s, True, 1, level),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--couts", default="1,3,8,12,16,24,25,32")
    ap.add_argument("--cs", default="1,2,3,8")
    ap.add_argument("--dtypes", default="float32,float64")
    a = ap.parse_args()
    run = _simd.SIMD_LEVELS.index(_simd.simd_level())
    levels = {name: i for i, name in enumerate(_simd.SIMD_LEVELS) if 1 <= i <= run} | {"auto": -1}
    print(f"levels: {list(levels)}; us per call, median [q1, q3] of {a.rounds} rounds x {a.reps} calls")
    for dt in a.dtypes.split(","):
        for c in map(int, a.cs.split(",")):
            for cout in map(int, a.couts.split(",")):
                for stride in (1, 2):
                    data = layer(64, 8, c, cout, dt, stride)
                    fns = {lv: calls(*data, stride, i) for lv, i in levels.items()}
                    kinds = ["fwd", "dw", "bwd"] if stride == 1 else ["bwd"]
                    times = {(lv, k): [] for lv in fns for k in kinds}
                    for _ in range(a.rounds):
                        for k in kinds:
                            for lv, f in fns.items():
                                f[k]()
                                t0 = time.thread_time()
                                for _ in range(a.reps):
                                    f[k]()
                                times[lv, k].append((time.thread_time() - t0) / a.reps * 1e6)
                    auto = _conv_small.layer_level(dt, data[0].shape[1:], cout, (1, 1))
                    for k in kinds:
                        row = []
                        for lv in fns:
                            q1, med, q3 = np.percentile(times[lv, k], [25, 50, 75])
                            row.append(f"{lv} {med:8.1f} [{q1:7.1f},{q3:7.1f}]")
                        name = k if stride == 1 else "bwd s2"
                        print(f"{dt} C{c} Cout{cout:<3d} {name:7s} auto={auto:7s} " + "  ".join(row), flush=True)


if __name__ == "__main__":
    main()
