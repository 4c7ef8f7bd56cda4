"""Bad input gives a clear ValueError/TypeError; no call writes to its inputs; any layout gives the same numbers."""
import numpy as np
import pytest

import fastconv
import fastconv.reference

IMPLS = {"reference": fastconv.reference, "fastconv": fastconv}

X = np.ones((2, 5, 5, 3))
W = np.ones((3, 3, 3, 4))
B = np.zeros(4)


def _conv_cache(m):
    return m.conv2d_forward(X, W, B)[1]


def _max_cache(m):
    return m.maxpool_forward(X)[1]


def _avg_cache(m):
    return m.avgpool_forward(X)[1]


def _dense_cache(m):
    return m.dense_forward(np.ones((4, 3)), np.ones((3, 2)), np.zeros(2))[1]


# (id, call(m), exception, regex on the message): every message names the argument and shows
# the offending shapes or values.
BAD_CALLS = [
    # conv2d_forward: arrays
    ("conv-x-3d", lambda m: m.conv2d_forward(np.ones((5, 5, 3)), W, B), ValueError, r"x must be 4-D, got shape \(5, 5, 3\)"),
    ("conv-x-5d", lambda m: m.conv2d_forward(np.ones((1, 2, 5, 5, 3)), W, B), ValueError, r"x must be 4-D, got shape \(1, 2, 5, 5, 3\)"),
    ("conv-w-3d", lambda m: m.conv2d_forward(X, np.ones((3, 3, 3)), B), ValueError, r"w must be 4-D, got shape \(3, 3, 3\)"),
    ("conv-b-2d", lambda m: m.conv2d_forward(X, W, np.zeros((4, 1))), ValueError, r"b must be 1-D, got shape \(4, 1\)"),
    ("conv-b-scalar", lambda m: m.conv2d_forward(X, W, 0.0), ValueError, r"b must be 1-D, got shape \(\)"),
    ("conv-x-str", lambda m: m.conv2d_forward(np.full((1, 3, 3, 3), "a"), W, B), TypeError, r"x must have a real numeric dtype, got <U1 \(shape \(1, 3, 3, 3\)\)"),
    ("conv-x-complex", lambda m: m.conv2d_forward(X + 1j, W, B), TypeError, r"x must have a real numeric dtype, got complex128 \(shape \(2, 5, 5, 3\)\)"),
    ("conv-w-object", lambda m: m.conv2d_forward(X, W.astype(object), B), TypeError, r"w must have a real numeric dtype, got object \(shape \(3, 3, 3, 4\)\)"),
    ("conv-x-none", lambda m: m.conv2d_forward(None, W, B), TypeError, r"x must have a real numeric dtype, got object \(shape \(\)\)"),
    ("conv-x-ragged", lambda m: m.conv2d_forward([[1.0], [1.0, 2.0]], W, B), ValueError, r"x must be an array of numbers, got list"),
    ("conv-channels", lambda m: m.conv2d_forward(X, np.ones((3, 3, 2, 4)), B), ValueError, r"w has 2 input channels but x has 3 \(x shape \(2, 5, 5, 3\).*w shape \(3, 3, 2, 4\)"),
    ("conv-b-length", lambda m: m.conv2d_forward(X, W, np.zeros(3)), ValueError, r"b has length 3 but w has 4 output channels \(w shape \(3, 3, 3, 4\)\)"),
    ("conv-empty-kernel", lambda m: m.conv2d_forward(X, np.ones((0, 3, 3, 4)), B), ValueError, r"w must have a non-empty kernel, got shape \(0, 3, 3, 4\)"),
    ("conv-kernel-too-big", lambda m: m.conv2d_forward(X, np.ones((8, 3, 3, 4)), B, padding=1), ValueError, r"kernel 8x3 is larger than the padded input 7x7 \(x has shape \(2, 5, 5, 3\), padding \(1, 1\)\)"),
    ("conv-kernel-too-big-pair", lambda m: m.conv2d_forward(np.ones((1, 5, 2, 3)), W, B, padding=(1, 0)), ValueError, r"kernel 3x3 is larger than the padded input 7x2 \(x has shape \(1, 5, 2, 3\), padding \(1, 0\)\)"),
    # conv2d_forward: padding / stride
    ("conv-padding-negative", lambda m: m.conv2d_forward(X, W, B, padding=-1), ValueError, r"padding must be non-negative, got -1"),
    ("conv-padding-pair-negative", lambda m: m.conv2d_forward(X, W, B, padding=(0, -2)), ValueError, r"padding must be non-negative, got \(0, -2\)"),
    ("conv-padding-float", lambda m: m.conv2d_forward(X, W, B, padding=1.5), TypeError, r"padding must be an int or an \(h, w\) pair of ints, got 1.5"),
    ("conv-padding-str", lambda m: m.conv2d_forward(X, W, B, padding="full"), ValueError, r"padding must be an int, .* 'same' or 'valid', got 'full'"),
    ("conv-padding-none", lambda m: m.conv2d_forward(X, W, B, padding=None), TypeError, r"padding must be an int .* got None"),
    ("conv-padding-bool", lambda m: m.conv2d_forward(X, W, B, padding=True), TypeError, r"padding must be an int .* got True"),
    ("conv-padding-triple", lambda m: m.conv2d_forward(X, W, B, padding=(1, 2, 3)), ValueError, r"padding must be an int or an \(h, w\) pair, got \(1, 2, 3\)"),
    ("conv-padding-huge", lambda m: m.conv2d_forward(X, W, B, padding=2**62), ValueError, r"padding must be at most 2147483647, got 4611686018427387904"),
    ("conv-stride-zero", lambda m: m.conv2d_forward(X, W, B, stride=0), ValueError, r"stride must be >= 1, got 0"),
    ("conv-stride-pair-zero", lambda m: m.conv2d_forward(X, W, B, stride=[2, 0]), ValueError, r"stride must be >= 1, got \[2, 0\]"),
    ("conv-stride-float", lambda m: m.conv2d_forward(X, W, B, stride=2.0), TypeError, r"stride must be an int .* got 2.0"),
    ("conv-stride-huge", lambda m: m.conv2d_forward(X, W, B, stride=2**70), ValueError, r"stride must be at most 2147483647"),
    # conv2d_backward
    ("conv-bwd-dy-shape", lambda m: m.conv2d_backward(np.ones((2, 5, 5, 3)), _conv_cache(m)), ValueError, r"dy has shape \(2, 5, 5, 3\) but the forward output had shape \(2, 5, 5, 4\)"),
    ("conv-bwd-dy-str", lambda m: m.conv2d_backward(np.array(["a"]), _conv_cache(m)), TypeError, r"dy must have a real numeric dtype, got <U1 \(shape \(1,\)\)"),
    ("conv-bwd-cache-str", lambda m: m.conv2d_backward(np.ones((2, 5, 5, 4)), "junk"), TypeError, r"cache must be the cache returned by (fastconv\.)?conv2d_forward, got str"),
    ("conv-bwd-pool-cache", lambda m: m.conv2d_backward(np.ones((2, 2, 2, 3)), _max_cache(m)), TypeError, r"cache must be the cache returned by (fastconv\.)?conv2d_forward, got PoolCache"),
    # pooling layers
    ("maxpool-x-3d", lambda m: m.maxpool_forward(np.ones((5, 5, 3))), ValueError, r"x must be 4-D, got shape \(5, 5, 3\)"),
    ("maxpool-pool-zero", lambda m: m.maxpool_forward(X, 0), ValueError, r"pool_size must be >= 1, got 0"),
    ("maxpool-pool-float", lambda m: m.maxpool_forward(X, 2.5), TypeError, r"pool_size must be an int .* got 2.5"),
    ("maxpool-pool-too-big", lambda m: m.maxpool_forward(X, 6), ValueError, r"pool window 6x6 is larger than the padded input 5x5 \(x has shape \(2, 5, 5, 3\)"),
    ("maxpool-stride-zero", lambda m: m.maxpool_forward(X, 2, 0), ValueError, r"stride must be >= 1, got 0"),
    ("maxpool-bwd-dy-shape", lambda m: m.maxpool_backward(np.ones((2, 3, 3, 3)), _max_cache(m)), ValueError, r"dy has shape \(2, 3, 3, 3\) but the forward output had shape \(2, 2, 2, 3\)"),
    ("maxpool-bwd-avg-cache", lambda m: m.maxpool_backward(np.ones((2, 2, 2, 3)), _avg_cache(m)), TypeError, r"cache must be the cache returned by (fastconv\.)?maxpool_forward, got PoolCache"),
    ("maxpool-bwd-conv-cache", lambda m: m.maxpool_backward(np.ones((2, 5, 5, 4)), _conv_cache(m)), TypeError, r"cache must be the cache returned by (fastconv\.)?maxpool_forward, got ConvCache"),
    ("avgpool-x-5d", lambda m: m.avgpool_forward(np.ones((1, 2, 5, 5, 3))), ValueError, r"x must be 4-D, got shape \(1, 2, 5, 5, 3\)"),
    ("avgpool-pool-negative", lambda m: m.avgpool_forward(X, -2), ValueError, r"pool_size must be >= 1, got -2"),
    ("avgpool-pool-too-big-rect", lambda m: m.avgpool_forward(X, (2, 7)), ValueError, r"pool window 2x7 is larger than the padded input 5x5 \(x has shape \(2, 5, 5, 3\)"),
    ("avgpool-bwd-max-cache", lambda m: m.avgpool_backward(np.ones((2, 2, 2, 3)), _max_cache(m)), TypeError, r"cache must be the cache returned by (fastconv\.)?avgpool_forward, got PoolCache"),
    ("avgpool-bwd-none-cache", lambda m: m.avgpool_backward(np.ones((2, 2, 2, 3)), None), TypeError, r"cache must be the cache returned by (fastconv\.)?avgpool_forward, got NoneType"),
    ("avgpool-bwd-dy-shape", lambda m: m.avgpool_backward(np.ones((2, 2, 2)), _avg_cache(m)), ValueError, r"dy has shape \(2, 2, 2\) but the forward output had shape \(2, 2, 2, 3\)"),
    # tutorial image functions
    ("convolve2d-image-3d", lambda m: m.convolve2d(np.ones((3, 3, 3)), np.ones((2, 2))), ValueError, r"image must be 2-D, got shape \(3, 3, 3\)"),
    ("convolve2d-kernel-1d", lambda m: m.convolve2d(np.ones((3, 3)), np.ones(2)), ValueError, r"kernel must be 2-D, got shape \(2,\)"),
    ("convolve2d-kernel-too-big", lambda m: m.convolve2d(np.ones((3, 3)), np.ones((4, 2))), ValueError, r"kernel 4x2 is larger than the padded input 3x3 \(image has shape \(3, 3\)"),
    ("convolve2d-kernel-empty", lambda m: m.convolve2d(np.ones((3, 3)), np.ones((0, 2))), ValueError, r"kernel must be non-empty, got shape \(0, 2\)"),
    ("convolve2d-image-empty", lambda m: m.convolve2d(np.ones((0, 3)), np.ones((1, 1))), ValueError, r"kernel 1x1 is larger than the padded input 0x3 \(image has shape \(0, 3\)"),
    ("convolve2d-image-str", lambda m: m.convolve2d(np.array([["a", "b"]]), np.ones((1, 1))), TypeError, r"image must have a real numeric dtype, got <U1 \(shape \(1, 2\)\)"),
    ("convolution_2d-stride-zero", lambda m: m.convolution_2d(np.ones((5, 5)), np.ones((2, 2)), 0), ValueError, r"stride must be >= 1, got 0"),
    ("convolution_2d-stride-triple", lambda m: m.convolution_2d(np.ones((5, 5)), np.ones((2, 2)), (1, 2, 3)), ValueError, r"stride must be an int or an \(h, w\) pair, got \(1, 2, 3\)"),
    ("convolution_2d-input-1d", lambda m: m.convolution_2d(np.ones(5), np.ones((2, 2))), ValueError, r"input_array must be 2-D, got shape \(5,\)"),
    ("convolution_2d-kernel-too-big", lambda m: m.convolution_2d(np.ones((5, 5)), np.ones((6, 2))), ValueError, r"kernel 6x2 is larger than the padded input 5x5 \(input_array has shape \(5, 5\)"),
    ("pooling-mode", lambda m: m.pooling(np.ones((4, 4)), mode="min"), ValueError, r"mode must be 'max' or 'avg', got 'min'"),
    ("pooling-mode-list", lambda m: m.pooling(np.ones((4, 4)), mode=["max"]), ValueError, r"mode must be 'max' or 'avg', got \['max'\]"),
    ("pooling-input-3d", lambda m: m.pooling(np.ones((4, 4, 1))), ValueError, r"input_array must be 2-D or 4-D, got shape \(4, 4, 1\)"),
    ("pooling-pool-too-big", lambda m: m.pooling(np.ones((4, 4)), (5, 5)), ValueError, r"pool window 5x5 is larger than the padded input 4x4 \(x has shape \(1, 4, 4, 1\)"),
    ("pooling-stride-zero", lambda m: m.pooling(np.ones((4, 4)), (2, 2), 0), ValueError, r"stride must be >= 1, got 0"),
    # simple layers
    ("dense-x-1d", lambda m: m.dense_forward(np.ones(3), np.ones((3, 2)), np.zeros(2)), ValueError, r"x must be 2-D, got shape \(3,\)"),
    ("dense-features", lambda m: m.dense_forward(np.ones((4, 3)), np.ones((2, 2)), np.zeros(2)), ValueError, r"w has 2 input features but x has 3 \(x shape \(4, 3\), w shape \(2, 2\)\)"),
    ("dense-b-length", lambda m: m.dense_forward(np.ones((4, 3)), np.ones((3, 2)), np.zeros(3)), ValueError, r"b has length 3 but w has 2 outputs \(w shape \(3, 2\)\)"),
    ("dense-bwd-dy-shape", lambda m: m.dense_backward(np.ones((4, 3)), _dense_cache(m)), ValueError, r"dy has shape \(4, 3\) but the forward output had shape \(4, 2\)"),
    ("dense-bwd-cache", lambda m: m.dense_backward(np.ones((4, 2)), None), TypeError, r"cache must be the cache returned by dense_forward \(a tuple of 3\), got NoneType"),
    ("softmax-labels-shape", lambda m: m.softmax_crossentropy_forward(np.ones((4, 3)), np.ones((4, 2))), ValueError, r"labels has shape \(4, 2\) but logits has shape \(4, 3\)"),
    ("softmax-labels-indices", lambda m: m.softmax_crossentropy_forward(np.ones((4, 3)), np.array([0, 1, 2, 0])), ValueError, r"labels must be 2-D, got shape \(4,\)"),
    ("softmax-logits-1d", lambda m: m.softmax_crossentropy_forward(np.ones(3), np.ones(3)), ValueError, r"logits must be 2-D, got shape \(3,\)"),
    ("softmax-bwd-cache", lambda m: m.softmax_crossentropy_backward(None), TypeError, r"cache must be the cache returned by softmax_crossentropy_forward"),
    ("relu-x-str", lambda m: m.relu_forward(np.array(["a"])), TypeError, r"x must have a real numeric dtype, got <U1 \(shape \(1,\)\)"),
    ("relu-bwd-dy-shape", lambda m: m.relu_backward(np.ones(3), np.ones(4)), ValueError, r"dy has shape \(3,\) but the forward output had shape \(4,\)"),
    ("relu-bwd-cache", lambda m: m.relu_backward(np.ones(3), None), TypeError, r"cache must be the cache returned by relu_forward, got NoneType"),
    ("flatten-x-0d", lambda m: m.flatten_forward(np.float64(3.0)), ValueError, r"x must have a batch axis, got shape \(\)"),
    ("flatten-bwd-size", lambda m: m.flatten_backward(np.ones(5), (2, 3)), ValueError, r"dy has shape \(5,\), which does not reshape to the input shape \(2, 3\)"),
    ("flatten-bwd-cache", lambda m: m.flatten_backward(np.ones(6), None), TypeError, r"cache must be the cache returned by flatten_forward, got NoneType"),
]


