"""Transposed 2-D convolution and 1-D convolution/pooling, forward+backward, float32: fastconv beside
torch (its own layout, and on fastconv's channels-last buffers).

Every implementation is checked against torch's float64 result before it is timed. Run as a script
(``python bench/bench_conv1d_transpose.py [rounds] [workload ...]``) for interleaved timing: the
implementations of a workload are called in turn, round after round, and the medians (and spreads)
are printed; ``python bench/bench_conv1d_transpose.py --split [rounds] [workload ...]`` times each
pass (forward, dx, dw) of fastconv and torch apart, interleaved, in CPU time and wall time;
``python bench/bench_conv1d_transpose.py --error [seeds]`` prints the worst error of the conv1d
layers that run on the 1-D Winograd path (float32 and float64, against a float64 computation).
"""
from __future__ import annotations

import os
import sys
import time
from functools import lru_cache

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
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


def _interleaved(rounds: int, names=None) -> None:
    """Medians of ``rounds`` interleaved calls per implementation and workload (``names``, default
    all), with fastconv/torch ratios."""
    import torch

    from conftest import THREADS, assert_matches

    fastconv.set_num_threads(THREADS)
    torch.set_num_threads(THREADS)
    for name in names or WORKLOADS:
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


def _passes(name: str):
    """{impl: {pass: fn}}: the forward, dx and dw (+db) passes of fastconv and torch (NCHW / NCL
    contiguous tensors, ``aten.convolution_backward`` with one output mask per pass), and for the
    pool a copy of the same bytes (``np.copyto``) as the floor."""
    import torch

    from fastconv import _conv_layer, conv_transpose, onedim

    F = torch.nn.functional
    op, _, _, opts = WORKLOADS[name]
    x, w, b, dy = data(name)
    fwd = getattr(fastconv, f"{op}_forward")
    bwd = getattr(fastconv, f"{op}_backward")
    out = {}
    if op == "maxpool1d":
        y, cache = fwd(x, **opts)
        xs, ys = np.empty_like(x), np.empty_like(y)
        out["fastconv"] = {"fwd": lambda: fwd(x, **opts), "bwd": lambda: bwd(dy, cache)}
        out["memcpy"] = {"fwd": lambda: (np.copyto(xs, x), np.copyto(ys, y)),
                         "bwd": lambda: (np.copyto(xs, x), np.copyto(ys, y))}
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1))).requires_grad_(True)
        dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 2, 1)))
        yt, it = F.max_pool1d(xt.detach(), opts["pool_size"], opts["stride"], return_indices=True)
        out["torch"] = {
            "fwd": lambda: F.max_pool1d(xt.detach(), opts["pool_size"], opts["stride"], return_indices=True),
            "bwd": lambda: torch.ops.aten.max_pool1d_with_indices_backward(
                dyt, xt.detach(), [opts["pool_size"]], [opts["stride"]], [0], [1], False, it)
            if hasattr(torch.ops.aten, "max_pool1d_with_indices_backward") else
            torch.ops.aten.max_pool2d_with_indices_backward(
                dyt[:, :, None], xt.detach()[:, :, None], [1, opts["pool_size"]], [1, opts["stride"]], [0, 0],
                [1, 1], False, it[:, :, None]),
        }
        return out
    y, cache = fwd(x, w, b, **opts)
    if op == "conv1d":
        state = cache.plan if hasattr(cache, "plan") else cache[-1]
        n, lo, cout = y.shape
        dy4 = dy.reshape(n, 1, lo, cout)
        if state.family == "winograd1d":  # the 1-D Winograd path: dw from the transforms
            dw = lambda: onedim._winograd_weight_grad(x, dy, w.shape[0], cache.padding[0])  # noqa: E731
        else:
            dw = lambda: _conv_layer.layer_backward(dy4, state, False)  # noqa: E731
        out["fastconv"] = {"fwd": lambda: fwd(x, w, b, **opts), "bwd": lambda: bwd(dy, cache), "dw+db": dw}
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1)))
        wt = torch.from_numpy(np.ascontiguousarray(w.transpose(2, 1, 0)))
        dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 2, 1)))
        k, dil = w.shape[0], opts.get("dilation", 1)
        pad = [dil * (k - 1) // 2]
        conv_args = ([1], pad, [dil], False, [0], 1)
        tf = {"fwd": lambda: F.conv1d(xt, wt, torch.from_numpy(b), 1, opts["padding"], dil)}
    else:
        st, p, op_ = opts["stride"], opts["padding"], opts.get("output_padding", 0)
        xc = x
        _, _, _, stt, padt, opt, g, dil = cache[:8]
        cw = cache[1]
        y_shape = y.shape
        padding = []
        for size, o_, k, s, pp, d, o in zip(x.shape[1:3], y_shape[1:3], w.shape[:2], stt, padt, dil, opt):
            keff = d * (k - 1) + 1
            padding.append((pp, pp) if (o_ + 2 * pp - keff) // s + 1 == size else (pp, pp - o))
        padding = tuple(padding)
        ct = np.dtype(np.float32)
        out["fastconv"] = {"fwd": lambda: fwd(x, w, b, **opts),
                           "dx": lambda: _conv_layer.layer_forward(dy, cw, None, padding, stt, dil, 1, ct),
                           "dw": lambda: _conv_layer.layer_weight_grad(dy, xc, w.shape, padding, stt, dil, 1, ct),
                           "db": lambda: conv_transpose._bias_grad(dy)}
        if conv_transpose._phase_route(x.shape, w.shape, stt, padt, opt, g, dil):
            # the phase route's passes (dy read in place as the phase planes)
            nt = fastconv.get_num_threads()
            out["fastconv"]["dx"] = lambda: conv_transpose._phase_dx(xc, cw, dy, padt, nt)
            del out["fastconv"]["dw"], out["fastconv"]["db"]  # db comes from the dw pass
            out["fastconv"]["dw+db"] = lambda: conv_transpose._phase_dw(xc, cw, dy, padt, nt)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
        dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))
        conv_args = ([st, st], [p, p], [1, 1], True, [op_, op_], 1)
        tf = {"fwd": lambda: F.conv_transpose2d(xt, wt, torch.from_numpy(b), st, p, op_)}
    cb = torch.ops.aten.convolution_backward
    bs = [b.shape[0]]
    tf["dx"] = lambda: cb(dyt, xt, wt, bs, *conv_args, [True, False, False])
    tf["dw+db"] = lambda: cb(dyt, xt, wt, bs, *conv_args, [False, True, True])
    out["torch"] = tf
    return out


