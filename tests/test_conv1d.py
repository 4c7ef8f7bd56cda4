"""conv1d, maxpool1d, avgpool1d forward/backward: both backends against torch autograd, each other,
gradcheck, bad input."""
import numpy as np
import pytest

import fastconv
import fastconv.reference
from fastconv import gradcheck

from conftest import require_simd, run_python, simd_levels, tol

torch = pytest.importorskip("torch", reason="torch (in the test extra) is the independent check of the semantics")
F = torch.nn.functional

TORCH_TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}


def _t(a):
    """(N, L, C) -> a float64 torch (N, C, L) leaf that records its gradient."""
    return torch.tensor(np.ascontiguousarray(np.asarray(a, np.float64).transpose(0, 2, 1)), requires_grad=True)


def _nlc(t):
    return t.detach().numpy().transpose(0, 2, 1)


def _torch_conv1d(x, w, b, dy, padding, stride, dilation, groups):
    """(y, dx, dw, db) of torch's conv1d in float64, in fastconv's layouts; a (left, right) padding pads first."""
    xt = _t(x)
    wt = torch.tensor(np.ascontiguousarray(np.asarray(w, np.float64).transpose(2, 1, 0)), requires_grad=True)
    bt = None if b is None else torch.tensor(np.asarray(b, np.float64), requires_grad=True)
    xin, pad = xt, padding
    if isinstance(padding, tuple):
        xin, pad = F.pad(xt, padding), 0
    yt = F.conv1d(xin, wt, bt, stride, pad, dilation, groups)
    yt.backward(torch.tensor(np.ascontiguousarray(np.asarray(dy, np.float64).transpose(0, 2, 1))))
    return (_nlc(yt), xt.grad.numpy().transpose(0, 2, 1), wt.grad.numpy().transpose(2, 1, 0),
            None if b is None else bt.grad.numpy())


def _conv_case(rng, small=False):
    g = int(rng.choice([1, 1, 2, 4]))
    cin, cout = g * int(rng.integers(1, 3 if small else 5)), g * int(rng.integers(1, 3 if small else 5))
    k, s, d = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    padding = [0, int(rng.integers(0, 4)), (int(rng.integers(0, 4)), int(rng.integers(0, 4))), "same", "valid"][
        int(rng.integers(0, 5))]
    if padding == "same":
        s = 1
    length = d * (k - 1) + 1 + int(rng.integers(0, 8 if small else 30))
    x = rng.standard_normal((int(rng.integers(1, 4)), length, cin))
    w = rng.standard_normal((k, cin // g, cout))
    b = None if rng.random() < 0.3 else rng.standard_normal(cout)
    return x, w, b, padding, s, d, g


@pytest.mark.parametrize("seed", range(40))
def test_conv1d_matches_torch(impl, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w, b, padding, s, d, g = _conv_case(rng, small=impl is fastconv.reference)
    x, w = x.astype(dtype), w.astype(dtype)
    b = None if b is None else b.astype(dtype)
    y, cache = impl.conv1d_forward(x, w, b, padding, s, d, g)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = impl.conv1d_backward(dy, cache)
    ty, tdx, tdw, tdb = _torch_conv1d(x, w, b, dy, padding, s, d, g)
    atol = TORCH_TOL[dtype]
    assert y.shape == ty.shape and y.dtype == dtype and dx.dtype == dtype and dw.dtype == dtype
    for got, want in ((y, ty), (dx, tdx), (dw, tdw)):
        np.testing.assert_allclose(got, want, rtol=atol, atol=atol)
    if b is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, tdb, rtol=atol, atol=atol)


@pytest.mark.parametrize("seed", range(25))
def test_conv1d_fast_matches_reference(dtype, seed):
    rng = np.random.default_rng(500 + seed)
    x, w, b, padding, s, d, g = _conv_case(rng, small=True)
    x, w = x.astype(dtype), w.astype(dtype)
    yr, cr = fastconv.reference.conv1d_forward(x, w, b, padding, s, d, g)
    yf, cf = fastconv.conv1d_forward(x, w, b, padding, s, d, g)
    rtol, atol = tol(dtype)
    np.testing.assert_allclose(yf, yr, rtol=rtol, atol=atol)
    dy = rng.standard_normal(yr.shape).astype(dtype)
    for cache_f, cache_r in ((cf, cr), (cr, cf)):  # each backend's backward takes the other's cache too
        for got, want in zip(fastconv.conv1d_backward(dy, cache_f), fastconv.reference.conv1d_backward(dy, cache_r)):
            if want is None:
                assert got is None
            else:
                assert got.dtype == want.dtype and got.shape == want.shape
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def test_conv1d_same_keeps_length_and_puts_the_odd_zero_right(impl):
    x = np.arange(6.0).reshape(1, 6, 1)
    y, _ = impl.conv1d_forward(x, np.ones((4, 1, 1)), None, "same")
    # total padding 3: one zero on the left, two on the right (torch's rule)
    np.testing.assert_array_equal(y[0, :, 0], [3, 6, 10, 14, 12, 9])


def test_conv1d_gradcheck(impl):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 9, 4)), rng.standard_normal((3, 2, 6)), rng.standard_normal(6)
    opts = dict(padding=(2, 1), stride=2, dilation=2, groups=2)
    y, cache = impl.conv1d_forward(x, w, b, **opts)
    r = rng.standard_normal(y.shape)
    err = gradcheck(lambda x, w, b: float(np.sum(impl.conv1d_forward(x, w, b, **opts)[0] * r)),
                    [x, w, b], impl.conv1d_backward(r, cache))
    assert err < 1e-6