def test_table_is_large_enough():
    assert len(BAD_CALLS) >= 40
    assert len({c[0] for c in BAD_CALLS}) == len(BAD_CALLS)


@pytest.mark.parametrize("impl_name", list(IMPLS))
@pytest.mark.parametrize("name,call,exc,pattern", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises_clear_error(impl_name, name, call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call(IMPLS[impl_name])


@pytest.mark.parametrize("bad", [-1, "2", 1.5, True])
def test_set_num_threads_bad_argument(bad):
    with pytest.raises((ValueError, TypeError), match=r"n must be"):
        fastconv.set_num_threads(bad)


# --------------------------------------------------------------------------- inputs stay untouched
def _frozen(*arrays):
    """Read-only copies of ``arrays`` (any write raises) plus pristine copies to compare with."""
    out = []
    for a in arrays:
        a = np.array(a)
        a.flags.writeable = False
        out.append(a)
    return out, [a.copy() for a in out]


def _all_calls(m, rng, dtype):
    """Every public function once, on read-only inputs; yields (name, inputs, originals)."""
    x = rng.normal(size=(2, 6, 5, 3)).astype(dtype)
    w = rng.normal(size=(3, 2, 3, 4)).astype(dtype)
    b = rng.normal(size=4).astype(dtype)
    (x, w, b), orig = _frozen(x, w, b)
    y, cache = m.conv2d_forward(x, w, b, (1, 2), (2, 1))
    (dy,), dy0 = _frozen(rng.normal(size=y.shape).astype(dtype))
    m.conv2d_backward(dy, cache)
    yield "conv2d", (x, w, b, dy), orig + dy0
    for fwd, bwd in ((m.maxpool_forward, m.maxpool_backward), (m.avgpool_forward, m.avgpool_backward)):
        y, cache = fwd(x, (2, 3), 1)
        (dy,), dy0 = _frozen(rng.normal(size=y.shape).astype(dtype))
        bwd(dy, cache)
        yield fwd.__name__, (x, dy), orig[:1] + dy0
    (img, ker), orig2 = _frozen(rng.normal(size=(7, 6)).astype(dtype), rng.normal(size=(3, 2)).astype(dtype))
    m.convolve2d(img, ker)
    m.convolution_2d(img, ker, 2)
    m.pooling(img, (2, 2), None, "max")
    m.pooling(x, (2, 2), 1, "avg")
    yield "image functions", (img, ker, x), orig2 + orig[:1]
    (xd, wd, bd), origd = _frozen(rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=3))
    yd, cd = m.dense_forward(xd, wd, bd)
    (dyd, lab), origl = _frozen(rng.normal(size=yd.shape), np.eye(3)[[0, 1, 2, 0]])
    m.dense_backward(dyd, cd)
    loss, cs = m.softmax_crossentropy_forward(yd, lab)
    m.softmax_crossentropy_backward(cs)
    r, cr = m.relu_forward(xd)
    m.relu_backward(dyd @ wd.T, cr)
    f, cf = m.flatten_forward(x)
    m.flatten_backward(f, cf)
    yield "simple layers", (xd, wd, bd, dyd, lab, x), origd + origl + orig[:1]


@pytest.mark.parametrize("impl_name", list(IMPLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_no_call_modifies_its_inputs(impl_name, dtype):
    rng = np.random.default_rng(7)
    seen = 0
    # read-only inputs: any write by the implementation would raise "assignment destination is read-only"
    for name, inputs, originals in _all_calls(IMPLS[impl_name], rng, dtype):
        for a, a0 in zip(inputs, originals):
            np.testing.assert_array_equal(a, a0, err_msg=name)
            seen += 1
    assert seen >= 15


@pytest.mark.parametrize("impl_name", list(IMPLS))
def test_outputs_do_not_alias_writable_inputs(impl_name):
    """Writing into a returned gradient must not change the caller's arrays or the cache's copy of them."""
    m = IMPLS[impl_name]
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(2, 4, 4, 2)), rng.normal(size=(3, 3, 2, 2)), rng.normal(size=2)
    x0, w0, b0 = x.copy(), w.copy(), b.copy()
    y, cache = m.conv2d_forward(x, w, b)
    dy = rng.normal(size=y.shape)
    dx, dw, db = m.conv2d_backward(dy, cache)
    for g in (y, dx, dw, db):
        g[...] = 12345.0
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(b, b0)
    dx2, dw2, db2 = m.conv2d_backward(dy, cache)
    assert not np.any(dx2 == 12345.0) and not np.any(dw2 == 12345.0)


# --------------------------------------------------------------------------- layouts
def _layouts(a):
    """``a`` as: a non-contiguous view, Fortran order, read-only, and a transposed-back copy."""
    big = np.zeros(tuple(2 * s + 1 for s in a.shape), dtype=a.dtype)
    view = big[tuple(slice(1, None, 2) for _ in a.shape)]
    view[...] = a
    fort = np.asfortranarray(a)
    ro = a.copy()
    ro.flags.writeable = False
    rev = np.ascontiguousarray(a.transpose(tuple(range(a.ndim))[::-1])).transpose(tuple(range(a.ndim))[::-1])
    return {"strided": view, "fortran": fort, "readonly": ro, "reversed-strides": rev}


def _results(m, x, w, b, img, ker, dy_seed):
    y, cache = m.conv2d_forward(x, w, b, (1, 0), (1, 2))
    dy = np.random.default_rng(dy_seed).normal(size=y.shape)
    out = [y, *m.conv2d_backward(dy, cache)]
    for fwd, bwd in ((m.maxpool_forward, m.maxpool_backward), (m.avgpool_forward, m.avgpool_backward)):
        yp, cp = fwd(x, (2, 2), 1)
        out += [yp, bwd(np.random.default_rng(dy_seed).normal(size=yp.shape), cp)]
    out += [m.convolve2d(img, ker), m.convolution_2d(img, ker, (2, 1)), m.pooling(img, 2), m.pooling(img, 3, 2, "avg")]
    return out


@pytest.mark.parametrize("impl_name", list(IMPLS))
@pytest.mark.parametrize("layout", ["strided", "fortran", "readonly", "reversed-strides"])
def test_any_layout_gives_the_same_numbers(impl_name, layout):
    m = IMPLS[impl_name]
    rng = np.random.default_rng(11)
    arrays = [rng.normal(size=(3, 6, 5, 2)), rng.normal(size=(3, 2, 2, 4)), rng.normal(size=4),
              rng.normal(size=(7, 8)), rng.normal(size=(3, 2))]
    clean = _results(m, *arrays, dy_seed=5)
    other = _results(m, *[_layouts(a)[layout] for a in arrays], dy_seed=5)
    for c, o in zip(clean, other):
        assert c.dtype == o.dtype and c.shape == o.shape
        if impl_name == "fastconv":  # the wrapper hands the kernels a C-contiguous copy: bitwise equal
            np.testing.assert_array_equal(o, c)
        else:  # np.sum over a differently strided window may add in another order
            np.testing.assert_allclose(o, c, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("impl_name", list(IMPLS))
@pytest.mark.parametrize("int_dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_integer_inputs_give_the_float64_numbers(impl_name, int_dtype):
    m = IMPLS[impl_name]
    rng = np.random.default_rng(2)
    ints = [rng.integers(0, 4, size=s).astype(int_dtype) for s in [(2, 6, 5, 2), (3, 2, 2, 4), (4,), (7, 8), (3, 2)]]
    as_float = [a.astype(np.float64) for a in ints]
    for r_int, r_float in zip(_results(m, *ints, dy_seed=1), _results(m, *as_float, dy_seed=1)):
        assert r_int.dtype == np.float64
        np.testing.assert_array_equal(r_int, r_float)


# --------------------------------------------------------------------------- empty batch
@pytest.mark.parametrize("impl_name", list(IMPLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_empty_batch_gives_empty_results_of_the_right_shapes(impl_name, dtype):
    m = IMPLS[impl_name]
    x = np.zeros((0, 7, 6, 3), dtype=dtype)
    w, b = np.ones((3, 2, 3, 5), dtype=dtype), np.ones(5, dtype=dtype)
    y, cache = m.conv2d_forward(x, w, b, 1, 2)
    assert y.shape == (0, 4, 4, 5) and y.dtype == dtype
    dx, dw, db = m.conv2d_backward(np.zeros(y.shape, dtype), cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert dx.dtype == dw.dtype == db.dtype == dtype
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)
    for fwd, bwd in ((m.maxpool_forward, m.maxpool_backward), (m.avgpool_forward, m.avgpool_backward)):
        yp, cp = fwd(x, (2, 3), 1)
        assert yp.shape == (0, 6, 4, 3) and yp.dtype == dtype
        dxp = bwd(np.zeros(yp.shape, dtype), cp)
        assert dxp.shape == x.shape and dxp.dtype == dtype
    _, cm = m.maxpool_forward(x, 2)
    assert cm.argmax.shape == (0, 3, 3, 3) and cm.argmax.dtype == np.int64
    assert m.pooling(x, 2).shape == (0, 3, 3, 3)
    yd, cd = m.dense_forward(np.zeros((0, 4), dtype), np.ones((4, 2), dtype), np.ones(2, dtype))
    assert yd.shape == (0, 2)
    gx, gw, gb = m.dense_backward(np.zeros((0, 2), dtype), cd)
    assert gx.shape == (0, 4) and gw.shape == (4, 2) and gb.shape == (2,)
    f, cf = m.flatten_forward(x)
    assert f.shape == (0, 7 * 6 * 3) and m.flatten_backward(f, cf).shape == x.shape
