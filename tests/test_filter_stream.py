"""filter2d's non-temporal (streaming) stores of large outputs: the same values as ordinary stores.

The row kernel writes the blocks that start on a cache-line boundary of the output with
non-temporal stores when asked (``stream``); the first block and the row's tail use ordinary
stores. The values must not change at all: every output is the same sum in the same order.
The checks use small images (the wrapper streams only outputs of 8 MiB and more, so the kernels
are called directly here), widths long enough for the streamed blocks of every instruction-set
level, and output rows that start on every alignment.
"""
import numpy as np
import pytest

import fastconv
import fastconv.reference
from fastconv import _filter
from fastconv.filters import MODES, _plan, _stream

from conftest import array_at, require_simd, run_at_level, simd_levels


def check_streaming_stores(reference_modes=("constant", "mirror")):
    """Streamed and ordinary stores give bit-identical results for the general and the separable
    kernel, float32 and float64, every border mode, equal to the reference to rounding (in
    ``reference_modes``: the reference loop is slow); the row widths reach past two blocks of the
    widest level (AVX-512: 192 float32 values per block)."""
    rng = np.random.default_rng(7)
    k_general = rng.standard_normal((3, 3))
    k_general[0, 0] = 0.0                       # a skipped tap, and rank > 1
    k_sep = np.outer(rng.standard_normal(5), rng.standard_normal(5))
    k_many = rng.standard_normal((5, 5))       # 24 taps: the several-rows kernel (blocks of 4 rows; k_general has 8)
    k_many[1, 3] = 0.0
    for dtype in (np.float32, np.float64):
        ct = np.dtype(dtype)
        for shape in [(5, 700, 1), (4, 131, 3), (3, 385, 1)]:
            img = (rng.standard_normal(shape) * 50).astype(ct)
            for k in (k_general, k_sep, k_many):
                plan = _plan(k, ct)
                assert plan.separable is (k is k_sep)
                for mode in MODES:
                    results = []
                    for stream, shift in ((False, 0), (True, 0), (True, 1), (True, 3)):
                        out = array_at(shape, ct, shift)
                        if plan.separable:
                            _filter.correlate2d_separable_kernel(  # (fused=False: the fused kernel does not stream)
                                img, plan.w, plan.rows, plan.w2, plan.cols, k.shape[0], k.shape[1],
                                MODES[mode][0], 1.5, out, 1, stream, False)
                        else:
                            _filter.correlate2d_same_kernel(
                                img, plan.w, plan.rows, plan.cols, k.shape[0], k.shape[1],
                                MODES[mode][0], 1.5, out, 1, stream)
                        results.append(out)
                    for r in results[1:]:
                        np.testing.assert_array_equal(r, results[0], err_msg=f"{ct} {shape} {mode}")
                    if mode not in reference_modes:
                        continue
                    want = fastconv.reference.filter2d(img[..., 0] if shape[2] == 1 else img, k, mode=mode,
                                                       cval=1.5).reshape(shape)
                    scale = np.abs(k).sum() * np.abs(img).max()
                    eps = 4e-6 if ct == np.float32 else 1e-13
                    np.testing.assert_allclose(results[0], want, rtol=0, atol=eps * scale)


def test_streaming_stores_give_the_same_values():
    check_streaming_stores()


def test_streaming_is_chosen_for_large_separable_outputs_only():
    """The wrapper streams the separable path's outputs of 8 MiB and more (measured faster there),
    except where the fused separable kernel runs the rows; the general path keeps ordinary stores
    (measured slower streamed: its loads straddle lines)."""
    from fastconv.filters import _STREAM_BYTES

    f32 = np.dtype(np.float32)
    g7 = np.outer([1, 6, 15, 20, 15, 6, 1], [1, 6, 15, 20, 15, 6, 1]) / 4096.0
    sep, gen = _plan(g7, f32, True), _plan(fastconv.KERNELS["laplacian"], f32, True)
    assert sep.separable and not gen.separable
    assert _stream(sep, _STREAM_BYTES) and not _stream(sep, _STREAM_BYTES - 1)
    assert not _stream(sep, _STREAM_BYTES, fused=True)
    assert not _stream(gen, _STREAM_BYTES) and not _stream(gen, 1 << 40)


def test_large_streamed_call_matches_reference():
    """One end-to-end call that takes the streamed separable path (an 8 MiB float32 output of three
    channels and a 7x7 kernel, whose taps reach past one vector: the fused separable kernel, which
    keeps ordinary stores, does not serve it)."""
    from fastconv.filters import _STREAM_BYTES

    img = (np.random.default_rng(5).random((512, _STREAM_BYTES // 12 // 512 + 1, 3)) * 255).astype(np.float32)
    k = np.outer([1, 6, 15, 20, 15, 6, 1], [1, 6, 15, 20, 15, 6, 1]) / 4096.0  # 7x7: separable when large
    assert not _filter.separable_fused_serves(img.dtype, img.shape[1], img.shape[2], 7)
    assert _stream(_plan(k, np.dtype(np.float32), True), img.nbytes)
    got = fastconv.filter2d(img, k, mode="nearest")
    # the reference loop is slow: check bands of rows, each computed from its rows +-3 (the
    # kernel's reach), the first and last band at the image's own border
    for r in (slice(0, 6), slice(250, 262), slice(506, 512)):
        lo, hi = max(r.start - 3, 0), min(r.stop + 3, img.shape[0])
        band = fastconv.reference.filter2d(img[lo:hi], k, mode="nearest")[r.start - lo:r.stop - lo]
        np.testing.assert_allclose(got[r], band, rtol=0, atol=4e-6 * 255)
    # and the whole image against the ordinary-store call (bit for bit)
    plan = _plan(k, np.dtype(np.float32), True)
    ref = np.empty_like(img)
    _filter.correlate2d_separable_kernel(img, plan.w, plan.rows, plan.w2, plan.cols, 7, 7,
                                         MODES["nearest"][0], 0.0, ref, 2, False)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("level", simd_levels())
def test_streaming_stores_at_every_simd_level(level, tmp_path):
    require_simd(level, tmp_path)
    run_at_level(level, tmp_path, "test_filter_stream", "check_streaming_stores(reference_modes=('wrap',))")
