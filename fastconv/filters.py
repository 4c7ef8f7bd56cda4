"""Image filtering: a fast same-size ``filter2d``, and the plans that decide how a kernel is run.

The tutorial's ten named kernels (:data:`KERNELS`) and the border modes (:data:`MODES`) live in
:mod:`fastconv._filter_spec`; the memory pool of large outputs (:func:`output_pool`) in
:mod:`fastconv._outpool`. Both are re-exported here.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _filter, _outpool
from . import _validate as v
from ._filter_spec import KERNELS, MODES
from ._outpool import output_pool
from ._threads import get_num_threads
from ._validate import _F32, _F64

__all__ = ["KERNELS", "MODES", "filter2d", "output_pool"]


# Multiply-adds (about 60 us of one core at float32) worth waking one more OpenMP thread for: a
# 512x512 float32 random 5x5 filter took 179 us on 2 threads against 331 us on one (4 MiMACs per
# thread, the previous threshold, kept it on one); see docs/performance.md.
_MACS_PER_THREAD = 1 << 20
# Each output pixel also costs about as much as this many multiply-adds (its loads and store): on
# 512x512 float32 images, one thread, the laplacian (5 taps) took 0.53 ns per pixel and a random
# 3x3 kernel (9 taps) 0.76, 0.06 ns per tap over 0.24 ns per pixel; counted with the taps, the
# laplacian there (1.3 MiMACs alone) gets 2 threads: 88 us against 140 on one.
_PIXEL_MACS = 4


def _rank1(k: np.ndarray):
    """``(u, v)`` with ``outer(u, v) == k`` to rounding, or None if ``k`` is not rank 1."""
    if not np.all(np.isfinite(k)) or k.shape[0] < 2 or k.shape[1] < 2:
        return None
    p, q = np.unravel_index(np.argmax(np.abs(k)), k.shape)
    if k[p, q] == 0:
        return None
    u = k[:, q].copy()
    vv = k[p, :] / k[p, q]
    err = np.max(np.abs(np.outer(u, vv) - k))
    if err > 8 * np.finfo(np.float64).eps * np.abs(k[p, q]):
        return None
    return u, vv


class _Plan(NamedTuple):
    """How a kernel is run: its non-zero taps (or its two 1-D factors' non-zero taps)."""

    separable: bool
    w: np.ndarray     # weights of the taps (separable: of the column factor u)
    rows: np.ndarray  # kernel row of each tap (separable: index into u)
    cols: np.ndarray  # kernel column of each tap (separable: index into v)
    w2: np.ndarray    # separable: weights of the row factor v; else unused (empty)
    macs: int         # multiply-adds per output value


_PLANS: dict = {}


def _frozen_copy(a, dtype) -> np.ndarray:
    """A read-only C-contiguous copy."""
    a = np.array(a, dtype=dtype, order="C")
    a.flags.writeable = False
    return a


#: From this output size on a call is bound by memory traffic, not arithmetic: the two passes of
#: the separable path (input rows -> row buffer, then row buffer -> output) overlap reads and
#: writes less well than the one pass of the general path, which then wins unless the factored
#: form needs at most 1/_MEMORY_BOUND_FACTOR of the multiply-adds (3x3 rank-1 kernels: general;
#: 7x7: separable). In float32 where the general path runs kernels of 9 taps and more on blocks of
#: rows (_filter.several_rows_runs: AVX-512) the bar is 1/_MEMORY_BOUND_FACTOR_ROWS, so 5x5 kernels
#: go general too: on 2048x2048 float32 it took 0.79-0.93 of the separable path's time for
#: gaussian5 (3 runs, 1 and 2 threads, calls alternating; bench/filter_rows_interleaved.py
#: separable) but 1.18-1.51 times for a 7x7 binomial kernel; in float64, 0.95-1.04 and 1.45-1.47;
#: at AVX2, one row at a time, gaussian5 took 1.15-1.38 times.
#: Where the fused separable kernel runs the rows (``_filter.separable_fused_serves``: AVX-512,
#: rows of 160 float32 or 80 float64 values and more, horizontal taps within one vector), the
#: separable path keeps each block's vertical sums in registers and forms the horizontal taps by
#: lane shifts, with no row buffer, faster than the two passes wherever measured. For one channel,
#: and several in float32, it then wins whenever it has fewer taps, memory-bound or not, and
#: ``_MEMORY_BOUND_FACTOR*`` do not apply. Its time over the general path's (1 and 2 threads,
#: medians of 7 rounds of the kernels alternating, ``python bench/filter_rows_interleaved.py fused``):
#: 2048x2048 float32, three runs, gaussian5 0.67-0.75, 7x7 binomial 0.52-0.59, gaussian3 0.89-1.12,
#: sobel_x 0.89-0.98; float64, one run, 0.76-0.85, 0.57-0.66, 0.88-0.98, 0.84-0.96; 512x512
#: 0.37-0.96; three channels, 1024x1024 float32 (``--channels 3 --sizes 512,1024``), gaussian5
#: 0.77-0.89, gaussian3 0.89-1.08, sobel_x 0.82-0.86, four channels 0.76-0.78, 0.94-1.00, 0.85
#: (512x512: 0.52-0.87); but three channels of float64, gaussian3 1.15-1.28 (the kernel takes
#: float64 taps within 8 values: 3x3 kernels), so several float64 channels keep the rule below.
_MEMORY_BOUND_BYTES = 8 << 20
_MEMORY_BOUND_FACTOR = 2.0
_MEMORY_BOUND_FACTOR_ROWS = 2.5


#: From this output size on, the separable path writes the output with non-temporal (streaming)
#: stores, which skip reading the output's cache lines in before overwriting them. Measured on a
#: 2048x2048 float32 image (CPU time of one thread, interleaved, bench/filter_interleaved.py): 6-8%
#: faster for gaussian5 (separable), but 3-9% slower for the general path (laplacian, random 3x3),
#: whose loads then mostly straddle cache lines; so the general path keeps ordinary stores.
_STREAM_BYTES = 8 << 20


def _stream(plan: "_Plan", nbytes: int, fused: bool = False) -> bool:
    """Whether a call writes its output with non-temporal stores (same values either way): not
    where the fused separable kernel runs the rows (``fused``; it keeps ordinary stores)."""
    return plan.separable and not fused and nbytes >= _STREAM_BYTES


def _plan(k: np.ndarray, ct: np.dtype, memory_bound: bool = False, fused: bool = False) -> _Plan:
    """The taps of ``k`` in dtype ``ct``, factored if rank 1 and cheaper (``memory_bound``: a large
    output; ``fused``: the fused separable kernel runs the image's rows and pays, see above);
    memoised per kernel value."""
    key = (k.shape, k.dtype.str, k.tobytes(), ct.str, memory_bound, fused)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    k64 = np.asarray(k, dtype=np.float64)
    fac = _rank1(k64)
    nnz = int(np.count_nonzero(k64))
    ip = np.intp
    factor = 1.0
    if memory_bound and not fused:
        several_rows = ct == _F32 and _filter.several_rows_runs()
        factor = _MEMORY_BOUND_FACTOR_ROWS if several_rows else _MEMORY_BOUND_FACTOR
    if fac is not None and (np.count_nonzero(fac[0]) + np.count_nonzero(fac[1])) * factor < nnz:
        ui, vi = np.flatnonzero(fac[0]), np.flatnonzero(fac[1])
        plan = _Plan(True, _frozen_copy(fac[0][ui], ct), _frozen_copy(ui, ip), _frozen_copy(vi, ip),
                     _frozen_copy(fac[1][vi], ct), len(ui) + len(vi))
    else:
        rows, cols = np.nonzero(k64)
        plan = _Plan(False, _frozen_copy(k64[rows, cols], ct), _frozen_copy(rows, ip), _frozen_copy(cols, ip),
                     _frozen_copy([], ct), max(nnz, 1))
    if len(_PLANS) >= 256:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def _output_arg(output, img: np.ndarray):
    """Check an ``output`` array: float32/float64, the image's shape, C-contiguous, writeable, apart."""
    if output.dtype not in (_F32, _F64):
        raise TypeError(f"output must have dtype float32 or float64 (native byte order), got {output.dtype} "
                        f"(output shape {output.shape}, image shape {img.shape})")
    if output.shape != img.shape:
        raise ValueError(f"output must have the image's shape {img.shape}, got shape {output.shape}")
    if not output.flags.c_contiguous:
        raise ValueError(f"output must be C-contiguous, got strides {output.strides} (shape {output.shape})")
    if not output.flags.writeable:
        raise ValueError(f"output must be writeable (shape {output.shape})")
    if np.may_share_memory(output, img):
        raise ValueError(f"output must not overlap the image's memory (output shape {output.shape}, "
                         f"image shape {img.shape})")
    return output


def filter2d(image, kernel, mode="constant", cval=0.0, dtype=None, output=None):
    """Same-size 2-D cross-correlation of an image with a kernel, with a border mode.

    The kernel is not flipped (cross-correlation, as in the tutorial, OpenCV and PyTorch). The
    output has the image's (H, W) or (H, W, C) shape; each channel of a colour image is
    filtered independently.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        Any real dtype (uint8, uint16, float32, float64, ...); any memory layout. Never modified.
    kernel : array_like, shape (Kh, Kw), or str
        Any size, odd or even, square or rectangular; or a name from :data:`KERNELS`.
        Anchor (as ``scipy.ndimage.correlate`` with ``origin=0``): output ``(i, j)`` reads input
        ``(i + ki - Kh // 2, j + kj - Kw // 2)`` for tap ``(ki, kj)``; for an even size the
        anchor is the tap just after the middle (index 2 of a 4-tap axis).
    mode : {"constant", "nearest", "reflect", "mirror", "wrap"}, default "constant"
        How the image is extended beyond its border, with ``scipy.ndimage`` names and semantics
        (extension is periodic, so a kernel larger than the image is fine):

        ============  ===========================  ====================  ======================
        mode          extension of ``a b c d``     ``numpy.pad`` mode    OpenCV border
        ============  ===========================  ====================  ======================
        ``constant``  ``k k | a b c d | k k``      ``constant``          ``BORDER_CONSTANT``
        ``nearest``   ``a a | a b c d | d d``      ``edge``              ``BORDER_REPLICATE``
        ``reflect``   ``b a | a b c d | d c``      ``symmetric``         ``BORDER_REFLECT``
        ``mirror``    ``c b | a b c d | c b``      ``reflect``           ``BORDER_REFLECT_101``
        ``wrap``      ``c d | a b c d | a b``      ``wrap``              ``BORDER_WRAP``
        ============  ===========================  ====================  ======================

        (``k`` is ``cval``.) ``"constant"`` with ``cval=0`` is the tutorial's zero padding.
    cval : float, default 0.0
        The value outside the image in ``"constant"`` mode, in image units.
    dtype : dtype, optional
        Output dtype. By default float32 and float16 images give float32 and every other image
        (uint8, uint16, integer, bool, float64) gives float64: the tutorial's loop returns
        float64 for its uint8 photo, and a float image keeps its precision. The sums are formed
        in that dtype (the kernel is cast to it). A float ``dtype`` sets both the computing and
        the output dtype. An integer ``dtype`` (e.g. ``np.uint8``) computes as by default, then
        clips to the dtype's range and casts (truncating), exactly as the tutorial's
        ``np.clip(y, 0, 255).astype(np.uint8)``.
    output : ndarray or dtype, optional
        As in ``scipy.ndimage``: an array to write the result into, or the output dtype (then
        the same as ``dtype=``; give at most one of the two). The array must have the image's
        shape, dtype float32 or float64 (it sets the computing dtype, as a float ``dtype=``),
        be C-contiguous and writeable, and must not overlap the image. Reusing one array over
        many calls saves allocating (and, for a large image, page-faulting) a new output.

    Returns
    -------
    ndarray
        Same shape as ``image``; ``output`` itself when an array was given.

    Notes
    -----
    Kernel taps equal to zero are skipped (``scipy.ndimage`` skips them too), so a non-finite
    pixel under a zero weight does not spread. A rank-1 kernel (Gaussian, mean, Sobel, the edge
    kernels) is run as two 1-D passes when that needs fewer multiplications; the result equals
    the 2-D sum to rounding.

    The memory of large returned arrays (1 MiB and more) comes from a small bounded pool that
    recycles the blocks of freed outputs, so that repeated calls do not page-fault fresh memory
    in; see :func:`output_pool`. The arrays are ordinary ndarrays that own their data.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import filter2d, KERNELS
    >>> img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> filter2d(img, KERNELS["sobel_x"])
    array([[  7.,   6.,   6., -10.],
           [ 20.,   8.,   8., -24.],
           [ 36.,   8.,   8., -40.],
           [ 35.,   6.,   6., -38.]])
    >>> filter2d(img, "sobel_x", dtype=np.uint8)
    array([[ 7,  6,  6,  0],
           [20,  8,  8,  0],
           [36,  8,  8,  0],
           [35,  6,  6,  0]], dtype=uint8)

    An even size puts the anchor on the second tap, as in ``scipy.ndimage``:

    >>> filter2d(np.array([[1.0, 2.0, 4.0]]), np.array([[1.0, 10.0]]), mode="nearest")
    array([[11., 21., 42.]])
    """
    out_arr = None
    if output is not None:  # scipy.ndimage's output=: an array to fill, or a dtype
        if dtype is not None:
            raise TypeError(f"give at most one of output and dtype, got both (dtype={dtype!r})")
        if isinstance(output, np.ndarray):
            out_arr = output
        else:
            try:
                dtype = np.dtype(output)
            except TypeError:
                raise TypeError(f"output must be an ndarray or a dtype, got {type(output).__name__}") from None
    img, k, ct, out_dt = v.filter2d_args(image, kernel, mode, cval, dtype)
    if out_arr is not None:
        ct = _output_arg(out_arr, img).dtype
    img3 = img if img.ndim == 3 else img[:, :, None]
    res = _outpool.empty(img.shape, ct) if out_arr is None else out_arr  # owns its data, image's shape
    out = res.reshape(img3.shape)  # a view: the kernels take (H, W, C)
    if out.size:
        if img3.dtype == ct and img3.flags.c_contiguous:
            x = img3
        else:  # a converted copy, from the pool too (it is freed before this call returns)
            x = _outpool.empty(img3.shape, ct)
            np.copyto(x, img3, casting="unsafe")
        kh, kw = k.shape
        fused = _filter.separable_fused_serves(ct, x.shape[1], x.shape[2], kw) and (x.shape[2] == 1 or ct == _F32)
        plan = _plan(k, ct, out.nbytes >= _MEMORY_BOUND_BYTES, fused)
        stream = _stream(plan, out.nbytes, fused)
        # waking a thread team can cost more than filtering a small image (milliseconds on a busy
        # machine): each thread gets at least _MACS_PER_THREAD multiply-adds, each pixel counting
        # _PIXEL_MACS more
        nthreads = max(1, min(get_num_threads(), out.size * (plan.macs + _PIXEL_MACS) // _MACS_PER_THREAD))
        if plan.separable:
            _filter.correlate2d_separable_kernel(
                x, plan.w, plan.rows, plan.w2, plan.cols, kh, kw, MODES[mode][0], cval, out, nthreads, stream
            )
        else:
            _filter.correlate2d_same_kernel(
                x, plan.w, plan.rows, plan.cols, kh, kw, MODES[mode][0], cval, out, nthreads, stream
            )
    return res if out_arr is not None else v.cast_result(res, out_dt)
