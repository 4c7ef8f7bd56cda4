"""The small-channel kernels (fastconv._conv_smallc) against fastconv.reference: every SIMD level,
float32 and float64, strides 1 and 2, pads 0 to 2, odd sizes, NHWC and NCHW in and out; and
fastconv.cs231n, which runs its small-channel layers on them."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import require_simd, run_python, simd_levels

import fastconv.reference as R
from fastconv import _conv_smallc as K
from fastconv import cs231n as L

# (n, c, h, w, cout, kh, kw): C=3 with 25 filters (the assignment's layer), C=1, taps not a
# multiple of the vector width, more than 4 vectors of filters, a 5x5 kernel of 32 taps
SHAPES = [(3, 3, 9, 8, 25, 3, 3), (2, 1, 7, 11, 8, 3, 3), (2, 2, 6, 5, 5, 2, 3), (1, 3, 5, 5, 70, 3, 3),
          (9, 1, 8, 8, 17, 5, 5), (2, 4, 5, 7, 3, 1, 1)]


def _check(dt, shape, s, p, nchw, rng):
    n, c, h, wd, cout, kh, kw = shape
    x = rng.standard_normal((n, h, wd, c)).astype(dt)
    w = rng.standard_normal((kh, kw, c, cout)).astype(dt)
    b = rng.standard_normal(cout).astype(dt)
    y, cache = R.conv2d_forward(x, w, b, p, s)
    dy = rng.standard_normal(y.shape).astype(dt)
    dx, dw, db = R.conv2d_backward(dy, cache)
    xi = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if nchw else x
    dyi = np.ascontiguousarray(dy.transpose(0, 3, 1, 2)) if nchw else dy
    x0, w0, dy0 = xi.copy(), w.copy(), dyi.copy()
    got_y, got_dx = np.full(dyi.shape, np.nan, dt), np.full(xi.shape, np.nan, dt)
    K.smallc_forward(xi, w, b, got_y, p, p, s, s, nchw, nchw, 2)
    got_dw, got_db = K.smallc_backward(xi, w, dyi, got_dx, p, p, s, s, nchw, nchw, True, 2)
    if nchw:
        got_y, got_dx = got_y.transpose(0, 2, 3, 1), got_dx.transpose(0, 2, 3, 1)
    rtol = 1e-12 if dt == np.float64 else 2e-5
    for got, want in ((got_y, y), (got_dx, dx), (got_dw, dw), (got_db, db)):
        assert got.dtype == dt and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, float(np.abs(want).max())))
    for a, a0 in ((xi, x0), (w, w0), (dyi, dy0)):
        np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("nchw", [False, True], ids=["NHWC", "NCHW"])
@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
def test_matches_reference(dt, nchw):
    rng = np.random.default_rng(7)
    for shape, s, p in itertools.product(SHAPES, (1, 2), (0, 1, 2)):
        _check(dt, shape, s, p, nchw, rng)


def test_results_do_not_depend_on_threads():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((11, 3, 9, 9)), rng.standard_normal((3, 3, 3, 7)), rng.standard_normal(7)
    dy = rng.standard_normal((11, 7, 5, 5))
    runs = []
    for nt in (1, 2, 3):
        y = np.empty(dy.shape)
        dx = np.empty(x.shape)
        K.smallc_forward(x, w, b, y, 1, 1, 2, 2, True, True, nt)
        runs.append((y, dx) + tuple(K.smallc_backward(x, w, dy, dx, 1, 1, 2, 2, True, True, True, nt)))
    for r in runs[1:]:
        for a, a0 in zip(r, runs[0]):
            np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("level", simd_levels())
def test_each_simd_level_agrees_with_reference(level, tmp_path):
    """Each instruction-set level this CPU runs, forced in a fresh process, through fastconv.cs231n
    (NCHW) and the kernels' NHWC entry, float32 and float64."""
    require_simd(level, tmp_path)
    code = (
        "import itertools, numpy as np, fastconv.reference as R\n"
        "from fastconv import _simd, _conv_smallc as K, cs231n as L\n"
        f"assert _simd.simd_level() == {level!r}, _simd.simd_level()\n"
        "rng = np.random.default_rng(0)\n"
        "for dt, rtol in ((np.float32, 2e-5), (np.float64, 1e-12)):\n"
        "    for (n, c, h, wd, f, k), s, p in itertools.product(((4, 3, 31, 31, 25, 3), (3, 1, 9, 7, 8, 3),\n"
        "                                   (2, 2, 7, 9, 13, 2), (2, 1, 8, 8, 33, 5)), (1, 2), (0, 1, 2)):\n"
        "        x = rng.standard_normal((n, c, h, wd)).astype(dt)\n"
        "        w = rng.standard_normal((f, c, k, k)).astype(dt); b = rng.standard_normal(f).astype(dt)\n"
        "        out, cache = L.conv_forward_fast(x, w, b, {'stride': s, 'pad': p})\n"
        "        assert type(cache).__name__ == '_SmallCCache'\n"
        "        ro, rc = R.conv2d_forward(x, w, b, p, s, layout='NCHW')\n"
        "        dout = rng.standard_normal(out.shape).astype(dt)\n"
        "        for g, r in zip((out,) + L.conv_backward_fast(dout, cache), (ro,) + R.conv2d_backward(dout, rc)):\n"
        "            assert g.dtype == r.dtype and g.shape == r.shape\n"
        "            np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * max(1.0, float(np.abs(r).max())))\n"
        "print('ok')\n"
    )
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"


