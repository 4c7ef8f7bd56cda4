"""The measurements behind two Winograd choices, with the calls alternating in one process (float32
unless ``--float64``, 2 threads, 3x3 padding 1, medians of the rounds).

Run: ``python bench/winograd_rule_interleaved.py [rounds] [--float64] [--forward] [N,H,C,Cout ...]``
(square H x H images).

* "auto"'s pixel rule (fastconv.conv._winograd_min_pixels): each layer's fwd+bwd through the API
  with ``algorithm="winograd"`` and with ``algorithm="direct"``, their ratio, the output pixels
  and C + Cout the rule reads, and "auto"'s pick (the results of the two are checked to agree
  first); ``--forward`` times the forward alone.
* ``--dw-parts``: the Winograd weight gradient alone (``conv2d_backward(..., compute_dx=False)``)
  with the parts :func:`fastconv._winograd.dw_parts` picks against 8 parts.
* ``--dw-rule``: the same call with Winograd's weight gradient against the direct kernels'
  (``conv._winograd_dw_pays`` forced each way), the part sums' size (36 * C * Cout values) and the
  rule's pick (``_WINOGRAD_DW_MAX_PART_BYTES``); ``--float64`` runs the layers in float64.

Default layers: those the rule was set on.
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
from fastconv import _winograd, conv

LAYERS = [(2, 32, 256, 256), (3, 32, 256, 256), (4, 32, 192, 256), (8, 32, 256, 256), (16, 14, 256, 384),
          (8, 28, 256, 384), (8, 28, 384, 384), (4, 28, 192, 192), (8, 14, 192, 192), (2, 28, 192, 192),
          (8, 16, 128, 128), (6, 16, 128, 128), (2, 32, 64, 64), (1, 40, 64, 64), (1, 48, 64, 64),
          (2, 32, 16, 32), (3, 32, 16, 32), (1, 32, 16, 32), (2, 32, 48, 48), (32, 32, 16, 32), (8, 64, 64, 64)]


def data(n, h, c, cout, dtype=np.float32):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, h, c)).astype(dtype)
    w = (rng.standard_normal((3, 3, c, cout)) / np.sqrt(9 * c)).astype(dtype)
    dy = rng.standard_normal((n, h, h, cout)).astype(dtype)
    return x, w, np.zeros(cout, dtype), dy


def median_ms(times):
    return float(np.median(times)) * 1e3


def rule(layers, rounds, dtype=np.float32, forward_only=False):
    for n, h, c, cout in layers:
        x, w, b, dy = data(n, h, c, cout, dtype)

        def call(algorithm):
            y, cache = fastconv.conv2d_forward(x, w, b, 1, 1, algorithm=algorithm)
            return (y,) if forward_only else (y,) + fastconv.conv2d_backward(dy, cache)

        first = {a: call(a) for a in ("winograd", "direct")}
        for got, want in zip(first["winograd"], first["direct"]):
            assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
        times = {"winograd": [], "direct": []}
        for _ in range(rounds):
            for a in times:
                t0 = time.perf_counter()
                call(a)
                times[a].append(time.perf_counter() - t0)
        wm, dm = median_ms(times["winograd"]), median_ms(times["direct"])
        print(f"N{n} {h}x{h} {c}->{cout} {np.dtype(dtype).name} {'fwd' if forward_only else 'fwd+bwd'} "
              f"({n * h * h} output pixels, C + Cout = {c + cout}): "
              f"winograd {wm:.2f} ms, direct {dm:.2f} ms, winograd/direct {wm / dm:.2f}; "
              f"auto: {fastconv.conv2d_forward(x, w, b, 1, 1)[1].family}", flush=True)


def dw_parts(layers, rounds):
    for n, h, c, cout in layers:
        x, w, b, dy = data(n, h, c, cout)
        y, cache = fastconv.conv2d_forward(x, w, b, 1, 1, algorithm="winograd")
        times = {"dw_parts": [], "8 parts": []}
        for _ in range(rounds):
            for k in times:
                _winograd._DW_MIN_PARTS = 8 if k == "8 parts" else 4
                try:
                    t0 = time.perf_counter()
                    fastconv.conv2d_backward(dy, cache, compute_dx=False)
                    times[k].append(time.perf_counter() - t0)
                finally:
                    _winograd._DW_MIN_PARTS = 4
        new, old = median_ms(times["dw_parts"]), median_ms(times["8 parts"])
        print(f"N{n} {h}x{h} {c}->{cout}: dw with dw_parts {new:.2f} ms, with 8 parts {old:.2f} ms, ratio {new / old:.2f}",
              flush=True)


def dw_rule(layers, rounds, dtype):
    pays = conv._winograd_dw_pays
    for n, h, c, cout in layers:
        x, w, b, dy = data(n, h, c, cout, dtype)
        y, cache = fastconv.conv2d_forward(x, w, b, 1, 1, algorithm="winograd")
        times = {"winograd": [], "direct": []}
        results = {}
        for _ in range(rounds):
            for k in times:
                conv._winograd_dw_pays = lambda *a, _k=k, **kw: _k == "winograd"
                try:
                    t0 = time.perf_counter()
                    results[k] = fastconv.conv2d_backward(dy, cache, compute_dx=False)
                    times[k].append(time.perf_counter() - t0)
                finally:
                    conv._winograd_dw_pays = pays
        for got, want in zip(results["winograd"][1:], results["direct"][1:]):
            assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
        wm, dm = median_ms(times["winograd"]), median_ms(times["direct"])
        part = 36 * c * cout * np.dtype(dtype).itemsize / 2 ** 20
        pick = "winograd" if pays(w.shape, np.dtype(dtype)) else "direct"
        print(f"N{n} {h}x{h} {c}->{cout} {np.dtype(dtype).name} (part sums {part:.2f} MiB): dw winograd {wm:.2f} ms, "
              f"direct {dm:.2f} ms, winograd/direct {wm / dm:.2f}; rule: {pick}", flush=True)


def main(argv):
    flags = {"--dw-parts", "--dw-rule", "--float64", "--forward"}
    args = [a for a in argv if a not in flags]
    rounds = int(args[0]) if args else 9
    layers = [tuple(int(v) for v in a.split(",")) for a in args[1:]] or LAYERS
    fastconv.set_num_threads(2)
    if "--dw-rule" in argv:
        dw_rule(layers, rounds, np.float64 if "--float64" in argv else np.float32)
    elif "--dw-parts" in argv:
        dw_parts(layers, rounds)
    else:
        rule(layers, rounds, np.float64 if "--float64" in argv else np.float32, "--forward" in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
