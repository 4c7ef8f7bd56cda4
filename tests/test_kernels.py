"""Every kernel code path against fastconv.reference: GEMM tiles across image and part boundaries,
float32/float64, strides and paddings, thread counts 1 and 2, and the pooling specialisations."""
import tracemalloc

import numpy as np
import pytest

import fastconv
import fastconv.reference as R
from fastconv import _conv, conv, pool

from conftest import tol


@pytest.fixture
def threads():
    """Restore the thread setting after a test changes it."""
    prev = fastconv.set_num_threads(None)
    fastconv.set_num_threads(prev)
    yield
    fastconv.set_num_threads(prev)


def _conv_both(x, w, b, padding, stride, compute_dx=True, algorithm="auto", gemm_dx="auto"):
    y, cache = fastconv.conv2d_forward(x, w, b, padding, stride, algorithm=algorithm)
    dy = np.random.default_rng(7).standard_normal(y.shape).astype(y.dtype)
    grads = conv._backward(dy, cache, compute_dx, gemm_dx)
    yr, cr = R.conv2d_forward(x, w, b, padding, stride)
    gr = R.conv2d_backward(dy, cr)
    return (y,) + tuple(grads), (yr,) + tuple(gr)


def _assert_close(got, want, dtype):
    rtol, atol = tol(dtype)
    for g, r in zip(got, want):
        if g is None:
            continue
        assert g.dtype == r.dtype and g.shape == r.shape
        scale = max(1.0, float(np.max(np.abs(r)))) if r.size else 1.0
        np.testing.assert_allclose(g, r, rtol=rtol, atol=atol * scale)


