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


cdef void _group_major(const floating* w, Py_ssize_t K, Py_ssize_t Cout, Py_ssize_t G, floating* wg) noexcept nogil:
    """wg (G, K, Cout/G) <- the (K, Cout) weight matrix w, one contiguous matrix per group."""
    cdef Py_ssize_t og = Cout // G, gi, t
    for gi in range(G):
        for t in range(K):
            memcpy(wg + (gi * K + t) * og, w + t * Cout + gi * og, og * sizeof(floating))


cdef int _correlate_rows(
    const fck_geo* g, const floating* xp, const floating* w, const floating* bp,
    floating* yp, Py_ssize_t N, Py_ssize_t G, int num_threads,
) noexcept nogil:
    """y = the correlation described by ``g`` (input xp, weights w, bias bp or NULL), all rows.

    G groups: ``g.C``/``g.Cout`` are the channels of one group, ``g.xs``/``g.ys`` the pixel
    strides of x and y (G*C and G*Cout); w is the (Kh, Kw, C, G*Cout) weight array.
    Returns -1 if scratch memory could not be allocated, else 0.
    """
    cdef floating dummy = 0
    cdef Py_ssize_t CB = _cb(dummy)
    cdef Py_ssize_t cols = g.Cout, K = g.Kh * g.Kw * g.C
    cdef Py_ssize_t nb = (cols + CB - 1) // CB, rows = N * g.Ho, r, n, i, co, gi, task
    cdef Py_ssize_t xstride = g.H * g.W * g.xs, ystride = g.Wo * g.ys, gsize = nb * CB * K
    cdef floating* wpk = <floating*>malloc(G * gsize * sizeof(floating))
    cdef floating* wg = NULL
    cdef floating* bpk = NULL
    cdef floating* zeros = <floating*>calloc(g.C + 1, sizeof(floating))
    if bp != NULL:
        bpk = <floating*>calloc(G * nb * CB, sizeof(floating))
    if G > 1:
        wg = <floating*>malloc(K * G * cols * sizeof(floating))
    if wpk == NULL or zeros == NULL or (bp != NULL and bpk == NULL) or (G > 1 and wg == NULL):
        free(wpk)
        free(wg)
        free(bpk)
        free(zeros)
        return -1
    if G > 1:
        _group_major(w, K, G * cols, G, wg)
        for gi in range(G):
            _pack(wg + gi * K * cols, g.Kh, g.Kw, g.C, cols, 0, wpk + gi * gsize)
    else:
        _pack(w, g.Kh, g.Kw, g.C, g.Cout, 0, wpk)
    if bp != NULL:
        for gi in range(G):
            for co in range(cols):
                bpk[gi * nb * CB + co] = bp[gi * cols + co]
    for task in prange(rows * G, schedule="dynamic", num_threads=num_threads):
        r = task // G
        gi = task - r * G
        n = r // g.Ho
        i = r - n * g.Ho
        _fwd_row(g, xp + n * xstride + gi * g.C, zeros, wpk + gi * gsize,
                 bpk + gi * nb * CB if bpk != NULL else NULL, yp + r * ystride + gi * cols, i)
    free(wpk)
    free(wg)
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
    Py_ssize_t dh=1, Py_ssize_t dw=1,  # dilation (rows, columns)
    Py_ssize_t groups=1,              # w is (Kh, Kw, C/groups, Cout)
) -> None:
    """Direct convolution forward. All extents must be non-zero.

    ``ph``, ``pw`` are the top and left padding; the bottom and right padding follow from the
    shape of ``y``. Output channel ``o`` reads the input channels of group ``o // (Cout/groups)``.
    """
    cdef fck_geo g
    cdef int rc
    if groups < 1 or x.shape[3] % groups or w.shape[3] % groups or w.shape[2] * groups != x.shape[3]:
        raise ValueError(f"groups={groups} does not fit x {tuple(x.shape)[:4]} and w {tuple(w.shape)[:4]}")
    g.H, g.W, g.C = x.shape[1], x.shape[2], x.shape[3] // groups
    g.Kh, g.Kw, g.Cout = w.shape[0], w.shape[1], w.shape[3] // groups
    g.Ho, g.Wo = y.shape[1], y.shape[2]
    g.ph, g.pw, g.sh, g.sw = ph, pw, sh, sw
    g.dh, g.dw, g.xs, g.ys = dh, dw, x.shape[3], w.shape[3]
    with nogil:
        rc = _correlate_rows(&g, &x[0, 0, 0, 0], &w[0, 0, 0, 0], &b[0] if b.shape[0] > 0 else NULL,
                             &y[0, 0, 0, 0], x.shape[0], groups, num_threads)
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
    Py_ssize_t G, Py_ssize_t r0, Py_ssize_t r1, floating* rowbuf,
) noexcept nogil:
    """Overwrite one part's (G, K, ldw) weight-gradient and (G*Cout,) bias-gradient sums with output rows r0..r1.

    G groups of ``g.C`` input and ``g.Cout`` output channels. rowbuf: Wo*ldw scratch when
    ldw > Cout (each group's dy row is copied with zero-padded pixels, because whole vectors
    are read past Cout), else unused.
    """
    cdef Py_ssize_t Cout = g.Cout, CT = G * g.Cout, Wo = g.Wo, K = g.Kh * g.Kw * g.C, xstride = g.H * g.W * g.xs
    cdef Py_ssize_t r, n, i, j, co, gi
    cdef const floating* g_row
    memset(dwq, 0, G * K * ldw * sizeof(floating))
    memset(dbq, 0, CT * sizeof(floating))
    for r in range(r0, r1):
        n = r // g.Ho
        i = r - n * g.Ho
        g_row = dyp + r * Wo * CT
        for j in range(Wo):
            for co in range(CT):
                dbq[co] += g_row[j * CT + co]
        for gi in range(G):
            if ldw != Cout:
                for j in range(Wo):
                    memcpy(rowbuf + j * ldw, g_row + j * CT + gi * Cout, Cout * sizeof(floating))
                    memset(rowbuf + j * ldw + Cout, 0, (ldw - Cout) * sizeof(floating))
                _dw_row(g, xp + n * xstride + gi * g.C, rowbuf, ldw, dwq + gi * K * ldw, ldw, i)
            else:
                _dw_row(g, xp + n * xstride + gi * g.C, g_row + gi * Cout, CT, dwq + gi * K * ldw, ldw, i)