def test_cs231n_falls_back_for_other_layers():
    """Layers the small-channel kernels do not serve (many taps, mixed dtypes, lists) still work."""
    rng = np.random.default_rng(5)
    param = {"stride": 1, "pad": 1}
    cases = [
        (rng.standard_normal((2, 8, 6, 6)), rng.standard_normal((4, 8, 3, 3)), rng.standard_normal(4)),  # 72 taps
        (rng.standard_normal((2, 3, 6, 6)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)),
        (rng.standard_normal((1, 1, 4, 4)).tolist(), rng.standard_normal((2, 1, 3, 3)), rng.standard_normal(2)),
    ]
    for x, w, b in cases:
        out, cache = L.conv_forward_fast(x, w, b, param)
        assert type(cache).__name__ != "_SmallCCache"
        ro, rc = R.conv2d_forward(np.asarray(x), w, b, 1, 1, layout="NCHW")
        dout = rng.standard_normal(out.shape)
        for g, r in zip((out,) + L.conv_backward_fast(dout, cache), (ro,) + R.conv2d_backward(dout, rc)):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


def test_cs231n_non_contiguous_and_bad_dout():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4, 9, 10))[:, ::2, :, ::-1]  # (3, 2, 9, 10), non-contiguous
    w, b = rng.standard_normal((5, 2, 3, 3)), rng.standard_normal(5)
    out, cache = L.conv_forward_fast(x, w, b, {"stride": 2, "pad": 1})
    assert type(cache).__name__ == "_SmallCCache"
    ro, rc = R.conv2d_forward(x, w, b, 1, 2, layout="NCHW")
    np.testing.assert_allclose(out, ro, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"dy has shape \(3, 5, 4, 4\) but the forward output had shape \(3, 5, 5, 5\)"):
        L.conv_backward_fast(np.ones((3, 5, 4, 4)), cache)


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
def test_nchw_backward_equals_nhwc_bit_for_bit(dt):
    """The NCHW backward reads dy's planes in place (no packed copy) and sums in the NHWC
    kernel's order: its dx and dw are the NHWC entry's, transposed, bit for bit (db sums each NCHW
    plane in eight interleaved partial sums: equal to rounding)."""
    rng = np.random.default_rng(11)
    for (n, c, h, wd, cout, kh, kw), s, p in itertools.product(SHAPES + [(10, 3, 31, 31, 25, 3, 3)], (1, 2), (0, 1)):
        x = rng.standard_normal((n, h, wd, c)).astype(dt)
        w = rng.standard_normal((kh, kw, c, cout)).astype(dt)
        ho, wo = (h + 2 * p - kh) // s + 1, (wd + 2 * p - kw) // s + 1
        dy = rng.standard_normal((n, ho, wo, cout)).astype(dt)
        dx = np.empty_like(x)
        dw, db = K.smallc_backward(x, w, dy, dx, p, p, s, s, False, False, True, 2)
        xc, dyc = (np.ascontiguousarray(a.transpose(0, 3, 1, 2)) for a in (x, dy))
        dxc = np.empty_like(xc)
        dwc, dbc = K.smallc_backward(xc, w, dyc, dxc, p, p, s, s, True, True, True, 2)
        np.testing.assert_array_equal(dxc.transpose(0, 2, 3, 1), dx)
        np.testing.assert_array_equal(dwc, dw)
        rtol = 1e-12 if dt == np.float64 else 2e-5
        np.testing.assert_allclose(dbc, db, rtol=rtol, atol=rtol * max(1.0, float(np.abs(db).max())))
        dwn, dbn = K.smallc_backward(xc, w, dyc, None, p, p, s, s, True, True, False, 2)  # without dx
        np.testing.assert_array_equal(dwn, dw)
        np.testing.assert_array_equal(dbn, dbc)
