# cython: language_level=3
"""Direct convolution kernels for small reductions (few taps ``Kh*Kw*C``, few output channels).

For a layer such as 8x8x1 -> 8 with a 3x3 kernel, an im2col + GEMM call spends its time on
packing and call overhead, not on arithmetic. These kernels compute the convolution directly in
NHWC, vectorised over the output channels (``Cout`` = 8 float32 values fill one AVX register)
and register-blocked over output pixels (forward) or kernel taps (weight gradient).

Geometry: each image is written into a zero-padded "broadcast plane" (``Hp = H + 2*ph``,
``Wp = W + 2*pw``) that holds every value repeated across one vector, so the forward and weight
gradient loops are vector FMAs with a memory operand and no broadcasts or bounds tests. Tap
``t = (ki, kj, c)`` sits at offset ``toff[t] = (ki*Wp + kj)*C + c`` (in vectors) from its window's
origin and output pixel ``q = (i, j)`` has its origin at ``poff[q] = (i*sh*Wp + j*sw)*C``.
With stride 1 the input gradient is the correlation of dy, zero-padded by ``(Kh-1-ph, Kw-1-pw)``
and with its channels rounded up to whole vectors, with the flipped kernel: vector FMAs over
``Cout``, then one lane sum per input value. Other strides scatter dx tap by tap.

The C loops (``_conv_small.h``) are compiled for every instruction-set level of ``_simd.h``
(on x86 with GCC/Clang: the baseline ISA with SSE2 vectors, AVX2+FMA and AVX-512). Each call
runs one level for all its loops (the broadcast planes are laid out for one vector width):
the level that runs (see :mod:`fastconv._simd`), lowered to AVX2 unless its lanes divide
``Cout`` and its planes fit 32 KiB (:func:`layer_level`; float32 layers with ``Cout`` = 8 run
AVX2 on an AVX-512 CPU). The last ``Cout mod lanes`` columns run as masked vectors; y, dw and
db are bit-identical at AVX2 and AVX-512, dx (stride 1) differs by the rounding of its lane sums.
The exception: float32 layers of one input channel, 3x3, stride 1, padding 1 and 8 filters (the
digits layer; :func:`one_channel_serves`) run ``_conv_c1.h``'s pixel-pair kernels where AVX-512
runs, with the same y, dw and db bits.

Results never depend on the thread count: the forward and the input gradient are computed image
by image, and the weight/bias gradients are summed within ``SMALL_PARTS`` fixed parts of the
batch, then across the parts in order.

``forward_plain`` and ``backward_plain`` serve ``conv2d_forward``/``conv2d_backward``'s most common
small-layer call (NHWC, int padding and stride, C-contiguous float arrays, "auto" picking these
kernels) with its checks, allocations and kernel call in C: for a layer such as the digits one,
whose kernels take a few microseconds, the Python layers' checks and dispatch took about as long.
Any other call returns None from them and takes the general route (the same kernels, results and
cache for the calls they serve).
"""
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdlib cimport free, malloc, calloc
from libc.string cimport memcpy, memset

from ._conv_small_kernels cimport (
    fc_dg, fc_sg, fcs_bc_f32, fcs_bc_f64, fcs_dw_f32, fcs_dw_f64, fcs_dx_f32, fcs_dx_f64, fcs_dxg_f32,
    fcs_dxg_f64, fcs_fwd_f32, fcs_fwd_f64, fcs_lanes, fcs_level,
)
from ._simd import SIMD_LEVELS
from ._threads import threads_for

import numpy as np

cnp.import_array()

cdef extern from "_conv_c1.h" nogil:
    int fcc1_serves(Py_ssize_t C, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph,
                    Py_ssize_t pw, Py_ssize_t Cout, Py_ssize_t H, Py_ssize_t W, int cap)
    void fcc1_fwd(const float* x, const float* w, const float* b, float* y, Py_ssize_t n0, Py_ssize_t n1,
                  Py_ssize_t H, Py_ssize_t W, float* xb)
    void fcc1_bwd(const float* x, const float* dy, const float* w, float* dx, float* dw, float* db,
                  Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t H, Py_ssize_t W, float* xb)
    Py_ssize_t fcc1_scratch(Py_ssize_t H, Py_ssize_t W, int backward)
    float* fcc1_thread_scratch(Py_ssize_t H, Py_ssize_t W, int backward, Py_ssize_t extra)

from ._transpose_strided cimport transpose_strided


# The batch is cut into this many fixed parts for the weight/bias gradient sums.
SMALL_PARTS = 8
cdef enum:
    _PARTS = 8


