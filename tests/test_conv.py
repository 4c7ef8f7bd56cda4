"""conv2d forward/backward, convolve2d and convolution_2d on both backends.

Expected values come from an independent NumPy formulation (sliding_window_view + einsum),
not from either implementation under test.
"""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from conftest import tol


def conv_einsum(x, w, b, pad, stride):
    """Independent conv forward: pad, take all windows, contract with einsum, subsample."""
    (ph, pw), (sh, sw) = pad, stride
    xp = np.pad(x.astype(np.float64), [(0, 0), (ph, ph), (pw, pw), (0, 0)])
    win = sliding_window_view(xp, w.shape[:2], axis=(1, 2))[:, ::sh, ::sw]  # N,Ho,Wo,C,Kh,Kw
    return np.einsum("nijcab,abco->nijo", win, w.astype(np.float64)) + b


def conv_grads_einsum(x, w, dy, pad, stride):
    """Independent conv backward via the adjoint of the einsum forward."""
    (ph, pw), (sh, sw) = pad, stride
    n, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    xp = np.pad(x.astype(np.float64), [(0, 0), (ph, ph), (pw, pw), (0, 0)])
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    ho, wo = dy.shape[1:3]
    win = win[:, :ho, :wo]
    dw = np.einsum("nijcab,nijo->abco", win, dy)
    dxp = np.zeros_like(xp)
    contrib = np.einsum("abco,nijo->nijabc", w.astype(np.float64), dy)
    for a in range(kh):
        for bb in range(kw):
            dxp[:, a : a + sh * ho : sh, bb : bb + sw * wo : sw, :] += contrib[:, :, :, a, bb, :]
    return dxp[:, ph : ph + h, pw : pw + wd, :], dw, dy.sum(axis=(0, 1, 2))


CASES = [  # (N, H, W, C), (Kh, Kw, Cout), padding, stride
    ((2, 8, 8, 1), (3, 3, 8), 1, 1),
    ((3, 7, 9, 2), (3, 2, 4), 0, 1),
    ((1, 10, 7, 3), (5, 5, 2), 2, 3),
    ((2, 9, 9, 4), (2, 3, 3), (1, 0), (2, 1)),
    ((1, 5, 6, 1), (1, 1, 1), 3, 4),
    ((2, 4, 4, 2), (4, 4, 3), 0, 1),
]


@pytest.mark.parametrize("xs,ks,pad,stride", CASES)
def test_conv2d_forward_backward_values(impl, dtype, rng, xs, ks, pad, stride):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((ks[0], ks[1], xs[3], ks[2])).astype(dtype)
    b = rng.standard_normal(ks[2]).astype(dtype)
    pp = (pad, pad) if isinstance(pad, int) else pad
    ss = (stride, stride) if isinstance(stride, int) else stride
    y, cache = impl.conv2d_forward(x, w, b, padding=pad, stride=stride)
    want = conv_einsum(x, w, b, pp, ss)
    assert y.dtype == dtype and y.shape == want.shape
    rtol, atol = tol(dtype)
    np.testing.assert_allclose(y, want, rtol=rtol * 10, atol=atol * 10 * np.abs(want).max())

    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = impl.conv2d_backward(dy, cache)
    wdx, wdw, wdb = conv_grads_einsum(x, w, dy.astype(np.float64), pp, ss)
    for got, exp in ((dx, wdx), (dw, wdw), (db, wdb)):
        assert got.dtype == dtype and got.shape == exp.shape
        np.testing.assert_allclose(got, exp, rtol=rtol * 10, atol=atol * 10 * max(1.0, np.abs(exp).max()))


def test_conv2d_default_padding_keeps_size(impl):
    x = np.ones((1, 5, 6, 1))
    y, _ = impl.conv2d_forward(x, np.ones((3, 3, 1, 1)), np.zeros(1))
    assert y.shape == (1, 5, 6, 1)
    assert y[0, 0, 0, 0] == 4.0 and y[0, 2, 2, 0] == 9.0


def test_conv2d_mixed_dtypes_follow_the_tutorial(impl, rng):
    """float32 x with float64 w (the tutorial's w1 under NumPy 2): y and dx float32, dw float64."""
    x = rng.random((2, 6, 6, 1), dtype=np.float32)
    w = rng.standard_normal((3, 3, 1, 4)).astype(np.float32) * np.sqrt(2 / 9)
    b = np.zeros(4, dtype=np.float32)
    assert w.dtype == np.float64
    y, cache = impl.conv2d_forward(x, w, b)
    assert y.dtype == np.float32
    # the sums are formed in float64 and rounded once, as the tutorial's loops do
    np.testing.assert_array_equal(y, conv_einsum(x, w, b, (1, 1), (1, 1)).astype(np.float32))
    dx, dw, db = impl.conv2d_backward(np.ones(y.shape, dtype=np.float32), cache)
    assert (dx.dtype, dw.dtype, db.dtype) == (np.float32, np.float64, np.float32)


