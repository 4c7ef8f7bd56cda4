"""Grouped 3x3 stride-1 layers through the Winograd kernels (fastconv._winograd) against fastconv.reference.

The kernels take grouped weights (3, 3, C/groups, Cout) and multiply each tile position's transformed
input block-diagonally (one (tiles, C/groups) @ (C/groups, Cout/groups) product per group): by their
own register-blocked kernel where Cout/groups is a multiple of its chunk, else by BLAS per group.
Forward, dx and dw for both, tile sizes 2, 4, 6, float32 and float64, paddings 0..2; the "auto" rule;
thread-count invariance; every SIMD level; the error on the benchmarked grouped layer; bad calls.
"""
import numpy as np
import pytest

import fastconv
import fastconv.reference as R
from fastconv import _winograd as wg
from fastconv import conv as _conv_mod

from conftest import require_simd, run_python, simd_levels
from conv_checks import WINOGRAD_LIMIT, assert_winograd_thread_invariant, check_winograd_passes, rel_err, \
    winograd_level_check_code

TILES = (2, 4, 6)
# (N, H, W, C, Cout, groups, ph, pw)
CASES = [
    (2, 9, 11, 8, 12, 4, 1, 1),       # og = 3: BLAS per group
    (1, 7, 6, 6, 4, 2, 0, 0),
    (2, 10, 10, 16, 16, 16, 2, 2),    # one channel per group
    (2, 13, 11, 32, 64, 2, 1, 1),     # og = 32: the family's kernel, two chunks per group
    (3, 9, 10, 24, 32, 2, 0, 2),      # og = 16, cg = 12
    (1, 6, 7, 48, 48, 3, 2, 1),       # og = 16, odd group count
    (1, 3, 3, 20, 80, 5, 0, 0),       # a single output pixel
    (2, 17, 5, 64, 64, 4, 1, 1),      # the benchmarked layer's channels
]


def _ids(case):
    return "N{}_{}x{}x{}->{}_g{}_p{}{}".format(*case)


