"""``layout="NCHW"``: every result equals the NHWC result transposed, bit for bit, in both backends."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import fastconv
import fastconv.reference as R
from fastconv import _layout
from fastconv import conv as conv_module
from fastconv._cache import ConvCache, PoolCache

from conftest import require_simd, run_python, simd_levels

IMPLS = [pytest.param(R, id="reference"), pytest.param(fastconv, id="fastconv")]

# (N, H, W, C, Cout, Kh, Kw, padding, stride): odd sizes, strides that do not divide, rectangles
CONV_CASES = [
    (2, 7, 6, 3, 4, 3, 3, 1, 1),
    (2, 8, 9, 5, 8, 3, 3, 0, 2),
    (1, 9, 7, 2, 3, 5, 3, 2, (2, 1)),
    (3, 5, 5, 16, 16, 3, 3, (1, 0), 1),
    (2, 6, 6, 1, 2, 2, 2, 0, 3),
    (2, 12, 11, 9, 12, 4, 4, 3, 2),
]
DTYPES = [(np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64)]


def _nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def _conv_data(case, xdt, wdt, seed=0):
    n, h, w, c, cout, kh, kw, _, _ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(xdt)
    wt = rng.standard_normal((kh, kw, c, cout)).astype(wdt)
    b = rng.standard_normal(cout).astype(wdt)
    return x, wt, b


def _assert_same(a, b, what):
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    np.testing.assert_array_equal(a, b, err_msg=what)


@pytest.mark.parametrize("m", IMPLS)
@pytest.mark.parametrize("xdt, wdt", DTYPES, ids=["f64", "f32", "f32-f64"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_nchw_is_transposed_nhwc(m, case, xdt, wdt):
    x, w, b = _conv_data(case, xdt, wdt)
    pad, stride = case[7], case[8]
    y, cache = m.conv2d_forward(x, w, b, pad, stride)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(xdt)
    dx, dw, db = m.conv2d_backward(dy, cache)

    xn, wn = _nchw(x), np.ascontiguousarray(w.transpose(3, 2, 0, 1))
    x0, w0, b0 = xn.copy(), wn.copy(), b.copy()
    yn, cn = m.conv2d_forward(xn, wn, b, pad, stride, layout="NCHW")
    assert isinstance(cn, ConvCache) and cn.layout == "NCHW" and cache.layout == "NHWC"
    dyn = _nchw(dy)
    dy0 = dyn.copy()
    dxn, dwn, dbn = m.conv2d_backward(dyn, cn)
    _assert_same(yn, _nchw(y), "y")
    _assert_same(dxn, _nchw(dx), "dx")
    _assert_same(dwn, np.ascontiguousarray(dw.transpose(3, 2, 0, 1)), "dw")
    _assert_same(dbn, db, "db")
    for a in (yn, dxn, dwn):
        assert a.flags.c_contiguous
    for a, a0 in ((xn, x0), (wn, w0), (b, b0), (dyn, dy0)):
        np.testing.assert_array_equal(a, a0)  # inputs untouched
    # the backward reads the layout from the cache; an explicit matching one is accepted
    _assert_same(m.conv2d_backward(dyn, cn, layout="NCHW")[0], dxn, "dx with layout='NCHW'")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_nchw_calls_take_the_short_path(monkeypatch, dtype):
    """Plain NCHW calls (ndarrays of one float dtype, int padding and stride) skip the general
    argument checks of both passes and give the same bits; other NCHW calls still get them."""
    x, w, b = _conv_data(CONV_CASES[1], dtype, dtype)
    xn, wn = _nchw(x), np.ascontiguousarray(w.transpose(3, 2, 0, 1))
    y, cache = fastconv.conv2d_forward(xn, wn, b, 0, 2, layout="NCHW")
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    want = (y,) + fastconv.conv2d_backward(dy, cache)
    calls = []

    def general(name):
        real = getattr(_layout, name)

        def spy(*args, **kw):
            calls.append(name)
            return real(*args, **kw)
        return spy

    for name in ("conv_inputs", "conv_dy"):
        monkeypatch.setattr(_layout, name, general(name))
    y2, cache2 = fastconv.conv2d_forward(xn[:, :, :, ::-1][:, :, :, ::-1], wn, b, 0, 2, layout="NCHW")
    got = (y2,) + fastconv.conv2d_backward(dy, cache2)
    assert calls == []
    for a, e, what in zip(got, want, ("y", "dx", "dw", "db")):
        _assert_same(a, e, what)
    # a tuple stride, an explicit backward layout: the general path, same results
    y3, cache3 = fastconv.conv2d_forward(xn, wn, b, 0, (2, 2), layout="NCHW")
    got = (y3,) + fastconv.conv2d_backward(dy, cache3, layout="NCHW")
    assert calls == ["conv_inputs", "conv_dy"]
    for a, e, what in zip(got, want, ("y", "dx", "dw", "db")):
        _assert_same(a, e, what)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case, family", [
    ((64, 8, 8, 1, 8, 3, 3, 1, 1), "small"),     # the digits layer
    ((9, 8, 8, 1, 8, 3, 3, 1, 1), "small"),      # fewer images than parts
    ((3, 9, 7, 2, 16, 3, 3, 1, 2), "small"),     # stride 2 (dx scattered), C = 2
    ((4, 6, 5, 3, 12, 3, 3, 0, 1), "small"),     # Cout not a whole number of vectors, no padding
    ((2, 10, 10, 1, 24, 5, 5, 2, 1), "small"),   # 25 taps, 24 output channels
    ((2, 13, 11, 16, 32, 3, 3, 1, 1), "winograd"),
    ((3, 9, 10, 33, 17, 3, 3, 0, 1), "winograd"),  # no padding, channels off the vector width
    ((1, 7, 20, 64, 64, 3, 3, 2, 1), "winograd"),  # padding 2; dw by Winograd too
])
def test_kernels_write_nchw_in_place(monkeypatch, case, family, dtype, threads):
    """Plain NCHW calls on the "small" family have y and dy transposed inside the kernels, image
    by image, and on "winograd" y and dx written into the NCHW planes by tile row: the same bits
    as the NHWC call, on any thread count, without those arrays' transpose passes."""
    x, w, b = _conv_data(case, dtype, dtype, seed=5)
    pad, stride = case[7], case[8]
    monkeypatch.setattr(conv_module, "_SMALL_PARALLEL_MIN_MACS", 0)  # every layer on `threads` threads
    prev = fastconv.set_num_threads(threads)
    try:
        y, cache = fastconv.conv2d_forward(x, w, b, pad, stride, algorithm=family)
        assert cache.family == family
        dy = np.random.default_rng(6).standard_normal(y.shape).astype(dtype)
        want = (y,) + fastconv.conv2d_backward(dy, cache)
        swaps = []
        real = _layout._swap

        def spy(a, axes, r, c):
            swaps.append(a.shape)
            return real(a, axes, r, c)

        monkeypatch.setattr(_layout, "_swap", spy)
        xn, wn, dyn = _nchw(x), np.ascontiguousarray(w.transpose(3, 2, 0, 1)), _nchw(dy)
        yn, cn = fastconv.conv2d_forward(xn, wn, b, pad, stride, algorithm=family, layout="NCHW")
        got = (yn,) + fastconv.conv2d_backward(dyn, cn)
        got_nodx = fastconv.conv2d_backward(dyn, cn, compute_dx=False)
    finally:
        fastconv.set_num_threads(prev)
    assert y.shape not in swaps  # y (NHWC) never went through a transpose pass
    if family == "small":
        assert dyn.shape not in swaps  # nor dy (NCHW)
    else:
        assert x.shape not in swaps  # nor dx (NHWC)
    _assert_same(got[0], _nchw(want[0]), "y")
    _assert_same(got[1], _nchw(want[1]), "dx")
    _assert_same(got[2], np.ascontiguousarray(want[2].transpose(3, 2, 0, 1)), "dw")
    _assert_same(got[3], want[3], "db")
    assert got_nodx[0] is None
    _assert_same(got_nodx[1], got[2], "dw without dx")