def test_conv2d_integer_inputs_give_float64(impl):
    x = np.arange(2 * 4 * 4 * 1).reshape(2, 4, 4, 1)
    w = np.ones((2, 2, 1, 1), dtype=np.int32)
    y, cache = impl.conv2d_forward(x, w, np.zeros(1, dtype=np.int64), padding=0)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, conv_einsum(x, w, 0, (0, 0), (1, 1)))
    dx, dw, db = impl.conv2d_backward(np.ones(y.shape), cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float64


def test_conv2d_unread_rows_get_zero_gradient(impl, dtype):
    """With stride 3 over 8 rows and no padding, rows 6 and 7 are never read."""
    x = np.ones((1, 8, 8, 1), dtype=dtype)
    y, cache = impl.conv2d_forward(x, np.ones((3, 3, 1, 1), dtype=dtype), np.zeros(1, dtype=dtype), 0, 3)
    assert y.shape == (1, 2, 2, 1)
    dx, _, _ = impl.conv2d_backward(np.ones(y.shape, dtype=dtype), cache)
    assert np.all(dx[0, 6:, :, 0] == 0) and np.all(dx[0, :, 6:, 0] == 0)
    assert np.all(dx[0, :6, :6, 0] == 1)


def test_conv2d_empty_batch(impl, dtype):
    x = np.zeros((0, 5, 5, 2), dtype=dtype)
    w = np.ones((3, 3, 2, 4), dtype=dtype)
    y, cache = impl.conv2d_forward(x, w, np.ones(4, dtype=dtype))
    assert y.shape == (0, 5, 5, 4) and y.dtype == dtype
    dx, dw, db = impl.conv2d_backward(np.zeros(y.shape, dtype=dtype), cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == (4,)
    assert not dw.any() and not db.any()


def test_conv2d_does_not_modify_readonly_noncontiguous_inputs(impl, rng):
    base = rng.standard_normal((2, 9, 12, 3))
    x = base[:, ::1, ::2, :]  # non-contiguous
    w = np.asfortranarray(rng.standard_normal((3, 3, 3, 2)))
    b = rng.standard_normal(2)
    for a in (base, w, b):
        a.flags.writeable = False
    copies = [a.copy() for a in (x, w, b)]
    y, cache = impl.conv2d_forward(x, w, b, padding=(1, 2), stride=(2, 1))
    y2, cache2 = impl.conv2d_forward(x.copy(), w.copy(), b.copy(), padding=(1, 2), stride=(2, 1))
    np.testing.assert_array_equal(y, y2)
    dy = np.ones(y.shape)[:, ::-1]
    for got, exp in zip(impl.conv2d_backward(dy, cache), impl.conv2d_backward(dy.copy(), cache2)):
        np.testing.assert_array_equal(got, exp)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("stride", [1, 2, (1, 3)])
def test_convolution_2d_matches_windows(impl, rng, stride):
    a = rng.standard_normal((11, 13))
    k = rng.standard_normal((3, 4))  # rectangular
    out = impl.convolution_2d(a, k, stride=stride)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    want = np.einsum("ijab,ab->ij", sliding_window_view(a, k.shape)[::sh, ::sw], k)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_convolve2d_default_and_float32(impl, rng):
    a = rng.random((16, 9), dtype=np.float32)
    k = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    out = impl.convolve2d(a, k)
    assert out.shape == (14, 7) and out.dtype == np.float64
    want = np.einsum("ijab,ab->ij", sliding_window_view(a.astype(np.float64), k.shape), k)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda m: m.conv2d_forward(np.ones((4, 4, 1)), np.ones((3, 3, 1, 1)), np.ones(1)), r"x must be 4-D.*\(4, 4, 1\)"),
        (lambda m: m.conv2d_forward(np.ones((1, 4, 4, 2)), np.ones((3, 3, 1, 1)), np.ones(1)), r"w has 1 input channels but x has 2"),
        (lambda m: m.conv2d_forward(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), np.ones(3)), r"b has length 3.*2 output channels"),
        (lambda m: m.conv2d_forward(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), np.ones(1), padding=-1), r"padding must be non-negative"),
        (lambda m: m.conv2d_forward(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), np.ones(1), stride=0), r"stride must be >= 1"),
        (lambda m: m.conv2d_forward(np.ones((1, 2, 2, 1)), np.ones((5, 5, 1, 1)), np.ones(1), padding=1), r"kernel 5x5 is larger than the padded input 4x4"),
        (lambda m: m.convolution_2d(np.ones((4, 4)), np.ones((5, 5))), r"kernel 5x5 is larger"),
    ],
)
def test_conv_bad_input_messages(impl, call, match):
    with pytest.raises(ValueError, match=match):
        call(impl)


