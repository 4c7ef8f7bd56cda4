"""Winograd error on the benchmarked 3x3 stride-1 layers: max |fast - exact| / max |exact|.

Run: ``python bench/winograd_error.py [seeds]``. For each layer of ``bench/bench_conv.py`` that
Winograd applies to (3x3, stride 1) and each tile size m, random layers (weights scaled as in
training, He init) are run in float32 and float64 through :func:`fastconv._winograd.winograd_forward`
and :func:`~fastconv._winograd.winograd_backward_input`, and compared with a float64 im2col
computation of the same float32 values (the bench's NumPy peer, itself checked against
``fastconv.reference``). Then the grouped layer of ``bench/bench_conv_options.py`` (forward, dx
and dw, against ``fastconv.reference``), and its dilated layer (over the polyphase components).
Prints the largest relative error over the seeds.
"""
import sys
from pathlib import Path

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_conv import CASES, im2col_backward, im2col_forward  # noqa: E402

from fastconv import _winograd as wg  # noqa: E402


def main():
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for case in CASES:
        if case.k != 3 or case.s != 1:
            continue
        worst = {}
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            x = rng.standard_normal((case.n, case.h, case.w, case.cin)).astype(np.float32)
            w = (rng.standard_normal((3, 3, case.cin, case.cout)) * np.sqrt(2 / (9 * case.cin))).astype(np.float32)
            b = (0.1 * rng.standard_normal(case.cout)).astype(np.float32)
            dy = rng.standard_normal((case.n, *case.out_hw, case.cout)).astype(np.float32)
            y64, cache = im2col_forward(*(a.astype(np.float64) for a in (x, w, b)), case.p, 1)
            dx64 = im2col_backward(dy.astype(np.float64), cache)[0]
            for dt in (np.float32, np.float64):
                for m in (2, 4, 6):
                    y = np.empty(y64.shape, dt)
                    wg.winograd_forward(x.astype(dt), w.astype(dt), b.astype(dt), case.p, case.p, y, 2, m)
                    dx = np.empty(x.shape, dt)
                    wg.winograd_backward_input(dy.astype(dt), w.astype(dt), case.p, case.p, dx, 2, m)
                    _record(worst, dt, m, (("fwd", y, y64), ("dx", dx, dx64)))
        _report(f"{case.label} ({seeds} random layers)", worst, ("fwd", "dx"))


def _record(worst, dt, m, results):
    """Keep in ``worst`` the largest max |fast - exact| / max |exact| of each (dtype, m, pass)."""
    for name, got, ref in results:
        e = float(np.abs(got - ref).max() / np.abs(ref).max())
        key = (np.dtype(dt).name, m, name)
        worst[key] = max(worst.get(key, 0.0), e)


def _report(label, worst, passes):
    print(f"{label}: max |fast - exact| / max |exact|")
    for dt in ("float32", "float64"):
        print("  " + dt + ": " + ", ".join(
            f"F({m}x{m}) " + " ".join(f"{p} {worst[(dt, m, p)]:.1e}" for p in passes) for m in (2, 4, 6)))


def grouped(seeds):
    """The grouped layer of bench/bench_conv_options.py (N8 64x64x64->64, groups 4, k3 p1; N cut to 2):
    forward, dx and dw by Winograd against the float64 reference."""
    from fastconv import reference as R

    n, h, c, cout, g = 2, 64, 64, 64, 4
    worst = {}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, h, h, c)).astype(np.float32)
        w = (rng.standard_normal((3, 3, c // g, cout)) * np.sqrt(2 / (9 * c // g))).astype(np.float32)
        b = (0.1 * rng.standard_normal(cout)).astype(np.float32)
        dy = rng.standard_normal((n, h, h, cout)).astype(np.float32)
        y64, c64 = R.conv2d_forward(*(a.astype(np.float64) for a in (x, w, b)), 1, 1, 1, g)
        dx64, dw64, _ = R.conv2d_backward(dy.astype(np.float64), c64)
        for dt in (np.float32, np.float64):
            for m in (2, 4, 6):
                y = np.empty(y64.shape, dt)
                wg.winograd_forward(x.astype(dt), w.astype(dt), b.astype(dt), 1, 1, y, 2, m)
                dx = np.empty(x.shape, dt)
                wg.winograd_backward_input(dy.astype(dt), w.astype(dt), 1, 1, dx, 2, m)
                dw = np.empty(w.shape, dt)
                wg.winograd_backward_weights(x.astype(dt), dy.astype(dt), 1, 1, dw, 2, m)
                _record(worst, dt, m, (("fwd", y, y64), ("dx", dx, dx64), ("dw", dw, dw64)))
    _report(f"grouped 3x3 p1 64x64x64->64 g4 ({seeds} random layers)", worst, ("fwd", "dx", "dw"))


def dilated(seeds):
    """The dilated layer of bench/bench_conv_options.py (N8 64x64x64->64, dilation 2, 'same'; N cut
    to 2) and a dilation-3 one with odd extents: forward, dx and dw by Winograd over the polyphase
    components (conv2d_forward/backward, algorithm="winograd", the default tile) against the
    float64 reference."""
    import fastconv
    from fastconv import reference as R

    for label, (n, h, wd, c, cout, pad, d) in (("dilated 3x3 d2 same 64x64x64->64", (2, 64, 64, 64, 64, "same", 2)),
                                                ("dilated 3x3 d3 p2 63x61x64->64", (2, 63, 61, 64, 64, 2, 3))):
        worst = {}
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            x = rng.standard_normal((n, h, wd, c)).astype(np.float32)
            w = (rng.standard_normal((3, 3, c, cout)) * np.sqrt(2 / (9 * c))).astype(np.float32)
            b = (0.1 * rng.standard_normal(cout)).astype(np.float32)
            y64, c64 = R.conv2d_forward(*(a.astype(np.float64) for a in (x, w, b)), pad, 1, d)
            dy = rng.standard_normal(y64.shape).astype(np.float32)
            dx64, dw64, _ = R.conv2d_backward(dy.astype(np.float64), c64)
            for dt in (np.float32, np.float64):
                y, cache = fastconv.conv2d_forward(x.astype(dt), w.astype(dt), b.astype(dt), pad, 1, d,
                                                   algorithm="winograd")
                dx, dw, _ = fastconv.conv2d_backward(dy.astype(dt), cache)
                _record(worst, dt, 0, (("fwd", y, y64), ("dx", dx, dx64), ("dw", dw, dw64)))
        print(f"{label} ({seeds} random layers): max |fast - exact| / max |exact|")
        for dt in ("float32", "float64"):
            print(f"  {dt}: " + " ".join(f"{p} {worst[(dt, 0, p)]:.1e}" for p in ("fwd", "dx", "dw")))


if __name__ == "__main__":
    main()
    grouped(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    dilated(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
