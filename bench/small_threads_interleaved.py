"""Wall time of the small-reduction layers (fastconv._conv_small) with and without the thread team.

For each layer (3x3, padding 1, float32, NHWC), ``conv2d_forward`` and ``conv2d_backward`` run
through the public functions with ``fastconv.conv._SMALL_PARALLEL_MIN_MACS`` set so that the call
stays on one thread, then so that it uses every thread of ``fastconv.get_num_threads()``, the two
settings alternating call by call (their order swapped every round), so that both see the same
machine load. Prints the medians in microseconds and their ratio (one thread / the team): above 1,
the team pays for that layer; the multiply-add count says which side of the threshold it is on.

Run: ``python bench/small_threads_interleaved.py [rounds]`` (default 1500).
"""
from __future__ import annotations

import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
import fastconv.conv as conv

#: (N, H=W, C, Cout): the digits layer at several batch sizes, and wider small layers
LAYERS = [(32, 8, 1, 8), (64, 8, 1, 8), (128, 8, 1, 8), (64, 8, 3, 8), (16, 16, 1, 8)]


def main(rounds: int = 1500) -> None:
    rng = np.random.default_rng(0)
    print(f"{fastconv.get_num_threads()} threads; threshold now {conv._SMALL_PARALLEL_MIN_MACS} multiply-adds; "
          f"medians of {rounds} alternating calls, us")
    saved = conv._SMALL_PARALLEL_MIN_MACS
    try:
        for n, hw, c, cout in LAYERS:
            x = rng.standard_normal((n, hw, hw, c), dtype=np.float32)
            w = rng.standard_normal((3, 3, c, cout), dtype=np.float32)
            b = np.zeros(cout, np.float32)
            y, cache = fastconv.conv2d_forward(x, w, b, 1, 1)
            dy = rng.standard_normal(y.shape, dtype=np.float32)
            calls = (lambda: fastconv.conv2d_forward(x, w, b, 1, 1), lambda: fastconv.conv2d_backward(dy, cache))
            t = np.zeros((rounds, 2, 2))
            for i in range(rounds):
                for k in ((0, 1) if i % 2 else (1, 0)):
                    conv._SMALL_PARALLEL_MIN_MACS = 1 << 62 if k == 0 else 0
                    for j, fn in enumerate(calls):
                        t0 = time.perf_counter()
                        fn()
                        t[i, k, j] = time.perf_counter() - t0
            m = np.median(t, axis=0) * 1e6
            macs = n * hw * hw * cout * 9 * c
            print(f"N{n} {hw}x{hw}x{c}->{cout}: forward {macs} MACs, 1 thread {m[0, 0]:.1f}, team {m[1, 0]:.1f} "
                  f"({m[0, 0] / m[1, 0]:.2f}x); backward {2 * macs} MACs, 1 thread {m[0, 1]:.1f}, "
                  f"team {m[1, 1]:.1f} ({m[0, 1] / m[1, 1]:.2f}x)")
    finally:
        conv._SMALL_PARALLEL_MIN_MACS = saved


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1500)