@pytest.mark.parametrize("m", IMPLS)
def test_conv_nchw_any_memory_order(m):
    x, w, b = _conv_data(CONV_CASES[1], np.float64, np.float64)
    xn, wn = _nchw(x), np.ascontiguousarray(w.transpose(3, 2, 0, 1))
    want, _ = m.conv2d_forward(xn, wn, b, 0, 2, layout="NCHW")
    got, _ = m.conv2d_forward(np.asfortranarray(xn), wn[:, :, ::-1, :][:, :, ::-1, :], b, 0, 2, layout="NCHW")
    _assert_same(got, want, "y of Fortran-order x")
    got, _ = m.conv2d_forward(xn.tolist(), wn, b, 0, 2, layout="NCHW")
    _assert_same(got, want, "y of a nested list")


@pytest.mark.parametrize("m", IMPLS)
def test_conv_nchw_empty_batch(m):
    x = np.zeros((0, 3, 5, 5))
    w = np.ones((4, 3, 3, 3))
    y, cache = m.conv2d_forward(x, w, np.zeros(4), 1, 1, layout="NCHW")
    assert y.shape == (0, 4, 5, 5)
    dx, dw, db = m.conv2d_backward(np.zeros(y.shape), cache)
    assert dx.shape == x.shape and dw.shape == w.shape and not dw.any() and db.shape == (4,)