def test_conv1d_dtypes_and_inputs_untouched(impl):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 10, 3)).astype(np.float32)[:, ::-1]  # a non-contiguous view
    w = rng.standard_normal((3, 3, 4))
    x_copy = x.copy()
    y, cache = impl.conv1d_forward(x, w, None, 1)
    assert y.dtype == np.float32
    dx, dw, db = impl.conv1d_backward(np.ones(y.shape, np.float32), cache)
    assert (dx.dtype, dw.dtype, db) == (np.float32, np.float64, None)
    np.testing.assert_array_equal(x, x_copy)
    y0, c0 = impl.conv1d_forward(np.zeros((0, 10, 3)), w, np.ones(4))
    assert y0.shape == (0, 8, 4)
    assert impl.conv1d_backward(y0, c0)[0].shape == (0, 10, 3)


CONV1D_BAD = [
    (dict(padding="full"), ValueError, "padding must be an int, a \\(left, right\\) pair, 'same' or 'valid'"),
    (dict(padding="same", stride=2), ValueError, "padding='same' needs stride 1"),
    (dict(padding=(1, -1)), ValueError, "padding must be non-negative"),
    (dict(padding=(1, 2, 3)), ValueError, "padding must be an int"),
    (dict(stride=0), ValueError, "stride must be >= 1"),
    (dict(stride=(1, 1)), ValueError, "stride must be an int"),
    (dict(dilation=0), ValueError, "dilation must be >= 1"),
    (dict(groups=3), ValueError, "groups=3 must divide"),
    (dict(groups=True), TypeError, "groups must be a positive int"),
    (dict(w=np.ones((3, 2, 4))), ValueError, "w has 2 input channels per group but x has 4 channels"),
    (dict(w=np.ones((9, 4, 4))), ValueError, "kernel of extent 9 is larger than the padded input length 8"),
    (dict(dilation=4), ValueError, "dilated kernel \\(3 taps, dilation 4\\)"),
    (dict(b=np.ones(3)), ValueError, "b has length 3"),
    (dict(x=np.ones((8, 4))), ValueError, "x must be 3-D"),
]


