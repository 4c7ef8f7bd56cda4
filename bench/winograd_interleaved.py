"""Winograd (fastconv._winograd) against the direct path on 3x3 stride-1 float32 layers, interleaved.

Run: ``python bench/winograd_interleaved.py [rounds] [layer ...]`` with layers named below
(default: all). For each layer and thread count (2, then 1) one round calls, back to back,

* ``direct fwd``: :func:`fastconv.conv2d_forward` (today's kernel choice);
* ``wino{m} fwd``: :func:`fastconv._winograd.winograd_forward` for m = 2, 4, 6 (weight transform
  and output allocation included);
* ``direct dx``: the input-gradient share of :func:`fastconv.conv2d_backward`, i.e. the full
  backward minus the weight-gradient-only backward, both timed in the round;
* ``wino{m} dx``: :func:`fastconv._winograd.winograd_backward_input`.

The calls rotate their order every round. Prints medians and the interquartile spread (ms), and
each Winograd time as a ratio of the direct one. Results are checked against the direct path first.
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
from fastconv import _winograd as wg

LAYERS = {  # name: (N, H, W, C, Cout), k3 p1 s1
    "medium": (32, 32, 32, 16, 32),
    "large": (8, 64, 64, 64, 64),
    "c8": (32, 32, 32, 8, 8),
    "c16": (32, 32, 32, 16, 16),
    "c32": (16, 32, 32, 32, 32),
    "c128": (4, 32, 32, 128, 128),
}
TILES = (2, 4, 6)


def layer_calls(shape, nt):
    n, h, w_, c, cout = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w_, c)).astype(np.float32)
    w = (rng.standard_normal((3, 3, c, cout)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    dy = rng.standard_normal((n, h, w_, cout)).astype(np.float32)
    y0, cache = fastconv.conv2d_forward(x, w, b, 1, 1, algorithm="direct")
    dx0 = fastconv.conv2d_backward(dy, cache)[0]

    def wf(m):
        def f():
            y = np.empty((n, h, w_, cout), np.float32)
            wg.winograd_forward(x, w, b, 1, 1, y, nt, m)
            return y
        return f

    def wd(m):
        def f():
            dx = np.empty_like(x)
            wg.winograd_backward_input(dy, w, 1, 1, dx, nt, m)
            return dx
        return f

    for m in TILES:  # same results as the direct path, up to rounding
        np.testing.assert_allclose(wf(m)(), y0, rtol=0, atol=1e-4 * np.abs(y0).max())
        np.testing.assert_allclose(wd(m)(), dx0, rtol=0, atol=1e-4 * np.abs(dx0).max())
    calls = {
        "direct fwd": lambda: fastconv.conv2d_forward(x, w, b, 1, 1, algorithm="direct"),
        "direct bwd": lambda: fastconv.conv2d_backward(dy, cache),
        "direct dw only": lambda: fastconv.conv2d_backward(dy, cache, compute_dx=False),
    }
    for m in TILES:
        calls[f"wino{m} fwd"] = wf(m)
        calls[f"wino{m} dx"] = wd(m)
    return calls


def measure(calls, rounds):
    names = list(calls)
    times = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            t0 = time.perf_counter()
            calls[k]()
            times[k].append(time.perf_counter() - t0)
    times["direct dx"] = [a - b for a, b in zip(times["direct bwd"], times["direct dw only"])]
    return {k: np.percentile(np.array(v) * 1e3, [25, 50, 75]) for k, v in times.items()}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    names = sys.argv[2:] or list(LAYERS)
    for name in names:
        shape = LAYERS[name]
        for nt in (2, 1):
            fastconv.set_num_threads(nt)
            st = measure(layer_calls(shape, nt), rounds)
            print(f"{name} N{shape[0]} {shape[1]}x{shape[2]}x{shape[3]}->{shape[4]}, {nt} thread(s), "
                  f"{rounds} rounds: median ms [p25-p75]")
            for op in ("fwd", "dx"):
                base = st[f"direct {op}"][1]
                line = f"  {op}: direct {base:.2f} [{st[f'direct {op}'][0]:.2f}-{st[f'direct {op}'][2]:.2f}]"
                for m in TILES:
                    q = st[f"wino{m} {op}"]
                    line += f" | F({m}) {q[1]:.2f} [{q[0]:.2f}-{q[2]:.2f}] = {q[1] / base:.2f}x"
                print(line, flush=True)
    fastconv.set_num_threads(None)


if __name__ == "__main__":
    main()
