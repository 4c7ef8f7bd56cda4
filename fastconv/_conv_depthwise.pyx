# cython: language_level=3
"""Depthwise convolution kernels (groups == C, Cout == C) for NHWC activations.

The weights are (Kh, Kw, 1, C): output channel c is the correlation of input channel c with
its own Kh x Kw filter, with any stride, dilation and (per-side) padding. Channels are
innermost in x, y and w, so the C loops (``_conv_depthwise.h``) run over the channels in
vector registers: the forward keeps a few vectors of one output pixel's channels in registers
over the taps, the input gradient gathers, per input pixel, the (output pixel, tap) pairs that
read it, and the weight gradient keeps a few vectors of one tap's channels in registers over
the pixels of an output row. 3x3 layers with column stride 1 or 2 and column dilation 1 (the
common depthwise layers) run the interior of every row in blocks instead: 4 or 8 outputs of one
channel vector at a time with its 9 weights in registers (forward, input gradient; a stride-2
input gradient in two classes of columns, those reached by taps 0 and 2 and those reached by
tap 1), and the 9 taps' sums of one channel vector in registers over 8 output columns (weight
gradient). Each output element is the same sequence of operations either way, so the blocks
change no result. Large outputs are written with non-temporal stores (``stream``) where every
vector store is aligned. The backward computes a part's dx rows a few rows after the dw rows
whose dy they read, so dy is read from memory once.

The C loops (the template ``_conv_depthwise.h``) are compiled for float32 and float64 at every
instruction-set level of ``_simd.h`` (``_conv_depthwise_kernels.h``); each call picks its level
(:func:`depthwise_level`): the highest this CPU runs whose vectors divide C into whole vectors,
not below AVX2 (the channels past the last whole vector run one at a time), so float32 layers
with C = 8, 12, 24 run AVX2 on an AVX-512 CPU.
Levels from AVX2 up give bit-identical results (a vector lane and the scalar tail do the same
fused multiply-adds in the same order).

Results never depend on the thread count: every output of the forward and of the input
gradient is a fixed sequence of operations of its own, and the weight/bias gradients are summed
over fixed parts of the batch's output rows (chosen by the caller), then across the parts in
order. All kernels release the GIL.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from ._conv_depthwise_kernels cimport (
    fcd_f32_db_row, fcd_f32_dw_row, fcd_f32_dx_row, fcd_f32_fwd_row, fcd_f64_db_row, fcd_f64_dw_row, fcd_f64_dx_row,
    fcd_f64_fwd_row, fcd_geo, fcd_level,
)
from ._simd import SIMD_LEVELS


def depthwise_level(dtype, Py_ssize_t channels, int level=-1) -> str:
    """Return the instruction-set level the depthwise kernels run at for a layer.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.
    channels : int
        Channels C of the layer (input = output channels).
    level : int, default -1
        -1: the level that runs (:func:`fastconv._simd.simd_level`), lowered (not below AVX2)
        until its vectors divide C into whole vectors (the channels past the last whole
        vector are computed one at a time): on an AVX-512 CPU a float32 layer runs AVX-512
        only if C is 16, 32, 48, ... (float64: 8, 16, 24, ...), else AVX2. ``k >= 0``:
        level ``k`` (an index of ``SIMD_LEVELS``), at most the level that runs.

    Returns
    -------
    str
        A name of :data:`fastconv._simd.SIMD_LEVELS`.

    Examples
    --------
    >>> from fastconv._conv_depthwise import depthwise_level
    >>> from fastconv._simd import SIMD_LEVELS
    >>> depthwise_level("float32", 64) in SIMD_LEVELS
    True
    """
    import numpy as np

    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    if channels < 1:
        raise ValueError(f"channels must be positive, got {channels}")
    return SIMD_LEVELS[fcd_level(dt.itemsize, channels, level)]


cdef inline void _fwd_row(int lvl, const fcd_geo* g, const floating* ximg, const floating* w,
                          const floating* bias, floating* yrow, Py_ssize_t i) noexcept nogil:
    if floating is float:
        fcd_f32_fwd_row(lvl, g, ximg, w, bias, yrow, i)
    else:
        fcd_f64_fwd_row(lvl, g, ximg, w, bias, yrow, i)


cdef inline void _dx_row(int lvl, const fcd_geo* g, const floating* dyimg, const floating* w, floating* dxrow,
                         Py_ssize_t h) noexcept nogil:
    if floating is float:
        fcd_f32_dx_row(lvl, g, dyimg, w, dxrow, h)
    else:
        fcd_f64_dx_row(lvl, g, dyimg, w, dxrow, h)


cdef inline void _dw_row(int lvl, const fcd_geo* g, const floating* ximg, const floating* dy, floating* dwp,
                         Py_ssize_t i) noexcept nogil:
    if floating is float:
        fcd_f32_dw_row(lvl, g, ximg, dy, dwp, i)
    else:
        fcd_f64_dw_row(lvl, g, ximg, dy, dwp, i)


cdef int _geometry(fcd_geo* g, tuple xs, tuple ws, tuple ys, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh,
                   Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw) except -1:
    """Fill ``g`` from the shapes of x, w and y (or dy); check that they describe a depthwise convolution."""
    if ws[2] != 1 or ws[3] != xs[3] or ys[3] != xs[3] or ys[0] != xs[0]:
        raise ValueError(f"depthwise kernels need w (Kh, Kw, 1, C) and y (N, Ho, Wo, C) for x (N, H, W, C), "
                         f"got x {xs}, w {ws}, y {ys}")
    if sh < 1 or sw < 1 or dh < 1 or dw < 1:
        raise ValueError(f"stride and dilation must be >= 1, got ({sh}, {sw}), ({dh}, {dw})")
    g.H, g.W, g.C = xs[1], xs[2], xs[3]
    g.Kh, g.Kw = ws[0], ws[1]
    g.Ho, g.Wo = ys[1], ys[2]
    g.ph, g.pw, g.sh, g.sw, g.dh, g.dw = ph, pw, sh, sw, dh, dw
    g.stream = 0
    return 0


def depthwise_forward_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C)
    const floating[:, :, :, ::1] w,   # IN  (Kh, Kw, 1, C)
    const floating[::1] b,            # IN  (C,), or (0,) for no bias
    floating[:, :, :, ::1] y,         # OUT (N, Ho, Wo, C), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,     # top and left zero padding (bottom/right follow from y's shape)
    Py_ssize_t sh, Py_ssize_t sw,     # stride
    Py_ssize_t dh, Py_ssize_t dw,     # dilation
    int num_threads,                  # OpenMP threads over output rows
    int level=-1,                     # -1: the level depthwise_level() picks; k >= 0: at most level k
    bint stream=False,                # non-temporal stores of y where aligned (a large output; same values)
) -> None:
    """Depthwise convolution forward. All extents must be non-zero."""
    cdef fcd_geo g
    cdef Py_ssize_t r, n, i, rows = y.shape[0] * y.shape[1]
    _geometry(&g, tuple(x.shape)[:4], tuple(w.shape)[:4], tuple(y.shape)[:4], ph, pw, sh, sw, dh, dw)
    cdef int lvl = fcd_level(sizeof(floating), g.C, level)
    g.stream = stream
    if b.shape[0] not in (0, g.C):
        raise ValueError(f"b must have length 0 or {g.C}, got {b.shape[0]}")
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* wp = &w[0, 0, 0, 0]
    cdef const floating* bp = &b[0] if b.shape[0] > 0 else NULL
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef Py_ssize_t xstride = g.H * g.W * g.C, ystride = g.Wo * g.C
    with nogil:
        for r in prange(rows, schedule="dynamic", num_threads=num_threads):
            n = r // g.Ho
            i = r - n * g.Ho
            _fwd_row(lvl, &g, xp + n * xstride, wp, bp, yp + r * ystride, i)


# output rows per step of a part: the dx rows of a step follow its dw rows while their dy rows are in cache
cdef enum:
    _STEP_ROWS = 4


cdef void _dw_part(int lvl, const fcd_geo* g, const floating* xp, const floating* dyp, floating* dwq, floating* dbq,
                   Py_ssize_t r0, Py_ssize_t r1, const floating* wp, floating* dxp, bint want_dx) noexcept nogil:
    """Overwrite one part's (Kh*Kw, C) weight-gradient and (C,) bias-gradient sums with output rows r0..r1,
    and (if want_dx) compute the input-gradient rows floor(r0*H/Ho) .. floor(r1*H/Ho)-1 (rows numbered
    n*H + h; the same proportion of the input rows), a few of each in turn so that the dy rows the dx
    rows read are still in cache."""
    cdef Py_ssize_t C = g.C, Wo = g.Wo, H = g.H, Ho = g.Ho, xstride = g.H * g.W * g.C, r, n, i, a, b, q, h
    cdef Py_ssize_t dystride = g.Ho * g.Wo * C, dxstride = g.W * C
    cdef const floating* g_row
    memset(dwq, 0, g.Kh * g.Kw * C * sizeof(floating))
    memset(dbq, 0, C * sizeof(floating))
    a = r0
    while a < r1:
        b = a + _STEP_ROWS if a + _STEP_ROWS < r1 else r1
        for r in range(a, b):
            n = r // Ho
            i = r - n * Ho
            g_row = dyp + r * Wo * C
            if floating is float:
                fcd_f32_db_row(lvl, g, g_row, dbq)
            else:
                fcd_f64_db_row(lvl, g, g_row, dbq)
            _dw_row(lvl, g, xp + n * xstride, g_row, dwq, i)
        if want_dx:
            for q in range(a * H // Ho, b * H // Ho):
                n = q // H
                h = q - n * H
                _dx_row(lvl, g, dyp + n * dystride, wp, dxp + q * dxstride, h)
        a = b


def depthwise_backward_kernel(
    const floating[:, :, :, ::1] x,    # IN  (N, H, W, C), the forward input
    const floating[:, :, :, ::1] w,    # IN  (Kh, Kw, 1, C)
    const floating[:, :, :, ::1] dy,   # IN  (N, Ho, Wo, C)
    floating[:, :, :, ::1] dx,         # OUT (N, H, W, C), fully overwritten (ignored if not want_dx)
    floating[:, :, :, ::1] dw,         # OUT (Kh, Kw, 1, C), fully overwritten
    floating[::1] db,                  # OUT (C,), fully overwritten
    floating[:, ::1] dw_parts,         # SCRATCH (P, Kh*Kw*C)
    floating[:, ::1] db_parts,         # SCRATCH (P, C)
    Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t dh, Py_ssize_t dil_w,
    bint want_dx,                      # compute dx (False skips it)
    int num_threads,
    int level=-1,                      # -1: the level depthwise_level() picks; k >= 0: at most level k
    bint stream=False,                 # non-temporal stores of dx where aligned (a large output; same values)
) -> None:
    """Input, weight and bias gradients of a depthwise convolution, in one parallel loop.

    The batch's N*Ho output rows are cut into P contiguous parts (P = dw_parts.shape[0]); part p
    sums its rows, in order, into ``dw_parts[p]``, ``db_parts[p]``; then ``dw`` and ``db`` are the
    sums of the parts in the order 0, 1, ..., P-1. Part p also computes the same share of the
    N*H input-gradient rows, a few rows after the output rows whose gradient they read, so that dy
    is read from memory once. The result does not depend on the thread count.
    """
    cdef fcd_geo g
    _geometry(&g, tuple(x.shape)[:4], tuple(w.shape)[:4], tuple(dy.shape)[:4], ph, pw, sh, sw, dh, dil_w)
    cdef Py_ssize_t N = x.shape[0], C = g.C, K = g.Kh * g.Kw * g.C, P = dw_parts.shape[0]
    cdef Py_ssize_t rows = N * g.Ho, t, p, c
    cdef int lvl = fcd_level(sizeof(floating), C, level)
    g.stream = stream
    if dw_parts.shape[1] != K or db_parts.shape[0] != P or db_parts.shape[1] != C or P < 1:
        raise ValueError(f"dw_parts must be (P, {K}) and db_parts (P, {C}), got {tuple(dw_parts.shape)[:2]}, "
                         f"{tuple(db_parts.shape)[:2]}")
    if tuple(dw.shape)[:4] != tuple(w.shape)[:4] or db.shape[0] != C:
        raise ValueError(f"dw must have the shape of w {tuple(w.shape)[:4]} and db ({C},)")
    if want_dx and tuple(dx.shape)[:4] != tuple(x.shape)[:4]:
        raise ValueError(f"dx must have the shape of x {tuple(x.shape)[:4]}, got {tuple(dx.shape)[:4]}")
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* wp = &w[0, 0, 0, 0]
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0]
    cdef floating* dwpp = &dw_parts[0, 0]
    cdef floating* dbpp = &db_parts[0, 0]
    cdef floating* dwo = &dw[0, 0, 0, 0]
    cdef floating* dbo = &db[0]
    cdef floating s
    with nogil:
        for p in prange(P, schedule="dynamic", num_threads=num_threads):
            _dw_part(lvl, &g, xp, dyp, dwpp + p * K, dbpp + p * C, p * rows // P, (p + 1) * rows // P, wp, dxp,
                     want_dx)
        # dw[t] = part 0 + part 1 + ... + part P-1, one element at a time in that order
        memcpy(dwo, dwpp, K * sizeof(floating))
        for p in range(1, P):
            for t in range(K):
                dwo[t] += dwpp[p * K + t]
        for c in range(C):
            s = dbpp[c]
            for p in range(1, P):
                s = s + dbpp[p * C + c]
            dbo[c] = s
