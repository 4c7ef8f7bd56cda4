"""Max/avg pooling layers and the tutorial's ``pooling`` on both backends."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from fastconv import _simd


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


# --------------------------------------------------------------------------- fast paths against the reference
# (N, H, W, C, pool, stride): channel counts around the SIMD widths (4 and 8 float32, 2 and 4
# float64) so that vector blocks and scalar tails both run; odd sizes leave rows/columns unread.
PATH_CASES = [
    (64, 8, 8, 8, 2, None),
    *[(2, 6, 8, c, 2, None) for c in (1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24)],
    (1, 9, 7, 9, 2, None),          # N = 1, odd sizes
    (3, 9, 9, 6, 3, None),          # 3x3 tiling windows
    (2, 10, 11, 4, (2, 3), None),   # rectangular tiling windows
    (2, 9, 8, 9, 2, 1),             # overlapping 2x2 windows (SIMD forward, accumulating backward)
    (2, 8, 9, 10, 2, 3),            # gaps between 2x2 windows
    (2, 9, 9, 5, 3, 2),             # overlapping 3x3 windows
    (1, 17, 16, 3, (17, 16), None), # a window of 272 elements: the int64 argmax path
]


def _path_input(case, dtype, seed):
    """Random x with ties and NaNs placed in vector lanes and in scalar tails."""
    n, h, w, c = case[:4]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    x[0, 0, 1, :] = x[0, 0, 0, :]            # a tie along a row: the first maximum wins
    x[-1, 1, 0, :] = x[-1, 0, 0, :] + 5      # a tie down a column of large values
    x[-1, 1, 1, :] = x[-1, 1, 0, :]
    x[0, h - 1, w - 1, c - 1] = np.nan       # the last channel (a scalar tail when C is odd)
    x[n // 2, 1, 0, 0] = np.nan              # the first lane
    x[n // 2, 1, 1, 0] = np.nan              # a second NaN in the same window: the first one wins
    x[n - 1, 0, 1, c // 2] = -np.inf
    return x


def check_all_paths(threads=(1, 2)):
    """Every pooling path (forward, argmax, backward; max and avg) equals the reference loops."""
    import fastconv
    from fastconv import pool
    import fastconv.reference as R

    saved = pool._PARALLEL_MIN_ELEMS
    pool._PARALLEL_MIN_ELEMS = 0  # let small cases use every thread too
    try:
        for nt in threads:
            fastconv.set_num_threads(nt)
            for k, case in enumerate(PATH_CASES):
                p, s = case[4], case[5]
                for dt in (np.float32, np.float64):
                    x = _path_input(case, dt, k)
                    y, cache = fastconv.maxpool_forward(x, p, s)
                    yr, cr = R.maxpool_forward(x, p, s)
                    msg = f"case {case} {np.dtype(dt)} threads {nt}"
                    np.testing.assert_array_equal(y, yr, err_msg=msg)
                    assert y.dtype == yr.dtype, msg
                    np.testing.assert_array_equal(cache.argmax, cr.argmax, err_msg=msg)
                    dy = np.random.default_rng(k + 1).standard_normal(y.shape).astype(dt)
                    dx, dxr = fastconv.maxpool_backward(dy, cache), R.maxpool_backward(dy, cr)
                    assert dx.dtype == dxr.dtype and dx.shape == x.shape, msg
                    if s is None or s == p:  # windows tile: every dx element is one dy or 0, exactly
                        np.testing.assert_array_equal(dx, dxr, err_msg=msg)
                    else:
                        np.testing.assert_allclose(dx, dxr, rtol=1e-6, atol=1e-6, err_msg=msg)
                    xa = np.nan_to_num(x, nan=0.5, neginf=-3.0)
                    ya, ca = fastconv.avgpool_forward(xa, p, s)
                    yar, car = R.avgpool_forward(xa, p, s)
                    np.testing.assert_allclose(ya, yar, rtol=1e-6, atol=1e-6, err_msg=msg)
                    dxa, dxar = fastconv.avgpool_backward(dy, ca), R.avgpool_backward(dy, car)
                    np.testing.assert_allclose(dxa, dxar, rtol=1e-6, atol=1e-6, err_msg=msg)
            check_plane_paths()
            check_global_avg_paths()
    finally:
        pool._PARALLEL_MIN_ELEMS = saved
        fastconv.set_num_threads(None)


# (N, C, H, W) NCHW inputs of 2x2 stride-2 max pools: each plane is a one-channel row kernel,
# vectorised along W (4 float32 / 2 float64 outputs per vector, 8 / 4 per block), so the output
# widths cover whole blocks, single vectors and scalar tails; odd H, W leave a row/column unread.
PLANE_CASES = [(2, 3, 2 * ho + eh, 2 * wo + ew, ) for ho, eh, wo, ew in (
    (1, 0, 1, 0), (2, 1, 3, 1), (3, 0, 4, 0), (2, 0, 5, 1), (1, 1, 8, 0), (4, 1, 9, 1), (2, 0, 16, 0),
    (3, 1, 17, 1), (2, 0, 33, 0))]


def check_plane_paths():
    """NCHW 2x2 stride-2 max pooling (the one-channel plane rows) equals the reference loops
    exactly: y, ``cache.argmax`` (first maximum on ties, the first NaN) and dx."""
    import fastconv
    import fastconv.reference as R

    for k, (n, c, h, w) in enumerate(PLANE_CASES):
        for dt in (np.float32, np.float64):
            rng = np.random.default_rng(100 + k)
            x = rng.standard_normal((n, c, h, w)).astype(dt)
            x[0, 0, 0, 1] = x[0, 0, 0, 0]              # a tie along a row
            x[0, 1, 1, 0] = x[0, 1, 0, 0] = 9.0        # a tie down a column
            x[-1, -1, 1, -1] = np.nan                  # a NaN in the last window (a tail when Wo is odd)
            x[-1, 0, 0, 0] = x[-1, 0, 1, 1] = np.nan   # two NaNs in one window: the first one wins
            x[n // 2, c // 2, h // 2, w // 2] = -np.inf
            if w >= 16:                                # NaNs in lanes inside a vector block
                x[0, 2, 0, 9] = np.nan
                x[0, 2, 1, 12] = np.nan
            msg = f"NCHW {x.shape} {np.dtype(dt)}"
            y, cache = fastconv.maxpool_forward(x, 2, layout="NCHW")
            yr, cr = R.maxpool_forward(x, 2, layout="NCHW")
            np.testing.assert_array_equal(y, yr, err_msg=msg)
            np.testing.assert_array_equal(cache.argmax, cr.argmax, err_msg=msg)
            dy = rng.standard_normal(y.shape).astype(dt)
            dx, dxr = fastconv.maxpool_backward(dy, cache), R.maxpool_backward(dy, cr)
            assert dx.dtype == dxr.dtype and dx.shape == x.shape, msg
            np.testing.assert_array_equal(dx, dxr, err_msg=msg)
            # an NHWC batch of one channel takes the same rows
            xh = np.ascontiguousarray(x.reshape(n * c, h, w, 1))
            yh, ch = fastconv.maxpool_forward(xh, 2)
            np.testing.assert_array_equal(yh.reshape(y.shape), y, err_msg=msg)
            np.testing.assert_array_equal(fastconv.maxpool_backward(dy.reshape(yh.shape), ch).reshape(x.shape), dx)


GLOBAL_CASES = [(3, 5, 4, 6), (2, 7, 7, 1), (4, 3, 5, 8), (2, 2, 3, 17), (5, 7, 7, 64), (1, 1, 1, 3)]


def check_global_avg_paths():
    """Global average pooling (its own kernels) equals the reference, and the general adaptive
    kernels bit for bit, with the gradient written by plain and by non-temporal stores."""
    import fastconv
    import fastconv.reference as R
    from fastconv import pool

    saved = pool._STREAM_MIN_BYTES
    try:
        for stream_min in (saved, 0):
            pool._STREAM_MIN_BYTES = stream_min
            for k, shape in enumerate(GLOBAL_CASES):
                for dt in (np.float32, np.float64):
                    rng = np.random.default_rng(200 + k)
                    x = rng.standard_normal(shape).astype(dt)
                    msg = f"global avg {shape} {np.dtype(dt)} stream_min {stream_min}"
                    y, cache = fastconv.global_avgpool_forward(x)
                    yr, cr = R.global_avgpool_forward(x)
                    assert y.dtype == yr.dtype and y.shape == yr.shape, msg
                    tol = 1e-5 if dt == np.float32 else 1e-12
                    np.testing.assert_allclose(y, yr, rtol=tol, atol=tol, err_msg=msg)
                    dy = rng.standard_normal(y.shape).astype(dt)
                    dx, dxr = fastconv.global_avgpool_backward(dy, cache), R.global_avgpool_backward(dy, cr)
                    assert dx.dtype == dxr.dtype and dx.shape == x.shape, msg
                    np.testing.assert_allclose(dx, dxr, rtol=tol, atol=tol, err_msg=msg)
                    # the general window kernels (which served output_size 1 before) give the same bits
                    xw, hw, dt_, window = pool._adaptive_args(x, 1)
                    yw, cw = pool._avgpool_window(xw, None, None, hw, dt_, window)
                    np.testing.assert_array_equal(y, yw, err_msg=msg)
                    np.testing.assert_array_equal(dx, pool._avg_gather_backward(dy, cw), err_msg=msg)
                    ya, ca = fastconv.adaptive_avgpool_forward(x, (1, 1))
                    np.testing.assert_array_equal(ya, y, err_msg=msg)
                    np.testing.assert_array_equal(fastconv.adaptive_avgpool_backward(dy, ca), dx, err_msg=msg)
    finally:
        pool._STREAM_MIN_BYTES = saved


def test_all_pool_paths_match_reference():
    check_all_paths()


@pytest.mark.parametrize("level", _simd.SIMD_LEVELS)
def test_each_simd_level_pool_paths_match_reference(level, tmp_path):
    """The rows of each instruction-set level that this CPU runs (the SSE2 rows at baseline, the
    AVX2 rows from avx2 up), forced in a fresh process, agree with the reference too."""
    from pathlib import Path

    from conftest import require_simd, run_python

    require_simd(level, tmp_path)

    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "import test_pool\n"
        "from fastconv import _simd\n"
        f"assert _simd.simd_level() == {level!r}, _simd.simd_level()\n"
        "test_pool.check_all_paths(threads=(1,))\n"
        "print('ok')\n"
    )
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"


def test_avg_2x2_is_the_exact_mean_of_four():
    """2x2 average pooling gives exactly (((a + b) + c) + d) / 4, as the reference's sum / area."""
    import fastconv

    x = np.random.default_rng(3).standard_normal((3, 6, 8, 13)).astype(np.float32) * 1e-38  # subnormal results too
    y, cache = fastconv.avgpool_forward(x)
    want = (((x[:, 0::2, 0::2] + x[:, 0::2, 1::2]) + x[:, 1::2, 0::2]) + x[:, 1::2, 1::2]) / np.float32(4)
    np.testing.assert_array_equal(y, want)
    dy = np.random.default_rng(4).standard_normal(y.shape).astype(np.float32) * 1e-38
    dx = fastconv.avgpool_backward(dy, cache)
    np.testing.assert_array_equal(dx[:, 1::2, 0::2], dy / np.float32(4))


