"""Max and average pooling 2x2, forward+backward, float32: fastconv beside torch (NCHW and channels-last),
NumPy reshapes and the loops.

Every implementation is checked against fastconv's result and against a NumPy reshape answer in
float64 (checked against ``fastconv.reference`` by ``test_reshape_pools_match_reference``).
"""
from __future__ import annotations

from functools import lru_cache

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np
import pytest

import fastconv
import fastconv.reference

SHAPES = [(64, 8, 8, 8), (32, 32, 32, 64)]  # (N, H, W, C)
SMALL = SHAPES[0]  # the only shape the reference loops are timed on
MODES = ["max", "avg"]
IDS = [f"N{n}_{h}x{w}x{c}" for n, h, w, c in SHAPES]


# --------------------------------------------------------------------------- NumPy reshape peers (2x2, stride 2)
def _windows(x):
    """(N, H, W, C) -> (N, H/2, W/2, C, 4): each 2x2 window's elements in row-major order (a copy)."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, c, 4)


def numpy_maxpool(x, dy):
    """2x2 max pool forward+backward by reshapes; the gradient goes to the first maximum (np.argmax)."""
    n, h, w, c = x.shape
    win = _windows(x)
    idx = np.argmax(win, axis=-1)[..., None]
    y = np.take_along_axis(win, idx, axis=-1)[..., 0]
    dwin = np.zeros_like(win, dtype=np.result_type(x, dy))
    np.put_along_axis(dwin, idx, dy[..., None], axis=-1)
    dx = dwin.reshape(n, h // 2, w // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, h, w, c)
    return y, dx


def numpy_avgpool(x, dy):
    """2x2 average pool forward+backward by reshapes."""
    n, h, w, c = x.shape
    y = x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
    g = (dy * dy.dtype.type(0.25))[:, :, None, :, None, :]
    dx = np.broadcast_to(g, (n, h // 2, 2, w // 2, 2, c)).reshape(n, h, w, c)
    return y, dx


NUMPY = {"max": numpy_maxpool, "avg": numpy_avgpool}


# --------------------------------------------------------------------------- data and answers
@lru_cache(maxsize=None)
def data(shape):
    """float32 x (N, H, W, C) and dy (N, H/2, W/2, C), fixed seed."""
    rng = np.random.default_rng(sum(shape))
    n, h, w, c = shape
    x = rng.standard_normal(shape, dtype=np.float32)
    dy = rng.standard_normal((n, h // 2, w // 2, c), dtype=np.float32)
    return x, dy


def fastconv_fn(mode, shape, module=fastconv):
    """The timed call: ``module``'s {mode}pool forward then backward, returning (y, dx)."""
    x, dy = data(shape)
    forward = getattr(module, f"{mode}pool_forward")
    backward = getattr(module, f"{mode}pool_backward")

    def fn():
        y, cache = forward(x, 2)
        return y, backward(dy, cache)

    return fn


@lru_cache(maxsize=None)
def answers(mode, shape, with_fastconv=True):
    x, dy = data(shape)
    out = {"float64 numpy": NUMPY[mode](x.astype(np.float64), dy.astype(np.float64))}
    if with_fastconv:
        out["fastconv"] = fastconv_fn(mode, shape)()
    return out


def group(mode, shape):
    n, h, w, c = shape
    return f"{mode}pool 2x2 fwd+bwd f32 N{n} {h}x{w}x{c}"


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


def torch_fn(mode, shape, layout):
    """(fn, convert): torch on NCHW tensors ("nchw") or channels-last ones (fastconv's NHWC layout)."""
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install '.[bench]')")
    x, dy = data(shape)
    if layout == "nchw":
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(True)
        dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))
    else:  # the NHWC buffers seen as NCHW tensors in torch.channels_last memory format
        xt = torch.from_numpy(x.copy()).permute(0, 3, 1, 2).requires_grad_(True)
        dyt = torch.from_numpy(dy.copy()).permute(0, 3, 1, 2)
        assert xt.is_contiguous(memory_format=torch.channels_last)
    pool = torch.nn.functional.max_pool2d if mode == "max" else torch.nn.functional.avg_pool2d

    def fn():
        xt.grad = None
        y = pool(xt, 2)
        y.backward(dyt)
        return y, xt.grad

    def convert(r):
        return tuple(t.detach().numpy().transpose(0, 2, 3, 1) for t in r)

    return fn, convert