def layer_level(dtype, image_shape, Py_ssize_t cout, padding=(0, 0), int level=-1) -> str:
    """Return the instruction-set level the kernels run at for a layer.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.
    image_shape : (int, int, int)
        ``(H, W, C)`` of one input image.
    cout : int
        Output channels of the layer.
    padding : (int, int), default (0, 0)
        Zero padding (rows, columns).
    level : int, default -1
        -1: the level that runs (:func:`fastconv._simd.simd_level`), lowered (not below AVX2)
        until its vectors divide ``cout`` and its broadcast plane (``(H+2ph)*(W+2pw)*C``
        vectors) takes at most 32 KiB: on an AVX-512 CPU a float32 layer runs the AVX-512
        kernels only if Cout is a multiple of 16, a float64 layer if Cout is a multiple of 8.
        ``k >= 0``: level ``k`` (an index of ``SIMD_LEVELS``), at most the level that runs.

    Returns
    -------
    str
        A name of :data:`fastconv._simd.SIMD_LEVELS`.
    """
    import numpy as np

    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    H, W, C = image_shape
    ph, pw = padding
    if min(H, W, C, cout) < 1 or min(ph, pw) < 0:
        raise ValueError(f"image_shape {tuple(image_shape)}, cout {cout} and padding {tuple(padding)} "
                         "must be positive (padding non-negative)")
    return SIMD_LEVELS[fcs_level(dt.itemsize, cout, (H + 2 * ph) * (W + 2 * pw) * C, level)]


cdef inline void _bc(int lvl, const floating* x, floating* xb, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                     Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp) noexcept nogil:
    """Write one image into the interior of its broadcast plane (float or double C kernel)."""
    if floating is float:
        fcs_bc_f32(lvl, x, xb, H, W, C, ph, pw, Wp)
    else:
        fcs_bc_f64(lvl, x, xb, H, W, C, ph, pw, Wp)


cdef inline void _fwd(int lvl, const fc_sg* g, const floating* xb, const floating* w, const floating* b,
                      floating* y) noexcept nogil:
    """Forward of one image from its broadcast plane (float or double C kernel)."""
    if floating is float:
        fcs_fwd_f32(lvl, g, xb, w, b, y)
    else:
        fcs_fwd_f64(lvl, g, xb, w, b, y)


cdef inline void _dw(int lvl, const fc_sg* g, const floating* xb, const floating* dy, floating* dw,
                     floating* db) noexcept nogil:
    """Add one image's weight and bias gradients (float or double C kernel)."""
    if floating is float:
        fcs_dw_f32(lvl, g, xb, dy, dw, db)
    else:
        fcs_dw_f64(lvl, g, xb, dy, dw, db)


cdef inline void _dx(int lvl, const fc_sg* g, const floating* dy, const floating* w, floating* dxp,
                     floating* scr) noexcept nogil:
    """Scatter one image's input gradient onto its padded plane (float or double C kernel)."""
    if floating is float:
        fcs_dx_f32(lvl, g, dy, w, dxp, scr)
    else:
        fcs_dx_f64(lvl, g, dy, w, dxp, scr)


cdef inline void _dxg(int lvl, const fc_dg* g, const floating* D, const floating* wv,
                      floating* dx) noexcept nogil:
    """Input gradient of one image as a correlation of its padded dy (stride 1; C kernel)."""
    if floating is float:
        fcs_dxg_f32(lvl, g, D, wv, dx)
    else:
        fcs_dxg_f64(lvl, g, D, wv, dx)


cdef int _offsets(Py_ssize_t* toff, Py_ssize_t* poff, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t C,
                  Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t Wp, Py_ssize_t sh,
                  Py_ssize_t sw) noexcept nogil:
    """Fill the tap offsets (Kh*Kw*C) and pixel origins (Ho*Wo) inside a padded plane of width Wp."""
    cdef Py_ssize_t ki, kj, c, i, j, t = 0
    for ki in range(Kh):
        for kj in range(Kw):
            for c in range(C):
                toff[t] = (ki * Wp + kj) * C + c
                t += 1
    t = 0
    for i in range(Ho):
        for j in range(Wo):
            poff[t] = (i * sh * Wp + j * sw) * C
            t += 1
    return 0


cdef inline void _zero(floating* a, Py_ssize_t n) noexcept nogil:
    """Zero n values (a loop for short runs, memset otherwise)."""
    cdef Py_ssize_t k
    if n < 256:
        for k in range(n):
            a[k] = 0
    else:
        memset(a, 0, n * sizeof(floating))


cdef inline void _pad_in(const floating* src, floating* dst, Py_ssize_t H, Py_ssize_t W,
                         Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp) noexcept nogil:
    """Copy an (H, W, C) image into the interior of a zeroed padded plane (borders stay zero)."""
    cdef Py_ssize_t r, k, WC = W * C
    cdef floating* d
    cdef const floating* s
    for r in range(H):
        d = dst + ((r + ph) * Wp + pw) * C
        s = src + r * WC
        if WC < 64:  # a short row: a plain loop beats a memcpy call
            for k in range(WC):
                d[k] = s[k]
        else:
            memcpy(d, s, WC * sizeof(floating))