def _split(rounds: int, names) -> None:
    """Per-pass medians [quartiles] of ``rounds`` interleaved calls: CPU time with 1 thread, the
    process's CPU time with THREADS threads (all threads' work, spinning included), then wall time
    with THREADS threads."""
    import torch

    from conftest import THREADS

    for threads, clock, label in ((1, time.thread_time, "cpu 1T"), (THREADS, time.process_time, f"cpu {THREADS}T"),
                                  (THREADS, time.perf_counter, f"wall {THREADS}T")):
        fastconv.set_num_threads(threads)
        torch.set_num_threads(threads)
        for name in names:
            passes = _passes(name)
            fns = [(impl, p, fn) for impl, d in passes.items() for p, fn in d.items()]
            for _, _, fn in fns:
                fn()
            times = {(impl, p): [] for impl, p, _ in fns}
            for _ in range(rounds):
                for impl, p, fn in fns:
                    t0 = clock()
                    fn()
                    times[impl, p].append(clock() - t0)
            print(f"{name} ({label}, ms)")
            for (impl, p), t in times.items():
                q1, med, q3 = np.percentile(t, [25, 50, 75]) * 1e3
                print(f"    {impl:9s} {p:8s} {med:8.2f} [{q1:.2f}-{q3:.2f}]", flush=True)


def _winograd_error(seeds: int) -> None:
    """Max |fast - exact| / max |exact| of y, dx, dw over ``seeds`` random inputs (weights scaled
    as in training) of each benchmarked conv1d layer that the 1-D Winograd path serves, in float32
    and float64; exact: float64 torch on the same (rounded) values."""
    from fastconv import onedim

    for name, (op, xs, ws, opts) in WORKLOADS.items():
        if op != "conv1d" or not onedim._winograd_serves(ws[0], ws[1], ws[2], 1, opts.get("dilation", 1), 1):
            continue
        worst = {}
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            for dt in (np.float32, np.float64):
                x = rng.standard_normal(xs).astype(dt)
                w = (rng.standard_normal(ws) * np.sqrt(2 / (ws[0] * ws[1]))).astype(dt)
                b = rng.standard_normal(ws[2]).astype(dt)
                y, cache = fastconv.conv1d_forward(x, w, b, **opts)
                assert cache.plan.family == "winograd1d"
                dy = rng.standard_normal(y.shape).astype(dt)
                got = (y,) + fastconv.conv1d_backward(dy, cache)[:2]
                exact = torch_fn(name, x, w, b, dy, "torch", dtype=np.float64)
                ref = exact[1](exact[0]())[:3]
                for p, a, r in zip(("y", "dx", "dw"), got, ref):
                    e = float(np.abs(a - r).max() / np.abs(r).max())
                    key = (np.dtype(dt).name, p)
                    worst[key] = max(worst.get(key, 0.0), e)
        print(f"{name}: max |fast - exact| / max |exact| over {seeds} seeds")
        for dt in ("float32", "float64"):
            print(f"  {dt}: " + ", ".join(f"{p} {worst[dt, p]:.1e}" for p in ("y", "dx", "dw")))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if len(sys.argv) > 1 and sys.argv[1] == "--error":
        _winograd_error(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
    elif len(sys.argv) > 1 and sys.argv[1] == "--split":
        _split(int(sys.argv[2]) if len(sys.argv) > 2 else 7, sys.argv[3:] or list(WORKLOADS))
    else:
        _interleaved(int(sys.argv[1]) if len(sys.argv) > 1 else 15, sys.argv[2:])
