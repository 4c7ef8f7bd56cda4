"""Winograd F(m x m, 3 x 3) and F(m x m, 2 x 2) kernels (fastconv._winograd) against fastconv.reference.

Forward, input gradient and weight gradient, tile sizes 2, 4, 6 (3x3) and 3, 5 (2x2), float32
and float64, every padding, odd sizes, tiles crossing the border, channel counts off the vector
width, N = 1; the error bound on the benchmarked layers; thread-count invariance; the transforms
themselves (and the weight transform's scratch); bad calls.
"""
import math
from fractions import Fraction

import numpy as np
import pytest

import fastconv.reference as R
from fastconv import _winograd as wg

from conftest import require_simd, run_python, simd_levels
from conv_checks import WINOGRAD_LIMIT, assert_winograd_thread_invariant, check_winograd_passes, rel_err

TILES = (2, 4, 6)
TILES_2X2 = (3, 5)
# (N, H, W, C, Cout, ph, pw)
CASES = [
    (1, 5, 5, 1, 1, 1, 1),
    (2, 7, 9, 3, 5, 1, 1),      # odd H/W: the last tile row/column crosses the border
    (1, 6, 11, 17, 9, 0, 2),    # C, Cout off the vector width
    (3, 13, 10, 8, 16, 2, 0),
    (1, 3, 3, 4, 33, 0, 0),     # a single output pixel
    (2, 9, 14, 20, 7, 2, 2),
    (1, 4, 25, 35, 18, 1, 0),   # channels over two transform chunks plus a remainder
    (2, 1, 1, 3, 5, 2, 2),      # a single input pixel, every patch mostly padding
    (1, 2, 1, 2, 3, 1, 2),
]


def _ids(case):
    return "N{}_{}x{}x{}->{}_p{}{}".format(*case)