@pytest.mark.parametrize("change,exc,match", CONV1D_BAD, ids=[str(c) for c, _, _ in CONV1D_BAD])
def test_conv1d_bad_input(impl, change, exc, match):
    args = dict(x=np.ones((2, 8, 4)), w=np.ones((3, 4, 4)), b=np.ones(4), padding=0, stride=1, dilation=1, groups=1)
    args.update(change)
    with pytest.raises(exc, match=match):
        impl.conv1d_forward(**args)


def test_conv1d_backward_bad_input(impl):
    y, cache = impl.conv1d_forward(np.ones((1, 5, 2)), np.ones((2, 2, 3)), None)
    with pytest.raises(ValueError, match="dy has shape"):
        impl.conv1d_backward(np.ones((1, 4, 2)), cache)
    _, pool_cache = impl.maxpool1d_forward(np.ones((1, 4, 2)))
    with pytest.raises(TypeError, match="cache must be the cache returned by conv1d_forward, got Pool1dCache"):
        impl.conv1d_backward(y, pool_cache)


# --------------------------------------------------------------------------- pools
def _pool_case(rng, avg):
    k = int(rng.integers(1, 6))
    s = None if rng.random() < 0.2 else int(rng.integers(1, 4))
    p = int(rng.integers(0, k // 2 + 1))
    d = 1 if avg else int(rng.integers(1, 3))
    ceil = bool(rng.integers(0, 2))
    length = d * (k - 1) + 1 + int(rng.integers(0, 12))
    x = rng.standard_normal((int(rng.integers(1, 4)), length, int(rng.integers(1, 5))))
    return x, k, s, p, d, ceil


def _windows_all_reach_input(length, k, s, p, d, ceil):
    """False when some dilated window lies entirely in the padding (both backends refuse such calls)."""
    s = k if s is None else s
    o = (length + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= length + p:
        o -= 1
    return all(any(0 <= i * s - p + t * d < length for t in range(k)) for i in range(o))


@pytest.mark.parametrize("seed", range(40))
def test_maxpool1d_matches_torch(impl, dtype, seed):
    rng = np.random.default_rng(seed)
    x, k, s, p, d, ceil = _pool_case(rng, avg=False)
    if not _windows_all_reach_input(x.shape[1], k, s, p, d, ceil):
        pytest.skip("a window of this random case lies in the padding (a ValueError, tested below)")
    x = x.astype(dtype)
    y, cache = impl.maxpool1d_forward(x, k, s, p, d, ceil)
    xt = _t(x)
    yt, idx = F.max_pool1d(xt, k, s, p, d, ceil, return_indices=True)
    dy = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.tensor(np.ascontiguousarray(dy.astype(np.float64).transpose(0, 2, 1))))
    dx = impl.maxpool1d_backward(dy, cache)
    np.testing.assert_array_equal(y, _nlc(yt).astype(dtype))
    np.testing.assert_array_equal(cache.argmax, idx.numpy().transpose(0, 2, 1))
    assert y.dtype == dtype and dx.dtype == dtype and cache.argmax.dtype == np.int64
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 1), rtol=TORCH_TOL[dtype], atol=TORCH_TOL[dtype])


@pytest.mark.parametrize("seed", range(40))
def test_avgpool1d_matches_torch(impl, dtype, seed):
    rng = np.random.default_rng(seed)
    x, k, s, p, _, ceil = _pool_case(rng, avg=True)
    incl = bool(rng.integers(0, 2))
    x = x.astype(dtype)
    y, cache = impl.avgpool1d_forward(x, k, s, p, ceil, incl)
    xt = _t(x)
    yt = F.avg_pool1d(xt, k, s, p, ceil, incl)
    dy = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.tensor(np.ascontiguousarray(dy.astype(np.float64).transpose(0, 2, 1))))
    dx = impl.avgpool1d_backward(dy, cache)
    atol = TORCH_TOL[dtype]
    np.testing.assert_allclose(y, _nlc(yt), rtol=atol, atol=atol)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 1), rtol=atol, atol=atol)
    assert y.dtype == dtype and dx.dtype == dtype


