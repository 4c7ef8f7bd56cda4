"""Max/avg pooling layers and the tutorial's ``pooling`` on both backends."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view


def windows(x, pool, stride):
    """(N, Ho, Wo, C, ph, pw) windows of an NHWC array: an independent formulation."""
    return sliding_window_view(x, pool, axis=(1, 2))[:, :: stride[0], :: stride[1]]


@pytest.mark.parametrize("pool,stride", [(2, None), (3, 2), ((2, 3), (1, 2)), (1, 1), ((3, 1), (4, 1))])
def test_maxpool_values_and_argmax(impl, dtype, rng, pool, stride):
    x = rng.standard_normal((3, 9, 8, 4)).astype(dtype)
    y, cache = impl.maxpool_forward(x, pool_size=pool, stride=stride)
    p = (pool, pool) if isinstance(pool, int) else pool
    s = p if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
    win = windows(x, p, s)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, win.max(axis=(4, 5)))
    am = cache.argmax
    assert am.dtype == np.int64 and am.shape == y.shape
    rows, cols = np.divmod(am, x.shape[2])
    n, _, _, c = np.indices(y.shape)
    np.testing.assert_array_equal(x[n, rows, cols, c], y)  # argmax points at the maximum


@pytest.mark.parametrize("pool,stride", [(2, None), (3, 2), ((2, 3), (1, 2)), (3, 1)])
def test_maxpool_backward_routes_to_argmax(impl, dtype, rng, pool, stride):
    x = rng.standard_normal((2, 9, 8, 3)).astype(dtype)
    y, cache = impl.maxpool_forward(x, pool, stride)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = impl.maxpool_backward(dy, cache)
    want = np.zeros(x.shape)
    rows, cols = np.divmod(cache.argmax, x.shape[2])
    n, _, _, c = np.indices(y.shape)
    np.add.at(want, (n, rows, cols, c), dy.astype(np.float64))  # overlapping windows add up
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, want, rtol=1e-6, atol=1e-6)


def test_maxpool_ties_go_to_first_maximum(impl, dtype):
    x = np.zeros((1, 4, 4, 2), dtype=dtype)
    x[0, 2:, 2:, 1] = 5.0  # a tied window: all four equal
    y, cache = impl.maxpool_forward(x)
    # first maximum in row-major window order: the window's top-left corner
    np.testing.assert_array_equal(cache.argmax[0, :, :, 0], [[0, 2], [8, 10]])
    np.testing.assert_array_equal(cache.argmax[0, :, :, 1], [[0, 2], [8, 10]])
    dx = impl.maxpool_backward(np.ones(y.shape, dtype=dtype), cache)
    assert dx.sum() == 8 and dx[0, 0, 0, 0] == 1 and dx[0, 1, 1, 0] == 0
    # the tutorial picks ties with np.argmax: same rule
    assert np.argmax(x[0, 2:4, 2:4, 1]) == 0


def test_maxpool_nan_propagates_like_np_max(impl, dtype):
    x = np.arange(16, dtype=dtype).reshape(1, 4, 4, 1)
    x[0, 1, 0, 0] = np.nan  # in window (0, 0), after the window's start
    x[0, 3, 3, 0] = np.nan  # last element of window (1, 1)
    y, cache = impl.maxpool_forward(x)
    assert np.isnan(y[0, 0, 0, 0]) and np.isnan(y[0, 1, 1, 0])
    assert y[0, 0, 1, 0] == 7 and y[0, 1, 0, 0] == 13
    assert cache.argmax[0, 0, 0, 0] == 4 and cache.argmax[0, 1, 1, 0] == 15
    np.testing.assert_array_equal(np.isnan(y), np.isnan(windows(x, (2, 2), (2, 2)).max(axis=(4, 5))))


@pytest.mark.parametrize("pool,stride", [(2, None), (3, 2), ((2, 3), (1, 2))])
def test_avgpool_forward_backward(impl, dtype, rng, pool, stride):
    x = rng.standard_normal((2, 9, 8, 3)).astype(dtype)
    y, cache = impl.avgpool_forward(x, pool, stride)
    p = (pool, pool) if isinstance(pool, int) else pool
    s = p if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, windows(x.astype(np.float64), p, s).mean(axis=(4, 5)), rtol=1e-5, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = impl.avgpool_backward(dy, cache)
    want = np.zeros(x.shape)
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            want[:, i * s[0] : i * s[0] + p[0], j * s[1] : j * s[1] + p[1], :] += dy[:, i, j, None, None, :] / (p[0] * p[1])
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, want, rtol=1e-5, atol=1e-6)


def test_maxpool_backward_float64_dy_for_float32_x(impl, rng):
    """The tutorial's network feeds a float64 dy to a float32 max pool: dx stays float32."""
    x = rng.standard_normal((2, 4, 4, 3)).astype(np.float32)
    y, cache = impl.maxpool_forward(x)
    dx = impl.maxpool_backward(rng.standard_normal(y.shape), cache)
    assert dx.dtype == np.float32