def test_conv_type_errors(impl):
    with pytest.raises(TypeError, match="stride"):
        impl.conv2d_forward(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), np.ones(1), stride=1.5)
    with pytest.raises(TypeError, match="x must have a real numeric dtype"):
        impl.conv2d_forward(np.array([["a"]]), np.ones((3, 3, 1, 1)), np.ones(1))
    y, cache = impl.conv2d_forward(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), np.ones(1))
    with pytest.raises(ValueError, match=r"dy has shape \(1, 4, 4, 2\) but the forward output had shape \(1, 4, 4, 1\)"):
        impl.conv2d_backward(np.ones((1, 4, 4, 2)), cache)


# --------------------------------------------------------------------------- compute_dx=
def test_conv2d_backward_without_dx(impl, dtype, rng):
    x = rng.standard_normal((2, 7, 6, 3)).astype(dtype)
    w = rng.standard_normal((3, 3, 3, 5)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    y, cache = impl.conv2d_forward(x, w, b, 1, 1)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = impl.conv2d_backward(dy, cache, compute_dx=False)
    assert dx is None
    _, dw_full, db_full = impl.conv2d_backward(dy, cache)
    np.testing.assert_array_equal(dw, dw_full)
    np.testing.assert_array_equal(db, db_full)
    with pytest.raises(TypeError, match="compute_dx must be True or False, got 'no'"):
        impl.conv2d_backward(dy, cache, compute_dx="no")


# --------------------------------------------------------------------------- algorithm=
def _spy_kernels(monkeypatch):
    """Count the forward/backward kernel calls of each family made through fastconv.conv (the
    Winograd family's backward kernels compute dx, tagged "dx", and dw, tagged "dw"; the small
    family's checked common calls, ``forward_plain``/``backward_plain``, where they ran)."""
    from fastconv import conv

    seen = []
    for family, module, fwd, bwd in (
        ("small", "_conv_small", "conv2d_forward_small_kernel", "conv2d_backward_small_kernel"),
        ("direct", "_conv_direct", "conv2d_forward_direct_kernel", "conv2d_backward_direct_kernel"),
        ("gemm", "_conv", "conv2d_forward_gemm_kernel", "conv2d_backward_gemm_kernel"),
        ("winograd", "_winograd", "winograd_forward", "winograd_backward_input"),
    ):
        mod = getattr(conv, module)
        for name, what in ((fwd, "fwd"), (bwd, "bwd")):
            fn = getattr(mod, name)

            def spy(*args, _fn=fn, _tag=(family, "dx" if family == "winograd" and what == "bwd" else what)):
                seen.append(_tag)
                return _fn(*args)

            monkeypatch.setattr(mod, name, spy)
    for name, tag in (("forward_plain", ("small", "fwd")), ("backward_plain", ("small", "bwd"))):
        fn = getattr(conv._conv_small, name)

        def plain_spy(*args, _fn=fn, _tag=tag):
            r = _fn(*args)
            if r is not None:
                seen.append(_tag)
            return r

        monkeypatch.setattr(conv._conv_small, name, plain_spy)
    dw_kernel = conv._winograd.winograd_backward_weights

    def dw_spy(*args, **kwargs):
        seen.append(("winograd", "dw"))
        return dw_kernel(*args, **kwargs)

    monkeypatch.setattr(conv._winograd, "winograd_backward_weights", dw_spy)
    return seen


ALGO_CASES = [  # (N, H, W, C), (Kh, Kw, Cout), padding, stride, the families that serve its forward and dx
    # (the first is the one "auto" picks)
    ((2, 8, 8, 1), (3, 3, 8), 1, 1, ("small", "winograd", "gemm")),      # the digits layer
    ((2, 9, 7, 8), (3, 3, 16), 1, 2, ("direct", "gemm")),                # 72 taps: too many for the small kernels
    ((2, 6, 6, 2), (3, 3, 4), 3, 1, ("gemm",)),                          # padding >= kernel, 4 output channels
    ((1, 64, 64, 48), (3, 3, 48), 1, 1, ("winograd", "direct", "gemm")),  # 3x3 stride 1, 48 -> 48, 4096 pixels
    ((2, 7, 9, 48), (3, 3, 48), 1, 1, ("direct", "winograd", "gemm")),   # the same with 126 output pixels
    ((1, 5, 6, 5), (3, 3, 4), 2, 1, ("gemm", "winograd")),               # winograd's dw by im2col + BLAS
    ((2, 7, 7, 8), (5, 5, 8), 1, 1, ("direct", "gemm")),                 # 5x5: not winograd
]


@pytest.mark.parametrize("xs,ks,pad,stride,serve", ALGO_CASES)
@pytest.mark.parametrize("algorithm", ["auto", "small", "winograd", "direct", "gemm"])
def test_conv2d_algorithm_forces_a_kernel_family(monkeypatch, dtype, rng, xs, ks, pad, stride, serve, algorithm):
    import fastconv
    import fastconv.reference as R

    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ks[:2] + (xs[3], ks[2])).astype(dtype)
    b = rng.standard_normal(ks[2]).astype(dtype)
    seen = _spy_kernels(monkeypatch)
    if algorithm != "auto" and algorithm not in serve:  # refused by the forward, or by the backward's dx
        with pytest.raises(ValueError, match=rf"conv2d_(for|back)ward cannot use algorithm='{algorithm}': the "
                                             rf"{algorithm} kernels"):
            y, cache = fastconv.conv2d_forward(x, w, b, pad, stride, algorithm=algorithm)
            fastconv.conv2d_backward(np.zeros(y.shape, dtype), cache)
        return
    y, cache = fastconv.conv2d_forward(x, w, b, pad, stride, algorithm=algorithm)
    assert cache.algorithm == algorithm
    dy = rng.standard_normal(y.shape).astype(dtype)
    grads = fastconv.conv2d_backward(dy, cache)
    family = serve[0] if algorithm == "auto" else algorithm  # auto: the first family that serves
    if family == "winograd":  # dw by Winograd from 16 channels on each side, else by the direct
        # kernels (im2col + BLAS below 8 output channels)
        from fastconv import conv

        if conv._winograd_dw_pays(ks[:2] + (xs[3], ks[2]), np.dtype(dtype)):
            dw_call = ("winograd", "dw")
        else:
            dw_call = ("direct" if ks[2] >= 8 else "gemm", "bwd")
        assert seen == [("winograd", "fwd"), dw_call, ("winograd", "dx")]
    else:  # (the GEMM backward computes a stride-1 dx with the GEMM forward kernel)
        assert seen[:2] == [(family, "fwd"), (family, "bwd")] and {f for f, _ in seen} == {family}
    yr, cr = R.conv2d_forward(x, w, b, pad, stride)
    rtol, atol = _winograd_tol(dtype) if family == "winograd" else tol(dtype)
    for got, want in zip((y,) + grads, (yr,) + R.conv2d_backward(dy, cr)):
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale)
        assert got.dtype == want.dtype


