"""Transposed 2-D convolution and 1-D convolution/pooling, forward+backward, float32: fastconv beside
torch (its own layout, and on fastconv's channels-last buffers).

Every implementation is checked against torch's float64 result before it is timed. Run as a script
(``python bench/bench_conv1d_transpose.py [rounds]``) for interleaved timing: the implementations of
a workload are called in turn, round after round, and the medians (and spreads) are printed.
"""
from __future__ import annotations

import os
import sys
import time
from functools import lru_cache

import numpy as np
import pytest

import fastconv

# (name, op, shapes and options); x is channels-last, w in fastconv's layout
WORKLOADS = {
    "tconv4x4s2p1_N8_32x32x64_to_64": ("conv_transpose2d", (8, 32, 32, 64), (4, 4, 32, 64),
                                       dict(stride=2, padding=1)),
    "tconv3x3s2p1op1_N16_28x28x128_to_64": ("conv_transpose2d", (16, 28, 28, 128), (3, 3, 64, 128),
                                            dict(stride=2, padding=1, output_padding=1)),
    "conv1d_k5_same_N32_L1024_C64_to_64": ("conv1d", (32, 1024, 64), (5, 64, 64), dict(padding="same")),
    "conv1d_k3_d4_N32_L4096_C32_to_32": ("conv1d", (32, 4096, 32), (3, 32, 32), dict(padding="same", dilation=4)),
    "maxpool1d_k3s2_N32_L4096_C64": ("maxpool1d", (32, 4096, 64), None, dict(pool_size=3, stride=2)),
}
IMPLS = ["fastconv", "torch", "torch-cl"]


@lru_cache(maxsize=None)
def data(name):
    """float32 x, w, b and dy of a workload (fixed seed); w, b None for the pool."""
    op, xs, ws, opts = WORKLOADS[name]
    rng = np.random.default_rng(len(name))
    x = rng.standard_normal(xs, dtype=np.float32)
    w = None if ws is None else (rng.standard_normal(ws, dtype=np.float32) / np.float32(np.sqrt(np.prod(ws[:-1]))))
    b = None if ws is None else rng.standard_normal(ws[2], dtype=np.float32)  # Cout (groups=1)
    y, _ = fastconv_fn(name, x, w, b, None)(forward_only=True)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    return x, w, b, dy


def fastconv_fn(name, x, w, b, dy):
    op, _, _, opts = WORKLOADS[name]
    fwd, bwd = getattr(fastconv, f"{op}_forward"), getattr(fastconv, f"{op}_backward")

    def fn(forward_only=False):
        y, cache = fwd(x, w, b, **opts) if w is not None else fwd(x, **opts)
        if forward_only:
            return y, cache
        grads = bwd(dy, cache)
        return (y,) + (grads if isinstance(grads, tuple) else (grads,))

    return fn


def torch_fn(name, x, w, b, dy, layout, dtype=None):
    """torch on its own layout ("torch": NCHW / NCL copies) or on fastconv's buffers ("cl": permuted views)."""
    import torch

    F = torch.nn.functional
    op, _, _, opts = WORKLOADS[name]
    dims = (0, 3, 1, 2) if x.ndim == 4 else (0, 2, 1)
    back = (0, 2, 3, 1) if x.ndim == 4 else (0, 2, 1)
    cast = (lambda a: a) if dtype is None else (lambda a: a.astype(dtype))

    def tensor(a, perm):
        if layout == "torch":
            return torch.from_numpy(np.ascontiguousarray(cast(a).transpose(perm)))
        return torch.from_numpy(np.ascontiguousarray(cast(a))).permute(perm)

    xt = tensor(x, dims).requires_grad_(True)
    dyt = tensor(dy, dims)
    wt = bt = None
    if w is not None:
        wt = tensor(w, (3, 2, 0, 1) if op == "conv_transpose2d" else (2, 1, 0)).requires_grad_(True)
        bt = torch.from_numpy(cast(b).copy()).requires_grad_(True)

    def fn():
        for t in (xt, wt, bt):
            if t is not None:
                t.grad = None
        if op == "conv_transpose2d":
            y = F.conv_transpose2d(xt, wt, bt, opts["stride"], opts["padding"], opts.get("output_padding", 0))
        elif op == "conv1d":
            y = F.conv1d(xt, wt, bt, 1, opts["padding"], opts.get("dilation", 1))
        else:
            y = F.max_pool1d(xt, opts["pool_size"], opts["stride"])
        y.backward(dyt)
        return (y, xt.grad) + (() if wt is None else (wt.grad, bt.grad))

    def convert(r):
        out = [r[0].detach().numpy().transpose(back), r[1].numpy().transpose(back)]
        if len(r) > 2:
            out.append(r[2].numpy().transpose((2, 3, 1, 0) if op == "conv_transpose2d" else (2, 1, 0)))
            out.append(r[3].numpy())
        return tuple(out)

    return fn, convert


@lru_cache(maxsize=None)
def answer(name):
    """torch's float64 forward+backward: the independent answer every implementation must match."""
    fn, convert = torch_fn(name, *data(name), "torch", dtype=np.float64)
    return convert(fn())


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", list(WORKLOADS))
def bench_conv1d_transpose(timed, name, impl):
    """fastconv, torch in its layout ("torch") and torch on channels-last buffers ("torch-cl")."""
    args = data(name)
    if impl == "fastconv":
        timed(name, impl, fastconv_fn(name, *args), {"torch float64": answer(name)})
    else:
        pytest.importorskip("torch", reason="torch is not installed (pip install '.[bench]')")
        fn, convert = torch_fn(name, *args, "torch" if impl == "torch" else "cl")
        timed(name, impl, fn, {"torch float64": answer(name)}, convert)


def _interleaved(rounds: int) -> None:
    """Medians of ``rounds`` interleaved calls per implementation and workload, with fastconv/torch ratios."""
    import torch

    from conftest import THREADS, assert_matches

    fastconv.set_num_threads(THREADS)
    torch.set_num_threads(THREADS)
    for name in WORKLOADS:
        args = data(name)
        fns = {"fastconv": (fastconv_fn(name, *args), None)}
        fns["torch"] = torch_fn(name, *args, "torch")
        fns["torch-cl"] = torch_fn(name, *args, "cl")
        for impl, (fn, convert) in fns.items():
            r = fn()
            assert_matches(convert(r) if convert else r, {"torch float64": answer(name)})
            fn()
        times = {impl: [] for impl in fns}
        for _ in range(rounds):
            for impl, (fn, _) in fns.items():
                t0 = time.perf_counter()
                fn()
                times[impl].append(time.perf_counter() - t0)
        med = {k: float(np.median(v)) for k, v in times.items()}
        spread = {k: (float(np.percentile(v, 25)), float(np.percentile(v, 75))) for k, v in times.items()}
        line = "  ".join(f"{k} {med[k] * 1e3:7.2f} ms [{spread[k][0] * 1e3:.1f}-{spread[k][1] * 1e3:.1f}]" for k in fns)
        print(f"{name:38s} {line}  torch/fastconv {med['torch'] / med['fastconv']:.2f}x  "
              f"torch-cl/fastconv {med['torch-cl'] / med['fastconv']:.2f}x", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _interleaved(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