def test_conv_nchw_fast_equals_reference():
    x, w, b = _conv_data(CONV_CASES[5], np.float64, np.float64, seed=3)
    xn, wn = _nchw(x), np.ascontiguousarray(w.transpose(3, 2, 0, 1))
    yr, cr = R.conv2d_forward(xn, wn, b, 3, 2, layout="NCHW")
    yf, cf = fastconv.conv2d_forward(xn, wn, b, 3, 2, layout="NCHW")
    np.testing.assert_allclose(yf, yr, rtol=1e-12, atol=1e-12)
    dy = np.random.default_rng(4).standard_normal(yr.shape)
    for gf, gr in zip(fastconv.conv2d_backward(dy, cf), R.conv2d_backward(dy, cr)):
        np.testing.assert_allclose(gf, gr, rtol=1e-12, atol=1e-11)


# (N, H, W, C, pool_size, stride)
POOL_CASES = [
    (2, 8, 8, 3, 2, None),
    (2, 7, 9, 5, 3, 2),
    (1, 9, 6, 4, (2, 3), 1),
    (3, 5, 5, 2, 2, (1, 2)),
    (2, 6, 6, 1, 6, None),
]


def _pool_input(case, dtype, ties=False):
    n, h, w, c = case[:4]
    rng = np.random.default_rng(7)
    if ties:  # few distinct values: many windows have tied maxima
        return rng.integers(0, 3, (n, h, w, c)).astype(dtype)
    return rng.standard_normal((n, h, w, c)).astype(dtype)


