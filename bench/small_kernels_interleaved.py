"""Wall time of the small-reduction kernels and of the public conv2d calls on one-input-channel
layers (the digits layer and larger images), on 1 and 2 threads, to compare two builds.

For each layer (3x3, padding 1, 8 filters, float32, NHWC; by default N64 8x8, N16 28x28, N32
16x16 and N8 30x62) it prints, in microseconds, the median over ``--blocks`` blocks of the mean
time per call in a block of ``--calls`` back-to-back calls:

* ``k fwd`` / ``k bwd`` / ``k nodx``: ``fastconv._conv_small``'s kernels alone on preallocated
  outputs (forward; backward with dx; backward without dx), with 1 and with 2 threads;
* ``api`` (the digits layer only): ``conv2d_forward`` then ``conv2d_backward`` through the public
  functions, with ``fastconv.set_num_threads(1)`` and ``(2)``.

To compare builds, run it in each build's tree in alternating processes (say three pairs):
``git worktree add /work/old <commit>``, build both (``python setup.py build_ext --inplace``),
then ``for i in 1 2 3; do for d in /work/old .; do (cd $d && PYTHONPATH=. python
/path/to/bench/small_kernels_interleaved.py); done; done``.

Run: ``PYTHONPATH=. python bench/small_kernels_interleaved.py [--blocks 7] [--calls 2000]``
"""
from __future__ import annotations

import argparse
import timeit

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
from fastconv import _conv_small

LAYERS = [(64, 8, 8), (16, 28, 28), (32, 16, 16), (8, 30, 62)]


def _median_us(fn, blocks: int, calls: int) -> float:
    return float(np.median(timeit.repeat(fn, number=calls, repeat=blocks))) / calls * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--calls", type=int, default=2000)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    kf = _conv_small.conv2d_forward_small_kernel["float"]
    kb = _conv_small.conv2d_backward_small_kernel["float"]
    for n, h, wd in LAYERS:
        x = rng.standard_normal((n, h, wd, 1)).astype(np.float32)
        w = rng.standard_normal((3, 3, 1, 8)).astype(np.float32)
        b = rng.standard_normal(8).astype(np.float32)
        dy = rng.standard_normal((n, h, wd, 8)).astype(np.float32)
        y = np.empty((n, h, wd, 8), np.float32)
        dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
        calls = max(50, a.calls * 4096 // (n * h * wd))
        out = []
        for nt in (1, 2):
            f = _median_us(lambda: kf(x, w, b, y, 1, 1, 1, 1, nt, -1, False), a.blocks, calls)
            g = _median_us(lambda: kb(x, w, dy, dx, dw, db, 1, 1, 1, 1, True, nt), a.blocks, calls)
            d = _median_us(lambda: kb(x, w, dy, dx, dw, db, 1, 1, 1, 1, False, nt), a.blocks, calls)
            out.append(f"{nt}T k fwd {f:.2f} k bwd {g:.2f} k nodx {d:.2f}")
        if (n, h, wd) == LAYERS[0]:
            def fwd_bwd():
                yy, cache = fastconv.conv2d_forward(x, w, b, 1, 1)
                return fastconv.conv2d_backward(dy, cache)

            prev = fastconv.get_num_threads()
            try:
                for nt in (1, 2):
                    fastconv.set_num_threads(nt)
                    fwd_bwd()
                    out.append(f"{nt}T api fwd+bwd {_median_us(fwd_bwd, a.blocks, calls):.2f}")
            finally:
                fastconv.set_num_threads(prev)
        print(f"N{n} {h}x{wd}x1->8: " + " | ".join(out))


if __name__ == "__main__":
    main()
