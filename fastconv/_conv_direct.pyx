# cython: language_level=3
"""Direct (implicit-GEMM) convolution kernels for NHWC activations and (Kh, Kw, C, Cout) weights.

No im2col buffer and no BLAS call: the weights are packed once per call into column panels of
a few vector registers' width, and each output row is computed from ``x`` in place (see
``_conv_direct.h``): register blocks of adjacent output pixels x one panel, one broadcast of
``x`` and a few FMAs per input channel and tap. The same loop gives the stride-1 input gradient
(the correlation of ``dy`` with the flipped, transposed kernel); other strides gather, for each
dx pixel, the (output pixel, tap) pairs that read it, with pixels of one column phase blocked
together. The weight gradient keeps a block of input channels x one panel in registers over the
pixels of each output row. The backward computes dw/db parts and dx rows in one parallel loop.

The C loops (``_conv_direct.h``) are compiled for float32 and float64 at every instruction-set
level of ``_simd.h`` and the level that runs is picked at run time (see :mod:`fastconv._simd`).

Results never depend on the thread count: every output of the forward and of the input
gradient is a fixed sequence of operations of its own row, and the weight/bias gradients are
summed over fixed parts of the batch's output rows (chosen by the caller), then across the
parts in order. Rows and parts are handed to the threads dynamically, so a thread slowed down
by another process does not hold up the whole call; which thread computes a row or a part
never changes its value. Scratch memory is bounded by the weights and the number of parts,
not by the batch size. All kernels release the GIL.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

from ._conv_direct_kernels cimport (
    fck_f32_cb, fck_f32_dw_row, fck_f32_dx_row, fck_f32_fwd_row, fck_f32_pack, fck_f64_cb, fck_f64_dw_row,
    fck_f64_dx_row, fck_f64_fwd_row, fck_f64_pack, fck_geo,
)


cdef inline Py_ssize_t _cb(floating dummy) noexcept nogil:
    """Output channels per packed weight panel for this dtype and ISA."""
    if floating is float:
        return fck_f32_cb()
    else:
        return fck_f64_cb()


cdef inline void _pack(const floating* w, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t C, Py_ssize_t Cout,
                       int flip, floating* wpk) noexcept nogil:
    """Pack the weight matrix into panels (see ``_conv_direct.h``)."""
    if floating is float:
        fck_f32_pack(w, Kh, Kw, C, Cout, flip, wpk)
    else:
        fck_f64_pack(w, Kh, Kw, C, Cout, flip, wpk)


cdef inline void _fwd_row(const fck_geo* g, const floating* ximg, const floating* zeros, const floating* wpk,
                          const floating* bpk, floating* yrow, Py_ssize_t i) noexcept nogil:
    """One output row of one image."""
    if floating is float:
        fck_f32_fwd_row(g, ximg, zeros, wpk, bpk, yrow, i)
    else:
        fck_f64_fwd_row(g, ximg, zeros, wpk, bpk, yrow, i)


cdef inline void _dw_row(const fck_geo* g, const floating* ximg, const floating* dy, Py_ssize_t ldd,
                         floating* dwp, Py_ssize_t ldw, Py_ssize_t i) noexcept nogil:
    """Add one output row's weight gradient into a (K, ldw) part."""
    if floating is float:
        fck_f32_dw_row(g, ximg, dy, ldd, dwp, ldw, i)
    else:
        fck_f64_dw_row(g, ximg, dy, ldd, dwp, ldw, i)


cdef int _correlate_rows(
    const fck_geo* g, const floating* xp, const floating* w, const floating* bp,
    floating* yp, Py_ssize_t N, int num_threads,
) noexcept nogil:
    """y = the correlation described by ``g`` (input xp, weights w, bias bp or NULL), all rows.

    Returns -1 if scratch memory could not be allocated, else 0.
    """
    cdef floating dummy = 0
    cdef Py_ssize_t CB = _cb(dummy)
    cdef Py_ssize_t cols = g.Cout, K = g.Kh * g.Kw * g.C
    cdef Py_ssize_t nb = (cols + CB - 1) // CB, rows = N * g.Ho, r, n, i, co
    cdef Py_ssize_t xstride = g.H * g.W * g.C, ystride = g.Wo * g.Cout
    cdef floating* wpk = <floating*>malloc(nb * CB * K * sizeof(floating))
    cdef floating* bpk = NULL
    cdef floating* zeros = <floating*>calloc(g.C + 1, sizeof(floating))
    if bp != NULL:
        bpk = <floating*>calloc(nb * CB, sizeof(floating))
    if wpk == NULL or zeros == NULL or (bp != NULL and bpk == NULL):
        free(wpk)
        free(bpk)
        free(zeros)
        return -1
    _pack(w, g.Kh, g.Kw, g.C, g.Cout, 0, wpk)
    if bp != NULL:
        for co in range(cols):
            bpk[co] = bp[co]
    for r in prange(rows, schedule="dynamic", num_threads=num_threads):
        n = r // g.Ho
        i = r - n * g.Ho
        _fwd_row(g, xp + n * xstride, zeros, wpk, bpk, yp + r * ystride, i)
    free(wpk)
    free(bpk)
    free(zeros)
    return 0


