"""Property-based parity: fastconv against fastconv.reference on generated shapes, paddings and strides.

The number of cases per test is set by the hypothesis profile (``HYPOTHESIS_PROFILE=ci``: 500,
``dev``: 60; see conftest.py). Tolerances are relative to the magnitude of the sums, i.e. the
same op applied to ``|operands|``: float64 1e-12, float32 1e-5.
"""
import json
import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastconv  # noqa: E402
import fastconv.reference as ref  # noqa: E402

FLOATS = [np.float32, np.float64]
# every dtype the API accepts; mixed cases draw each operand's dtype from these
ALL_DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.int8, np.bool_]
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


# worst |fastconv - reference| / (magnitude of the sums) seen per check; written to the file named
# by FASTCONV_PARITY_REPORT (if set) when the module finishes
WORST = {}


@pytest.fixture(scope="module", autouse=True)
def _report_worst_errors():
    yield
    path = os.environ.get("FASTCONV_PARITY_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(dict(sorted(WORST.items())), f, indent=1)


def expected_out_dtype(dtype):
    """The dtype rule of the API: a floating input keeps its dtype, everything else gives float64."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def compute_rtol(*dtypes):
    """float32's tolerance if any operand is float32 (its values carry only float32 precision, and
    the reference rounds some mixed-dtype intermediates in float32), else float64's."""
    if any(np.dtype(d) == np.float32 for d in dtypes):
        return RTOL[np.dtype(np.float32)]
    return RTOL[np.dtype(np.float64)]