@pytest.mark.parametrize("m", IMPLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool_nchw_is_transposed_nhwc(m, case, dtype, ties):
    x = _pool_input(case, dtype, ties)
    p, s = case[4], case[5]
    y, cache = m.maxpool_forward(x, p, s)
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    dx = m.maxpool_backward(dy, cache)

    xn, dyn = _nchw(x), _nchw(dy)
    x0 = xn.copy()
    yn, cn = m.maxpool_forward(xn, p, s, layout="NCHW")
    assert isinstance(cn, PoolCache) and cn.layout == "NCHW"
    assert cn.x_shape == xn.shape and cn.y_shape == yn.shape
    assert cn.argmax.dtype == np.int64 and cn.argmax.shape == yn.shape
    _assert_same(yn, _nchw(y), "y")
    np.testing.assert_array_equal(cn.argmax, _nchw(cache.argmax))  # flat h*W + w per plane, as in NHWC
    dxn = m.maxpool_backward(dyn, cn)
    _assert_same(dxn, _nchw(dx), "dx")
    assert yn.flags.c_contiguous and dxn.flags.c_contiguous
    np.testing.assert_array_equal(xn, x0)
    # pickled (a plain PoolCache with NCHW fields): the backward still reads it as NCHW
    back = pickle.loads(pickle.dumps(cn))
    assert back.layout == "NCHW" and back.argmax.shape == yn.shape
    _assert_same(m.maxpool_backward(dyn, back), dxn, "dx from the unpickled cache")
    assert tuple(cn)[2].shape == yn.shape and cn[-1] == "NCHW"
    assert "layout='NCHW'" in repr(cn)


@pytest.mark.parametrize("m", IMPLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", POOL_CASES)
def test_avgpool_nchw_is_transposed_nhwc(m, case, dtype):
    x = _pool_input(case, dtype)
    p, s = case[4], case[5]
    y, cache = m.avgpool_forward(x, p, s)
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    dx = m.avgpool_backward(dy, cache)
    yn, cn = m.avgpool_forward(_nchw(x), p, s, layout="NCHW")
    assert cn.layout == "NCHW" and cn.argmax is None and cn.y_shape == yn.shape
    _assert_same(yn, _nchw(y), "y")
    _assert_same(m.avgpool_backward(_nchw(dy), cn), _nchw(dx), "dx")
    back = pickle.loads(pickle.dumps(cn))
    _assert_same(m.avgpool_backward(_nchw(dy), back), _nchw(dx), "dx from the unpickled cache")


def test_pool_nchw_fast_equals_reference():
    x = _nchw(_pool_input(POOL_CASES[1], np.float64, ties=True))
    yr, cr = R.maxpool_forward(x, 3, 2, layout="NCHW")
    yf, cf = fastconv.maxpool_forward(x, 3, 2, layout="NCHW")
    _assert_same(yf, yr, "y")
    np.testing.assert_array_equal(cf.argmax, cr.argmax)
    dy = np.random.default_rng(0).standard_normal(yr.shape)
    np.testing.assert_allclose(fastconv.maxpool_backward(dy, cf), R.maxpool_backward(dy, cr), rtol=1e-15, atol=0)
    # caches cross between the backends, as NHWC caches do
    np.testing.assert_allclose(fastconv.maxpool_backward(dy, cr), R.maxpool_backward(dy, cf), rtol=1e-15, atol=0)


@pytest.mark.parametrize("m", IMPLS)
def test_pool_nchw_empty_batch(m):
    y, cache = m.maxpool_forward(np.zeros((0, 3, 4, 4)), 2, layout="NCHW")
    assert y.shape == (0, 3, 2, 2) and cache.argmax.shape == (0, 3, 2, 2)
    assert m.maxpool_backward(np.zeros(y.shape), cache).shape == (0, 3, 4, 4)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("m", IMPLS)
@pytest.mark.parametrize("bad, exc", [("nchw", ValueError), ("CHWN", ValueError), ("", ValueError), (None, TypeError), (1, TypeError)])
def test_bad_layout(m, bad, exc):
    x = np.ones((1, 3, 4, 4))
    with pytest.raises(exc, match=r"layout must be 'NHWC' or 'NCHW'"):
        m.conv2d_forward(x, np.ones((2, 3, 3, 3)), np.zeros(2), layout=bad)
    with pytest.raises(exc, match=r"layout must be 'NHWC' or 'NCHW'"):
        m.maxpool_forward(x, layout=bad)
    with pytest.raises(exc, match=r"layout must be 'NHWC' or 'NCHW'"):
        m.avgpool_forward(x, layout=bad)
    y, cache = m.maxpool_forward(x)
    if bad is not None:  # None means "the cache's layout" in a backward call
        with pytest.raises(exc, match=r"layout must be 'NHWC' or 'NCHW'"):
            m.maxpool_backward(np.ones(y.shape), cache, layout=bad)


@pytest.mark.parametrize("m", IMPLS)
def test_backward_layout_must_match_cache(m):
    x = np.ones((1, 3, 4, 4))
    y, cache = m.conv2d_forward(x, np.ones((2, 3, 3, 3)), np.zeros(2), layout="NCHW")
    with pytest.raises(ValueError, match=r"layout='NHWC' but the cache comes from a layout='NCHW' forward call"):
        m.conv2d_backward(np.ones(y.shape), cache, layout="NHWC")
    y, cache = m.maxpool_forward(x)
    with pytest.raises(ValueError, match=r"layout='NCHW' but the cache comes from a layout='NHWC' forward call"):
        m.maxpool_backward(np.ones(y.shape), cache, layout="NCHW")
    y, cache = m.avgpool_forward(x, layout="NCHW")
    with pytest.raises(ValueError, match=r"layout='NHWC' but the cache comes from a layout='NCHW'"):
        m.avgpool_backward(np.ones(y.shape), cache, layout="NHWC")


@pytest.mark.parametrize("m", IMPLS)
def test_nchw_bad_shapes_speak_nchw(m):
    x = np.ones((2, 3, 6, 6))
    with pytest.raises(ValueError, match=r"w has 4 input channels but x has 3 \(x shape \(2, 3, 6, 6\) is \(N, C, H, W\)"):
        m.conv2d_forward(x, np.ones((5, 4, 3, 3)), np.zeros(5), layout="NCHW")
    with pytest.raises(ValueError, match=r"b has length 4 but w has 5 output channels"):
        m.conv2d_forward(x, np.ones((5, 3, 3, 3)), np.zeros(4), layout="NCHW")
    with pytest.raises(ValueError, match=r"x must be 4-D"):
        m.conv2d_forward(x[0], np.ones((5, 3, 3, 3)), np.zeros(5), layout="NCHW")
    y, cache = m.conv2d_forward(x, np.ones((5, 3, 3, 3)), np.zeros(5), layout="NCHW")
    with pytest.raises(ValueError, match=r"dy has shape \(2, 6, 6, 5\) but the forward output had shape \(2, 5, 6, 6\)"):
        m.conv2d_backward(np.ones((2, 6, 6, 5)), cache)
    y, cache = m.maxpool_forward(x, layout="NCHW")
    with pytest.raises(ValueError, match=r"dy has shape \(2, 3, 3, 2\) but the forward output had shape \(2, 3, 3, 3\)"):
        m.maxpool_backward(np.ones((2, 3, 3, 2)), cache)


@pytest.mark.parametrize("m", IMPLS)
def test_nchw_caches_are_checked(m):
    x = np.ones((2, 3, 6, 6))
    _, conv_cache = m.conv2d_forward(x, np.ones((5, 3, 3, 3)), np.zeros(5), layout="NCHW")
    _, max_cache = m.maxpool_forward(x, layout="NCHW")
    _, avg_cache = m.avgpool_forward(x, layout="NCHW")
    with pytest.raises(TypeError, match="cache must be the cache returned by maxpool_forward"):
        m.maxpool_backward(np.ones((2, 3, 3, 3)), avg_cache)
    with pytest.raises(TypeError, match="cache must be the cache returned by avgpool_forward"):
        m.avgpool_backward(np.ones((2, 3, 3, 3)), max_cache)
    with pytest.raises(TypeError, match="cache must be the cache returned by maxpool_forward"):
        m.maxpool_backward(np.ones((2, 5, 6, 6)), conv_cache)
    with pytest.raises(TypeError, match="cache must be the cache returned by conv2d_forward"):
        m.conv2d_backward(np.ones((2, 3, 3, 3)), max_cache)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 70, 45), (1, 1, 33), (3, 33, 1), (2, 64, 64), (0, 5, 5), (2, 0, 7)])