def conv2d_forward_direct_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C)
    const floating[:, :, :, ::1] w,   # IN  (Kh, Kw, C, Cout)
    const floating[::1] b,            # IN  (Cout,), or (0,) for no bias
    floating[:, :, :, ::1] y,         # OUT (N, Ho, Wo, Cout), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,     # zero padding (rows, columns)
    Py_ssize_t sh, Py_ssize_t sw,     # stride (rows, columns)
    int num_threads,                  # OpenMP threads over output rows
) -> None:
    """Direct convolution forward. All extents must be non-zero."""
    cdef fck_geo g
    cdef int rc
    g.H, g.W, g.C = x.shape[1], x.shape[2], x.shape[3]
    g.Kh, g.Kw, g.Cout = w.shape[0], w.shape[1], w.shape[3]
    g.Ho, g.Wo = y.shape[1], y.shape[2]
    g.ph, g.pw, g.sh, g.sw = ph, pw, sh, sw
    with nogil:
        rc = _correlate_rows(&g, &x[0, 0, 0, 0], &w[0, 0, 0, 0], &b[0] if b.shape[0] > 0 else NULL,
                             &y[0, 0, 0, 0], x.shape[0], num_threads)
    if rc:
        raise MemoryError("conv2d_forward_direct_kernel: no memory for the packed weights")


cdef inline void _dx_row(const fck_geo* g, const floating* dyimg, const floating* zeros, const floating* wtpk,
                         floating* dxrow, Py_ssize_t h) noexcept nogil:
    """One input-gradient row of one image (any stride)."""
    if floating is float:
        fck_f32_dx_row(g, dyimg, zeros, wtpk, dxrow, h)
    else:
        fck_f64_dx_row(g, dyimg, zeros, wtpk, dxrow, h)


cdef void _dw_part(
    const fck_geo* g, const floating* xp, const floating* dyp, floating* dwq, floating* dbq, Py_ssize_t ldw,
    Py_ssize_t r0, Py_ssize_t r1, floating* rowbuf,
) noexcept nogil:
    """Overwrite one part's (K, ldw) weight-gradient and (Cout,) bias-gradient sums with output rows r0..r1.

    rowbuf: Wo*ldw scratch when ldw > Cout (each dy row is copied with zero-padded pixels,
    because whole vectors are read past Cout), else unused.
    """
    cdef Py_ssize_t Cout = g.Cout, Wo = g.Wo, K = g.Kh * g.Kw * g.C, xstride = g.H * g.W * g.C
    cdef Py_ssize_t r, n, i, j, co
    cdef const floating* g_row
    memset(dwq, 0, K * ldw * sizeof(floating))
    memset(dbq, 0, Cout * sizeof(floating))
    for r in range(r0, r1):
        n = r // g.Ho
        i = r - n * g.Ho
        g_row = dyp + r * Wo * Cout
        for j in range(Wo):
            for co in range(Cout):
                dbq[co] += g_row[j * Cout + co]
        if ldw != Cout:
            for j in range(Wo):
                memcpy(rowbuf + j * ldw, g_row + j * Cout, Cout * sizeof(floating))
                memset(rowbuf + j * ldw + Cout, 0, (ldw - Cout) * sizeof(floating))
            _dw_row(g, xp + n * xstride, rowbuf, ldw, dwq, ldw, i)
        else:
            _dw_row(g, xp + n * xstride, g_row, Cout, dwq, ldw, i)