cdef inline void _pad_out(const floating* src, floating* dst, Py_ssize_t H, Py_ssize_t W,
                          Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp) noexcept nogil:
    """Copy the interior of a padded plane back to an (H, W, C) image."""
    cdef Py_ssize_t r, k, WC = W * C
    cdef floating* d
    cdef const floating* s
    for r in range(H):
        d = dst + r * WC
        s = src + ((r + ph) * Wp + pw) * C
        if WC < 64:
            for k in range(WC):
                d[k] = s[k]
        else:
            memcpy(d, s, WC * sizeof(floating))


def one_channel_serves(dtype, image_shape, Py_ssize_t cout, kernel=(3, 3), stride=(1, 1), padding=(1, 1),
                       int level=-1) -> bool:
    """Whether a layer runs on the one-input-channel AVX-512 kernels (``_conv_c1.h``): float32, one
    input channel, a 3x3 kernel, stride 1, padding 1, 8 filters, an even image width, at most
    4096 padded pixels, NHWC, and AVX-512 running (at most ``level``, if ``level >= 0``)."""
    import numpy as np

    H, W, C = image_shape
    return np.dtype(dtype) == np.float32 and bool(fcc1_serves(C, kernel[0], kernel[1], stride[0], stride[1],
                                                              padding[0], padding[1], cout, H, W, level))


cdef inline void _sum_parts(const floating* parts, Py_ssize_t P, Py_ssize_t KC, Py_ssize_t Cout, floating* dw,
                            floating* db) noexcept nogil:
    """dw (KC), db (Cout) = the sums of the P parts (each KC dw values, then Cout db values), in
    the parts' fixed order."""
    cdef Py_ssize_t p, t
    memcpy(dw, parts, KC * sizeof(floating))
    memcpy(db, parts + KC, Cout * sizeof(floating))
    for p in range(1, P):
        for t in range(KC):
            dw[t] += parts[p * (KC + Cout) + t]
        for t in range(Cout):
            db[t] += parts[p * (KC + Cout) + KC + t]


cdef int _c1_forward_run(const float* xp, const float* wp, const float* bp, float* yp, Py_ssize_t n0,
                         Py_ssize_t n1, Py_ssize_t H, Py_ssize_t W, bint y_nchw) noexcept nogil:
    """Images n0..n1 on _conv_c1.h's forward, in the calling thread's scratch; NCHW y: each image
    into the scratch's NHWC stage, then transposed to its planes. 1 if out of memory, else 0."""
    cdef Py_ssize_t n, img = H * W, blk = img * 8 if y_nchw else 0
    cdef float* mine = fcc1_thread_scratch(H, W, 0, blk)
    cdef float* stage
    if mine == NULL:
        return 1
    stage = mine + fcc1_scratch(H, W, 0)  # NCHW y: the image's NHWC stage
    if not y_nchw:
        fcc1_fwd(xp, wp, bp, yp, n0, n1, H, W, mine)
        return 0
    for n in range(n0, n1):
        fcc1_fwd(xp + n * img, wp, bp, stage, 0, 1, H, W, mine)
        transpose_strided(stage, 8, yp + n * blk, img, img, 8)
    return 0


cdef int _c1_backward_part(const float* xp, const float* dyp, const float* wp, float* dxp, float* part,
                           Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t H, Py_ssize_t W, bint dy_nchw) noexcept nogil:
    """Part n0..n1 of the batch on _conv_c1.h's kernel, in the calling thread's scratch: its dw and
    db sums in part[0:72], part[72:80] (zeroed here), dx (if dxp is not NULL) per image; an NCHW
    dy: each image's planes transposed to a block after the scratch first. 1 if out of memory."""
    cdef Py_ssize_t n, img = H * W, plane = fcc1_scratch(H, W, 1)
    cdef float* mine = fcc1_thread_scratch(H, W, 1, img * 8 if dy_nchw else 0)
    if mine == NULL:
        return 1
    memset(part, 0, 80 * sizeof(float))
    if not dy_nchw:
        fcc1_bwd(xp, dyp, wp, dxp, part, part + 72, n0, n1, H, W, mine)
        return 0
    for n in range(n0, n1):
        transpose_strided(dyp + n * img * 8, img, mine + plane, 8, 8, img)  # planes to (H*W, 8)
        fcc1_bwd(xp + n * img, mine + plane, wp, NULL if dxp == NULL else dxp + n * img, part, part + 72,
                 0, 1, H, W, mine)
    return 0