@pytest.mark.parametrize("divisor", [1, 3, -2])
def test_avgpool1d_divisor_override_matches_torch_avg_pool2d(impl, divisor):
    # torch's avg_pool1d has no divisor_override: its avg_pool2d on (N, C, 1, L) does
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 11, 3))
    y, cache = impl.avgpool1d_forward(x, 4, 3, 2, True, False, divisor)
    xt = _t(x)
    yt = F.avg_pool2d(xt[:, :, None, :], (1, 4), (1, 3), (0, 2), True, False, divisor)[:, :, 0, :]
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(np.ascontiguousarray(dy.transpose(0, 2, 1))))
    np.testing.assert_allclose(y, _nlc(yt), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(impl.avgpool1d_backward(dy, cache), xt.grad.numpy().transpose(0, 2, 1), rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_pool1d_fast_matches_reference(dtype, seed):
    rng = np.random.default_rng(2000 + seed)
    x, k, s, p, d, ceil = _pool_case(rng, avg=False)
    x = x.astype(dtype)
    if _windows_all_reach_input(x.shape[1], k, s, p, d, ceil):
        yr, cr = fastconv.reference.maxpool1d_forward(x, k, s, p, d, ceil)
        yf, cf = fastconv.maxpool1d_forward(x, k, s, p, d, ceil)
        np.testing.assert_array_equal(yf, yr)
        np.testing.assert_array_equal(cf.argmax, cr.argmax)
        dy = rng.standard_normal(yr.shape).astype(dtype)
        want = fastconv.reference.maxpool1d_backward(dy, cr)
        np.testing.assert_allclose(fastconv.maxpool1d_backward(dy, cf), want, *tol(dtype))
        np.testing.assert_allclose(fastconv.maxpool1d_backward(dy, cr), want, *tol(dtype))
    incl, div = bool(rng.integers(0, 2)), [None, None, 2][int(rng.integers(0, 3))]
    yr, cr = fastconv.reference.avgpool1d_forward(x, k, s, p, ceil, incl, div)
    yf, cf = fastconv.avgpool1d_forward(x, k, s, p, ceil, incl, div)
    np.testing.assert_allclose(yf, yr, *tol(dtype))
    dy = rng.standard_normal(yr.shape).astype(dtype)
    want = fastconv.reference.avgpool1d_backward(dy, cr)
    np.testing.assert_allclose(fastconv.avgpool1d_backward(dy, cf), want, *tol(dtype))
    np.testing.assert_allclose(fastconv.avgpool1d_backward(dy, cr), want, *tol(dtype))


def test_maxpool1d_ties_nan_and_gradcheck(impl):
    x = np.array([[1.0, 3.0, 3.0, np.nan, 2.0, 0.0]]).reshape(1, 6, 1)
    y, cache = impl.maxpool1d_forward(x, 3, 1)
    np.testing.assert_array_equal(cache.argmax[0, :, 0], [1, 3, 3, 3])  # first maximum; NaN is the maximum
    dx = impl.maxpool1d_backward(np.ones(y.shape), cache)
    np.testing.assert_array_equal(dx[0, :, 0], [0, 1, 0, 3, 0, 0])
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 9, 3))
    for fwd, bwd, opts in ((impl.maxpool1d_forward, impl.maxpool1d_backward, dict(padding=1, dilation=2, ceil_mode=True)),
                           (impl.avgpool1d_forward, impl.avgpool1d_backward, dict(padding=1, ceil_mode=True,
                                                                                   count_include_pad=False))):
        y, cache = fwd(x, 3, 2, **opts)
        r = rng.standard_normal(y.shape)
        assert gradcheck(lambda x: float(np.sum(fwd(x, 3, 2, **opts)[0] * r)), [x], [bwd(r, cache)]) < 1e-6


