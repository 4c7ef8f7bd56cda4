"""filter2d's fused separable kernel (one channel, AVX-512): the same bits as the separable path's two
passes, in every border mode, row alignment and width around its narrowest row; the wrapper's choice.

The fused kernel (``_filter.h``) keeps each block's vertical sums in registers and forms the
horizontal taps by lane shifts (immediate shifts where the row factor's taps are columns 0, 1, ...;
index permutes where zero taps were dropped, as in the Sobel kernels); the edge columns go through
the two passes. ``correlate2d_separable_kernel(..., fused=False)`` runs every row on the two passes.
At levels without the fused kernel both calls run the two passes.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastconv
import fastconv.reference
from fastconv import _filter
from fastconv.filters import MODES, _plan

from conftest import array_at, require_simd, run_at_level, simd_levels

def _kernels(rng):
    """Rank-1 kernels of every extent the fused kernel takes, with dense and gapped row factors."""
    ks = [np.asarray(fastconv.KERNELS[name], dtype=np.float64) for name in ("gaussian3", "gaussian5", "sobel_x")]
    for kh, kw in ((1, 3), (2, 2), (3, 4), (7, 7), (4, 8), (8, 8), (5, 6)):
        ks.append(np.outer(rng.standard_normal(kh), rng.standard_normal(kw)))
    gapped = np.outer(rng.standard_normal(5), [0.0, 1.5, 0.0, -2.0, 0.5])  # row factor taps 1, 3, 4
    ks.append(gapped)
    return ks


def check_fused_bits(widths_extra=(257, 517), channels=(1, 3, 4)):
    """fused=True and fused=False give the same bits; the result matches the reference."""
    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        ct = np.dtype(dtype)
        lanes = 64 // ct.itemsize
        narrowest = 10 * lanes  # values: a block of 8 vectors and two more (fastconv/_filter.h)
        for k, c in ((k, c) for c in channels for k in _kernels(rng)):
            plan = _plan(k, ct)
            if not plan.separable:
                continue
            kh, kw = k.shape
            first = -(-narrowest // c)  # the narrowest row (pixels) the fused kernel serves
            for width in (first - 1, first, first + 1, *widths_extra):
                for shift in (0, 1, 3):
                    img = array_at((6, width, c), ct, shift)
                    img[...] = rng.standard_normal(img.shape) * 10
                    for mode in MODES:
                        got = []
                        for fused, nt in ((True, 1), (True, 2), (False, 1)):
                            out = array_at(img.shape, ct, (shift + 1) % 4)
                            _filter.correlate2d_separable_kernel(
                                img, plan.w, plan.rows, plan.w2, plan.cols, kh, kw, MODES[mode][0], 1.5, out, nt,
                                False, fused)
                            got.append(out.copy())
                        msg = f"{ct} {k.shape} width {width} shift {shift} {mode}"
                        np.testing.assert_array_equal(got[0], got[2], err_msg=msg)
                        np.testing.assert_array_equal(got[1], got[2], err_msg=msg)
            # the reference, once per kernel, dtype and channel count (its loop is slow)
            img = rng.standard_normal((5, first + 7, c)).astype(ct)
            want = fastconv.reference.filter2d(img, k, mode="reflect")
            got = fastconv.filter2d(img, k, mode="reflect")
            eps = 4e-6 if ct == np.float32 else 1e-13
            np.testing.assert_allclose(got, want, rtol=0, atol=eps * np.abs(k).sum() * np.abs(img).max())


def test_fused_separable_gives_the_two_passes_bits():
    check_fused_bits()


def test_fused_serves_rows_from_the_narrowest_on_with_taps_within_a_vector():
    on = fastconv._simd.simd_level() == "avx512"
    for dtype, lanes in ((np.float32, 16), (np.float64, 8)):
        dt = np.dtype(dtype)
        assert _filter.separable_fused_serves(dt, 10 * lanes, 1, 5) is on
        assert _filter.separable_fused_serves(dt, 10 * lanes - 1, 1, 5) is False
        assert _filter.separable_fused_serves(dt, 4 * lanes, 3, 3) is on  # 12 vectors of values a row
        assert _filter.separable_fused_serves(dt, 4096, 3, lanes // 3 + 1) is on
        assert _filter.separable_fused_serves(dt, 4096, 3, lanes // 3 + 2) is False  # a tap beyond a vector
        assert _filter.separable_fused_serves(dt, 4096, 1, 8) is on


def test_plan_separable_wherever_fused_and_fewer_taps():
    """With the fused kernel, a rank-1 kernel is factored whenever that has fewer taps, even for an
    output too large for the cache (where the two passes need 2 to 2.5 times fewer)."""
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    g7 = np.outer([1, 6, 15, 20, 15, 6, 1], [1, 6, 15, 20, 15, 6, 1]) / 4096.0
    for k in (fastconv.KERNELS["gaussian3"], fastconv.KERNELS["gaussian5"], fastconv.KERNELS["mean"], g7):
        for ct in (f32, f64):
            assert _plan(k, ct, memory_bound=True, fused=True).separable
    assert not _plan(fastconv.KERNELS["laplacian"], f32, memory_bound=True, fused=True).separable
    assert not _plan(np.ones((1, 1)), f32, memory_bound=True, fused=True).separable  # one tap: 2 > 1


def test_filter2d_takes_the_fused_rule_for_one_channel_and_float32_channels(monkeypatch):
    """filter2d factors gaussian5 on a large one-channel image, and on a large three-channel float32
    one (at AVX-512 by the fused kernel's rule: the general path's several-rows kernel would win
    over the two passes there; below it by the two passes' factor 2); a large three-channel
    float64 image keeps the general path for gaussian3 (measured faster there)."""
    seen = []
    sep, same = _filter.correlate2d_separable_kernel, _filter.correlate2d_same_kernel
    monkeypatch.setattr(_filter, "correlate2d_separable_kernel", lambda *a: (seen.append("sep"), sep(*a))[1])
    monkeypatch.setattr(_filter, "correlate2d_same_kernel", lambda *a: (seen.append("general"), same(*a))[1])
    rng = np.random.default_rng(2)
    for shape, dtype, kernel, want in (((1024, 2048), np.float32, "gaussian5", "sep"),
                                       ((512, 1024, 3), np.float32, "gaussian5", "sep"),
                                       ((512, 1024, 3), np.float64, "gaussian3", "general")):
        img = rng.random(shape).astype(dtype)
        seen.clear()
        got = fastconv.filter2d(img, kernel)
        assert seen == [want], (shape, dtype, kernel)
        band = fastconv.reference.filter2d(img[:8], fastconv.KERNELS[kernel])[:6]
        eps = 4e-6 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(got[:6], band, rtol=0, atol=eps * 2)


@pytest.mark.parametrize("level", simd_levels())
def test_fused_separable_at_every_simd_level(level, tmp_path):
    require_simd(level, tmp_path)
    run_at_level(level, tmp_path, "test_filter_fused", "check_fused_bits(widths_extra=(300,))")