def conv2d_forward_small_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C)
    const floating[:, :, :, ::1] w,   # IN  (Kh, Kw, C, Cout), read as a (Kh*Kw*C, Cout) matrix
    const floating[::1] b,            # IN  (Cout,)
    floating[:, :, :, ::1] y,         # OUT (N, Ho, Wo, Cout), or (N, Cout, Ho, Wo) if y_nchw; fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,     # zero padding (rows, columns)
    Py_ssize_t sh, Py_ssize_t sw,     # stride (rows, columns)
    int num_threads,                  # OpenMP threads over images (1: no parallel region)
    int level=-1,                     # -1: the level layer_level() picks; k >= 0: at most level k
    bint y_nchw=False,                # y is NCHW: each image's (Ho*Wo, Cout) block is transposed in cache
) -> None:
    """Direct convolution forward, image by image. All extents must be non-zero."""
    _forward(&x[0, 0, 0, 0], &w[0, 0, 0, 0], &b[0], &y[0, 0, 0, 0], x.shape[0], x.shape[1], x.shape[2],
             x.shape[3], w.shape[0], w.shape[1], w.shape[3], y.shape[2] if y_nchw else y.shape[1],
             y.shape[3] if y_nchw else y.shape[2], ph, pw, sh, sw, num_threads, level, y_nchw)