POOL_BAD = [
    (dict(pool_size=0), ValueError, "pool_size must be >= 1"),
    (dict(pool_size=(2, 2)), ValueError, "pool_size must be an int"),
    (dict(stride=0), ValueError, "stride must be >= 1"),
    (dict(padding=2), ValueError, "padding must be at most half the pool window"),
    (dict(pool_size=9), ValueError, "pool window of extent 9 is larger than the padded input length 8"),
    (dict(dilation=0), ValueError, "dilation must be >= 1"),
    (dict(ceil_mode=1), TypeError, "ceil_mode must be True or False"),
    (dict(x=np.ones((8, 4))), ValueError, "x must be 3-D"),
]


@pytest.mark.parametrize("change,exc,match", POOL_BAD, ids=[str(c) for c, _, _ in POOL_BAD])
def test_maxpool1d_bad_input(impl, change, exc, match):
    args = dict(x=np.ones((2, 8, 4)), pool_size=3, stride=None, padding=0, dilation=1, ceil_mode=False)
    args.update(change)
    with pytest.raises(exc, match=match):
        impl.maxpool1d_forward(**args)


def test_avgpool1d_bad_input_and_caches(impl):
    with pytest.raises(ValueError, match="divisor_override must be a non-zero int"):
        impl.avgpool1d_forward(np.ones((1, 6, 1)), 2, divisor_override=0)
    with pytest.raises(TypeError, match="count_include_pad must be True or False"):
        impl.avgpool1d_forward(np.ones((1, 6, 1)), 2, count_include_pad=None)
    with pytest.raises(ValueError, match="lies entirely in the padding"):
        impl.maxpool1d_forward(np.ones((1, 2, 1)), 2, 1, 1, 3)
    ym, cm = impl.maxpool1d_forward(np.ones((1, 6, 1)), 2)
    ya, ca = impl.avgpool1d_forward(np.ones((1, 6, 1)), 2)
    with pytest.raises(TypeError, match="cache must be the cache returned by avgpool1d_forward, got Pool1dCache"):
        impl.avgpool1d_backward(ya, cm)
    with pytest.raises(TypeError, match="cache must be the cache returned by maxpool1d_forward, got Pool1dCache"):
        impl.maxpool1d_backward(ym, ca)
    with pytest.raises(ValueError, match="dy has shape"):
        impl.maxpool1d_backward(np.ones((1, 2, 1)), cm)


def test_maxpool1d_long_windows_and_pickled_cache(dtype):
    # more than 256 taps: the fast kernel keeps int64 taps instead of one byte
    import pickle

    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 700, 3)).astype(dtype)
    for k, s in ((300, 200), (3, 2)):
        yr, cr = fastconv.reference.maxpool1d_forward(x, k, s, 1, 2, True)
        yf, cf = fastconv.maxpool1d_forward(x, k, s, 1, 2, True)
        np.testing.assert_array_equal(yf, yr)
        np.testing.assert_array_equal(cf.argmax, cr.argmax)
        dy = rng.standard_normal(yr.shape).astype(dtype)
        want = fastconv.reference.maxpool1d_backward(dy, cr)
        np.testing.assert_array_equal(fastconv.maxpool1d_backward(dy, cf), want)
        back = pickle.loads(pickle.dumps(cf))  # a plain Pool1dCache with the int64 argmax
        np.testing.assert_array_equal(back.argmax, cr.argmax)
        np.testing.assert_array_equal(fastconv.maxpool1d_backward(dy, back), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("length, channels", [(7, 1), (8, 3), (9, 4), (64, 13), (201, 64)])
def test_maxpool1d_k3s2_kernels_match_reference_bits(dtype, length, channels):
    # 3-tap stride-2 windows without padding have their own kernels; ties, NaNs, -0 and +-inf
    # gradients and every channel tail must come out bit for bit as the reference's loops give them
    rng = np.random.default_rng(length * 31 + channels)
    x = rng.integers(-3, 4, (3, length, channels)).astype(dtype)  # many ties
    x[0, rng.integers(0, length, 3), rng.integers(0, channels, 3)] = np.nan
    x[1, :, 0] = np.nan
    x[2, ::2] = -0.0
    for ceil in (False, True):
        yr, cr = fastconv.reference.maxpool1d_forward(x, 3, 2, 0, 1, ceil)
        yf, cf = fastconv.maxpool1d_forward(x, 3, 2, 0, 1, ceil)
        np.testing.assert_array_equal(yf, yr)
        assert np.array_equal(np.signbit(yf), np.signbit(yr))
        np.testing.assert_array_equal(cf.argmax, cr.argmax)
        dy = rng.standard_normal(yr.shape).astype(dtype)
        dy[..., 0] = -0.0
        dy[0, ::3, -1] = np.inf
        want = fastconv.reference.maxpool1d_backward(dy, cr)
        got = fastconv.maxpool1d_backward(dy, cf)
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))
        np.testing.assert_array_equal(fastconv.maxpool1d_backward(dy, cr), want)  # the general kernel


