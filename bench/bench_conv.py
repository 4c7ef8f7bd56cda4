"""conv2d forward+backward (and forward only), float32 (fwd+bwd also float64): fastconv beside torch, NumPy im2col and the loops.

Every implementation is checked against a float64 NumPy im2col answer (itself checked against
``fastconv.reference`` by ``test_im2col_matches_reference``) and against fastconv's own result.
Layouts are each library's native ones, prepared outside the timed region: NHWC for fastconv and
NumPy, NCHW tensors for torch ("torch", as users run it) and, in the same rounds, channels-last
tensors for "torch channels-last". Each benchmark records its useful FLOPs (``extra_info["flops"]``)
so that the report gives GFLOP/s and the fraction of the run's sgemm yardstick.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import fastconv
import fastconv.reference


class Case(NamedTuple):
    n: int
    h: int
    w: int
    cin: int
    cout: int
    k: int
    p: int
    s: int

    @property
    def out_hw(self):
        return (self.h + 2 * self.p - self.k) // self.s + 1, (self.w + 2 * self.p - self.k) // self.s + 1

    def flops(self, forward_only=False):
        """Useful FLOPs of a call: 2*N*Ho*Wo*Cout*Kh*Kw*C per pass, 3 passes (fwd, dx, dw) for fwd+bwd."""
        ho, wo = self.out_hw
        one = 2 * self.n * ho * wo * self.cout * self.k * self.k * self.cin
        return one if forward_only else 3 * one

    @property
    def label(self):
        s = f" s{self.s}" if self.s != 1 else ""
        return f"N{self.n} {self.h}x{self.w}x{self.cin}->{self.cout} k{self.k} p{self.p}{s}"


CASES = [
    Case(64, 8, 8, 1, 8, 3, 1, 1),  # the digits network's conv layer
    Case(32, 32, 32, 16, 32, 3, 1, 1),
    Case(8, 64, 64, 64, 64, 3, 1, 1),
    Case(16, 56, 56, 64, 128, 3, 1, 2),
]
SMALL = CASES[0]  # the only shape the reference loops are timed on
IDS = [c.label.replace(" ", "_") for c in CASES]


# --------------------------------------------------------------------------- NumPy im2col peer
def im2col_forward(x, w, b, padding=1, stride=1):
    """Conv forward by im2col + one matmul (NHWC, weights (Kh, Kw, C, Cout)); returns (y, cache)."""
    n, h, wd, c = x.shape
    kh, kw, _, cout = w.shape
    p, s = padding, stride
    ho, wo = (h + 2 * p - kh) // s + 1, (wd + 2 * p - kw) // s + 1
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, : (ho - 1) * s + 1 : s, : (wo - 1) * s + 1 : s]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, kh * kw * c)  # (N*Ho*Wo, Kh*Kw*C)
    y = (cols @ w.reshape(kh * kw * c, cout) + b).reshape(n, ho, wo, cout)
    return y, (cols, x.shape, xp.shape, w, p, s)


def im2col_backward(dy, cache):
    """Conv backward for :func:`im2col_forward`: two matmuls and a Kh*Kw-step col2im; (dx, dw, db)."""
    cols, x_shape, xp_shape, w, p, s = cache
    n, ho, wo, cout = dy.shape
    kh, kw, c, _ = w.shape
    dy2 = dy.reshape(-1, cout)
    dw = (cols.T @ dy2).reshape(w.shape)
    db = dy2.sum(axis=0)
    dcols = (dy2 @ w.reshape(-1, cout).T).reshape(n, ho, wo, kh, kw, c)
    dxp = np.zeros(xp_shape, dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i : i + (ho - 1) * s + 1 : s, j : j + (wo - 1) * s + 1 : s] += dcols[:, :, :, i, j]
    return dxp[:, p : p + x_shape[1], p : p + x_shape[2]], dw, db


# --------------------------------------------------------------------------- data and answers
@lru_cache(maxsize=None)
def data(case):
    """float32 x, w, b, dy for ``case`` (fixed seed)."""
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((case.n, case.h, case.w, case.cin), dtype=np.float32)
    w = rng.standard_normal((case.k, case.k, case.cin, case.cout), dtype=np.float32)
    w *= np.float32(np.sqrt(2.0 / (case.k * case.k * case.cin)))
    b = rng.standard_normal(case.cout, dtype=np.float32) * np.float32(0.1)
    y_shape = ((case.h + 2 * case.p - case.k) // case.s + 1, (case.w + 2 * case.p - case.k) // case.s + 1)
    dy = rng.standard_normal((case.n, *y_shape, case.cout), dtype=np.float32)
    return x, w, b, dy


@lru_cache(maxsize=None)
def oracle(case):
    """(y, dx, dw, db) computed in float64 by im2col."""
    x, w, b, dy = (a.astype(np.float64) for a in data(case))
    y, cache = im2col_forward(x, w, b, case.p, case.s)
    return (y, *im2col_backward(dy, cache))


def fastconv_fwd_bwd(case):
    """The timed fastconv call for ``case`` (a zero-argument function)."""
    x, w, b, dy = data(case)

    def fn():
        y, cache = fastconv.conv2d_forward(x, w, b, case.p, case.s)
        return (y, *fastconv.conv2d_backward(dy, cache))

    return fn


@lru_cache(maxsize=None)
def fastconv_answer(case):
    return fastconv_fwd_bwd(case)()


def answers(case, forward_only=False, with_fastconv=True):
    """The {label: answer} dict every benchmark of ``case`` is checked against."""
    out = {"float64 im2col": oracle(case)}
    if with_fastconv:
        out["fastconv"] = fastconv_answer(case)
    if forward_only:
        out = {k: v[0] for k, v in out.items()}
    return out


def group(case, forward_only=False):
    return f"conv2d {'fwd' if forward_only else 'fwd+bwd'} f32 {case.label}"


def torch_tensors(case, requires_grad, dtype=np.float32, channels_last=False):
    """NCHW / (Cout, Cin, Kh, Kw) torch tensors of the case's data (built outside the timed region).

    ``channels_last``: the same logical tensors stored in ``torch.channels_last`` memory format
    (NHWC in memory, fastconv's own layout), which selects torch's channels-last kernels.
    """
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install '.[bench]')")
    x, w, b, dy = (a.astype(dtype, copy=False) for a in data(case))
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(requires_grad)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_(requires_grad)
    bt = torch.from_numpy(b.copy()).requires_grad_(requires_grad)
    dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))
    if channels_last:
        cl = torch.channels_last
        xt = xt.detach().to(memory_format=cl).requires_grad_(requires_grad)
        wt = wt.detach().to(memory_format=cl).requires_grad_(requires_grad)
        dyt = dyt.to(memory_format=cl)
    return torch, xt, wt, bt, dyt


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


# --------------------------------------------------------------------------- forward + backward
# ``impl`` is the first parametrize decorator, so it varies fastest: the implementations of one
# workload are timed back to back, under the same machine load, before the next workload starts.
def torch_fwd_bwd(case, dtype=np.float32, channels_last=False):
    """(fn, convert): the timed torch call (forward, then backward of dy into fresh grads) and its NHWC view."""
    torch, xt, wt, bt, dyt = torch_tensors(case, requires_grad=True, dtype=dtype, channels_last=channels_last)
    F = torch.nn.functional

    def fn():
        xt.grad = wt.grad = bt.grad = None
        y = F.conv2d(xt, wt, bt, stride=case.s, padding=case.p)
        y.backward(dyt)
        return y, xt.grad, wt.grad, bt.grad

    def convert(r):
        y, dx, dw, db = r
        return _nhwc(y), _nhwc(dx), dw.numpy().transpose(2, 3, 1, 0), db.numpy()

    return fn, convert


#: torch as users run it (NCHW tensors) and with channels-last tensors, timed in the same rounds.
TORCH_IMPLS = {"torch": False, "torch channels-last": True}


@pytest.mark.parametrize("impl", ["fastconv", "torch", "torch channels-last", "numpy"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def bench_conv2d_fwd_bwd(timed, case, impl):
    flops = case.flops()
    if impl == "fastconv":
        timed(group(case), impl, fastconv_fwd_bwd(case), answers(case, with_fastconv=False), flops=flops)
    elif impl in TORCH_IMPLS:
        fn, convert = torch_fwd_bwd(case, channels_last=TORCH_IMPLS[impl])
        timed(group(case), impl, fn, answers(case), convert, flops=flops)
    else:
        x, w, b, dy = data(case)

        def fn():
            y, cache = im2col_forward(x, w, b, case.p, case.s)
            return (y, *im2col_backward(dy, cache))

        timed(group(case), impl, fn, answers(case), flops=flops)


F64_CASES = CASES[1:3]
F64_IDS = IDS[1:3]


def group64(case):
    return f"conv2d fwd+bwd f64 {case.label}"


@pytest.mark.parametrize("impl", ["fastconv", "torch", "torch channels-last"])
@pytest.mark.parametrize("case", F64_CASES, ids=F64_IDS)
def bench_conv2d_fwd_bwd_f64(timed, case, impl):
    """float64 (the float32 values, widened): fastconv's float64 kernels beside torch's."""
    expected = {"float64 im2col": oracle(case)}
    if impl == "fastconv":
        x, w, b, dy = (a.astype(np.float64) for a in data(case))

        def fn():
            y, cache = fastconv.conv2d_forward(x, w, b, case.p, case.s)
            return (y, *fastconv.conv2d_backward(dy, cache))

        timed(group64(case), impl, fn, expected, flops=case.flops())
    else:
        fn, convert = torch_fwd_bwd(case, np.float64, channels_last=TORCH_IMPLS[impl])
        timed(group64(case), impl, fn, expected, convert, flops=case.flops())


def bench_conv2d_fwd_bwd_reference(timed):
    x, w, b, dy = data(SMALL)

    def fn():
        y, cache = fastconv.reference.conv2d_forward(x, w, b, SMALL.p, SMALL.s)
        return (y, *fastconv.reference.conv2d_backward(dy, cache))

    timed(group(SMALL), "reference", fn, answers(SMALL))


# --------------------------------------------------------------------------- forward only
@pytest.mark.parametrize("impl", ["fastconv", "torch", "torch channels-last", "numpy"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def bench_conv2d_forward(timed, case, impl):
    x, w, b, _ = data(case)
    flops = case.flops(forward_only=True)
    if impl == "fastconv":
        fn = lambda: fastconv.conv2d_forward(x, w, b, case.p, case.s)[0]  # noqa: E731
        timed(group(case, True), impl, fn, answers(case, True, with_fastconv=False), flops=flops)
    elif impl in TORCH_IMPLS:
        torch, xt, wt, bt, _ = torch_tensors(case, requires_grad=False, channels_last=TORCH_IMPLS[impl])

        def fn():
            with torch.no_grad():
                return torch.nn.functional.conv2d(xt, wt, bt, stride=case.s, padding=case.p)

        timed(group(case, True), impl, fn, answers(case, True), _nhwc, flops=flops)
    else:
        fn = lambda: im2col_forward(x, w, b, case.p, case.s)[0]  # noqa: E731
        timed(group(case, True), impl, fn, answers(case, True), flops=flops)


def bench_conv2d_forward_reference(timed):
    x, w, b, _ = data(SMALL)
    fn = lambda: fastconv.reference.conv2d_forward(x, w, b, SMALL.p, SMALL.s)[0]  # noqa: E731
    timed(group(SMALL, True), "reference", fn, answers(SMALL, True))


# --------------------------------------------------------------------------- the NumPy peer itself
@pytest.mark.parametrize("case", [Case(3, 7, 9, 2, 4, 3, 1, 1), Case(2, 9, 8, 3, 5, 3, 1, 2), Case(2, 8, 8, 2, 3, 5, 0, 3)])
def test_im2col_matches_reference(case):
    """The NumPy im2col peer (and so the float64 answer) equals the reference loops, strides included."""
    x, w, b, dy = (a.astype(np.float64) for a in data(case))
    y, cache = fastconv.reference.conv2d_forward(x, w, b, case.p, case.s)
    expected = (y, *fastconv.reference.conv2d_backward(dy, cache))
    yi, cache_i = im2col_forward(x, w, b, case.p, case.s)
    got = (yi, *im2col_backward(dy, cache_i))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