cdef int _forward(
    const floating* xp, const floating* wp, const floating* bp, floating* yp,
    Py_ssize_t N, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t Cout,
    Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
    int num_threads, int level, bint y_nchw,
) except -1:
    """conv2d_forward_small_kernel on pointers to C-contiguous arrays of the given extents."""
    cdef int lvl = fcs_level(sizeof(floating), Cout, (H + 2 * ph) * (W + 2 * pw) * C, level)
    cdef Py_ssize_t L = fcs_lanes(sizeof(floating), lvl)
    cdef Py_ssize_t Hp = H + 2 * ph, Wp = W + 2 * pw, plane = Hp * Wp * C * L
    cdef Py_ssize_t blk = Ho * Wo * Cout if y_nchw else 0  # per thread: the image's NHWC block
    cdef Py_ssize_t img = H * W * C, n
    cdef int nt = num_threads if num_threads > 1 else 1
    cdef floating* buf
    cdef floating* mine
    cdef fc_sg g
    cdef int c1failed = 0
    if nt > N:
        nt = <int>N
    if floating is float:
        if fcc1_serves(C, Kh, Kw, sh, sw, ph, pw, Cout, H, W, level):
            # one input channel, 3x3, 8 filters: the AVX-512 pixel-pair kernel (_conv_c1.h), one run of
            # images per thread
            with nogil:
                if nt == 1:
                    c1failed = _c1_forward_run(xp, wp, bp, yp, 0, N, H, W, y_nchw)
                else:
                    for n in prange(nt, schedule="static", num_threads=nt):
                        c1failed += _c1_forward_run(xp, wp, bp, yp, n * N // nt, (n + 1) * N // nt, H, W, y_nchw)
            if c1failed:
                raise MemoryError()
            return 0
    cdef Py_ssize_t* offs = <Py_ssize_t*>malloc((Kh * Kw * C + Ho * Wo) * sizeof(Py_ssize_t))
    buf = <floating*>calloc(nt * (plane + blk), sizeof(floating))  # broadcast planes (borders stay zero), blocks
    if offs == NULL or buf == NULL:
        free(offs)
        free(buf)
        raise MemoryError()
    g.K = Kh * Kw * C
    g.Q = Ho * Wo
    g.Cout = Cout
    g.Wo = Wo
    g.step = sw * C
    g.toff = offs
    g.poff = offs + g.K
    with nogil:
        _offsets(offs, offs + g.K, Kh, Kw, C, Ho, Wo, Wp, sh, sw)
        if nt == 1:
            for n in range(N):
                _bc(lvl, xp + n * img, buf, H, W, C, ph, pw, Wp)
                if y_nchw:
                    _fwd(lvl, &g, buf, wp, bp, buf + plane)
                    transpose_strided(buf + plane, Cout, yp + n * g.Q * Cout, g.Q, g.Q, Cout)  # to NCHW
                else:
                    _fwd(lvl, &g, buf, wp, bp, yp + n * g.Q * Cout)
        else:
            for n in prange(N, schedule="static", num_threads=nt):
                mine = buf + threadid() * (plane + blk)
                _bc(lvl, xp + n * img, mine, H, W, C, ph, pw, Wp)
                if y_nchw:
                    _fwd(lvl, &g, mine, wp, bp, mine + plane)
                    transpose_strided(mine + plane, Cout, yp + n * g.Q * Cout, g.Q, g.Q, Cout)  # to NCHW
                else:
                    _fwd(lvl, &g, mine, wp, bp, yp + n * g.Q * Cout)
    free(buf)
    free(offs)
    return 0


cdef void _backward_part(
    const fc_sg* g, const fc_dg* gd, Py_ssize_t n0, Py_ssize_t n1,
    const floating* xp, const floating* dyp, const floating* wp, const floating* wv,
    floating* dxp, floating* dw, floating* db, floating* xb, floating* dbuf, floating* scr,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp,
    Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t Wd, Py_ssize_t Cp, bint gather, bint want_dx, int lvl,
    floating* dyt,
) noexcept nogil:
    """Gradients of images n0..n1: dw/db summed into this part's buffers, dx written per image.

    ``xb``: the x broadcast plane; ``dbuf``: the padded dy plane D (``gather``, stride 1) or
    else the scalar padded dx plane of the scatter kernel, whose scratch is ``scr``; ``dyt``:
    NULL, or (dy NCHW) where each image's dy is transposed to its (Ho*Wo, Cout) block first.
    """
    cdef Py_ssize_t n, i, j, k, img = H * W * C, Cout = g.Cout, ystride = g.Q * Cout
    cdef Py_ssize_t Ho = g.Q // g.Wo, Wo = g.Wo, a = Kh - 1 - ph, bb = Kw - 1 - pw
    cdef Py_ssize_t Hp = H + 2 * ph, plane = Hp * Wp * C
    cdef bint padded = ph > 0 or pw > 0
    cdef const floating* dyi
    cdef const floating* s
    cdef floating* d
    cdef floating* dxi
    for n in range(n0, n1):
        dyi = dyp + n * ystride
        if dyt != NULL:
            transpose_strided(dyi, g.Q, dyt, Cout, Cout, g.Q)  # the image's NCHW planes to its block
            dyi = dyt
        _bc(lvl, xp + n * img, xb, H, W, C, ph, pw, Wp)
        _dw(lvl, g, xb, dyi, dw, db)
        if not want_dx:
            continue
        dxi = dxp + n * img
        if gather:
            for i in range(Ho):  # dy into the interior of D (borders and channel padding stay zero)
                d = dbuf + ((i + a) * Wd + bb) * Cp
                s = dyi + i * Wo * Cout
                if Cp == Cout:
                    memcpy(d, s, Wo * Cout * sizeof(floating))
                else:
                    for j in range(Wo):
                        for k in range(Cout):
                            d[j * Cp + k] = s[j * Cout + k]
            _dxg(lvl, gd, dbuf, wv, dxi)
        elif padded:
            _zero(dbuf, plane)
            _dx(lvl, g, dyi, wp, dbuf, scr)
            _pad_out(dbuf, dxi, H, W, C, ph, pw, Wp)
        else:
            _zero(dxi, img)
            _dx(lvl, g, dyi, wp, dxi, scr)


def conv2d_backward_small_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C), the forward input
    const floating[:, :, :, ::1] w,   # IN  (Kh, Kw, C, Cout)
    const floating[:, :, :, ::1] dy,  # IN  (N, Ho, Wo, Cout), or (N, Cout, Ho, Wo) if dy_nchw
    floating[:, :, :, ::1] dx,        # OUT (N, H, W, C) if want_dx (fully overwritten), else unused
    floating[:, :, :, ::1] dw,        # OUT (Kh, Kw, C, Cout), fully overwritten
    floating[::1] db,                 # OUT (Cout,), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,     # zero padding (rows, columns); ph < Kh and pw < Kw
    Py_ssize_t sh, Py_ssize_t sw,     # stride (rows, columns)
    bint want_dx,                     # compute dx (else dx is not touched)
    int num_threads,                  # OpenMP threads over the fixed parts (1: no parallel region)
    int level=-1,                     # -1: the level layer_level() picks; k >= 0: at most level k
    bint dy_nchw=False,               # dy is NCHW: each image's planes are transposed in cache first
) -> None:
    """Direct convolution backward; dw/db summed over SMALL_PARTS fixed parts of the batch. N >= 1.

    Stride 1: dx is the correlation of the zero-padded dy with the flipped kernel, vectorised
    over Cout and summed across the lanes at the end. Other strides: dx is scattered tap by tap.
    """
    _backward(&x[0, 0, 0, 0], &w[0, 0, 0, 0], &dy[0, 0, 0, 0], &dx[0, 0, 0, 0] if want_dx else NULL,
              &dw[0, 0, 0, 0], &db[0], x.shape[0], x.shape[1], x.shape[2], x.shape[3], w.shape[0], w.shape[1],
              w.shape[3], dy.shape[2] if dy_nchw else dy.shape[1], dy.shape[3] if dy_nchw else dy.shape[2],
              ph, pw, sh, sw, want_dx, num_threads, level, dy_nchw)