def test_maxpool1d_k3s2_matches_torch_large():
    # a row long enough for the non-temporal stores, against torch autograd
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 16385, 64)).astype(np.float32)
    y, cache = fastconv.maxpool1d_forward(x, 3, 2)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = fastconv.maxpool1d_backward(dy, cache)
    xt = _t(x)
    yt = F.max_pool1d(xt, 3, 2)
    yt.backward(torch.tensor(np.ascontiguousarray(dy.astype(np.float64).transpose(0, 2, 1))))
    np.testing.assert_array_equal(y, _nlc(yt).astype(np.float32))
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 1), rtol=1e-6, atol=0)


@pytest.mark.parametrize("level", simd_levels())
def test_each_simd_level_pool1d_and_conv1d_agree_with_reference(level, tmp_path):
    """At each instruction-set level this CPU runs, forced in a fresh process: the 3-tap stride-2
    max-pool kernels give the reference's bits, and conv1d forward/backward its values."""
    require_simd(level, tmp_path)
    code = (
        "import numpy as np, fastconv, fastconv.reference as R\n"
        "from fastconv import _simd\n"
        f"assert _simd.simd_level() == {level!r}, _simd.simd_level()\n"
        "rng = np.random.default_rng(1)\n"
        "for dt, rtol in ((np.float32, 1e-5), (np.float64, 1e-12)):\n"
        "    for length, c in ((9, 5), (40, 64)):\n"
        "        x = rng.integers(-3, 4, (2, length, c)).astype(dt)\n"
        "        x[0, 3, 0] = np.nan\n"
        "        y, cf = fastconv.maxpool1d_forward(x, 3, 2)\n"
        "        yr, cr = R.maxpool1d_forward(x, 3, 2)\n"
        "        np.testing.assert_array_equal(y, yr)\n"
        "        np.testing.assert_array_equal(cf.argmax, cr.argmax)\n"
        "        dy = rng.standard_normal(y.shape).astype(dt)\n"
        "        np.testing.assert_array_equal(fastconv.maxpool1d_backward(dy, cf), R.maxpool1d_backward(dy, cr))\n"
        "        w = rng.standard_normal((5, c, 3)).astype(dt)\n"
        "        b = rng.standard_normal(3).astype(dt)\n"
        "        y, cf = fastconv.conv1d_forward(x[1:], w, b, 'same')\n"
        "        yr, cr = R.conv1d_forward(x[1:], w, b, 'same')\n"
        "        dy = rng.standard_normal(y.shape).astype(dt)\n"
        "        for a, r in zip((y,) + fastconv.conv1d_backward(dy, cf), (yr,) + R.conv1d_backward(dy, cr)):\n"
        "            sc = max(1.0, float(np.abs(r).max()))\n"
        "            np.testing.assert_allclose(a, r, rtol=rtol, atol=rtol * sc)\n"
        "print('ok')\n"
    )
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"