# ``impl`` is the first parametrize decorator, so it varies fastest: the implementations of one
# workload are timed back to back, under the same machine load.
@pytest.mark.parametrize("impl", ["fastconv", "torch", "torch-cl", "numpy"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def bench_pool(timed, mode, shape, impl):
    """fastconv, torch NCHW ("torch"), torch channels-last ("torch-cl") and the NumPy reshape peer."""
    if impl == "fastconv":
        timed(group(mode, shape), impl, fastconv_fn(mode, shape), answers(mode, shape, with_fastconv=False))
    elif impl.startswith("torch"):
        fn, convert = torch_fn(mode, shape, "nchw" if impl == "torch" else "channels_last")
        timed(group(mode, shape), impl, fn, answers(mode, shape), convert)
    else:
        x, dy = data(shape)
        timed(group(mode, shape), impl, lambda: NUMPY[mode](x, dy), answers(mode, shape))


def bench_pool_reference(timed, mode):
    timed(group(mode, SMALL), "reference", fastconv_fn(mode, SMALL, fastconv.reference), answers(mode, SMALL))


@pytest.mark.parametrize("shape", [(2, 6, 8, 3), (1, 4, 4, 1)])
def test_reshape_pools_match_reference(mode, shape):
    """The NumPy reshape peers (and so the float64 answers) equal the reference loops, ties included."""
    x, dy = (a.astype(np.float64) for a in data(shape))
    x[0, 0, :2, 0] = x[0, 1, 0, 0] = 5.0  # a window with tied maxima: the first one wins
    y, cache = getattr(fastconv.reference, f"{mode}pool_forward")(x, 2)
    dx = getattr(fastconv.reference, f"{mode}pool_backward")(dy, cache)
    got = NUMPY[mode](x, dy)
    np.testing.assert_allclose(got[0], y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[1], dx, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- pools with torch's options
# (name, x shape, fastconv forward and its keywords, torch.nn.functional op and its keywords)
OPTION_WORKLOADS = {
    "max 3x3 s2 p1 (ResNet stem) N32 32x32x64": (
        (32, 32, 32, 64), "maxpool", dict(pool_size=3, stride=2, padding=1),
        "max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    "avg 3x3 s1 p1 count_include_pad=False N32 32x32x64": (
        (32, 32, 32, 64), "avgpool", dict(pool_size=3, stride=1, padding=1, count_include_pad=False),
        "avg_pool2d", dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    "max 2x2 s2 ceil_mode N32 33x33x64": (
        (32, 33, 33, 64), "maxpool", dict(pool_size=2, stride=2, ceil_mode=True),
        "max_pool2d", dict(kernel_size=2, stride=2, ceil_mode=True)),
    "adaptive avg to 7x7 N32 32x32x64": (
        (32, 32, 32, 64), "adaptive_avgpool", dict(output_size=7), "adaptive_avg_pool2d", dict(output_size=7)),
    "global avg N64 7x7x512": (
        (64, 7, 7, 512), "global_avgpool", dict(), "adaptive_avg_pool2d", dict(output_size=1)),
}
OPTION_IDS = list(OPTION_WORKLOADS)


@lru_cache(maxsize=None)
def option_data(name):
    """float32 x and dy of an option workload, fixed seed (dy has fastconv's output shape)."""
    shape, fwd, kw, _, _ = OPTION_WORKLOADS[name]
    rng = np.random.default_rng(len(name))
    x = rng.standard_normal(shape, dtype=np.float32)
    y, _ = getattr(fastconv, f"{fwd}_forward")(x, **kw)
    return x, rng.standard_normal(y.shape, dtype=np.float32)


def option_fastconv_fn(name):
    shape, fwd, kw, _, _ = OPTION_WORKLOADS[name]
    x, dy = option_data(name)
    forward, backward = getattr(fastconv, f"{fwd}_forward"), getattr(fastconv, f"{fwd}_backward")

    def fn():
        y, cache = forward(x, **kw)
        return y, backward(dy, cache)

    return fn


def option_torch_fn(name, layout, dtype=np.float32):
    """(fn, convert) of torch's op with the same options, NCHW or channels-last, in ``dtype``."""
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install '.[bench]')")
    _, _, _, op, kw = OPTION_WORKLOADS[name]
    x, dy = (a.astype(dtype) for a in option_data(name))
    if layout == "nchw":
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(True)
        dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))
    else:
        xt = torch.from_numpy(x.copy()).permute(0, 3, 1, 2).requires_grad_(True)
        dyt = torch.from_numpy(dy.copy()).permute(0, 3, 1, 2)
        assert xt.is_contiguous(memory_format=torch.channels_last)
    pool = getattr(torch.nn.functional, op)

    def fn():
        xt.grad = None
        y = pool(xt, **kw)
        y.backward(dyt)
        return y, xt.grad

    def convert(r):
        return tuple(t.detach().numpy().transpose(0, 2, 3, 1) for t in r)

    return fn, convert


@lru_cache(maxsize=None)
def option_answers(name):
    """The float64 answer (torch NCHW in float64; tests/test_pool_options.py holds fastconv to torch
    on random option combinations) and fastconv's float32 answer."""
    fn, convert = option_torch_fn(name, "nchw", np.float64)
    return {"float64 torch": convert(fn()), "fastconv": option_fastconv_fn(name)()}


@pytest.mark.parametrize("impl", ["fastconv", "torch", "torch-cl", "memcpy"])
@pytest.mark.parametrize("name", OPTION_IDS)
def bench_pool_options(timed, name, impl):
    """Pools with padding, ceil_mode, count_include_pad, adaptive and global windows, fwd+bwd, float32:
    fastconv, torch NCHW and torch channels-last; for the global pool also a copy of the input (the
    memory-bound floor)."""
    answers = option_answers(name)
    group = f"pool {name} fwd+bwd f32"
    if impl == "fastconv":
        timed(group, impl, option_fastconv_fn(name), {"float64 torch": answers["float64 torch"]})
    elif impl.startswith("torch"):
        fn, convert = option_torch_fn(name, "nchw" if impl == "torch" else "channels_last")
        timed(group, impl, fn, answers, convert)
    elif name.startswith("global"):
        x, _ = option_data(name)
        out = np.empty_like(x)
        timed(group, impl, lambda: np.copyto(out, x) or out, {"input": x})
    else:
        pytest.skip("memcpy is the yardstick of the global pool only")