def test_transpose_kernel(shape, dtype):
    from fastconv import _transpose

    a = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    out = np.full((shape[0], shape[2], shape[1]), np.nan, dtype=dtype)
    _transpose.transpose_batch_kernel(a, out, 1)
    np.testing.assert_array_equal(out, a.transpose(0, 2, 1))


# --------------------------------------------------------------------------- transpose kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_transpose_kernel_every_path(dtype, threads):
    """The batched transpose equals NumPy's on short sides (the constant-count and generic narrow
    loops, float32's 4x4 blocks with ragged edges) and on tiled matrices, for 1 and 2 threads."""
    from fastconv import _transpose

    rng = np.random.default_rng(7)
    sides = (1, 2, 3, 4, 5, 8, 9, 16, 17, 33, 70)
    for r in sides:
        for c in sides:
            a = rng.standard_normal((3, r, c)).astype(dtype)
            out = np.full((3, c, r), np.nan, dtype=dtype)
            _transpose.transpose_batch_kernel(a, out, threads)
            np.testing.assert_array_equal(out, a.transpose(0, 2, 1), err_msg=f"r={r} c={c}")


@pytest.mark.parametrize("level", simd_levels())
def test_transpose_kernel_each_simd_level(level, tmp_path):
    """Under FASTCONV_SIMD=level (in a fresh process), float32 matrices with both sides at least 8
    (the register-block kernel: 16-column strips, an 8-column strip, ragged right columns and
    bottom rows; 16 and 32 columns staged in groups of rows, with the rows after the last whole
    group) and matrices split into several row units on 2 threads equal NumPy's transpose,
    and so do the NCHW conv results the NHWC results transposed."""
    require_simd(level, tmp_path)
    code = (
        "import numpy as np, fastconv\n"
        "from fastconv import _simd, _transpose\n"
        f"assert _simd.simd_level() == {level!r}, _simd.simd_level()\n"
        "rng = np.random.default_rng(3)\n"
        "shapes = [(2, r, c) for r in (8, 12, 16, 23, 64) for c in (8, 15, 16, 24, 40, 47)]\n"
        "shapes += [(2, 300, 70), (3, 2050, 9), (1, 9, 2100), (2, 64, 1024)]  # several row units\n"
        "shapes += [(2, 2050, 16), (3, 300, 32), (1, 1030, 32)]  # staged groups of rows, short tails\n"
        "for shape in shapes:\n"
        "    a = rng.standard_normal(shape).astype(np.float32)\n"
        "    for threads in (1, 2):\n"
        "        for stream in (False, True):\n"
        "            out = np.full((shape[0], shape[2], shape[1]), np.nan, np.float32)\n"
        "            _transpose.transpose_batch_kernel(a, out, threads, stream)\n"
        "            assert np.array_equal(out, a.transpose(0, 2, 1)), (shape, threads, stream)\n"
        "x = rng.standard_normal((2, 9, 10, 16)).astype(np.float32)\n"
        "w = rng.standard_normal((3, 3, 16, 24)).astype(np.float32)\n"
        "y, cache = fastconv.conv2d_forward(x, w, None)\n"
        "dy = rng.standard_normal(y.shape).astype(np.float32)\n"
        "dx, dw, _ = fastconv.conv2d_backward(dy, cache)\n"
        "yn, cn = fastconv.conv2d_forward(x.transpose(0, 3, 1, 2).copy(), w.transpose(3, 2, 0, 1).copy(), None,\n"
        "                                 layout='NCHW')\n"
        "dxn, dwn, _ = fastconv.conv2d_backward(dy.transpose(0, 3, 1, 2).copy(), cn)\n"
        "assert np.array_equal(yn, y.transpose(0, 3, 1, 2)) and np.array_equal(dxn, dx.transpose(0, 3, 1, 2))\n"
        "assert np.array_equal(dwn, dw.transpose(3, 2, 0, 1))\n"
        "print('ok')\n"
    )
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"