CONV_CASES = [
    # N, H, W, C, Cout, Kh, Kw, padding, stride
    (3, 8, 8, 1, 8, 3, 3, 1, 1),          # the digits layer: one input channel
    (2, 7, 9, 3, 5, 3, 3, 1, 1),
    (2, 9, 7, 4, 3, 2, 3, (0, 2), (2, 1)),  # rectangular kernel, mixed padding/stride
    (2, 10, 10, 6, 4, 3, 3, 2, 3),         # padding wider than stride leaves gaps
    (1, 5, 5, 2, 2, 5, 5, 0, 1),           # kernel as large as the image
    (2, 6, 6, 3, 2, 1, 1, 0, 2),           # 1x1 kernel, strided: unread pixels get zero dx
    (3, 4, 4, 5, 7, 3, 3, 3, 2),           # padding larger than the kernel's reach
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_gemm_matches_reference(case, dtype):
    n, h, w_, c, co, kh, kw, p, s = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, h, w_, c)).astype(dtype)
    w = rng.standard_normal((kh, kw, c, co)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    got, want = _conv_both(x, w, b, p, s)
    _assert_close(got, want, dtype)


@pytest.mark.parametrize("gemm_dx", ["auto", "scatter"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_dx_paths_match_reference(case, gemm_dx, dtype):
    # stride-1 dx on the GEMM path: full correlation of dy with the flipped kernel where it serves
    # ("auto"), or the im2col-gradient scatter-add
    n, h, w_, c, co, kh, kw, p, s = case
    rng = np.random.default_rng(11)
    x = rng.standard_normal((n, h, w_, c)).astype(dtype)
    w = rng.standard_normal((kh, kw, c, co)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    for pad in (p, 0, (kh - 1, 0)):  # padding up to Kh-1 keeps the correlation path
        got, want = _conv_both(x, w, b, pad, 1, algorithm="gemm", gemm_dx=gemm_dx)
        _assert_close(got, want, dtype)


def test_conv_dx_correlation_writes_every_element(dtype):
    # the correlation path allocates dx uninitialised: stale memory must never leak through
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, 9, 7, 4)).astype(dtype)
    w = rng.standard_normal((3, 3, 4, 5)).astype(dtype)
    for _ in range(3):
        junk = np.full(x.shape, np.nan, dtype)
        del junk
        y, cache = fastconv.conv2d_forward(x, w, np.zeros(5, dtype), 2, 1)
        dx, _, _ = fastconv.conv2d_backward(np.ones_like(y), cache)
        assert np.isfinite(dx).all()
        _, cr = R.conv2d_forward(x, w, np.zeros(5, dtype), 2, 1)
        _assert_close((dx,), (R.conv2d_backward(np.ones_like(y), cr)[0],), dtype)


@pytest.mark.parametrize("tile_bytes, min_rows", [(1, 7), (1, 13), (4096, 1)])
def test_conv_tiles_cross_image_and_part_boundaries(monkeypatch, tile_bytes, min_rows, dtype):
    # small tiles: many tiles per image, tiles straddling images (forward) and part ends (backward)
    monkeypatch.setattr(conv, "_TILE_BYTES", tile_bytes)
    monkeypatch.setattr(conv, "_MIN_TILE_ROWS", min_rows)
    monkeypatch.setattr(conv, "_ROWS_PER_COUT", 0)
    monkeypatch.setattr(conv, "_PARALLEL_MIN_MACS", 0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((11, 6, 5, 4)).astype(dtype)  # 30 rows per image: 5 never divides evenly into parts
    w = rng.standard_normal((3, 3, 4, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    mt = conv._tile_rows(11 * 6 * 5, 36, dtype.itemsize)
    assert mt < 30 and 30 % mt != 0
    assert conv._fwd_tile_rows(11 * 6 * 5, 36, 3, dtype.itemsize) == mt
    got, want = _conv_both(x, w, b, 1, 1)
    _assert_close(got, want, dtype)


def test_forward_tiles_scale_with_cout_and_stay_bounded():
    # big enough to amortise BLAS's weight packing, never more than _MAX_TILE_BYTES per thread
    assert conv._fwd_tile_rows(10**6, 576, 64, 4) == 8 * 64
    assert conv._fwd_tile_rows(10**6, 576, 1024, 4) * 576 * 4 <= conv._MAX_TILE_BYTES
    assert conv._fwd_tile_rows(10**6, 144, 16, 4) == conv._tile_rows(10**6, 144, 4)
    assert conv._fwd_tile_rows(100, 576, 64, 4) == 100
    assert conv._fwd_tile_rows(1600, 576, 128, 4) == 200  # enlarged tiles leave 8 for the threads


def test_conv_large_forward_tiles_match_reference(dtype):
    # Cout large enough that forward and dx tiles exceed the 256 KiB default and straddle images;
    # such a layer normally takes the direct kernels, so the im2col + BLAS path is forced here
    rng = np.random.default_rng(13)
    x = rng.standard_normal((12, 13, 11, 40)).astype(dtype)
    w = (rng.standard_normal((3, 3, 40, 48)) / 20).astype(dtype)
    b = rng.standard_normal(48).astype(dtype)
    assert conv._fwd_tile_rows(12 * 13 * 11, 360, 48, dtype.itemsize) > conv._tile_rows(12 * 13 * 11, 360, dtype.itemsize)
    got, want = _conv_both(x, w, b, 1, 1, algorithm="gemm")
    _assert_close(got, want, dtype)


def test_conv_backward_without_dx(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 6, 5)).astype(dtype)
    w = rng.standard_normal((3, 3, 5, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    y, cache = fastconv.conv2d_forward(x, w, b)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx0, dw0, db0 = fastconv.conv2d_backward(dy, cache, compute_dx=False)
    dx1, dw1, db1 = fastconv.conv2d_backward(dy, cache)
    assert dx0 is None
    np.testing.assert_array_equal(dw0, dw1)
    np.testing.assert_array_equal(db0, db1)
    _, dwr, dbr = R.conv2d_backward(dy, R.conv2d_forward(x, w, b)[1])
    _assert_close((dw0, db0), (dwr, dbr), dtype)


@pytest.mark.parametrize("shape", [(5, 9, 9, 8, 6, 1), (16, 12, 12, 16, 8, 2)])
def test_conv_results_do_not_depend_on_thread_count(monkeypatch, threads, shape, dtype):
    monkeypatch.setattr(conv, "_PARALLEL_MIN_MACS", 0)
    n, h, w_, c, co, s = shape
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, h, w_, c)).astype(dtype)
    w = rng.standard_normal((3, 3, c, co)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    out = []
    for t in (1, 2):
        fastconv.set_num_threads(t)
        y, cache = fastconv.conv2d_forward(x, w, b, 1, s)
        dy = np.cos(np.arange(y.size, dtype=dtype)).reshape(y.shape)
        out.append((y,) + fastconv.conv2d_backward(dy, cache))
    for a, b_ in zip(*out):
        np.testing.assert_array_equal(a, b_)
    got, want = _conv_both(x, w, b, 1, s)
    _assert_close(got, want, dtype)


def test_blas_is_restored_after_a_call():
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl reads the BLAS thread count")
    if not _conv.blas_pinning_available():
        pytest.skip("this BLAS exposes no thread control")
    x = np.ones((8, 16, 16, 8), np.float32)
    w = np.ones((3, 3, 8, 8), np.float32)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        y, cache = fastconv.conv2d_forward(x, w, np.zeros(8, np.float32))
        fastconv.conv2d_backward(y, cache)
        after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert before == after


def _scratch_bytes(n):
    """Peak traced memory of a forward+backward call minus the arrays it returns and keeps."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, 16, 16, 16)).astype(np.float32)
    w = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    b = np.zeros(16, np.float32)
    dy = np.ones((n, 16, 16, 16), np.float32)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    y, cache = fastconv.conv2d_forward(x, w, b)
    fwd_peak = tracemalloc.get_traced_memory()[1] - base - y.nbytes
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    dx, dw, db = fastconv.conv2d_backward(dy, cache)
    bwd_peak = tracemalloc.get_traced_memory()[1] - base - dx.nbytes - dw.nbytes - db.nbytes
    tracemalloc.stop()
    return fwd_peak, bwd_peak


def test_conv_workspace_does_not_grow_with_batch():
    f8, b8 = _scratch_bytes(8)
    f256, b256 = _scratch_bytes(256)
    # 32x more images; the scratch (im2col tiles, per-part dw sums) stays the same size
    assert f256 <= f8 + 4096
    assert b256 <= b8 + 4096
    assert f8 < 8 * 16 * 16 * 16 * 4 * 9  # less than one batch-sized im2col of the N=8 call


POOL_CASES = [
    # N, H, W, C, pool, stride
    (2, 8, 8, 8, 2, None),      # 2x2 stride 2, SSE2 blocks only
    (2, 8, 8, 7, 2, None),      # SSE2 blocks + scalar tail
    (2, 9, 7, 5, 2, None),      # odd size: last row/column unread, zero gradient
    (2, 9, 9, 3, 3, None),      # 3x3 tiling windows (generic tiled backward)
    (1, 10, 11, 4, (2, 3), None),
    (2, 8, 8, 3, 3, 2),         # overlapping windows (accumulating backward)
    (2, 7, 9, 2, 2, 3),         # gaps between windows
    (3, 5, 8, 6, (1, 2), None),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_paths_match_reference(case, mode, dtype, monkeypatch):
    monkeypatch.setattr(pool, "_PARALLEL_MIN_ELEMS", 0)
    n, h, w, c, p, s = case
    rng = np.random.default_rng(6)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    x[0, 0, 1, :] = x[0, 0, 0, :]           # ties: the first maximum wins
    x[1 % n, 1, 1, 0] = np.nan               # NaN wins once, in an SSE2 lane and
    x[-1, 0, 0, c - 1] = np.nan              # possibly in the scalar tail
    fwd, bwd = getattr(fastconv, f"{mode}pool_forward"), getattr(fastconv, f"{mode}pool_backward")
    rfwd, rbwd = getattr(R, f"{mode}pool_forward"), getattr(R, f"{mode}pool_backward")
    y, cache = fwd(x, p, s)
    yr, cr = rfwd(x, p, s)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dxr = bwd(dy, cache), rbwd(dy, cr)
    rtol, atol = tol(dtype)
    np.testing.assert_allclose(y, yr, rtol=rtol, atol=atol)
    np.testing.assert_allclose(dx, dxr, rtol=rtol, atol=atol)
    assert y.dtype == yr.dtype and dx.dtype == dxr.dtype
    if mode == "max":
        np.testing.assert_array_equal(cache.argmax, cr.argmax)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_results_do_not_depend_on_thread_count(mode, threads, dtype, monkeypatch):
    monkeypatch.setattr(pool, "_PARALLEL_MIN_ELEMS", 0)
    x = np.random.default_rng(8).standard_normal((6, 10, 10, 9)).astype(dtype)
    fwd, bwd = getattr(fastconv, f"{mode}pool_forward"), getattr(fastconv, f"{mode}pool_backward")
    out = []
    for t in (1, 2):
        fastconv.set_num_threads(t)
        y, cache = fwd(x)
        out.append((y, bwd(np.sin(y), cache)))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_maxpool_backward_writes_every_element():
    # the write-once backward allocates dx uninitialised: stale memory must never leak through
    x = np.random.default_rng(9).standard_normal((2, 9, 11, 5)).astype(np.float32)
    for _ in range(3):
        junk = np.full((2, 9, 11, 5), 7.0, np.float32)
        del junk
        y, cache = fastconv.maxpool_forward(x)
        dx = fastconv.maxpool_backward(np.ones_like(y), cache)
        assert set(np.unique(dx)) <= {0.0, 1.0}
        assert dx[:, 8, :, :].sum() == 0 and dx[:, :, 10, :].sum() == 0
        assert dx.sum() == y.size


# ------------------------------------------------------------------ instruction-set level
def test_simd_level_is_one_of_the_build_levels():
    from fastconv import _simd

    assert _simd.SIMD_LEVELS[0] == "baseline"
    assert len(set(_simd.SIMD_LEVELS)) == len(_simd.SIMD_LEVELS)
    assert _simd.simd_level() in _simd.SIMD_LEVELS


def test_fastconv_simd_caps_the_level(tmp_path):
    """FASTCONV_SIMD names the highest level to run; an unknown or empty value sets no cap."""
    from conftest import run_python

    from fastconv import _simd

    code = "from fastconv import _simd; print(_simd.simd_level())"
    free = run_python(code, tmp_path, FASTCONV_SIMD="")
    assert free in _simd.SIMD_LEVELS
    assert run_python(code, tmp_path, FASTCONV_SIMD="no-such-level") == free
    assert run_python(code, tmp_path, FASTCONV_SIMD="baseline") == "baseline"
    # a cap at a level runs that level exactly when the CPU has it, i.e. when the uncapped level is
    # that level or a higher one; else the uncapped level
    for i, level in enumerate(_simd.SIMD_LEVELS):
        want = level if _simd.SIMD_LEVELS.index(free) >= i else free
        assert run_python(code, tmp_path, FASTCONV_SIMD=level) == want