cdef int _backward(
    const floating* xp, const floating* wp, const floating* dyp, floating* dxp, floating* dwo, floating* dbo,
    Py_ssize_t N, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t Cout,
    Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw, bint want_dx,
    int num_threads, int level, bint dy_nchw,
) except -1:
    """conv2d_backward_small_kernel on pointers to C-contiguous arrays of the given extents (dxp
    NULL unless want_dx)."""
    cdef int lvl = fcs_level(sizeof(floating), Cout, (H + 2 * ph) * (W + 2 * pw) * C, level)
    cdef Py_ssize_t L = fcs_lanes(sizeof(floating), lvl)
    cdef Py_ssize_t K = Kh * Kw * C, KC = K * Cout, tq = 8 * L  # tq: pixels per dx block (QB of _conv_small.h)
    cdef Py_ssize_t Hp = H + 2 * ph, Wp = W + 2 * pw, plane = Hp * Wp * C
    cdef bint gather = want_dx and sh == 1 and sw == 1
    cdef Py_ssize_t nch = (Cout + L - 1) // L, Cp = nch * L, KV = Kh * Kw * nch
    cdef Py_ssize_t Wd = W + Kw - 1, dplane = (H + Kh - 1) * Wd * Cp
    cdef Py_ssize_t P = N if N < _PARTS else _PARTS, p, t, co, per, ki, kj, c, ch, l, q
    cdef int nt = num_threads if num_threads > 1 else 1
    cdef fc_sg g
    cdef fc_dg gd
    cdef floating* parts      # P x (KC + Cout): per-part dw then db
    cdef floating* wv         # gather: the flipped kernel, (C, KV, L)
    cdef floating* scratch    # per thread: x broadcast plane, then D or (dx plane, dx block)
    cdef floating* mine
    cdef Py_ssize_t per_thread = plane * L, nwv = C * KV * L if gather else 0
    if gather:
        per_thread += dplane
    elif want_dx:
        per_thread += plane + (Cout + 1) * tq
    cdef Py_ssize_t dyt_at = per_thread  # dy_nchw: the image's (Ho*Wo, Cout) block
    if dy_nchw:
        per_thread += Ho * Wo * Cout
    if nt > P:
        nt = <int>P
    cdef float* c1parts
    cdef int c1failed = 0
    if floating is float:
        if fcc1_serves(C, Kh, Kw, sh, sw, ph, pw, Cout, H, W, level):
            # one input channel, 3x3, 8 filters: the AVX-512 pixel-pair kernel (_conv_c1.h) on the same
            # fixed parts of the batch
            with nogil:
                c1parts = <float*>malloc(P * 80 * sizeof(float))
                if c1parts == NULL:
                    c1failed = 1
                elif nt == 1:
                    for p in range(P):
                        c1failed += _c1_backward_part(xp, dyp, wp, dxp, c1parts + p * 80, p * N // P,
                                                      (p + 1) * N // P, H, W, dy_nchw)
                else:
                    for p in prange(P, schedule="static", num_threads=nt):
                        c1failed += _c1_backward_part(xp, dyp, wp, dxp, c1parts + p * 80, p * N // P,
                                                      (p + 1) * N // P, H, W, dy_nchw)
                if not c1failed:
                    _sum_parts(c1parts, P, 72, 8, dwo, dbo)
                free(c1parts)
            if c1failed:
                raise MemoryError()
            return 0
    cdef Py_ssize_t* offs = <Py_ssize_t*>malloc((K + Ho * Wo + KV + H * W) * sizeof(Py_ssize_t))
    parts = <floating*>calloc(P * (KC + Cout) + nwv + nt * per_thread, sizeof(floating))
    if offs == NULL or parts == NULL:
        free(offs)
        free(parts)
        raise MemoryError()
    wv = parts + P * (KC + Cout)
    scratch = wv + nwv
    g.K = K
    g.Q = Ho * Wo
    g.Cout = Cout
    g.Wo = Wo
    g.step = sw * C
    g.toff = offs
    g.poff = offs + K
    gd.KV = KV
    gd.Q = H * W
    gd.C = C
    gd.doff = offs + K + Ho * Wo
    gd.pd = gd.doff + KV
    with nogil:
        _offsets(offs, offs + K, Kh, Kw, C, Ho, Wo, Wp, sh, sw)
        if gather:
            t = 0
            for ki in range(Kh):
                for kj in range(Kw):
                    for ch in range(nch):
                        (<Py_ssize_t*>gd.doff)[t] = (ki * Wd + kj) * Cp + ch * L
                        for c in range(C):
                            for l in range(L):
                                co = ch * L + l
                                if co < Cout:
                                    wv[(c * KV + t) * L + l] = wp[(((Kh - 1 - ki) * Kw + Kw - 1 - kj) * C + c) * Cout + co]
                        t += 1
            for q in range(H * W):
                (<Py_ssize_t*>gd.pd)[q] = ((q // W) * Wd + q % W) * Cp
        if nt == 1:
            for p in range(P):
                _backward_part(&g, &gd, p * N // P, (p + 1) * N // P, xp, dyp, wp, wv, dxp,
                               parts + p * (KC + Cout), parts + p * (KC + Cout) + KC,
                               scratch, scratch + plane * L, scratch + plane * L + plane,
                               H, W, C, ph, pw, Wp, Kh, Kw, Wd, Cp, gather, want_dx, lvl,
                               scratch + dyt_at if dy_nchw else NULL)
        else:
            for p in prange(P, schedule="static", num_threads=nt):
                mine = scratch + threadid() * per_thread
                _backward_part(&g, &gd, p * N // P, (p + 1) * N // P, xp, dyp, wp, wv, dxp,
                               parts + p * (KC + Cout), parts + p * (KC + Cout) + KC,
                               mine, mine + plane * L, mine + plane * L + plane,
                               H, W, C, ph, pw, Wp, Kh, Kw, Wd, Cp, gather, want_dx, lvl,
                               mine + dyt_at if dy_nchw else NULL)
        _sum_parts(parts, P, KC, Cout, dwo, dbo)
    free(parts)
    free(offs)
    return 0


# ---- the public functions' most common calls, checked and run without the Python layers ----------

cdef bint _usable(object a, int typenum, int ndim) noexcept:
    """``a`` is an ndarray (not a subclass) of the native ``typenum``, ``ndim`` dimensions, C-contiguous
    and aligned: what the kernels read in place."""
    if type(a) is not np.ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_TYPE(arr) == typenum and cnp.PyArray_ISNOTSWAPPED(arr) and cnp.PyArray_NDIM(arr) == ndim
            and cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISALIGNED(arr))


def forward_plain(x, w, b, padding, stride, dilation, groups, algorithm, layout, Py_ssize_t max_extent,
                  Py_ssize_t max_taps, Py_ssize_t max_cout, Py_ssize_t min_parallel_macs):
    """``conv2d_forward``'s most common call on these kernels, with its checks done here: y, or None
    (nothing done) unless the call is that one, so that the caller takes its general route (with
    its checks and messages). That call: ``algorithm="auto"``, ``layout="NHWC"``, int padding and
    stride, dilation 1, groups 1; x (N, H, W, C) and w (Kh, Kw, C, Cout) non-empty ndarrays of one
    float dtype, b None or (Cout,) of it, each C-contiguous, aligned and in native byte order;
    padding in [0, max_extent] and smaller than the kernel, stride in [1, max_extent], the kernel
    within the padded image; and the small family's bounds (``conv._small_serves``: at most
    ``max_taps`` taps Kh*Kw*C and ``max_cout`` output channels), which "auto" then picks first.
    The kernel call is conv2d_forward_small_kernel's, with the thread count of
    ``conv._small_threads``: the same bits as the general route."""
    if not (type(padding) is int and type(stride) is int and type(dilation) is int and dilation == 1
            and type(groups) is int and groups == 1 and algorithm == "auto" and layout == "NHWC"):
        return None
    if type(x) is not np.ndarray or not (0 <= padding <= max_extent and 1 <= stride <= max_extent):
        return None
    cdef cnp.ndarray xa = <cnp.ndarray>x, ya, ba
    cdef int typenum = cnp.PyArray_TYPE(xa)
    if typenum != cnp.NPY_FLOAT and typenum != cnp.NPY_DOUBLE:
        return None
    if not (_usable(x, typenum, 4) and _usable(w, typenum, 4) and (b is None or _usable(b, typenum, 1))):
        return None
    cdef cnp.ndarray wa = <cnp.ndarray>w
    cdef cnp.npy_intp* xs = cnp.PyArray_DIMS(xa)
    cdef cnp.npy_intp* ws = cnp.PyArray_DIMS(wa)
    cdef Py_ssize_t N = xs[0], H = xs[1], W = xs[2], C = xs[3], Kh = ws[0], Kw = ws[1], Cout = ws[3]
    cdef Py_ssize_t p = padding, st = stride
    if b is not None and cnp.PyArray_DIMS(<cnp.ndarray>b)[0] != Cout:
        return None
    if not (N >= 1 and H >= 1 and W >= 1 and C >= 1 and Cout >= 1 and ws[2] == C and Kh >= 1 and Kw >= 1
            and Kh <= H + 2 * p and Kw <= W + 2 * p
            and p < Kh and p < Kw and Kh * Kw * C <= max_taps and Cout <= max_cout):
        return None
    cdef cnp.npy_intp dims[4]
    dims[0] = N
    dims[1] = (H + 2 * p - Kh) // st + 1
    dims[2] = (W + 2 * p - Kw) // st + 1
    dims[3] = Cout
    ya = cnp.PyArray_EMPTY(4, dims, typenum, 0)
    ba = <cnp.ndarray>b if b is not None else cnp.PyArray_ZEROS(1, &dims[3], typenum, 0)
    cdef int nt = threads_for(N * dims[1] * dims[2] * Cout * Kh * Kw * C, min_parallel_macs)
    if typenum == cnp.NPY_FLOAT:
        _forward(<const float*>cnp.PyArray_DATA(xa), <const float*>cnp.PyArray_DATA(wa),
                 <const float*>cnp.PyArray_DATA(ba), <float*>cnp.PyArray_DATA(ya), N, H, W, C, Kh, Kw, Cout,
                 dims[1], dims[2], p, p, st, st, nt, -1, False)
    else:
        _forward(<const double*>cnp.PyArray_DATA(xa), <const double*>cnp.PyArray_DATA(wa),
                 <const double*>cnp.PyArray_DATA(ba), <double*>cnp.PyArray_DATA(ya), N, H, W, C, Kh, Kw, Cout,
                 dims[1], dims[2], p, p, st, st, nt, -1, False)
    return ya


def backward_plain(dy, cache, compute_dx, Py_ssize_t min_parallel_macs):
    """``conv2d_backward``'s most common call, with its checks done here: (dx or None, dw, db or
    None), or None (nothing done) unless the call is that one: a cache of these kernels
    (``ConvCache``, family "small", NHWC) from plain options (symmetric padding per axis, dilation 1,
    groups 1) whose gradients' dtypes are x's and whose b (if any) was (Cout,); ``compute_dx`` a
    bool; dy an ndarray of x's dtype and the forward output's shape, C-contiguous, aligned and in
    native byte order; every extent non-zero. The kernel call is ``conv._small_backward``'s: the same
    bits as the general route."""
    x, w, b_shape, padding, stride, dx_dtype, dw_dtype, db_dtype, y_shape, _, layout, pad_end, dil, groups, \
        has_bias, family = cache
    if not (family == "small" and layout == "NHWC" and dil == (1, 1) and groups == 1):
        return None
    if type(compute_dx) is not bool or pad_end != padding or type(x) is not np.ndarray:
        return None
    cdef cnp.ndarray xa = <cnp.ndarray>x, wa, dya, dxa = None, dwa, dba
    cdef int typenum = cnp.PyArray_TYPE(xa)
    cdef void* dt = <void*>cnp.PyArray_DESCR(xa)
    if not ((typenum == cnp.NPY_FLOAT or typenum == cnp.NPY_DOUBLE) and _usable(x, typenum, 4)
            and _usable(w, typenum, 4) and _usable(dy, typenum, 4)
            and <void*>dx_dtype == dt and <void*>dw_dtype == dt and <void*>db_dtype == dt):
        return None
    wa = <cnp.ndarray>w
    dya = <cnp.ndarray>dy
    cdef cnp.npy_intp* xs = cnp.PyArray_DIMS(xa)
    cdef cnp.npy_intp* ws = cnp.PyArray_DIMS(wa)
    cdef cnp.npy_intp* ds = cnp.PyArray_DIMS(dya)
    cdef Py_ssize_t N = xs[0], H = xs[1], W = xs[2], C = xs[3], Kh = ws[0], Kw = ws[1], Cout = ws[3]
    if has_bias and b_shape != (Cout,):
        return None
    if dy.shape != y_shape:
        return None
    if not (N >= 1 and H >= 1 and W >= 1 and C >= 1 and Kh >= 1 and Kw >= 1 and Cout >= 1 and ds[1] >= 1
            and ds[2] >= 1):
        return None
    cdef Py_ssize_t ph = padding[0], pw = padding[1], sh = stride[0], sw = stride[1]
    cdef bint want_dx = compute_dx
    if want_dx:
        dxa = cnp.PyArray_EMPTY(4, xs, typenum, 0)
    dwa = cnp.PyArray_EMPTY(4, ws, typenum, 0)
    dba = cnp.PyArray_EMPTY(1, &ws[3], typenum, 0)
    cdef int nt = threads_for(N * ds[1] * ds[2] * Cout * Kh * Kw * C, min_parallel_macs)
    if typenum == cnp.NPY_FLOAT:
        _backward(<const float*>cnp.PyArray_DATA(xa), <const float*>cnp.PyArray_DATA(wa),
                  <const float*>cnp.PyArray_DATA(dya), <float*>cnp.PyArray_DATA(dxa) if want_dx else NULL,
                  <float*>cnp.PyArray_DATA(dwa), <float*>cnp.PyArray_DATA(dba), N, H, W, C, Kh, Kw, Cout,
                  ds[1], ds[2], ph, pw, sh, sw, want_dx, nt, -1, False)
    else:
        _backward(<const double*>cnp.PyArray_DATA(xa), <const double*>cnp.PyArray_DATA(wa),
                  <const double*>cnp.PyArray_DATA(dya), <double*>cnp.PyArray_DATA(dxa) if want_dx else NULL,
                  <double*>cnp.PyArray_DATA(dwa), <double*>cnp.PyArray_DATA(dba), N, H, W, C, Kh, Kw, Cout,
                  ds[1], ds[2], ph, pw, sh, sw, want_dx, nt, -1, False)
    return dxa, dwa, dba if has_bias else None