def test_pool_empty_batch_and_odd_sizes(impl, dtype):
    y, cache = impl.maxpool_forward(np.zeros((0, 5, 5, 3), dtype=dtype))
    assert y.shape == (0, 2, 2, 3)
    assert impl.maxpool_backward(np.zeros(y.shape), cache).shape == (0, 5, 5, 3)
    y, cache = impl.avgpool_forward(np.ones((1, 5, 7, 1), dtype=dtype))
    assert y.shape == (1, 2, 3, 1) and np.all(y == 1)
    dx = impl.avgpool_backward(np.ones(y.shape, dtype=dtype), cache)
    assert np.all(dx[0, 4, :, 0] == 0) and np.all(dx[0, :, 6, 0] == 0)  # unread row/column


def test_pooling_shapes(impl, rng):
    x4 = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    out = impl.pooling(x4, pool_size=(3, 3), mode="max")
    assert out.shape == (2, 2, 2, 3) and out.dtype == np.float64
    np.testing.assert_array_equal(out, windows(x4, (3, 3), (3, 3)).max(axis=(4, 5)))
    single = impl.pooling(rng.standard_normal((1, 6, 6, 1)), mode="avg")
    assert single.shape == (3, 3)  # N == C == 1 comes back 2-D, as in the tutorial
    assert impl.pooling(np.ones((5, 5)), pool_size=2, stride=(1, 2)).shape == (4, 2)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda m: m.pooling(np.ones((2, 4, 4))), ValueError, r"input_array must be 2-D or 4-D, got shape \(2, 4, 4\)"),
        (lambda m: m.pooling(np.ones((4, 4)), mode="min"), ValueError, r"mode must be 'max' or 'avg'"),
        (lambda m: m.maxpool_forward(np.ones((1, 3, 3, 1)), pool_size=4), ValueError, r"pool window 4x4 is larger than the padded input 3x3"),
        (lambda m: m.avgpool_forward(np.ones((1, 4, 4, 1)), pool_size=(2, 2, 2)), ValueError, r"pool_size must be an int or an \(h, w\) pair"),
        (lambda m: m.maxpool_forward(np.ones((1, 4, 4, 1)), stride=0), ValueError, r"stride must be >= 1"),
        (lambda m: m.maxpool_forward(np.ones((1, 4, 4, 1)), pool_size=2.0), TypeError, r"pool_size must be an int"),
        (lambda m: m.maxpool_backward(np.ones((1, 3, 2, 1)), m.maxpool_forward(np.ones((1, 4, 4, 1)))[1]),
         ValueError, r"dy has shape \(1, 3, 2, 1\) but the forward output had shape \(1, 2, 2, 1\)"),
    ],
)
def test_pool_bad_input_messages(impl, call, exc, match):
    with pytest.raises(exc, match=match):
        call(impl)