def _data(case, dtype, seed=0):
    n, h, w, c, co, ph, pw = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = rng.standard_normal((3, 3, c, co)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    dy = rng.standard_normal((n, h + 2 * ph - 2, w + 2 * pw - 2, co)).astype(dtype)
    return x, wt, b, dy


def _exact(x, w, b, dy, ph, pw):
    """float64 reference y and dx."""
    f = [a.astype(np.float64) for a in (x, w, b, dy)]
    y, cache = R.conv2d_forward(f[0], f[1], f[2], padding=(ph, pw), stride=1)
    dx = R.conv2d_backward(f[3], cache)[0]
    return y, dx


def _exact_dw(x, w, b, dy, ph, pw):
    """float64 reference dw."""
    f = [a.astype(np.float64) for a in (x, w, b, dy)]
    _, cache = R.conv2d_forward(f[0], f[1], f[2], padding=(ph, pw), stride=1)
    return R.conv2d_backward(f[3], cache)[1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", TILES)
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_passes_match_reference(case, m, dtype):
    """Forward, dx and dw within the Winograd bound of float64 (outputs NaN-filled first, inputs
    untouched: check_winograd_passes), and the forward without a bias on one thread."""
    n, h, w_, c, co, ph, pw = case
    x, w, b, dy = _data(case, dtype)
    ye, dxe = _exact(x, w, b, dy, ph, pw)
    check_winograd_passes(x, w, b, dy, (ph, pw), m, (ye, dxe, _exact_dw(x, w, b, dy, ph, pw)))
    y_nb = np.full(ye.shape, np.nan, dtype)
    wg.winograd_forward(x, w, None, ph, pw, y_nb, 1, m)
    assert rel_err(y_nb, ye - b.astype(np.float64)) < WINOGRAD_LIMIT[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gmul", [False, True], ids=["blas", "gmul"])
@pytest.mark.parametrize("m", TILES)
@pytest.mark.parametrize("case", [(2, 9, 11, 16, 32, 1, 1), (1, 7, 13, 5, 16, 2, 0), (3, 6, 6, 40, 48, 0, 1),
                                  (1, 5, 9, 1, 16, 1, 2)], ids=_ids)
def test_ungrouped_products_either_way_match_reference(case, m, gmul, dtype):
    """Ungrouped layers whose Cout is a multiple of GROUP_CHUNK multiply by the register-blocked
    products or by BLAS (``set_ungrouped_gmul``; the level's default is ``ungrouped_gmul()``): either
    way the forward, dx and dw are within the Winograd bound of float64."""
    assert wg.GROUP_CHUNK == 16
    n, h, w_, c, co, ph, pw = case
    x, w, b, dy = _data(case, dtype)
    ye, dxe = _exact(x, w, b, dy, ph, pw)
    prev = wg.set_ungrouped_gmul(gmul)
    try:
        assert wg.ungrouped_gmul() is gmul
        check_winograd_passes(x, w, b, dy, (ph, pw), m, (ye, dxe, _exact_dw(x, w, b, dy, ph, pw)))
    finally:
        wg.set_ungrouped_gmul(prev)


def test_ungrouped_gmul_default_by_level():
    """The register-blocked product serves ungrouped layers where the transforms run at AVX2 only."""
    assert wg.ungrouped_gmul() is (wg.simd_path() == "avx2")


@pytest.mark.parametrize("m", TILES)
def test_default_tile_and_dtype_results(m):
    """m=0 picks default_tile; float32 differs from float64 by rounding only."""
    case = (2, 10, 12, 16, 24, 1, 1)
    x, w, b, _ = _data(case, np.float32, seed=3)
    y0 = np.empty((2, 10, 12, 24), np.float32)
    wg.winograd_forward(x, w, b, 1, 1, y0, 2, 0)
    y1 = np.empty_like(y0)
    wg.winograd_forward(x, w, b, 1, 1, y1, 2, wg.default_tile(16, 24, False))
    np.testing.assert_array_equal(y0, y1)


# The benchmarked 3x3 stride-1 layers (bench/bench_conv.py): medium N32 32x32x16->32, large N8
# 64x64x64->64, both k3 p1. Batches cut down for test time (the error does not depend on N).
BENCH_LAYERS = [(4, 32, 32, 16, 32, 1, 1), (1, 64, 64, 64, 64, 1, 1)]


@pytest.mark.parametrize("m", TILES)
@pytest.mark.parametrize("case", BENCH_LAYERS, ids=_ids)
def test_error_on_benchmarked_layers(case, m):
    """max |fast - exact| / max |exact| within 1e-4 (float32) and 1e-10 (float64), weights scaled as in training."""
    n, h, w_, c, co, ph, pw = case
    x, w, b, dy = _data(case, np.float64, seed=11)
    w *= np.sqrt(2.0 / (9 * c))
    ye, dxe = _exact(x, w, b, dy, ph, pw)
    dwe = _exact_dw(x, w, b, dy, ph, pw)
    for dtype in (np.float32, np.float64):
        xd, wd, bd, dyd = (a.astype(dtype) for a in (x, w, b, dy))
        y = np.empty(ye.shape, dtype)
        wg.winograd_forward(xd, wd, bd, ph, pw, y, 2, m)
        dx = np.empty(x.shape, dtype)
        wg.winograd_backward_input(dyd, wd, ph, pw, dx, 2, m)
        assert rel_err(y, ye) < WINOGRAD_LIMIT[dtype]
        assert rel_err(dx, dxe) < WINOGRAD_LIMIT[dtype]
        dw = np.empty(w.shape, dtype)
        wg.winograd_backward_weights(xd, dyd, ph, pw, dw, 2, m)
        assert rel_err(dw, dwe) < WINOGRAD_LIMIT[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", TILES)
@pytest.mark.parametrize("case", CASES + [(3, 23, 17, 12, 20, 1, 2), (2, 32, 32, 16, 32, 1, 1)], ids=_ids)
def test_nchw_outputs_are_the_nhwc_outputs_transposed(case, m, dtype):
    """y_nchw / dx_nchw: every output pixel written (the arrays start as NaN), with the bits of the
    NHWC output, on 1 and 2 threads (blocks that start and end inside a tile row)."""
    n, h, w_, c, co, ph, pw = case
    x, w, b, dy = _data(case, dtype, seed=7)
    for nt in (1, 2):
        y = np.empty(dy.shape, dtype)
        wg.winograd_forward(x, w, b, ph, pw, y, nt, m)
        yn = np.full((n, co) + dy.shape[1:3], np.nan, dtype)
        wg.winograd_forward(x, w, b, ph, pw, yn, nt, m, True)
        np.testing.assert_array_equal(yn, y.transpose(0, 3, 1, 2))
        dx = np.empty(x.shape, dtype)
        wg.winograd_backward_input(dy, w, ph, pw, dx, nt, m)
        dxn = np.full((n, c, h, w_), np.nan, dtype)
        wg.winograd_backward_input(dy, w, ph, pw, dxn, nt, m, True)
        np.testing.assert_array_equal(dxn, dx.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("m", TILES)
def test_results_do_not_depend_on_threads(m):
    case = (3, 23, 17, 12, 20, 1, 2)
    x, w, b, dy = _data(case, np.float32, seed=5)
    assert dy.shape == (3, 23, 19, 20)
    assert_winograd_thread_invariant(x, w, b, dy, m)


@pytest.mark.parametrize("m", TILES + TILES_2X2)
def test_transforms_are_exact_toom_cook(m):
    """A^T ((G g) * (B^T d)) is the valid 1-D correlation, in exact arithmetic; the compiled matrices equal them."""
    bt, g, at = wg.transforms(m)
    r = wg.kernel_size(m)
    assert r == (3 if m % 2 == 0 else 2)
    alpha = m + r - 1
    assert bt.shape == (alpha, alpha) and g.shape == (alpha, r) and at.shape == (m, alpha)
    rng = np.random.default_rng(m)
    for _ in range(3):
        d = [Fraction(int(v)) for v in rng.integers(-9, 10, alpha)]
        k = [Fraction(int(v)) for v in rng.integers(-9, 10, r)]
        gf = [[Fraction(v).limit_denominator(1000) for v in row] for row in g]
        u = [sum(gf[i][j] * k[j] for j in range(r)) for i in range(alpha)]
        v = [sum(Fraction(bt[i, j]) * d[j] for j in range(alpha)) for i in range(alpha)]
        y = [sum(Fraction(at[q, i]) * u[i] * v[i] for i in range(alpha)) for q in range(m)]
        assert y == [sum(k[j] * d[q + j] for j in range(r)) for q in range(m)]
    cbt, cat = wg.compiled_matrices(m)
    np.testing.assert_array_equal(cbt, bt)
    np.testing.assert_array_equal(cat, at)


def test_simd_path_is_known():
    from fastconv import _simd

    assert wg.simd_path() in _simd.SIMD_LEVELS


@pytest.mark.parametrize("itemsize", [4, 8])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 64 * 56, 64 * 64, 4096, 4097])
def test_plane_stride_is_an_odd_line_count_at_least_n(n, itemsize):
    """The transform workspaces' planes are an odd number of 64-byte lines apart, so the alpha**2
    values of one tile (one per plane) fall into distinct L1 sets instead of one or two."""
    ld = wg.plane_stride(n, itemsize)
    per_line = 64 // itemsize
    assert ld >= n
    assert ld % per_line == 0
    assert (ld // per_line) % 2 == 1
    assert ld - n < 2 * per_line  # at most one line more than the rounding needs


@pytest.mark.parametrize(
    "nblocks,alpha,cg,cout,itemsize,parts",
    [
        (16, 6, 16, 32, 4, 8),    # the medium layer: 72 KiB sums per part, 8 parts
        (16, 6, 16, 32, 8, 8),    # its float64 twin: 144 KiB
        (16, 6, 64, 64, 4, 4),    # the large layer: 576 KiB per part, fewer parts, not below 4
        (16, 4, 64, 128, 4, 4),   # the 4x4 transposed layer's phase route (F(3x3, 2x2))
        (16, 6, 32, 32, 4, 8),    # 144 KiB: 8 still fit in 2 MiB
        (16, 6, 32, 64, 4, 7),    # 288 KiB: 7 fit
        (3, 6, 16, 32, 4, 3),     # at most one part per block
    ],
)
def test_dw_parts_keep_the_partial_sums_within_a_budget(nblocks, alpha, cg, cout, itemsize, parts):
    """The weight gradient sums its blocks in 8 fixed parts, fewer (down to 4) where the parts'
    alpha**2 * cg * Cout sums would pass 2 MiB; never more parts than blocks."""
    assert wg.dw_parts(nblocks, alpha, cg, cout, itemsize) == parts


def test_bad_calls_raise():
    x = np.zeros((1, 5, 5, 2), np.float32)
    w = np.zeros((3, 3, 2, 4), np.float32)
    y = np.zeros((1, 5, 5, 4), np.float32)
    with pytest.raises(ValueError, match="y must have shape"):
        wg.winograd_forward(x, w, None, 0, 0, y, 1)
    with pytest.raises(ValueError, match="padding"):
        wg.winograd_forward(x, w, None, 3, 1, np.zeros((1, 9, 5, 4), np.float32), 1)
    with pytest.raises(TypeError, match="dtype"):
        wg.winograd_forward(x.astype(np.float64), w, None, 1, 1, y, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        wg.winograd_forward(np.asfortranarray(np.zeros((1, 5, 5, 2), np.float32)), w, None, 1, 1, y, 1)
    with pytest.raises(ValueError, match="w"):
        wg.winograd_forward(x, np.zeros((5, 5, 2, 4), np.float32), None, 1, 1, y, 1)
    with pytest.raises(ValueError, match="b must be"):
        wg.winograd_forward(x, w, np.zeros(3, np.float32), 1, 1, y, 1)
    with pytest.raises(ValueError, match="m must be"):
        wg.winograd_forward(x, w, None, 1, 1, y, 1, 3)
    with pytest.raises(ValueError, match="nthreads"):
        wg.winograd_forward(x, w, None, 1, 1, y, 0)
    with pytest.raises(ValueError, match=r"y must have shape \(1, 4, 5, 5\), got \(1, 5, 5, 4\)"):
        wg.winograd_forward(x, w, None, 1, 1, y, 1, 0, True)  # y_nchw: (N, Cout, Ho, Wo)
    with pytest.raises(ValueError, match="shape"):
        wg.winograd_backward_input(y, w, 1, 1, np.zeros((1, 4, 5, 2), np.float32), 1)
    with pytest.raises(ValueError, match=r"dx must have shape \(N, C, H, W\)"):
        wg.winograd_backward_input(y, w, 1, 1, np.zeros((1, 5, 5, 2), np.float32), 1, 0, True)
    with pytest.raises(ValueError, match="would be empty"):
        wg.winograd_forward(np.zeros((1, 2, 2, 2), np.float32), w, None, 0, 0, np.zeros((1, 0, 0, 4), np.float32), 1)
    with pytest.raises(ValueError, match="m must be"):
        wg.transforms(8)
    with pytest.raises(ValueError, match=r"m must be 0 or one of \[2, 4, 6\] for 3x3 kernels, got 5"):
        wg.winograd_backward_weights(x, y, 1, 1, np.zeros((3, 3, 2, 4), np.float32), 1, 5)
    dw = np.zeros((3, 3, 2, 4), np.float32)
    with pytest.raises(ValueError, match="dy must have shape"):
        wg.winograd_backward_weights(x, np.zeros((1, 4, 5, 4), np.float32), 1, 1, dw, 1)
    with pytest.raises(ValueError, match="dw must have shape"):
        wg.winograd_backward_weights(x, y, 1, 1, np.zeros((3, 3, 3, 4), np.float32), 1)
    with pytest.raises(TypeError, match="dtype"):
        wg.winograd_backward_weights(x, y.astype(np.float64), 1, 1, dw, 1)
    with pytest.raises(ValueError, match="writeable"):
        ro = np.zeros((3, 3, 2, 4), np.float32)
        ro.flags.writeable = False
        wg.winograd_backward_weights(x, y, 1, 1, ro, 1)
    with pytest.raises(ValueError, match="padding"):
        wg.winograd_backward_weights(x, y, 3, 1, dw, 1)
    with pytest.raises(ValueError, match="nthreads"):
        wg.winograd_backward_weights(x, y, 1, 1, dw, 0)


@pytest.mark.parametrize("level", simd_levels())
def test_each_simd_level_agrees_with_reference(level, tmp_path):
    """The tile transforms of each instruction-set level this CPU runs, forced in a fresh process:
    forward, dx and dw within the error bound, and conv2d_backward's winograd path (Winograd dw
    from 64 channels) against the reference; the bias gradient's column sums give numpy's bits."""
    require_simd(level, tmp_path)
    code = (
        "import numpy as np, fastconv, fastconv.reference as R\n"
        "from fastconv import _simd, _winograd as wg\n"
        f"assert _simd.simd_level() == {level!r} and wg.simd_path() == {level!r}\n"
        "rng = np.random.default_rng(0)\n"
        "def err(a, r): return float(np.abs(a - r).max() / np.abs(r).max())\n"
        "for dt, lim in ((np.float32, 1e-4), (np.float64, 1e-10)):\n"
        "    for (n, h, w_, c, co) in ((2, 9, 11, 17, 9), (1, 10, 7, 64, 70), (2, 6, 6, 33, 32)):\n"
        "        x = rng.standard_normal((n, h, w_, c)).astype(dt); b = rng.standard_normal(co).astype(dt)\n"
        "        w = (rng.standard_normal((3, 3, c, co)) / np.sqrt(9 * c)).astype(dt)\n"
        "        y, cache = fastconv.conv2d_forward(x, w, b, 1, 1, algorithm='winograd')\n"
        "        dy = rng.standard_normal(y.shape).astype(dt)\n"
        "        yr, cr = R.conv2d_forward(x, w, b, 1, 1)\n"
        "        for g, r in zip((y,) + fastconv.conv2d_backward(dy, cache), (yr,) + R.conv2d_backward(dy, cr)):\n"
        "            assert err(g, r) < lim, (dt, c, co, err(g, r))\n"
        "        t = lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2))\n"
        "        yn, cn = fastconv.conv2d_forward(t(x), np.ascontiguousarray(w.transpose(3, 2, 0, 1)), b, 1, 1,\n"
        "                                         algorithm='winograd', layout='NCHW')\n"
        "        assert np.array_equal(yn, t(y)) and np.array_equal(fastconv.conv2d_backward(t(dy), cn)[0],\n"
        "                                                          t(fastconv.conv2d_backward(dy, cache)[0]))\n"
        "        for m in (2, 4, 6):\n"
        "            dw = np.empty(w.shape, dt)\n"
        "            wg.winograd_backward_weights(x, dy, 1, 1, dw, 2, m)\n"
        "            assert err(dw, R.conv2d_backward(dy, cr)[1]) < lim, (dt, m)\n"
        "        for nt in (1, 2):  # the column sums: numpy's float64 bits (whole 16-column chunks and a partial one)\n"
        "            want = dy.reshape(-1, co).sum(axis=0, dtype=np.float64).astype(dt)\n"
        "            assert np.array_equal(wg.bias_grad(dy, nt).view(np.uint8), want.view(np.uint8)), (dt, co, nt)\n"
        "print('ok')\n"
    )
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_grad_is_the_float64_column_sum(dtype):
    """bias_grad gives the bits of dy.reshape(-1, Cout).sum(axis=0, dtype=float64) for every thread
    count (Cout not a multiple of its 16-column chunks; one, two and more whole chunks per thread),
    close to the exact sum, dy untouched."""
    rng = np.random.default_rng(7)
    for cout in (16, 32, 64, 200):
        dy = rng.standard_normal((2, 9, 11, cout)).astype(dtype)
        want = dy.reshape(-1, cout).sum(axis=0, dtype=np.float64).astype(dtype)
        for nt in (1, 2, 3):
            np.testing.assert_array_equal(wg.bias_grad(dy, nt).view(np.uint8), want.view(np.uint8))
    dy = (rng.standard_normal((3, 7, 5, 37)) * rng.choice([1e-3, 1.0, 1e3], size=(3, 7, 5, 37))).astype(dtype)
    dy0 = dy.copy()
    want = dy.reshape(-1, 37).sum(axis=0, dtype=np.float64).astype(dtype)
    exact = np.array([math.fsum(col) for col in dy.reshape(-1, 37).astype(np.float64).T])
    for nt in (1, 2, 3):
        got = wg.bias_grad(dy, nt)
        assert got.dtype == dtype and got.shape == (37,)
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    limit = WINOGRAD_LIMIT[dtype]
    np.testing.assert_allclose(got, exact, rtol=limit, atol=limit * np.abs(dy).sum(axis=(0, 1, 2)).max())
    np.testing.assert_array_equal(dy, dy0)
    with pytest.raises(ValueError, match="dy must be"):
        wg.bias_grad(np.zeros((4, 0), dtype), 1)
    with pytest.raises(ValueError, match="dy must be"):
        wg.bias_grad(np.zeros((4, 3), np.int32), 1)
    with pytest.raises(ValueError, match="nthreads"):
        wg.bias_grad(dy, 0)
    with pytest.raises(TypeError, match="numpy array"):
        wg.bias_grad([1.0], 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("r, m", [(3, 2), (3, 4), (3, 6), (2, 3), (2, 5)])
def test_weight_grad_gives_the_bias_grad_from_the_same_pass(r, m, dtype):
    """winograd_backward_weights(db=): the sum of dy over (N, Ho, Wo) (tiles past the edge too, grouped
    layers too) within rounding of the exact sum, the same bits on 1, 2 and 3 threads, dw unchanged by
    asking for it; A's column at the point 1 is all ones (what makes the tile's plane there its sum)."""
    assert np.array_equal(wg.transforms(m)[2][:, 1], np.ones(m))
    rng = np.random.default_rng(3)
    for (n, h, w_, c, co, groups) in [(3, 7, 9, 5, 6, 1), (2, 13, 11, 16, 32, 1), (1, 4, 4, 1, 1, 1), (2, 9, 10, 8, 16, 4)]:
        x = rng.standard_normal((n, h, w_, c)).astype(dtype)
        dy = (rng.standard_normal((n, h + 3 - r, w_ + 3 - r, co))
              * rng.choice([1e-3, 1.0, 1e3], size=(n, h + 3 - r, w_ + 3 - r, co))).astype(dtype)
        dy0 = dy.copy()
        dw_alone = np.empty((r, r, c // groups, co), dtype)
        wg.winograd_backward_weights(x, dy, 1, 1, dw_alone, 2, m)
        exact = np.array([math.fsum(col) for col in dy.reshape(-1, co).astype(np.float64).T])
        first = None
        for nt in (1, 2, 3):
            dw = np.empty_like(dw_alone)
            db = np.full(co, np.nan)
            wg.winograd_backward_weights(x, dy, 1, 1, dw, nt, m, db=db)
            np.testing.assert_array_equal(dw, dw_alone)
            if first is None:
                first = db.copy()
            np.testing.assert_array_equal(db.view(np.uint8), first.view(np.uint8))
        limit = WINOGRAD_LIMIT[dtype]
        np.testing.assert_allclose(db, exact, rtol=0, atol=limit * np.abs(dy).sum(axis=(0, 1, 2)).max())
        np.testing.assert_array_equal(dy, dy0)
    x, dy, dw = np.ones((1, 5, 5, 1), dtype), np.ones((1, 8 - r, 8 - r, 1), dtype), np.empty((r, r, 1, 1), dtype)
    with pytest.raises(ValueError, match=r"db must have shape \(1,\)"):
        wg.winograd_backward_weights(x, dy, 1, 1, dw, 1, m, db=np.empty(2))
    with pytest.raises(TypeError, match="db must be None or"):
        wg.winograd_backward_weights(x, dy, 1, 1, dw, 1, m, db=np.empty(1, np.float32))


# (N, H, W, C, Cout, ph, pw) of 2x2 layers (padding 0 or 1 per side)
CASES_2X2 = [
    (1, 1, 1, 1, 1, 1, 1),      # a single input pixel: 2x2 outputs, all taps on the padding but one
    (2, 9, 11, 5, 7, 1, 0),
    (3, 8, 15, 17, 33, 0, 1),   # channels off the vector width; tiles crossing the border
    (1, 2, 2, 3, 4, 0, 0),      # a single output pixel
    (2, 12, 7, 40, 20, 1, 1),   # channels over two transform chunks
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", TILES_2X2)
@pytest.mark.parametrize("case", CASES_2X2, ids=_ids)
def test_two_by_two_kernels_match_reference(case, m, dtype):
    """F(m x m, 2 x 2): forward (with and without bias, NHWC and NCHW), dx and dw against the float64
    reference, inputs untouched."""
    n, h, w_, c, co, ph, pw = case
    rng = np.random.default_rng(m + h)
    x = rng.standard_normal((n, h, w_, c)).astype(dtype)
    w = (rng.standard_normal((2, 2, c, co)) / np.sqrt(4 * c)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    ho, wo = h + 2 * ph - 1, w_ + 2 * pw - 1
    dy = rng.standard_normal((n, ho, wo, co)).astype(dtype)
    f = [a.astype(np.float64) for a in (x, w, b, dy)]
    ye, cache = R.conv2d_forward(f[0], f[1], f[2], padding=(ph, pw), stride=1)
    dxe, dwe, _ = R.conv2d_backward(f[3], cache)
    y = check_winograd_passes(x, w, b, dy, (ph, pw), m, (ye, dxe, dwe))
    y_nb = np.full(ye.shape, np.nan, dtype)
    wg.winograd_forward(x, w, None, ph, pw, y_nb, 1, m)
    assert rel_err(y_nb, ye - f[2]) < WINOGRAD_LIMIT[dtype]
    y_nchw = np.full((n, co, ho, wo), np.nan, dtype)
    wg.winograd_forward(x, w, b, ph, pw, y_nchw, 2, m, True)
    np.testing.assert_array_equal(y_nchw, y.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("m", (0,) + TILES_2X2)
def test_two_by_two_results_do_not_depend_on_threads(m):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 23, 17, 12), dtype=np.float32)
    w = rng.standard_normal((2, 2, 12, 20), dtype=np.float32)
    b = rng.standard_normal(20, dtype=np.float32)
    dy = rng.standard_normal((3, 22, 18, 20), dtype=np.float32)  # padding (0, 1): 23 - 1 rows, 17 + 1 columns
    assert_winograd_thread_invariant(x, w, b, dy, m, pad=(0, 1))


def test_two_by_two_bad_calls_raise():
    x = np.zeros((1, 5, 5, 2), np.float32)
    w = np.zeros((2, 2, 2, 4), np.float32)
    with pytest.raises(ValueError, match="padding must be 0 to 1"):
        wg.winograd_forward(x, w, None, 2, 0, np.zeros((1, 8, 4, 4), np.float32), 1)
    with pytest.raises(ValueError, match=r"m must be 0 or one of \[3, 5\] for 2x2 kernels, got 4"):
        wg.winograd_forward(x, w, None, 1, 1, np.zeros((1, 6, 6, 4), np.float32), 1, 4)
    with pytest.raises(ValueError, match="y must have shape"):
        wg.winograd_forward(x, w, None, 1, 1, np.zeros((1, 5, 5, 4), np.float32), 1, 5)
    with pytest.raises(ValueError, match=r"w must have shape \(r, r, C, Cout\) with r 2 or 3"):
        wg.winograd_backward_input(np.zeros((1, 6, 6, 4), np.float32), np.zeros((2, 3, 2, 4), np.float32), 1, 1,
                                   np.zeros(x.shape, np.float32), 1)


@pytest.mark.parametrize("m", TILES + TILES_2X2)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_weights_is_g_w_gt_rounded_once(m, dtype):
    """U = G g G^T per (c, cout) column, in float64 rounded once; into ``out`` or a new array, the
    same bits; the scratch-backed copy the kernels use is the same too."""
    r = wg.kernel_size(m)
    rng = np.random.default_rng(m)
    w = rng.standard_normal((r, r, 5, 7)).astype(dtype)
    _, g, _ = wg.transforms(m)
    exact = np.einsum("ai,ijk,bj->abk", g, w.astype(np.float64).reshape(r, r, 35), g)
    u = wg.transform_weights(w, m)
    assert u.shape == (g.shape[0] ** 2, 5, 7) and u.dtype == dtype
    np.testing.assert_allclose(u.reshape(exact.shape), exact, rtol=1e-6 if dtype == np.float32 else 1e-13,
                               atol=1e-6 if dtype == np.float32 else 1e-13)
    out = np.full(u.shape, np.nan, dtype)
    assert wg.transform_weights(w, m, out) is out
    np.testing.assert_array_equal(out, u)
    np.testing.assert_array_equal(wg._weights_scratch(w, m), u)
    with pytest.raises(ValueError, match="out must be"):
        wg.transform_weights(w, m, np.zeros((1, 5, 7), dtype))
