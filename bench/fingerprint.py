"""Bit-for-bit fingerprints of every public op on fixed inputs, to hold a refactor to "no result changes".

Usage::

    PYTHONPATH=. python bench/fingerprint.py > before.json          # on the old build
    PYTHONPATH=. python bench/fingerprint.py --compare before.json  # on the new build: lists every case that differs

Each case runs one public function on seeded random data through every kernel family (the small
direct kernels, the implicit-GEMM kernels, the im2col + BLAS path, the pools, filter2d, the digits
trainer, the 1-D convolution and pools, the transposed convolution, the cs231n layers) and records
a SHA-256 of the output bytes. Exit status 1 when any earlier case differs or is missing (cases
that the earlier file lacks are listed as new).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
from fastconv import digits


def _h(*arrays) -> str:
    m = hashlib.sha256()
    for a in arrays:
        if a is None:
            m.update(b"None")
            continue
        a = np.ascontiguousarray(a)
        m.update(str((a.dtype.str, a.shape)).encode())
        m.update(a.tobytes())
    return m.hexdigest()[:16]


def _conv_cases(out: dict) -> None:
    rng = np.random.default_rng(0)
    shapes = [  # (N, H, W, C, Kh, Kw, Cout, padding, stride)
        (4, 8, 8, 1, 3, 3, 8, 1, 1),  # small kernels
        (3, 9, 7, 2, 3, 3, 6, 1, 1),
        (2, 12, 12, 16, 3, 3, 32, 1, 1),  # direct kernels
        (2, 13, 11, 16, 3, 3, 24, 1, 2),
        (2, 14, 14, 8, 5, 5, 16, 2, 1),
        (2, 10, 10, 3, 3, 3, 4, 1, 1),  # im2col + BLAS
        (2, 11, 9, 5, 2, 3, 5, (0, 1), (2, 1)),
        (1, 6, 6, 12, 1, 1, 12, 0, 1),
    ]
    for dt in (np.float32, np.float64):
        for s in shapes:
            n, h, w_, c, kh, kw, co, p, st = s
            x = rng.standard_normal((n, h, w_, c)).astype(dt)
            w = rng.standard_normal((kh, kw, c, co)).astype(dt)
            b = rng.standard_normal(co).astype(dt)
            y, cache = fastconv.conv2d_forward(x, w, b, p, st)
            dy = rng.standard_normal(y.shape).astype(dt)
            dx, dw, db = fastconv.conv2d_backward(dy, cache)
            out[f"conv {np.dtype(dt).name} {s}"] = _h(y, dx, dw, db)
    x = rng.standard_normal((2, 8, 8, 1)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 8))  # float64 weights on float32 images, as the tutorial has them
    b = np.zeros(8)
    y, cache = fastconv.conv2d_forward(x, w, b)
    out["conv mixed f32 x / f64 w"] = _h(y, *fastconv.conv2d_backward(rng.standard_normal(y.shape), cache))
    img = rng.standard_normal((20, 17))
    k = rng.standard_normal((3, 4))
    out["convolve2d"] = _h(fastconv.convolve2d(img, k))
    out["convolution_2d"] = _h(fastconv.convolution_2d(img, k), fastconv.convolution_2d(img, k, stride=2))


def _pool_cases(out: dict) -> None:
    rng = np.random.default_rng(1)
    for dt in (np.float32, np.float64):
        for s, ps, st in [((2, 8, 8, 16), 2, None), ((3, 9, 7, 5), 3, 2), ((2, 10, 10, 64), (2, 3), (1, 2))]:
            x = rng.standard_normal(s).astype(dt)
            x[0, :2, :2, 0] = 1.0  # ties
            for kind in ("max", "avg"):
                fwd = getattr(fastconv, f"{kind}pool_forward")
                bwd = getattr(fastconv, f"{kind}pool_backward")
                y, cache = fwd(x, ps, st)
                dx = bwd(rng.standard_normal(y.shape).astype(dt), cache)
                extra = cache.argmax if kind == "max" else None
                out[f"{kind}pool {np.dtype(dt).name} {s} {ps} {st}"] = _h(y, dx, extra)
    out["pooling"] = _h(fastconv.pooling(rng.standard_normal((9, 8))), fastconv.pooling(rng.standard_normal((7, 6)), mode="avg"))


def _filter_cases(out: dict) -> None:
    rng = np.random.default_rng(2)
    for dt in (np.float32, np.float64, np.uint8):
        img = (rng.random((37, 41, 3)) * 255).astype(dt)
        for name, k in sorted(fastconv.KERNELS.items()):
            for mode in ("constant", "nearest", "reflect", "mirror", "wrap"):
                res = fastconv.filter2d(img, k, mode=mode, cval=0.5)
                out[f"filter2d {np.dtype(dt).name} {name} {mode}"] = _h(res)
        out[f"filter2d {np.dtype(dt).name} uint8 out"] = _h(fastconv.filter2d(img[..., 0], fastconv.KERNELS["sharpen"], dtype=np.uint8))
    big = rng.standard_normal((1100, 1100))
    out["filter2d big gaussian3"] = _h(fastconv.filter2d(big, fastconv.KERNELS["gaussian3"]))


def _conv1d_cases(out: dict) -> None:
    rng = np.random.default_rng(3)
    shapes = [  # (N, L, C, K, Cout, padding, stride, dilation, groups, bias)
        (4, 20, 1, 3, 8, 1, 1, 1, 1, True),  # small kernels
        (2, 33, 16, 3, 32, 1, 1, 1, 1, True),  # direct kernels
        (2, 31, 16, 5, 24, 2, 2, 1, 1, False),
        (3, 29, 3, 3, 5, (0, 2), 1, 2, 1, True),  # im2col + BLAS, dilation, uneven padding
        (2, 40, 8, 4, 8, "same", 1, 3, 2, True),  # groups, 'same' with an odd total
        (2, 26, 6, 2, 4, "valid", 3, 1, 1, False),
    ]
    for dt in (np.float32, np.float64):
        for s in shapes:
            n, length, c, k, co, p, st, d, g, bias = s
            x = rng.standard_normal((n, length, c)).astype(dt)
            w = rng.standard_normal((k, c // g, co)).astype(dt)
            b = rng.standard_normal(co).astype(dt) if bias else None
            y, cache = fastconv.conv1d_forward(x, w, b, p, st, d, g)
            dy = rng.standard_normal(y.shape).astype(dt)
            out[f"conv1d {np.dtype(dt).name} {s}"] = _h(y, *fastconv.conv1d_backward(dy, cache))


def _pool1d_cases(out: dict) -> None:
    rng = np.random.default_rng(4)
    maxes = [  # (N, L, C), pool_size, stride, padding, dilation, ceil_mode
        ((3, 33, 16), 3, 2, 0, 1, False),  # the 3-tap stride-2 kernels
        ((2, 32, 7), 3, 2, 0, 1, False),
        ((4, 2049, 256), 3, 2, 0, 1, False),  # the same, output large enough for streaming stores
        ((3, 33, 16), 3, 2, 1, 1, False),  # general kernel: padding
        ((2, 30, 5), 3, 2, 0, 1, True),  # partial last window
        ((2, 31, 9), 4, 3, 2, 2, True),  # dilation
        ((2, 24, 4), 2, None, 0, 1, False),
        ((1, 700, 3), 300, 100, 0, 1, False),  # windows of more than 256 taps
    ]
    avgs = [  # (N, L, C), pool_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        ((2, 24, 4), 2, None, 0, False, True, None),
        ((3, 33, 16), 3, 2, 1, False, True, None),
        ((2, 30, 5), 4, 3, 2, True, False, None),
        ((2, 31, 9), 5, 2, 2, True, True, 3),
    ]
    for dt in (np.float32, np.float64):
        for s, *opts in maxes:
            x = rng.standard_normal(s).astype(dt)
            x[0, :3, 0] = 1.0  # ties
            y, cache = fastconv.maxpool1d_forward(x, *opts)
            dx = fastconv.maxpool1d_backward(rng.standard_normal(y.shape).astype(dt), cache)
            out[f"maxpool1d {np.dtype(dt).name} {s} {tuple(opts)}"] = _h(y, dx, cache.argmax)
        for s, *opts in avgs:
            x = rng.standard_normal(s).astype(dt)
            y, cache = fastconv.avgpool1d_forward(x, *opts)
            dx = fastconv.avgpool1d_backward(rng.standard_normal(y.shape).astype(dt), cache)
            out[f"avgpool1d {np.dtype(dt).name} {s} {tuple(opts)}"] = _h(y, dx)


def _conv_transpose_cases(out: dict) -> None:
    rng = np.random.default_rng(5)
    shapes = [  # (N, H, W, Cin, Kh, Kw, Cout, stride, padding, output_padding, groups, dilation, bias)
        (2, 6, 6, 4, 3, 3, 8, 1, 0, 0, 1, 1, True),
        (2, 5, 7, 8, 3, 3, 4, 2, 1, 1, 1, 1, True),  # stride, padding, output padding
        (2, 6, 5, 16, 4, 4, 16, 2, 1, 0, 1, 1, False),
        (1, 7, 6, 3, 3, 2, 5, (2, 3), (1, 0), (1, 2), 1, 1, True),  # per-axis options
        (2, 5, 5, 8, 3, 3, 6, 2, 2, 1, 2, 2, True),  # groups, dilation
    ]
    for dt in (np.float32, np.float64):
        for s in shapes:
            n, h, w_, c, kh, kw, co, st, p, op, g, d, bias = s
            x = rng.standard_normal((n, h, w_, c)).astype(dt)
            w = rng.standard_normal((kh, kw, co // g, c)).astype(dt)
            b = rng.standard_normal(co).astype(dt) if bias else None
            y, cache = fastconv.conv_transpose2d_forward(x, w, b, st, p, op, g, d)
            dy = rng.standard_normal(y.shape).astype(dt)
            out[f"conv_transpose2d {np.dtype(dt).name} {s}"] = _h(y, *fastconv.conv_transpose2d_backward(dy, cache))


def _cs231n_cases(out: dict) -> None:
    from fastconv import cs231n

    rng = np.random.default_rng(6)
    layers = [  # (N, C, H, W), (F, C, HH, WW), conv_param, pool_param
        ((2, 3, 8, 8), (4, 3, 3, 3), {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}),  # small-channel
        ((2, 1, 9, 7), (6, 1, 5, 5), {"stride": 2, "pad": 2}, {"pool_height": 2, "pool_width": 1, "stride": 1}),
        ((2, 8, 7, 7), (5, 8, 3, 3), {"stride": 1, "pad": 1}, {"pool_height": 3, "pool_width": 3, "stride": 2}),  # conv2d
    ]
    for dt in (np.float32, np.float64):
        for xs, ws, cp, pp in layers:
            x = rng.standard_normal(xs).astype(dt)
            w = rng.standard_normal(ws).astype(dt)
            b = rng.standard_normal(ws[0]).astype(dt)
            key = f"{np.dtype(dt).name} {xs} {ws} {cp} {pp}"
            y, cache = cs231n.conv_forward_fast(x, w, b, cp)
            out[f"cs231n conv {key}"] = _h(y, *cs231n.conv_backward_fast(rng.standard_normal(y.shape).astype(dt), cache))
            y, cache = cs231n.max_pool_forward_fast(x, pp)
            out[f"cs231n max_pool {key}"] = _h(y, cs231n.max_pool_backward_fast(rng.standard_normal(y.shape).astype(dt), cache))
            y, cache = cs231n.conv_relu_forward(x, w, b, cp)
            out[f"cs231n conv_relu {key}"] = _h(y, *cs231n.conv_relu_backward(rng.standard_normal(y.shape).astype(dt), cache))
            y, cache = cs231n.conv_relu_pool_forward(x, w, b, cp, pp)
            dy = rng.standard_normal(y.shape).astype(dt)
            out[f"cs231n conv_relu_pool {key}"] = _h(y, *cs231n.conv_relu_pool_backward(dy, cache))
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)  # float64 weights on float32 images
    y, cache = cs231n.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    out["cs231n conv mixed f32 x / f64 w"] = _h(y, *cs231n.conv_backward_fast(rng.standard_normal(y.shape), cache))


def _digits_cases(out: dict) -> None:
    res = digits.train(epochs=2, seed=0)
    out["digits train 2 epochs seed 0"] = _h(*(res.params[k] for k in sorted(res.params)))
    out["digits history"] = hashlib.sha256(json.dumps(res.history, sort_keys=True).encode()).hexdigest()[:16]


def collect() -> dict:
    out: dict = {}
    for f in (_conv_cases, _pool_cases, _filter_cases, _digits_cases, _conv1d_cases, _pool1d_cases,
              _conv_transpose_cases, _cs231n_cases):
        f(out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", metavar="JSON", help="fingerprints of an earlier build to compare with")
    args = ap.parse_args(argv)
    now = collect()
    if not args.compare:
        json.dump(now, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    with open(args.compare) as f:
        before = json.load(f)
    diff = sorted(k for k in before if before[k] != now.get(k))  # changed, or no longer computed
    new = sorted(now.keys() - before.keys())
    for k in diff:
        print(f"differs: {k}: {before[k]} -> {now.get(k)}")
    for k in new:
        print(f"new: {k}: {now[k]}")
    print(f"{len(before) - len(diff)} of {len(before)} cases identical, {len(diff)} differ, {len(new)} new")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