def conv2d_backward_direct_kernel(
    const floating[:, :, :, ::1] x,    # IN  (N, H, W, C), the forward input
    const floating[:, :, :, ::1] w,    # IN  (Kh, Kw, C/groups, Cout)
    const floating[:, :, :, ::1] dy,   # IN  (N, Ho, Wo, Cout)
    floating[:, :, :, ::1] dx,         # OUT (N, H, W, C), fully overwritten (ignored if not want_dx)
    floating[:, :, :, ::1] dw,         # OUT (Kh, Kw, C/groups, Cout), fully overwritten
    floating[::1] db,                  # OUT (Cout,), fully overwritten
    floating[:, :, ::1] dw_parts,      # SCRATCH (P, groups*Kh*Kw*C/groups, Coutp), Coutp = dw_width(Cout/groups)
    floating[:, ::1] db_parts,         # SCRATCH (P, Cout)
    floating[:, ::1] dy_rows,          # SCRATCH (T, Wo*Coutp) if Cout/groups != Coutp, else (T, 0) or larger
    Py_ssize_t ph, Py_ssize_t pw,      # top and left padding
    Py_ssize_t sh, Py_ssize_t sw,
    bint want_dx,                      # compute dx (False skips it, e.g. for a network's first layer)
    int num_threads,                   # <= dy_rows.shape[0]
    Py_ssize_t dh=1, Py_ssize_t dil_w=1,  # dilation (rows, columns)
    Py_ssize_t groups=1,
) -> None:
    """Input, weight and bias gradients of a convolution, in one parallel loop.

    The batch's N*Ho output rows are cut into P contiguous parts (P fixed by the caller); part p
    sums its rows, in order, into ``dw_parts[p]``, ``db_parts[p]``; then ``dw`` and ``db`` are
    the sums of the parts in the order 0, 1, ..., P-1. The dx rows (the correlation of dy with
    the flipped kernel for stride 1 with padding at most the dilated kernel's extent - 1, else
    gathered per column phase) follow the parts in the same dynamically scheduled loop, one
    task per (row, group). The result does not depend on the thread count.
    """
    cdef fck_geo g, gc
    cdef Py_ssize_t G = groups
    cdef Py_ssize_t N = x.shape[0], CT = dw.shape[3], K = dw.shape[0] * dw.shape[1] * dw.shape[2]
    cdef Py_ssize_t Cout, P = dw_parts.shape[0], ldw = dw_parts.shape[2], rows, p, r, n, h, co, t, task, ntasks
    cdef Py_ssize_t CB, nb, KT, dystride, dxstride, gsize, gi
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
    cdef floating* wg = NULL
    cdef floating* zeros = NULL
    cdef floating* dst
    cdef const floating* src
    cdef floating s
    if G < 1 or x.shape[3] % G or CT % G or dw.shape[2] * G != x.shape[3]:
        raise ValueError(f"groups={G} does not fit x {tuple(x.shape)[:4]} and dw {tuple(dw.shape)[:4]}")
    if dw_parts.shape[1] != G * K:
        raise ValueError(f"dw_parts must have {G * K} rows, got {dw_parts.shape[1]}")
    if want_dx and (dx.shape[0] != N or dx.shape[1] != x.shape[1] or dx.shape[2] != x.shape[2]
                    or dx.shape[3] != x.shape[3]):
        raise ValueError(f"dx must have the shape of x {tuple(x.shape)[:4]}, got {tuple(dx.shape)[:4]}")
    Cout = CT // G
    g.H, g.W, g.C = x.shape[1], x.shape[2], x.shape[3] // G
    g.Kh, g.Kw, g.Cout = dw.shape[0], dw.shape[1], Cout
    g.Ho, g.Wo = dy.shape[1], dy.shape[2]
    g.ph, g.pw, g.sh, g.sw = ph, pw, sh, sw
    g.dh, g.dw, g.xs, g.ys = dh, dil_w, x.shape[3], CT
    rows = N * g.Ho
    # stride 1, padding at most the dilated kernel's extent - 1: dx is the correlation of dy
    # (padded by dh*(Kh-1)-ph, dw*(Kw-1)-pw) with the flipped kernel, a forward over dy's geometry
    corr = sh == 1 and sw == 1 and ph <= dh * (g.Kh - 1) and pw <= dil_w * (g.Kw - 1)
    gc.H, gc.W, gc.C = g.Ho, g.Wo, Cout
    gc.Kh, gc.Kw, gc.Cout = g.Kh, g.Kw, g.C
    gc.Ho, gc.Wo = g.H, g.W
    gc.ph, gc.pw, gc.sh, gc.sw = dh * (g.Kh - 1) - ph, dil_w * (g.Kw - 1) - pw, 1, 1
    gc.dh, gc.dw, gc.xs, gc.ys = dh, dil_w, CT, x.shape[3]
    CB = _cb(dummy)
    nb = (g.C + CB - 1) // CB
    KT = g.Kh * g.Kw * Cout
    gsize = nb * CB * KT
    dystride = g.Ho * g.Wo * CT
    dxstride = g.W * x.shape[3]
    ntasks = P + (N * g.H * G if want_dx else 0)
    with nogil:
        if want_dx:
            wpk = <floating*>malloc(G * gsize * sizeof(floating))
            zeros = <floating*>calloc(Cout + 1, sizeof(floating))
            if G > 1:
                wg = <floating*>malloc(K * CT * sizeof(floating))
            if wpk == NULL or zeros == NULL or (G > 1 and wg == NULL):
                ntasks = 0
            elif G > 1:
                _group_major(&w[0, 0, 0, 0], K, CT, G, wg)
                for gi in range(G):
                    _pack(wg + gi * K * Cout, g.Kh, g.Kw, g.C, Cout, 1 if corr else 2, wpk + gi * gsize)
            else:
                _pack(&w[0, 0, 0, 0], g.Kh, g.Kw, g.C, Cout, 1 if corr else 2, wpk)
        # the parts first: they are the larger tasks, and the dx rows fill in behind them
        for task in prange(ntasks, schedule="dynamic", num_threads=num_threads):
            if task < P:
                _dw_part(&g, xp, dyp, dwpp + task * G * K * ldw, dbpp + task * CT, ldw, G,
                         task * rows // P, (task + 1) * rows // P,
                         &dy_rows[threadid(), 0] if ldw != Cout else NULL)
            else:
                r = (task - P) // G
                gi = task - P - r * G
                n = r // g.H
                h = r - n * g.H
                if corr:
                    _fwd_row(&gc, dyp + n * dystride + gi * Cout, zeros, wpk + gi * gsize, NULL,
                             dxp + r * dxstride + gi * g.C, h)
                else:
                    _dx_row(&g, dyp + n * dystride + gi * Cout, zeros, wpk + gi * gsize,
                            dxp + r * dxstride + gi * g.C, h)
        if ntasks > 0:
            for t in prange(K, schedule="static", num_threads=num_threads):
                for gi in range(G):
                    # dw[t, group gi] = part 0 + part 1 + ... + part P-1, one element at a time in that order
                    dst = dwo + t * CT + gi * Cout
                    memcpy(dst, dwpp + (gi * K + t) * ldw, Cout * sizeof(floating))
                    for p in range(1, P):
                        src = dwpp + ((p * G + gi) * K + t) * ldw
                        for co in range(Cout):
                            dst[co] += src[co]
            for co in range(CT):
                s = dbpp[co]
                for p in range(1, P):
                    s = s + dbpp[p * CT + co]
                dbo[co] = s
        free(wpk)
        free(wg)
        free(zeros)
    if ntasks == 0:
        raise MemoryError("conv2d_backward_direct_kernel: no memory for the packed weights")


def dw_width(Py_ssize_t cout, bint double_precision) -> int:
    """Row width of the weight-gradient parts: ``cout`` rounded up to whole panels."""
    cdef Py_ssize_t cb = fck_f64_cb() if double_precision else fck_f32_cb()
    return (cout + cb - 1) // cb * cb