def test_conv2d_algorithm_direct_dx_needs_input_channels(rng):
    # the direct kernels serve this layer's forward and dw/db (16 output channels) but compute dx
    # only for 8 or more input channels: "auto" falls back to gemm for dx, a forced "direct" says why
    import fastconv

    x, w, b = rng.standard_normal((2, 6, 6, 3)), rng.standard_normal((3, 3, 3, 16)), np.zeros(16)
    y, cache = fastconv.conv2d_forward(x, w, b, algorithm="direct")
    with pytest.raises(ValueError, match=r"conv2d_backward cannot use algorithm='direct'.*at least 8 input channels.*has 3"):
        fastconv.conv2d_backward(np.ones_like(y), cache)
    dx, dw, db = fastconv.conv2d_backward(np.ones_like(y), cache, compute_dx=False)
    assert dx is None
    _, dw_auto, db_auto = fastconv.conv2d_backward(np.ones_like(y), fastconv.conv2d_forward(x, w, b)[1])
    np.testing.assert_allclose(dw, dw_auto, rtol=1e-12)


@pytest.mark.parametrize("bad", ["fast", "GEMM", None, 3, ["gemm"]])
def test_conv2d_algorithm_bad_value(bad):
    import fastconv

    with pytest.raises(ValueError, match=r"algorithm must be one of 'auto', 'small', 'winograd', 'direct', 'gemm'; got"):
        fastconv.conv2d_forward(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), np.ones(1), algorithm=bad)


def test_conv2d_algorithm_on_empty_batch(dtype):
    import fastconv

    x, w, b = np.ones((0, 5, 5, 2), dtype), np.ones((3, 3, 2, 4), dtype), np.arange(4, dtype=dtype)
    for algorithm in ("auto", "small", "winograd", "gemm"):
        y, cache = fastconv.conv2d_forward(x, w, b, algorithm=algorithm)
        dx, dw, db = fastconv.conv2d_backward(np.ones_like(y), cache)
        assert y.shape == (0, 5, 5, 4) and dx.shape == x.shape and not dw.any() and not db.any()
    with pytest.raises(ValueError, match="at least 8 output channels"):
        fastconv.conv2d_forward(x, w, b, algorithm="direct")



# --------------------------------------------------------------------------- algorithm="winograd"
def _winograd_tol(dtype):
    """(rtol, atol) for the Winograd kernels against the reference, atol relative to the largest
    value: their transforms cost float32 up to about 1e-5 of it (float64 stays at 1e-12)."""
    return (1e-4, 1e-4) if np.dtype(dtype) == np.float32 else (1e-12, 1e-12)


def _assert_winograd_close(got, want, dtype):
    rtol, atol = _winograd_tol(dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * max(1.0, float(np.abs(want).max())))
    assert got.dtype == want.dtype and got.shape == want.shape


WINOGRAD_CASES = [  # (N, H, W, C, Cout), padding
    ((1, 5, 5, 1, 1), 1),            # N = 1, one tile and a bit
    ((2, 7, 9, 3, 5), 0),            # odd sizes, no padding
    ((2, 9, 6, 17, 9), 2),           # padding 2: dx pads dy by 0
    ((3, 6, 11, 8, 16), (0, 2)),     # padding differs per axis
    ((1, 4, 13, 20, 33), (2, 1)),
    ((2, 1, 2, 2, 3), 2),            # fewer input pixels than a kernel
]