def assert_close(actual, desired, scale, rtol, what):
    """|actual - desired| <= rtol * scale + tiny, elementwise; same shape; NaNs in the same places."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, f"{what}: shape {actual.shape} != reference {desired.shape}"
    a64, d64 = actual.astype(np.float64), desired.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(a64), np.isnan(d64), err_msg=f"{what}: NaN positions differ")
    ok = ~np.isnan(d64)
    bound = rtol * np.asarray(scale, dtype=np.float64) + 1e-300
    err = np.abs(a64 - d64)
    if err.size:
        rel = np.where(ok, err / np.broadcast_to(bound / rtol, err.shape), 0.0)
        key = f"{what} (rtol {rtol:g})"
        WORST[key] = max(WORST.get(key, 0.0), float(np.max(rel)))
    bad = ok & (err > np.broadcast_to(bound, err.shape))
    if bad.any():
        k = np.argwhere(bad)[0]
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {err.size} elements differ beyond rtol {rtol:g} of the sum magnitude; "
            f"first at {tuple(int(i) for i in k)}: fastconv {float(a64[tuple(k)])!r}, reference {float(d64[tuple(k)])!r}, scale {float(np.broadcast_to(bound, err.shape)[tuple(k)]) / rtol!r}"
        )


def make_array(seed, shape, dtype, kind="normal"):
    """Deterministic test data of ``shape`` and ``dtype``; ``kind='ties'`` draws few distinct values."""
    r = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return r.integers(0, 2, size=shape).astype(bool)
    if dtype.kind in "iu":
        lo = 0 if dtype.kind == "u" else -5
        return r.integers(lo, 6, size=shape).astype(dtype)
    if kind == "ties":
        return r.integers(-2, 3, size=shape).astype(dtype)
    return (r.standard_normal(size=shape) * r.choice([0.01, 1.0, 100.0])).astype(dtype)


# Most examples run the kernels on one thread (cheap on a loaded machine); one in four on two.
# tests/test_threads.py checks separately that every thread count gives bitwise the same result.
THREADS = st.sampled_from([1, 1, 1, 2])


@pytest.fixture(autouse=True)
def _restore_threads():
    prev = fastconv.set_num_threads(0)
    yield
    fastconv.set_num_threads(prev)


def pad_or_stride(lo, hi):
    """An int or an (h, w) pair (tuple or list), each in [lo, hi]."""
    one = st.integers(lo, hi)
    return st.one_of(one, st.tuples(one, one), st.lists(one, min_size=2, max_size=2))


def as_pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@st.composite
def conv_cases(draw, max_batch=4):
    """(N, H, W, C, Kh, Kw, Cout, padding, stride, seed): the kernel always fits the padded input."""
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = draw(pad_or_stride(0, 3))
    stride = draw(pad_or_stride(1, 4))
    ph, pw = as_pair(padding)
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    n = draw(st.integers(0, max_batch))
    c, cout = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, h, w, c, kh, kw, cout, padding, stride, seed


@st.composite
def pool_cases(draw):
    """(N, H, W, C, pool_size, stride or None, seed): the window always fits."""
    pool = draw(pad_or_stride(1, 5))
    ph, pw = as_pair(pool)
    stride = draw(st.one_of(st.none(), pad_or_stride(1, 4)))
    h, w = draw(st.integers(ph, 10)), draw(st.integers(pw, 10))
    n, c = draw(st.integers(0, 4)), draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, h, w, c, pool, stride, seed


def _conv_scale(x, w, b, padding, stride, dy):
    """Magnitudes of the forward and backward sums: the same ops on |operands| in float64."""
    ax, aw, ab = (np.abs(np.asarray(a, dtype=np.float64)) for a in (x, w, b))
    ys, cache = fastconv.conv2d_forward(ax, aw, ab, padding, stride)
    dxs, dws, dbs = fastconv.conv2d_backward(np.abs(np.asarray(dy, dtype=np.float64)), cache)
    return ys, dxs, dws, dbs


def _check_conv(x, w, b, padding, stride, dy_dtype, seed):
    y_f, cache_f = fastconv.conv2d_forward(x, w, b, padding, stride)
    y_r, cache_r = ref.conv2d_forward(x, w, b, padding, stride)
    dy = make_array(seed + 1, y_r.shape, dy_dtype)
    ys, dxs, dws, dbs = _conv_scale(x, w, b, padding, stride, dy)
    fwd_tol = compute_rtol(x.dtype, w.dtype, b.dtype)
    bwd_tol = compute_rtol(x.dtype, w.dtype, dy.dtype)
    assert y_f.dtype == y_r.dtype == expected_out_dtype(x.dtype)
    assert_close(y_f, y_r, ys, fwd_tol, "conv2d_forward y")
    dx_f, dw_f, db_f = fastconv.conv2d_backward(dy, cache_f)
    dx_r, dw_r, db_r = ref.conv2d_backward(dy, cache_r)
    assert dx_f.dtype == dx_r.dtype == expected_out_dtype(x.dtype)
    assert dw_f.dtype == dw_r.dtype == expected_out_dtype(w.dtype)
    assert db_f.dtype == db_r.dtype == expected_out_dtype(b.dtype)
    assert_close(dx_f, dx_r, dxs, bwd_tol, "conv2d_backward dx")
    assert_close(dw_f, dw_r, dws, bwd_tol, "conv2d_backward dw")
    assert_close(db_f, db_r, dbs, bwd_tol, "conv2d_backward db")


# --------------------------------------------------------------------------- convolution
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@given(case=conv_cases(), nt=THREADS)
def test_conv2d_forward_backward_parity(dtype, case, nt):
    fastconv.set_num_threads(nt)
    n, h, w_, c, kh, kw, cout, padding, stride, seed = case
    x = make_array(seed, (n, h, w_, c), dtype)
    w = make_array(seed + 2, (kh, kw, c, cout), dtype)
    b = make_array(seed + 3, (cout,), dtype)
    _check_conv(x, w, b, padding, stride, dtype, seed)


@given(case=conv_cases(max_batch=2), dts=st.tuples(*[st.sampled_from(ALL_DTYPES)] * 4), nt=THREADS)
def test_conv2d_mixed_and_integer_dtypes_parity(case, dts, nt):
    fastconv.set_num_threads(nt)
    n, h, w_, c, kh, kw, cout, padding, stride, seed = case
    x = make_array(seed, (n, h, w_, c), dts[0])
    w = make_array(seed + 2, (kh, kw, c, cout), dts[1])
    b = make_array(seed + 3, (cout,), dts[2])
    _check_conv(x, w, b, padding, stride, dts[3], seed)


def _image_case(draw):
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    h, w = draw(st.integers(kh, 14)), draw(st.integers(kw, 14))
    return h, w, kh, kw, draw(st.integers(0, 2**32 - 1))


@st.composite
def image_cases(draw):
    return _image_case(draw)


@st.composite
def strided_image_cases(draw):
    return _image_case(draw) + (draw(pad_or_stride(1, 4)),)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@given(case=image_cases(), nt=THREADS)
def test_convolve2d_parity(dtype, case, nt):
    fastconv.set_num_threads(nt)
    h, w, kh, kw, seed = case
    image, kernel = make_array(seed, (h, w), dtype), make_array(seed + 1, (kh, kw), dtype)
    out_f, out_r = fastconv.convolve2d(image, kernel), ref.convolve2d(image, kernel)
    assert out_f.dtype == out_r.dtype == np.float64
    scale = fastconv.convolve2d(np.abs(image.astype(np.float64)), np.abs(kernel.astype(np.float64)))
    assert_close(out_f, out_r, scale, RTOL[np.dtype(dtype)], "convolve2d")


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@given(case=strided_image_cases(), nt=THREADS)
def test_convolution_2d_parity(dtype, case, nt):
    fastconv.set_num_threads(nt)
    h, w, kh, kw, seed, stride = case
    image, kernel = make_array(seed, (h, w), dtype), make_array(seed + 1, (kh, kw), dtype)
    out_f, out_r = fastconv.convolution_2d(image, kernel, stride), ref.convolution_2d(image, kernel, stride)
    sh, sw = as_pair(stride)
    assert out_f.shape == ((h - kh) // sh + 1, (w - kw) // sw + 1)
    assert out_f.dtype == out_r.dtype == np.float64
    scale = fastconv.convolution_2d(np.abs(image.astype(np.float64)), np.abs(kernel.astype(np.float64)), stride)
    assert_close(out_f, out_r, scale, RTOL[np.dtype(dtype)], "convolution_2d")


@given(case=strided_image_cases(), dts=st.tuples(*[st.sampled_from(ALL_DTYPES)] * 2), nt=THREADS)
def test_convolution_2d_mixed_and_integer_dtypes_parity(case, dts, nt):
    fastconv.set_num_threads(nt)
    h, w, kh, kw, seed, stride = case
    image, kernel = make_array(seed, (h, w), dts[0]), make_array(seed + 1, (kh, kw), dts[1])
    out_f, out_r = fastconv.convolution_2d(image, kernel, stride), ref.convolution_2d(image, kernel, stride)
    assert out_f.dtype == out_r.dtype == np.float64
    scale = fastconv.convolution_2d(np.abs(image.astype(np.float64)), np.abs(kernel.astype(np.float64)), stride)
    assert_close(out_f, out_r, scale, compute_rtol(*dts), "convolution_2d mixed")


# --------------------------------------------------------------------------- pooling
def _check_maxpool(x, pool, stride, dy_dtype, seed):
    y_f, c_f = fastconv.maxpool_forward(x, pool, stride)
    y_r, c_r = ref.maxpool_forward(x, pool, stride)
    assert y_f.dtype == y_r.dtype == expected_out_dtype(x.dtype)
    np.testing.assert_array_equal(y_f, y_r)  # a max is exact
    assert c_f.argmax.dtype == np.int64 and c_f.argmax.shape == y_r.shape
    np.testing.assert_array_equal(c_f.argmax, c_r.argmax)
    dy = make_array(seed + 1, y_r.shape, dy_dtype)
    dx_f, dx_r = fastconv.maxpool_backward(dy, c_f), ref.maxpool_backward(dy, c_r)
    assert dx_f.dtype == dx_r.dtype == expected_out_dtype(x.dtype)
    # each dx element is a sum of the dy it received: scale by the sum of their magnitudes
    scale = ref.maxpool_backward(np.abs(dy.astype(np.float64)), c_r) if dy.size else 0.0
    assert_close(dx_f, dx_r, scale, compute_rtol(x.dtype, dy.dtype), "maxpool_backward dx")


def _check_avgpool(x, pool, stride, dy_dtype, seed):
    y_f, c_f = fastconv.avgpool_forward(x, pool, stride)
    y_r, c_r = ref.avgpool_forward(x, pool, stride)
    assert y_f.dtype == y_r.dtype == expected_out_dtype(x.dtype)
    ys = fastconv.avgpool_forward(np.abs(x.astype(np.float64)), pool, stride)[0]
    assert_close(y_f, y_r, ys, compute_rtol(x.dtype), "avgpool_forward y")
    dy = make_array(seed + 1, y_r.shape, dy_dtype)
    dx_f, dx_r = fastconv.avgpool_backward(dy, c_f), ref.avgpool_backward(dy, c_r)
    assert dx_f.dtype == dx_r.dtype == expected_out_dtype(x.dtype)
    dxs = fastconv.avgpool_backward(np.abs(dy.astype(np.float64)), c_f)
    assert_close(dx_f, dx_r, dxs, compute_rtol(x.dtype, dy.dtype), "avgpool_backward dx")


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@given(case=pool_cases(), kind=st.sampled_from(["normal", "ties", "nan"]), nt=THREADS)
def test_maxpool_forward_backward_argmax_parity(dtype, case, kind, nt):
    fastconv.set_num_threads(nt)
    n, h, w, c, pool, stride, seed = case
    x = make_array(seed, (n, h, w, c), dtype, "ties" if kind == "ties" else "normal")
    if kind == "nan" and x.size:
        x.reshape(-1)[np.random.default_rng(seed).integers(0, x.size, size=max(1, x.size // 7))] = np.nan
    _check_maxpool(x, pool, stride, dtype, seed)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@given(case=pool_cases(), nt=THREADS)
def test_avgpool_forward_backward_parity(dtype, case, nt):
    fastconv.set_num_threads(nt)
    n, h, w, c, pool, stride, seed = case
    _check_avgpool(make_array(seed, (n, h, w, c), dtype), pool, stride, dtype, seed)


@given(
    case=pool_cases(), dts=st.tuples(*[st.sampled_from(ALL_DTYPES)] * 2), mode=st.sampled_from(["max", "avg"]), nt=THREADS
)
def test_pool_mixed_and_integer_dtypes_parity(case, dts, mode, nt):
    fastconv.set_num_threads(nt)
    n, h, w, c, pool, stride, seed = case
    x = make_array(seed, (n, h, w, c), dts[0])
    (_check_maxpool if mode == "max" else _check_avgpool)(x, pool, stride, dts[1], seed)


@pytest.mark.parametrize("dtype", FLOATS + [np.int64, np.uint8], ids=["f32", "f64", "i64", "u8"])
@given(case=pool_cases(), two_d=st.booleans(), mode=st.sampled_from(["max", "avg"]), nt=THREADS)
def test_pooling_parity(dtype, case, two_d, mode, nt):
    fastconv.set_num_threads(nt)
    n, h, w, c, pool, stride, seed = case
    shape = (h, w) if two_d else (n, h, w, c)
    a = make_array(seed, shape, dtype)
    out_f = fastconv.pooling(a, pool, stride, mode)
    out_r = ref.pooling(a, pool, stride, mode)
    assert out_f.dtype == out_r.dtype == np.float64
    ph, pw = as_pair(pool)
    sh, sw = as_pair(stride) if stride is not None else (ph, pw)
    ho, wo = (h - ph) // sh + 1, (w - pw) // sw + 1
    squeeze = two_d or (n == 1 and c == 1)
    assert out_f.shape == ((ho, wo) if squeeze else (n, ho, wo, c))
    if mode == "max":
        np.testing.assert_array_equal(out_f, out_r)
    else:
        scale = fastconv.pooling(np.abs(a.astype(np.float64)), pool, stride, mode)
        assert_close(out_f, out_r, scale, RTOL[np.dtype(np.float64)], "pooling avg")


# --------------------------------------------------------------------------- dense / softmax
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@given(n=st.integers(0, 6), din=st.integers(1, 12), dout=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_dense_and_softmax_parity(dtype, n, din, dout, seed):
    x, w, b = make_array(seed, (n, din), dtype), make_array(seed + 1, (din, dout), dtype), make_array(seed + 2, (dout,), dtype)
    y_f, c_f = fastconv.dense_forward(x, w, b)
    y_r, c_r = ref.dense_forward(x, w, b)
    assert y_f.dtype == y_r.dtype
    rt = RTOL[np.dtype(dtype)]
    assert_close(y_f, y_r, np.abs(x.astype(float)) @ np.abs(w.astype(float)) + np.abs(b), rt, "dense y")
    dy = make_array(seed + 3, y_r.shape, dtype)
    ax, aw, ady = (np.abs(a.astype(np.float64)) for a in (x, w, dy))
    scales = (ady @ aw.T, ax.T @ ady, ady.sum(axis=0))
    grads = zip(("dx", "dw", "db"), fastconv.dense_backward(dy, c_f), ref.dense_backward(dy, c_r), scales)
    for name, gf, gr, scale in grads:
        assert gf.dtype == gr.dtype, name
        assert_close(gf, gr, scale, rt, f"dense_backward {name}")
    if n:
        labels = np.eye(dout)[np.random.default_rng(seed).integers(0, dout, size=n)]
        l_f, s_f = fastconv.softmax_crossentropy_forward(y_r, labels)
        l_r, s_r = ref.softmax_crossentropy_forward(y_r, labels)
        # the loss sums N*K terms of magnitude <= |log(1e-12)| / N
        assert_close(l_f, l_r, 28.0 * dout, rt, "softmax loss")
        assert_close(fastconv.softmax_crossentropy_backward(s_f), ref.softmax_crossentropy_backward(s_r), 1.0, rt,
                     "softmax backward")