def conv2d_backward_direct_kernel(
    const floating[:, :, :, ::1] x,    # IN  (N, H, W, C), the forward input
    const floating[:, :, :, ::1] w,    # IN  (Kh, Kw, C, Cout)
    const floating[:, :, :, ::1] dy,   # IN  (N, Ho, Wo, Cout)
    floating[:, :, :, ::1] dx,         # OUT (N, H, W, C), fully overwritten (ignored if not want_dx)
    floating[:, :, :, ::1] dw,         # OUT (Kh, Kw, C, Cout), fully overwritten
    floating[::1] db,                  # OUT (Cout,), fully overwritten
    floating[:, :, ::1] dw_parts,      # SCRATCH (P, Kh*Kw*C, Coutp), Coutp = dw_width(Cout)
    floating[:, ::1] db_parts,         # SCRATCH (P, Cout)
    floating[:, ::1] dy_rows,          # SCRATCH (T, Wo*Coutp) if Cout != Coutp, else (T, 0) or larger
    Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t sh, Py_ssize_t sw,
    bint want_dx,                      # compute dx (False skips it, e.g. for a network's first layer)
    int num_threads,                   # <= dy_rows.shape[0]
) -> None:
    """Input, weight and bias gradients of a convolution, in one parallel loop.

    The batch's N*Ho output rows are cut into P contiguous parts (P fixed by the caller); part p
    sums its rows, in order, into ``dw_parts[p]``, ``db_parts[p]``; then ``dw`` and ``db`` are
    the sums of the parts in the order 0, 1, ..., P-1. The dx rows (the correlation of dy with
    the flipped kernel for stride 1 with padding below the kernel size, else gathered per column
    phase) follow the parts in the same dynamically scheduled loop. The result does not depend
    on the thread count.
    """
    cdef fck_geo g, gc
    cdef Py_ssize_t N = x.shape[0], Cout = dw.shape[3], K = dw.shape[0] * dw.shape[1] * dw.shape[2]
    cdef Py_ssize_t P = dw_parts.shape[0], ldw = dw_parts.shape[2], rows, p, r, n, h, co, t, task, ntasks
    cdef Py_ssize_t CB, nb, KT, dystride, dxstride
    cdef bint corr
    cdef floating dummy = 0
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0]
    cdef floating* dwpp = &dw_parts[0, 0, 0]
    cdef floating* dbpp = &db_parts[0, 0]
    cdef floating* dwo = &dw[0, 0, 0, 0]
    cdef floating* dbo = &db[0]
    cdef floating* wpk = NULL
    cdef floating* zeros = NULL
    cdef const floating* src
    cdef floating s
    if want_dx and (dx.shape[0] != N or dx.shape[1] != x.shape[1] or dx.shape[2] != x.shape[2]
                    or dx.shape[3] != x.shape[3]):
        raise ValueError(f"dx must have the shape of x {tuple(x.shape)[:4]}, got {tuple(dx.shape)[:4]}")
    g.H, g.W, g.C = x.shape[1], x.shape[2], x.shape[3]
    g.Kh, g.Kw, g.Cout = dw.shape[0], dw.shape[1], Cout
    g.Ho, g.Wo = dy.shape[1], dy.shape[2]
    g.ph, g.pw, g.sh, g.sw = ph, pw, sh, sw
    rows = N * g.Ho
    # stride 1, padding below the kernel: dx is the correlation of dy (padded by Kh-1-ph, Kw-1-pw)
    # with the flipped kernel, a forward over dy's geometry
    corr = sh == 1 and sw == 1 and ph < g.Kh and pw < g.Kw
    gc.H, gc.W, gc.C = g.Ho, g.Wo, Cout
    gc.Kh, gc.Kw, gc.Cout = g.Kh, g.Kw, g.C
    gc.Ho, gc.Wo = g.H, g.W
    gc.ph, gc.pw, gc.sh, gc.sw = g.Kh - 1 - ph, g.Kw - 1 - pw, 1, 1
    CB = _cb(dummy)
    nb = (g.C + CB - 1) // CB
    KT = g.Kh * g.Kw * Cout
    dystride = g.Ho * g.Wo * Cout
    dxstride = g.W * g.C
    ntasks = P + (N * g.H if want_dx else 0)
    with nogil:
        if want_dx:
            wpk = <floating*>malloc(nb * CB * KT * sizeof(floating))
            zeros = <floating*>calloc(Cout + 1, sizeof(floating))
            if wpk == NULL or zeros == NULL:
                ntasks = 0
            else:
                _pack(&w[0, 0, 0, 0], g.Kh, g.Kw, g.C, Cout, 1 if corr else 2, wpk)
        # the parts first: they are the larger tasks, and the dx rows fill in behind them
        for task in prange(ntasks, schedule="dynamic", num_threads=num_threads):
            if task < P:
                _dw_part(&g, xp, dyp, dwpp + task * K * ldw, dbpp + task * Cout, ldw,
                         task * rows // P, (task + 1) * rows // P,
                         &dy_rows[threadid(), 0] if ldw != Cout else NULL)
            else:
                r = task - P
                n = r // g.H
                h = r - n * g.H
                if corr:
                    _fwd_row(&gc, dyp + n * dystride, zeros, wpk, NULL, dxp + r * dxstride, h)
                else:
                    _dx_row(&g, dyp + n * dystride, zeros, wpk, dxp + r * dxstride, h)
        if ntasks > 0:
            for t in prange(K, schedule="static", num_threads=num_threads):
                # dw[t] = part 0 + part 1 + ... + part P-1, one element at a time in that order
                memcpy(dwo + t * Cout, dwpp + t * ldw, Cout * sizeof(floating))
                for p in range(1, P):
                    src = dwpp + (p * K + t) * ldw
                    for co in range(Cout):
                        dwo[t * Cout + co] += src[co]
            for co in range(Cout):
                s = dbpp[co]
                for p in range(1, P):
                    s = s + dbpp[p * Cout + co]
                dbo[co] = s
        free(wpk)
        free(zeros)
    if ntasks == 0:
        raise MemoryError("conv2d_backward_direct_kernel: no memory for the packed weights")


def dw_width(Py_ssize_t cout, bint double_precision) -> int:
    """Row width of the weight-gradient parts: ``cout`` rounded up to whole panels."""
    cdef Py_ssize_t cb = fck_f64_cb() if double_precision else fck_f32_cb()
    return (cout + cb - 1) // cb * cb