def test_max_cache_argmax_reads_like_a_plain_cache():
    """The one-byte window codes stay internal: argmax, indexing, iteration, pickling and the
    reference backward all see the documented int64 flat indices."""
    import pickle

    import fastconv
    import fastconv.reference as R
    from fastconv._cache import PoolCache

    x = _path_input((2, 7, 9, 5), np.float64, 0)
    for p, s in ((2, None), (3, 2), ((2, 3), 1)):
        y, cache = fastconv.maxpool_forward(x, p, s)
        yr, cr = R.maxpool_forward(x, p, s)
        assert isinstance(cache, PoolCache) and repr(cache).startswith("PoolCache(")
        am = cache.argmax
        assert am.dtype == np.int64 and am.shape == y.shape and am is cache.argmax
        np.testing.assert_array_equal(am, cr.argmax)
        assert not am.flags.writeable  # the backward reads the codes: a write could not reach it
        assert cache[2] is am and list(cache)[2] is am and cache._asdict()["argmax"] is am
        assert len(cache) == len(PoolCache._fields) and cache.x_shape == x.shape and cache.y_shape == y.shape
        assert cache.window is None  # the plain windows
        back = pickle.loads(pickle.dumps(cache))
        np.testing.assert_array_equal(back.argmax, cr.argmax)
        assert "argmax=array(" in repr(cache)
        dy = np.random.default_rng(1).standard_normal(y.shape)
        want = R.maxpool_backward(dy, cr)
        np.testing.assert_allclose(R.maxpool_backward(dy, cache), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fastconv.maxpool_backward(dy, cr), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fastconv.maxpool_backward(dy, back), want, rtol=1e-12, atol=1e-12)