@pytest.mark.parametrize("shape,pad", WINOGRAD_CASES)
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_conv2d_winograd_equals_reference(dtype, rng, shape, pad, layout, monkeypatch):
    import fastconv
    import fastconv.reference as R
    from fastconv import conv

    monkeypatch.setattr(conv, "_PARALLEL_MIN_MACS", 0)  # threads over tile blocks even for small layers
    n, h, w_, c, co = shape
    x = rng.standard_normal((n, h, w_, c)).astype(dtype)
    w = rng.standard_normal((3, 3, c, co)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    x0, w0 = x.copy(), w.copy()
    if layout == "NCHW":
        xa, wa = np.ascontiguousarray(x.transpose(0, 3, 1, 2)), np.ascontiguousarray(w.transpose(3, 2, 0, 1))
    else:
        xa, wa = x, w
    seen = _spy_kernels(monkeypatch)
    y, cache = fastconv.conv2d_forward(xa, wa, b, pad, algorithm="winograd", layout=layout)
    yr, cr = R.conv2d_forward(x, w, b, pad)
    dy = rng.standard_normal(yr.shape).astype(dtype)
    dya = np.ascontiguousarray(dy.transpose(0, 3, 1, 2)) if layout == "NCHW" else dy
    dx, dw, db = fastconv.conv2d_backward(dya, cache)
    assert seen[0] == ("winograd", "fwd") and seen[-1] == ("winograd", "dx")
    if layout == "NCHW":
        y, dx, dw = y.transpose(0, 2, 3, 1), dx.transpose(0, 2, 3, 1), dw.transpose(2, 3, 1, 0)
    dxr, dwr, dbr = R.conv2d_backward(dy, cr)
    for got, want in ((y, yr), (dx, dxr), (dw, dwr), (db, dbr)):
        _assert_winograd_close(got, want, dtype)
    np.testing.assert_array_equal(x, x0)  # inputs are never written
    np.testing.assert_array_equal(w, w0)
    # skipping dx leaves dw and db bit-identical
    none, dw2, db2 = fastconv.conv2d_backward(dya, cache, compute_dx=False)
    assert none is None
    np.testing.assert_array_equal(dw2, dw if layout == "NHWC" else dw.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(db2, db)
    assert seen.count(("winograd", "dx")) == 1


def test_conv2d_winograd_mixed_dtypes_and_threads(rng, monkeypatch):
    """float32 x with float64 w computes in float64 (y, dx float32, dw float64, as every path);
    the thread count does not change a bit."""
    import fastconv
    import fastconv.reference as R
    from fastconv import conv

    monkeypatch.setattr(conv, "_PARALLEL_MIN_MACS", 0)
    x = rng.standard_normal((3, 10, 9, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 6, 10))
    b = np.zeros(10, np.float32)
    dy = rng.standard_normal((3, 10, 9, 10)).astype(np.float32)
    yr, cr = R.conv2d_forward(x, w, b)
    want = (yr,) + R.conv2d_backward(dy, cr)
    runs = []
    try:
        for nt in (1, 2, 3):
            fastconv.set_num_threads(nt)
            y, cache = fastconv.conv2d_forward(x, w, b, algorithm="winograd")
            runs.append((y,) + fastconv.conv2d_backward(dy, cache))
    finally:
        fastconv.set_num_threads(None)
    for got, exp in zip(runs[0], want):
        assert got.dtype == exp.dtype
        # computed in float64: float64 accuracy up to the final rounding of y and dx to float32
        np.testing.assert_allclose(got, exp, rtol=1e-6, atol=1e-6 * np.abs(exp).max())
    for other in runs[1:]:
        for a, bb in zip(runs[0], other):
            np.testing.assert_array_equal(a, bb)


@pytest.mark.parametrize(
    "xs,ks,pad,stride,why",
    [
        ((1, 8, 8, 4), (5, 5, 8), 2, 1, r"3x3 kernels only, w of shape \(5, 5, 4, 8\) has 5x5"),
        ((1, 8, 8, 4), (3, 1, 8), 1, 1, r"3x3 kernels only, w of shape \(3, 1, 4, 8\) has 3x1"),
        ((1, 8, 8, 4), (3, 3, 8), 1, 2, r"stride 1 only, got stride \(2, 2\)"),
        ((1, 8, 8, 4), (3, 3, 8), 1, (1, 2), r"stride 1 only, got stride \(1, 2\)"),
        ((1, 8, 8, 4), (3, 3, 8), 3, 1, r"padding 0 to 2, got padding \(3, 3\)"),
        ((1, 8, 8, 4), (3, 3, 8), (0, 4), 1, r"padding 0 to 2, got padding \(0, 4\)"),
    ],
)
def test_conv2d_winograd_refuses_with_a_reason(xs, ks, pad, stride, why):
    import fastconv

    x, w, b = np.ones(xs), np.ones(ks[:2] + (xs[3], ks[2])), np.zeros(ks[2])
    with pytest.raises(ValueError, match=r"conv2d_forward cannot use algorithm='winograd': the winograd kernels "
                                         r"take " + why):
        fastconv.conv2d_forward(x, w, b, pad, stride, algorithm="winograd")
    fastconv.conv2d_forward(x, w, b, pad, stride)  # "auto" serves it by another family


@pytest.mark.parametrize(
    "c,cout,pad,stride,kernel,winograd",
    [
        (16, 32, 1, 1, 3, True),     # the medium benchmark layer
        (32, 16, 1, 1, 3, True),
        (64, 64, 1, 1, 3, True),     # the large one
        (16, 64, 0, 1, 3, True),
        (128, 128, 2, 1, 3, True),
        (192, 192, 1, 1, 3, True),   # C + Cout = 384: 3200 pixels are enough
        (288, 384, 1, 1, 3, False),  # C + Cout above 640: never
        (1, 8, 1, 1, 3, False),      # the digits layer: the small kernels
        (8, 8, 1, 1, 3, False),      # too few channels: the transforms cost more than they save
        (16, 16, 1, 1, 3, False),
        (8, 64, 1, 1, 3, False),
        (64, 128, 1, 2, 3, False),   # stride 2
        (64, 64, 3, 1, 3, False),    # padding 3
        (64, 64, 2, 1, 5, False),    # 5x5
    ],
)
def test_conv2d_auto_picks_winograd_by_its_rule(rng, monkeypatch, winograd_rule_at, c, cout, pad, stride, kernel,
                                                winograd):
    """On an output of 40x40 pixels per image, 2 images (3200 pixels: enough for every layer up
    to C + Cout = 384 with the rule's AVX-512 numbers)."""
    import fastconv
    from fastconv import conv

    winograd_rule_at("avx512")

    x = rng.standard_normal((2, 40 + 2 - 2 * pad, 40 + 2 - 2 * pad, c)).astype(np.float32)
    w = rng.standard_normal((kernel, kernel, c, cout)).astype(np.float32)
    b = np.zeros(cout, np.float32)
    pixels = 3200 if stride == 1 and kernel == 3 else None
    for compute_dx in (False, True):
        assert (conv._choose("auto", w.shape, (pad, pad), compute_dx, "t", stride=(stride, stride), pixels=pixels)
                == "winograd") == winograd
    seen = _spy_kernels(monkeypatch)
    y, cache = fastconv.conv2d_forward(x, w, b, pad, stride)
    if pixels is not None:
        assert conv._output_pixels(y.shape) == pixels
    assert cache.algorithm == "auto"
    fastconv.conv2d_backward(np.ones_like(y), cache)
    assert (("winograd", "fwd") in seen and ("winograd", "dx") in seen) == winograd
    assert any(f == "winograd" for f, _ in seen) == winograd


@pytest.mark.parametrize(
    "level,n,h,w,c,cout,winograd",
    [
        ("avx512", 2, 40, 40, 16, 32, True),      # 3200 pixels; C + Cout under 96 takes 3072
        ("avx512", 2, 32, 32, 16, 32, False),     # 2048
        ("avx512", 2, 32, 32, 64, 64, True),      # 2048 from C + Cout = 96 to 384
        ("avx512", 1, 40, 40, 64, 64, False),     # 1600
        ("avx512", 8, 16, 16, 128, 128, True),    # 2048
        ("avx512", 6, 16, 16, 128, 128, False),   # 1536
        ("avx512", 2, 32, 32, 256, 256, False),   # 2048; C + Cout = 512 takes 3641
        ("avx512", 4, 32, 32, 192, 256, True),    # 4096; 448 takes 2788
        ("avx512", 16, 14, 14, 256, 384, False),  # 3136; 640 takes 5689
        ("avx512", 8, 28, 28, 256, 384, True),    # 6272
        ("avx512", 8, 28, 28, 384, 384, False),   # above 640: never
        ("avx2", 4, 32, 32, 16, 32, True),        # 4096 pixels: C + Cout under 96 takes 4096
        ("avx2", 3, 32, 32, 16, 32, False),       # 3072
        ("avx2", 2, 32, 32, 64, 64, True),        # 2048 from C + Cout = 96 on, as at AVX-512
        ("avx2", 6, 16, 16, 128, 128, False),     # 1536
        ("avx2", 2, 32, 32, 256, 256, True),      # 2048; 512 takes 2048 (up to 576)
        ("avx2", 16, 14, 14, 256, 384, True),     # 3136; 640 takes 2529
        ("avx2", 4, 28, 28, 384, 384, False),     # 3136; 768 takes 3641
        ("avx2", 8, 28, 28, 384, 384, True),      # 6272
        ("avx2", 8, 28, 28, 512, 512, False),     # above 768: never
        ("baseline", 2, 40, 40, 16, 32, True),    # the AVX-512 numbers
        ("baseline", 2, 32, 32, 16, 32, False),
    ],
)
def test_winograd_needs_enough_output_pixels(winograd_rule_at, level, n, h, w, c, cout, winograd):
    """"auto" leaves Winograd to the direct kernels where the output has too few pixels N*Ho*Wo
    for the layer's width C + Cout, whichever the other conditions, by the numbers of the SIMD
    level the kernels run at."""
    from fastconv import conv

    winograd_rule_at(level)
    pixels = conv._output_pixels((n, h, w, cout))
    assert pixels == n * h * w
    assert conv._winograd_pays((3, 3, c, cout)) is True  # the channel counts alone
    assert conv._winograd_pays((3, 3, c, cout), 1, pixels) is winograd
    assert (conv._choose("auto", (3, 3, c, cout), (1, 1), True, "t", pixels=pixels) == "winograd") is winograd


def test_winograd_pixel_rule_reads_the_compute_dtype(rng, monkeypatch):
    """The forward and the backward read the pixel rule of the dtype they compute in (float64's
    differs from float32's at AVX2); a float32 x with a float64 w computes in float64."""
    import fastconv
    import fastconv.reference as R
    from fastconv import conv

    rule = conv._WinogradRule
    monkeypatch.setattr(conv, "_WINOGRAD_RULE", {np.dtype(np.float32): rule(64, 64, 384, 640),
                                                 np.dtype(np.float64): rule(65, 65, 384, 640)})
    x = rng.standard_normal((1, 8, 8, 16))
    w = rng.standard_normal((3, 3, 16, 32)) / 12
    b = rng.standard_normal(32)
    want = {np.float32: "winograd", np.float64: "direct"}
    for xt, wt in [(np.float32, np.float32), (np.float64, np.float64), (np.float32, np.float64)]:
        ct = np.result_type(xt, wt).type
        assert conv._choose("auto", w.shape, (1, 1), True, "t", pixels=64, ct=np.dtype(ct)) == want[ct]
        y, cache = fastconv.conv2d_forward(x.astype(xt), w.astype(wt), b.astype(wt))
        assert cache.family == want[ct] and y.dtype == xt  # (y in x's dtype, computed in ct)
        grads = fastconv.conv2d_backward(np.ones_like(y), cache)
        yr, cr = R.conv2d_forward(x.astype(ct), w.astype(ct), b.astype(ct))
        rtol, atol = _winograd_tol(xt)
        for got, ref in zip((y,) + grads, (yr,) + R.conv2d_backward(np.ones_like(yr), cr)):
            np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol * max(1.0, float(np.abs(ref).max())))


@pytest.mark.parametrize("gmul", [False, True], ids=["blas", "gmul"])
@pytest.mark.parametrize("level", ["baseline", "avx2", "avx512"])
def test_winograd_dw_rule(winograd_rule_at, level, gmul):
    """Winograd's weight gradient replaces the direct kernels' from the level's channel count where
    its products are BLAS's, and from the 16-channel floor where they are the register-blocked
    kernel's (ungrouped_gmul(), Cout a multiple of GROUP_CHUNK); grouped layers always."""
    from fastconv import _winograd, conv

    winograd_rule_at(level)
    least = conv._WINOGRAD_DW_MIN_CHANNELS_AT[level]
    prev = _winograd.set_ungrouped_gmul(gmul)
    try:
        for dt in (np.float32, np.float64):
            dt = np.dtype(dt)
            for c, cout in [(16, 32), (32, 16), (32, 32), (24, 24), (48, 48), (64, 64), (8, 32)]:
                fast = gmul and cout % 16 == 0
                want = min(c, cout) >= (16 if fast else least)
                assert conv._winograd_dw_pays((3, 3, c, cout), dt) is want, (level, gmul, c, cout)
            assert conv._winograd_dw_pays((3, 3, 8, 32), dt, groups=4)
    finally:
        _winograd.set_ungrouped_gmul(prev)


@pytest.mark.parametrize("level", ["baseline", "avx2", "avx512"])
def test_winograd_min_pixels(winograd_rule_at, level):
    """The pixel counts of the rule: 3072 below C + Cout = 96 (4096 at AVX2), 2048 up to 384 (576 for
    float32 at AVX2), then growing with the square of C + Cout; none above 640 (768 for float32 at
    AVX2)."""
    from fastconv import conv

    winograd_rule_at(level)
    f64 = np.dtype(np.float64)
    assert conv._winograd_min_pixels(16, 32, f64) == (4096 if level == "avx2" else 3072)
    assert conv._winograd_min_pixels(48, 48, f64) == conv._winograd_min_pixels(192, 192, f64) == 2048
    assert conv._winograd_min_pixels(256, 256, f64) == 3641
    assert conv._winograd_min_pixels(256, 384, f64) == 5689
    assert conv._winograd_min_pixels(256, 385, f64) is None
    avx2 = level == "avx2"
    assert conv._winograd_min_pixels(16, 32) == conv._winograd_min_pixels(47, 48) == (4096 if avx2 else 3072)
    assert conv._winograd_min_pixels(48, 48) == conv._winograd_min_pixels(192, 192) == 2048
    assert conv._winograd_min_pixels(256, 256) == (2048 if avx2 else 3641)  # ceil(2048 * (512/384)**2)
    assert conv._winograd_min_pixels(256, 384) == (2529 if avx2 else 5689)
    assert conv._winograd_min_pixels(384, 384) == (3641 if avx2 else None)
    assert conv._winograd_min_pixels(384, 385) is None
    assert conv._winograd_min_pixels(256, 385) == (2537 if avx2 else None)
    least = [conv._winograd_min_pixels(s // 2, s - s // 2) for s in range(96, 641)]
    assert least == sorted(least)  # wider layers never need fewer pixels


@pytest.mark.parametrize(
    "padding,dilation,groups",
    [(((1, 2), (1, 1)), 1, 1), (((1, 2), (1, 1)), 1, 2), (((0, 0), (1, 0)), 1, 1)],
)
def test_conv2d_winograd_refuses_the_other_options(rng, padding, dilation, groups):
    """Winograd serves per-side padding only on dilated layers (tests/test_dilated_winograd.py):
    without dilation a ValueError says why, "auto" takes the direct kernels."""
    import fastconv
    import fastconv.reference as R

    x = rng.standard_normal((2, 9, 8, 32))
    w = rng.standard_normal((3, 3, 32 // groups, 32))
    with pytest.raises(ValueError, match=r"conv2d_forward cannot use algorithm='winograd': the winograd kernels "
                                         r"serve per-side padding only on dilated layers"):
        fastconv.conv2d_forward(x, w, None, padding, 1, dilation, groups, algorithm="winograd")
    y, cache = fastconv.conv2d_forward(x, w, None, padding, 1, dilation, groups)
    yr, _ = R.conv2d_forward(x, w, None, padding, 1, dilation, groups)
    np.testing.assert_allclose(y, yr, rtol=1e-12, atol=1e-12 * np.abs(yr).max())


def test_conv2d_winograd_without_bias_and_same_padding(rng, dtype):
    """b=None (db None) and padding='same' (symmetric for a 3x3 stride-1 layer) through Winograd."""
    import fastconv
    import fastconv.reference as R

    x = rng.standard_normal((2, 7, 10, 16)).astype(dtype)
    w = rng.standard_normal((3, 3, 16, 32)).astype(dtype)
    for algorithm in ("winograd", "auto"):
        y, cache = fastconv.conv2d_forward(x, w, None, "same", algorithm=algorithm)
        yr, cr = R.conv2d_forward(x, w, None, "same")
        _assert_winograd_close(y, yr, dtype)
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx, dw, db = fastconv.conv2d_backward(dy, cache)
        dxr, dwr, dbr = R.conv2d_backward(dy, cr)
        assert db is None and dbr is None
        _assert_winograd_close(dx, dxr, dtype)
        _assert_winograd_close(dw, dwr, dtype)


def test_winograd_wide_layer_against_reference():
    """A 160->160 layer through the Winograd family (its weight transform and the weight gradient's
    transform back over 36 * 160 * 160 values, by _winograd._left_matmul) equals the reference."""
    import fastconv
    import fastconv.reference as R

    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 6, 7, 160)).astype(np.float32)
    w = (rng.standard_normal((3, 3, 160, 160)) / 36).astype(np.float32)
    b = rng.standard_normal(160).astype(np.float32)
    y, cache = fastconv.conv2d_forward(x, w, b, 1, 1, algorithm="winograd")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    yr, cr = R.conv2d_forward(x, w, b, 1, 1)
    rtol, atol = _winograd_tol(np.float32)
    for got, want in zip((y,) + fastconv.conv2d_backward(dy, cache), (yr,) + R.conv2d_backward(dy, cr)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * max(1.0, float(np.abs(want).max())))


@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_left_matmul_is_the_product_in_a_fixed_order(nthreads):
    """_winograd._left_matmul (the transforms' products, without BLAS): a @ b to float64 rounding,
    batched or not, the same bits on any thread count; shapes that do not fit raise ValueError."""
    from fastconv import _winograd

    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 6)), rng.standard_normal((4, 6, 5000))
    out = _winograd._left_matmul(a, b, np.empty((4, 3, 5000)), nthreads)
    np.testing.assert_allclose(out, a @ b, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(out, _winograd._left_matmul(a, b, np.empty((4, 3, 5000)), 1))
    two = _winograd._left_matmul(a.T, b[0, :3], np.empty((6, 5000)), nthreads)
    np.testing.assert_allclose(two, a.T @ b[0, :3], rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="do not fit"):
        _winograd._left_matmul(a, b[0], np.empty((3, 4999)))