@pytest.mark.parametrize("threads", [1, 2])
def test_transpose_kernel_streamed_stores(threads):
    """stream=True (non-temporal stores of whole aligned destination lines) gives NumPy's transpose
    for destinations that start on a cache line, 16 bytes into one and at odd offsets, with row
    counts that are and are not multiples of 16, and leaves the memory around the output alone."""
    from fastconv import _transpose

    rng = np.random.default_rng(11)
    for r, c in ((64, 48), (1024, 32), (32, 1024), (80, 17), (23, 64), (16, 16)):
        a = rng.standard_normal((3, r, c)).astype(np.float32)
        for offset in (0, 1, 4, 5):  # elements past a 64-byte boundary
            raw = np.full(3 * r * c + 64, -1.0, dtype=np.float32)
            start = (-raw.ctypes.data % 64) // 4  # the first element on a 64-byte boundary
            buf = raw[start:start + 3 * r * c + 32]
            out = buf[offset:offset + 3 * r * c].reshape(3, c, r)
            _transpose.transpose_batch_kernel(a, out, threads, True)
            np.testing.assert_array_equal(out, a.transpose(0, 2, 1), err_msg=f"r={r} c={c} offset={offset}")
            assert (buf[:offset] == -1).all() and (buf[offset + 3 * r * c:] == -1).all()


def test_nchw_conv_with_streamed_transposes_is_the_nhwc_result(monkeypatch):
    """With every layout transpose streamed, NCHW conv results are the NHWC results transposed, bit
    for bit."""
    monkeypatch.setattr(_layout, "_STREAM_MIN_BYTES", 0)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 20, 24, 32)).astype(np.float32)
    w = rng.standard_normal((3, 3, 32, 48)).astype(np.float32)
    y, cache = fastconv.conv2d_forward(x, w, None)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, _ = fastconv.conv2d_backward(dy, cache)
    yn, cn = fastconv.conv2d_forward(x.transpose(0, 3, 1, 2).copy(), w.transpose(3, 2, 0, 1).copy(), None,
                                     layout="NCHW")
    dxn, dwn, _ = fastconv.conv2d_backward(dy.transpose(0, 3, 1, 2).copy(), cn)
    np.testing.assert_array_equal(yn, y.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(dxn, dx.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(dwn, dw.transpose(3, 2, 0, 1))


def test_transpose_kernel_rejects_wrong_out_shape():
    from fastconv import _transpose

    with pytest.raises(ValueError, match="transpose"):
        _transpose.transpose_batch_kernel(np.ones((2, 3, 4)), np.ones((2, 3, 4)), 1)
