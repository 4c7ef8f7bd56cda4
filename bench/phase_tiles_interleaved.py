"""The 4x4 stride-2 transposed convolution's phase route under different Winograd tile sizes,
forward+backward through the public API, float32, 2 threads, calls alternating in one process.

Run: ``PYTHONPATH=. python bench/phase_tiles_interleaved.py [rounds]``. The layer is the
benchmarked one (N8 32x32x64 -> 64x64x32, padding 1). Each round calls
``conv_transpose2d_forward`` and ``conv_transpose2d_backward`` once per choice of
``fastconv.conv_transpose._PHASE_TILES`` (the tile sizes m of the forward, dx and dw passes'
F(m x m, 2 x 2)), the choices in a rotating order, and times it by the wall clock. Every choice is
checked against the direct rows first. Prints each choice's median and p25-p75 spread (ms) and its
median over the current default's.
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
import fastconv.conv_transpose as ct

CHOICES = [(3, 3, 3), (5, 5, 3), (3, 5, 3), (5, 3, 3), (3, 3, 5)]


def main(rounds=25):
    fastconv.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 32, 32, 64), dtype=np.float32)
    w = (rng.standard_normal((4, 4, 32, 64)) * 0.05).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    dy = rng.standard_normal((8, 64, 64, 32), dtype=np.float32)
    default = ct._PHASE_TILES

    def call():
        y, cache = fastconv.conv_transpose2d_forward(x, w, b, stride=2, padding=1)
        return (y, *fastconv.conv_transpose2d_backward(dy, cache))

    assert ct._phase_route(x.shape, w.shape, (2, 2), (1, 1), (0, 0), 1, (1, 1))
    min_macs = ct._PHASE_MIN_MACS
    ct._PHASE_MIN_MACS = 1 << 62  # the direct rows, as the check
    try:
        want = [a.astype(np.float64) for a in call()]
    finally:
        ct._PHASE_MIN_MACS = min_macs
    times = {t: [] for t in CHOICES}
    try:
        for t in CHOICES:
            ct._PHASE_TILES = t
            for got, exact in zip(call(), want):
                err = np.abs(got - exact).max() / np.abs(exact).max()
                assert err < 1e-4, (t, err)
        for r in range(rounds):
            for t in CHOICES[r % len(CHOICES):] + CHOICES[:r % len(CHOICES)]:
                ct._PHASE_TILES = t
                t0 = time.perf_counter()
                call()
                times[t].append(time.perf_counter() - t0)
    finally:
        ct._PHASE_TILES = default
    base = np.median(times[default])
    print(f"4x4 stride-2 transposed N8 32x32x64 -> 64x64x32, fwd+bwd, 2 threads, {rounds} rounds (ms)")
    for t, ts in times.items():
        q1, med, q3 = np.percentile(ts, [25, 50, 75]) * 1e3
        mark = "  (default)" if t == default else ""
        print(f"  tiles {t}: {med:6.2f} [{q1:.2f}-{q3:.2f}]  {med / 1e3 / base:.2f}x the default{mark}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 25)