def test_lean_checks_leave_inputs_and_layouts_alone(dtype):
    """Non-contiguous, read-only and tuple-sized calls take the same answers as the plain ones."""
    import fastconv
    import fastconv.reference as R

    base = np.random.default_rng(5).standard_normal((2, 8, 12, 6)).astype(dtype)
    x = base[:, :, ::2, :]  # a strided view
    x.flags.writeable = False
    before = x.copy()
    for fwd, rfwd in ((fastconv.maxpool_forward, R.maxpool_forward), (fastconv.avgpool_forward, R.avgpool_forward)):
        for args in ((2,), ((2, 2),), ((2, 2), (2, 2)), (np.int64(2),), ((2, 3), [1, 2])):
            y, _ = fwd(x, *args)
            yr, _ = rfwd(x, *args)
            np.testing.assert_allclose(y, yr, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(x, before)
    y, cache = fastconv.maxpool_forward(x)
    dy = np.asfortranarray(np.ones(y.shape, dtype=dtype))
    assert fastconv.maxpool_backward(dy, cache).sum() == y.size


@pytest.mark.parametrize("shape", [(6, 9), (1, 6, 9, 1), (2, 6, 9, 3)])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_wrapper_matches_reference(shape, mode):
    import fastconv
    import fastconv.reference as R

    a = np.random.default_rng(7).integers(-9, 9, size=shape)
    for p, s in (((2, 2), None), (3, 2), (2, 1)):
        out, want = fastconv.pooling(a, p, s, mode), R.pooling(a, p, s, mode)
        assert out.dtype == want.dtype == np.float64 and out.shape == want.shape
        np.testing.assert_allclose(out, want, rtol=1e-12)