def _data(case, dtype, seed=0):
    n, h, w, c, co, g, ph, pw = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = (rng.standard_normal((3, 3, c // g, co)) / np.sqrt(9 * c / g)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    dy = rng.standard_normal((n, h + 2 * ph - 2, w + 2 * pw - 2, co)).astype(dtype)
    return x, wt, b, dy


def _exact(x, w, b, dy, ph, pw, groups):
    """float64 reference y, dx, dw."""
    f = [a.astype(np.float64) for a in (x, w, b, dy)]
    y, cache = R.conv2d_forward(f[0], f[1], f[2], padding=(ph, pw), stride=1, groups=groups)
    dx, dw, _ = R.conv2d_backward(f[3], cache)
    return y, dx, dw


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", TILES)
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_kernels_match_reference(case, m, dtype):
    x, w, b, dy = _data(case, dtype)
    check_winograd_passes(x, w, b, dy, case[6:8], m, _exact(x, w, b, dy, *case[6:8], case[5]))


@pytest.mark.parametrize("groups,c,co,expect", [
    (4, 64, 64, "winograd"),    # 16 per group
    (8, 64, 64, "winograd"),    # 8 per group
    (2, 32, 32, "winograd"),
    (16, 64, 64, "direct"),     # 4 per group: too narrow
    (4, 64, 16, "direct"),      # 4 outputs per group
    (64, 64, 64, "depthwise"),
])
def test_auto_rule(groups, c, co, expect):
    """"auto" takes Winograd for grouped 3x3 stride-1 layers with at least 8 input and 8 output
    channels per group (and 32 outputs in all); the depthwise kernels keep depthwise layers."""
    opts = _conv_mod._Options(None, (1, 1), groups)
    got = _conv_mod._choose("auto", (3, 3, c // groups, co), (1, 1), True, "test", opts, (1, 1))
    assert got == expect
    # stride 2, dilation 2 and 5x5 kernels stay on the direct kernels
    assert _conv_mod._choose("auto", (3, 3, c // groups, co), (1, 1), True, "test", opts, (2, 2)) != "winograd"
    dil = _conv_mod._Options(None, (2, 2), groups)
    assert _conv_mod._choose("auto", (3, 3, c // groups, co), (2, 2), True, "test", dil, (1, 1)) != "winograd"
    assert _conv_mod._choose("auto", (5, 5, c // groups, co), (2, 2), True, "test", opts, (1, 1)) != "winograd"


@pytest.mark.parametrize("algorithm", ["auto", "winograd", "direct"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_grouped_matches_reference(algorithm, dtype):
    """conv2d_forward / conv2d_backward on a grouped layer (auto: Winograd) within the reference's
    tolerance, with and without bias and dx."""
    case = (2, 12, 9, 32, 48, 2, 1, 1)
    n, h, w_, c, co, g, ph, pw = case
    x, w, b, dy = _data(case, dtype, seed=4)
    ye, dxe, dwe = _exact(x, w, b, dy, ph, pw, g)
    y, cache = fastconv.conv2d_forward(x, w, b, 1, 1, 1, g, algorithm=algorithm)
    assert rel_err(y, ye) < WINOGRAD_LIMIT[dtype]
    dx, dw, db = fastconv.conv2d_backward(dy, cache)
    assert rel_err(dx, dxe) < WINOGRAD_LIMIT[dtype]
    assert rel_err(dw, dwe) < WINOGRAD_LIMIT[dtype]
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=(0, 1, 2)), rtol=WINOGRAD_LIMIT[dtype] * 10)
    dx2, dw2, db2 = fastconv.conv2d_backward(dy, cache, compute_dx=False)
    assert dx2 is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)
    y_nb, _ = fastconv.conv2d_forward(x, w, None, 1, 1, 1, g, algorithm=algorithm)
    assert rel_err(y_nb, ye - b.astype(np.float64)) < WINOGRAD_LIMIT[dtype]


def test_auto_uses_winograd_for_grouped(monkeypatch):
    """The grouped layer of the benchmarks goes through the Winograd forward, dx and dw."""
    seen = []
    for name in ("winograd_forward", "winograd_backward_input", "winograd_backward_weights"):
        real = getattr(wg, name)

        def spy(*a, _real=real, _name=name, **k):
            seen.append(_name)
            return _real(*a, **k)

        monkeypatch.setattr(wg, name, spy)
    x, w, b, dy = _data((1, 8, 8, 64, 64, 4, 1, 1), np.float32)
    y, cache = fastconv.conv2d_forward(x, w, b, 1, 1, 1, 4)
    fastconv.conv2d_backward(dy, cache)
    assert seen == ["winograd_forward", "winograd_backward_weights", "winograd_backward_input"]


@pytest.mark.parametrize("m", TILES)
@pytest.mark.parametrize("co,g", [(64, 4), (24, 4)])  # the family's kernel; BLAS per group
def test_results_do_not_depend_on_threads(m, co, g):
    case = (3, 23, 17, 32, co, g, 1, 2)
    x, w, b, dy = _data(case, np.float32, seed=5)
    assert_winograd_thread_invariant(x, w, b, dy, m)


def test_error_on_benchmarked_grouped_layer():
    """The benchmarked grouped layer's channels (64 -> 64, groups 4, k3 p1; batch and size cut down):
    float32 within 1e-4 of max |exact|, weights scaled as in training."""
    case = (1, 64, 64, 64, 64, 4, 1, 1)
    x, w, b, dy = _data(case, np.float64, seed=11)
    w *= np.sqrt(2.0)
    ye, dxe, dwe = _exact(x, w, b, dy, 1, 1, 4)
    for dtype in (np.float32, np.float64):
        xd, wd, bd, dyd = (a.astype(dtype) for a in (x, w, b, dy))
        y, cache = fastconv.conv2d_forward(xd, wd, bd, 1, 1, 1, 4, algorithm="winograd")
        dx, dw, _ = fastconv.conv2d_backward(dyd, cache)
        for got, exact in ((y, ye), (dx, dxe), (dw, dwe)):
            assert rel_err(got, exact) < WINOGRAD_LIMIT[dtype]


def test_bad_grouped_calls_raise():
    x = np.zeros((1, 6, 6, 12), np.float32)
    y = np.zeros((1, 6, 6, 10), np.float32)
    with pytest.raises(ValueError, match="groups dividing C and Cout"):
        wg.winograd_forward(x, np.zeros((3, 3, 5, 10), np.float32), None, 1, 1, y, 1)  # 5 does not divide 12
    with pytest.raises(ValueError, match="groups dividing C and Cout"):
        wg.winograd_forward(x, np.zeros((3, 3, 3, 10), np.float32), None, 1, 1, y, 1)  # 4 groups, Cout 10
    with pytest.raises(ValueError, match="dx must have shape"):
        wg.winograd_backward_input(y, np.zeros((3, 3, 5, 10), np.float32), 1, 1, x, 1)
    with pytest.raises(ValueError, match=r"dw must have shape \(r, r, C/groups, Cout\)"):
        wg.winograd_backward_weights(x, y, 1, 1, np.zeros((3, 3, 5, 10), np.float32), 1)
    with pytest.raises(ValueError, match="winograd kernels serve per-side padding only on dilated layers"):
        fastconv.conv2d_forward(x, np.zeros((3, 3, 3, 12), np.float32), None, ((1, 2), (1, 1)), 1, 1, 4,
                                algorithm="winograd")


@pytest.mark.parametrize("level", simd_levels())
def test_each_simd_level_agrees_with_reference(level, tmp_path):
    """The grouped products of each instruction-set level this CPU runs, forced in a fresh process:
    conv2d forward, dx and dw by Winograd against the reference."""
    require_simd(level, tmp_path)
    code = winograd_level_check_code(level, ((2, 9, 11, 32, 64, 2, 1, 1), (1, 10, 7, 64, 64, 4, 1, 1), (2, 6, 6, 12, 24, 3, 1, 1)))
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"
