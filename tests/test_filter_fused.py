"""filter2d's fused separable kernel (one channel, AVX-512): the same bits as the separable path's two
passes, in every border mode, row alignment and width around its narrowest row; the wrapper's choice.

The fused kernel (``_filter.h``) keeps each block's vertical sums in registers and forms the
horizontal taps by lane shifts (immediate shifts where the row factor's taps are columns 0, 1, ...;
index permutes where zero taps were dropped, as in the Sobel kernels); the edge columns go through
the two passes. ``correlate2d_separable_kernel(..., fused=False)`` runs every row on the two passes.
At levels without the fused kernel both calls run the two passes.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastconv
import fastconv.reference
from fastconv import _filter
from fastconv.filters import MODES, _plan

from conftest import require_simd, simd_levels, subprocess_env

ROOT = Path(__file__).resolve().parent


def _rows_at(shape, dtype, shift):
    """A C-contiguous array whose data starts ``shift`` elements past a 64-byte boundary."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    buf = np.empty(n + 64 // dt.itemsize + shift, dtype=dt)
    start = (-buf.ctypes.data % 64) // dt.itemsize + shift
    return buf[start:start + n].reshape(shape)


def _kernels(rng):
    """Rank-1 kernels of every extent the fused kernel takes, with dense and gapped row factors."""
    ks = [np.asarray(fastconv.KERNELS[name], dtype=np.float64) for name in ("gaussian3", "gaussian5", "sobel_x")]
    for kh, kw in ((1, 3), (2, 2), (3, 4), (7, 7), (4, 8), (8, 8), (5, 6)):
        ks.append(np.outer(rng.standard_normal(kh), rng.standard_normal(kw)))
    gapped = np.outer(rng.standard_normal(5), [0.0, 1.5, 0.0, -2.0, 0.5])  # row factor taps 1, 3, 4
    ks.append(gapped)
    return ks


def check_fused_bits(widths_extra=(257, 517)):
    """fused=True and fused=False give the same bits; the result matches the reference."""
    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        ct = np.dtype(dtype)
        lanes = 64 // ct.itemsize
        narrowest = 10 * lanes  # a block of 8 vectors and two more (fastconv/_filter.h)
        for k in _kernels(rng):
            plan = _plan(k, ct)
            if not plan.separable:
                continue
            kh, kw = k.shape
            for width in (narrowest - 1, narrowest, narrowest + 1, *widths_extra):
                for shift in (0, 1, 3):
                    img = _rows_at((6, width, 1), ct, shift)
                    img[...] = rng.standard_normal(img.shape) * 10
                    for mode in MODES:
                        got = []
                        for fused, nt in ((True, 1), (True, 2), (False, 1)):
                            out = _rows_at(img.shape, ct, (shift + 1) % 4)
                            _filter.correlate2d_separable_kernel(
                                img, plan.w, plan.rows, plan.w2, plan.cols, kh, kw, MODES[mode][0], 1.5, out, nt,
                                False, fused)
                            got.append(out.copy())
                        msg = f"{ct} {k.shape} width {width} shift {shift} {mode}"
                        np.testing.assert_array_equal(got[0], got[2], err_msg=msg)
                        np.testing.assert_array_equal(got[1], got[2], err_msg=msg)
            # the reference, once per kernel and dtype (its loop is slow)
            img = rng.standard_normal((5, narrowest + 7)).astype(ct)
            want = fastconv.reference.filter2d(img, k, mode="reflect")
            got = fastconv.filter2d(img, k, mode="reflect")
            eps = 4e-6 if ct == np.float32 else 1e-13
            np.testing.assert_allclose(got, want, rtol=0, atol=eps * np.abs(k).sum() * np.abs(img).max())


def test_fused_separable_gives_the_two_passes_bits():
    check_fused_bits()


def test_fused_serves_one_channel_rows_from_the_narrowest_on():
    simd = fastconv._simd.simd_level()
    for dtype, lanes in ((np.float32, 16), (np.float64, 8)):
        dt = np.dtype(dtype)
        on = simd == "avx512"
        assert _filter.separable_fused_serves(dt, 10 * lanes, 1) is on
        assert _filter.separable_fused_serves(dt, 10 * lanes - 1, 1) is False
        assert _filter.separable_fused_serves(dt, 4096, 3) is False


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


@pytest.mark.parametrize("level", simd_levels())
def test_fused_separable_at_every_simd_level(level, tmp_path):
    require_simd(level, tmp_path)
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from test_filter_fused import check_fused_bits\n"
        "check_fused_bits(widths_extra=(300,))\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=subprocess_env(FASTCONV_SIMD=level), timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
