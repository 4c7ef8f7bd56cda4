# cython: language_level=3
"""Max and average pooling kernels over C-contiguous NHWC typed memoryviews.

The wrappers in :mod:`fastconv.pool` validate, choose the dtype and allocate outputs; the
kernels only compute, without the GIL. Pooling is memory-bound, so the kernels stream: the
innermost loop always runs over the contiguous channel axis, every output row (n, i) is one
unit of OpenMP work, no division sits in an inner loop, and the common 2x2 stride-2 window has
its own loop. Backward kernels for non-overlapping windows write every dx element once (no
separate zeroing pass, no read-modify-write).
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset
from libc.stdint cimport int64_t, uint8_t
cimport numpy as cnp
import numpy as np

from ._pool_kernels cimport (
    FC_DEBUG_BUILD, fc_avg_row_d, fc_avg_row_f, fc_avgbwd_row_d, fc_avgbwd_row_f, fc_max2x2_d, fc_max2x2_f,
    fc_maxbwd2x2_d, fc_maxbwd2x2_f, fc_maxbwdc_row_d, fc_maxbwdc_row_f, fc_maxc_row_d, fc_maxc_row_f,
    fc_maxbwdc_plane_row_d, fc_maxbwdc_plane_row_f, fc_maxc_plane_row_d, fc_maxc_plane_row_f,
)

cnp.import_array()


cdef int _check_geometry(
    str kernel, Py_ssize_t nx, Py_ssize_t ny, Py_ssize_t cx, Py_ssize_t cy,
    Py_ssize_t h, Py_ssize_t w, Py_ssize_t ho, Py_ssize_t wo,
    Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
) except -1:
    """Bounds-checked builds only: IndexError if the windows would reach outside the input.

    The pooling kernels index raw pointers (memoryview bounds checking does not see them), so
    the debug build checks their whole index range once, at entry.
    """
    if nx != ny or cx != cy:
        raise IndexError(f"{kernel}: batch/channels of input ({nx}, {cx}) and output ({ny}, {cy}) differ")
    if ho > 0 and (ho - 1) * sh + ph > h:
        raise IndexError(f"{kernel}: {ho} window rows of {ph} with stride {sh} reach past {h} input rows")
    if wo > 0 and (wo - 1) * sw + pw > w:
        raise IndexError(f"{kernel}: {wo} window columns of {pw} with stride {sw} reach past {w} input columns")
    return 0


cdef inline void _maxpool_fwd_row(
    const floating* x, floating* y, long long* am, Py_ssize_t n, Py_ssize_t i,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Ho, Py_ssize_t Wo,
    Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
) noexcept nogil:
    """One output row (n, i) of max pooling with argmax, any window and stride."""
    cdef Py_ssize_t j, di, dj, c, h, wi, idx
    cdef floating v, cur
    cdef const floating* xn = x + n * H * W * C
    cdef const floating* xp
    cdef floating* yp
    cdef long long* ap
    for j in range(Wo):
        yp = y + ((n * Ho + i) * Wo + j) * C
        ap = am + ((n * Ho + i) * Wo + j) * C
        h = i * sh
        wi = j * sw
        xp = xn + (h * W + wi) * C
        for c in range(C):
            yp[c] = xp[c]
            ap[c] = h * W + wi
        for di in range(ph):
            for dj in range(pw):
                if di == 0 and dj == 0:
                    continue
                idx = (h + di) * W + wi + dj
                xp = xn + idx * C
                for c in range(C):
                    v = xp[c]
                    cur = yp[c]
                    # strictly greater keeps the first maximum; a NaN wins once, like np.argmax
                    if v > cur or (v != v and cur == cur):
                        yp[c] = v
                        ap[c] = idx


cdef inline void _maxpool_fwd_row_2x2(
    const floating* x, floating* y, long long* am, Py_ssize_t n, Py_ssize_t i,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Ho, Py_ssize_t Wo,
) noexcept nogil:
    """One output row (n, i) of 2x2, stride-2 max pooling with argmax."""
    cdef Py_ssize_t j, c
    cdef long long base
    cdef const floating* x0
    cdef const floating* x1
    cdef floating* yp
    cdef long long* ap
    for j in range(Wo):
        yp = y + ((n * Ho + i) * Wo + j) * C
        ap = am + ((n * Ho + i) * Wo + j) * C
        base = (2 * i) * W + 2 * j
        x0 = x + (n * H * W + base) * C
        x1 = x0 + W * C
        if floating is float:
            fc_max2x2_f(x0, x1, yp, <int64_t*>ap, C, base, W)
        else:
            fc_max2x2_d(x0, x1, yp, <int64_t*>ap, C, base, W)


def maxpool_forward_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C)
    floating[:, :, :, ::1] y,         # OUT (N, Ho, Wo, C)
    long long[:, :, :, ::1] argmax,   # OUT (N, Ho, Wo, C): flat index h*W + w of each window's first maximum
    Py_ssize_t ph, Py_ssize_t pw,     # window
    Py_ssize_t sh, Py_ssize_t sw,     # stride
    int num_threads,                  # OpenMP threads over output rows
) -> None:
    """Max pooling forward with an argmax mask. All extents must be non-zero."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Ho = y.shape[1], Wo = y.shape[2]
    cdef Py_ssize_t r, n, i
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef long long* ap = &argmax[0, 0, 0, 0]
    cdef bint two = ph == 2 and pw == 2 and sh == 2 and sw == 2
    if FC_DEBUG_BUILD:
        _check_geometry("maxpool_forward_kernel", N, y.shape[0], C, y.shape[3], H, W, Ho, Wo, ph, pw, sh, sw)
        _check_geometry("maxpool_forward_kernel", N, argmax.shape[0], C, argmax.shape[3], H, W,
                        argmax.shape[1], argmax.shape[2], ph, pw, sh, sw)
    with nogil:
        for r in prange(N * Ho, schedule="static", num_threads=num_threads):
            n = r // Ho
            i = r - n * Ho
            if two:
                _maxpool_fwd_row_2x2(xp, yp, ap, n, i, H, W, C, Ho, Wo)
            else:
                _maxpool_fwd_row(xp, yp, ap, n, i, H, W, C, Ho, Wo, ph, pw, sh, sw)


def maxpool_backward_kernel(
    const floating[:, :, :, ::1] dy,       # IN  (N, Ho, Wo, C)
    const long long[:, :, :, ::1] argmax,  # IN  (N, Ho, Wo, C) from the forward call
    floating[:, :, ::1] dx,                # OUT (N, H*W, C), zero on entry
    int num_threads,                       # OpenMP threads over images
) -> None:
    """Max pooling backward for any windows: dy of each window is added at its argmax."""
    cdef Py_ssize_t N = dy.shape[0], Ho = dy.shape[1], Wo = dy.shape[2], C = dy.shape[3]
    cdef Py_ssize_t n, i, j, c
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads):
            for i in range(Ho):
                for j in range(Wo):
                    for c in range(C):
                        dx[n, argmax[n, i, j, c], c] += dy[n, i, j, c]


cdef inline void _zero_tail(
    floating* dx, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
) noexcept nogil:
    """Zero columns c0..W of input rows r0..r1 of image n (positions no window reads)."""
    cdef Py_ssize_t h
    if c0 >= W:
        return
    for h in range(r0, r1):
        memset(dx + ((n * H + h) * W + c0) * C, 0, (W - c0) * C * sizeof(floating))


def maxpool_backward_tiled_kernel(
    const floating[:, :, :, ::1] dy,       # IN  (N, Ho, Wo, C)
    const long long[:, :, :, ::1] argmax,  # IN  (N, Ho, Wo, C) from the forward call
    floating[:, :, :, ::1] dx,             # OUT (N, H, W, C), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,          # window, equal to the stride (windows tile the input)
    int num_threads,                       # OpenMP threads over output rows
) -> None:
    """Max pooling backward for non-overlapping windows (stride == pool): every dx element written once."""
    cdef Py_ssize_t N = dy.shape[0], Ho = dy.shape[1], Wo = dy.shape[2], C = dy.shape[3]
    cdef Py_ssize_t H = dx.shape[1], W = dx.shape[2]
    cdef Py_ssize_t r, n, i, j, di, dj, c, h
    cdef long long idx
    cdef const floating* g
    cdef const long long* ap
    cdef floating* d
    cdef floating* d0
    cdef floating* d1
    cdef long long base
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef const long long* amp = &argmax[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0]
    if FC_DEBUG_BUILD:
        _check_geometry("maxpool_backward_tiled_kernel", dx.shape[0], N, dx.shape[3], C, H, W, Ho, Wo, ph, pw, ph, pw)
        _check_geometry("maxpool_backward_tiled_kernel", argmax.shape[0], N, argmax.shape[3], C,
                        argmax.shape[1], argmax.shape[2], Ho, Wo, 1, 1, 1, 1)
    with nogil:
        for r in prange(N * Ho, schedule="static", num_threads=num_threads):
            n = r // Ho
            i = r - n * Ho
            for j in range(Wo):
                g = dyp + ((n * Ho + i) * Wo + j) * C
                ap = amp + ((n * Ho + i) * Wo + j) * C
                base = (i * ph) * W + j * pw
                if ph == 2 and pw == 2:
                    d0 = dxp + (n * H * W + base) * C
                    d1 = d0 + W * C
                    if floating is float:
                        fc_maxbwd2x2_f(g, <const int64_t*>ap, d0, d1, C, base, W)
                    else:
                        fc_maxbwd2x2_d(g, <const int64_t*>ap, d0, d1, C, base, W)
                else:
                    for di in range(ph):
                        for dj in range(pw):
                            idx = base + di * W + dj
                            d = dxp + (n * H * W + idx) * C
                            for c in range(C):
                                d[c] = g[c] if ap[c] == idx else 0
            _zero_tail(dxp, n, i * ph, (i + 1) * ph, Wo * pw, H, W, C)
            if i == Ho - 1:
                _zero_tail(dxp, n, Ho * ph, H, 0, H, W, C)


# --------------------------------------------------------------------------- window-code max pooling
# Max pooling keeps, per output element, the one-byte offset k = di * pw + dj of its window's first
# maximum (windows of at most 256 elements): a quarter of the input's bytes for float32 2x2
# windows instead of two for int64 indices. The flat ``argmax`` is built from it only when read.


cdef int _need(cnp.ndarray a, str name, int typenum, bint write) except -1:
    """Raise unless ``a`` is a native-order, C-contiguous 4-D array of ``typenum`` (and writable if ``write``)."""
    if (cnp.PyArray_NDIM(a) != 4 or cnp.PyArray_TYPE(a) != typenum or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or not cnp.PyArray_ISNOTSWAPPED(a) or (write and not cnp.PyArray_ISWRITEABLE(a))):
        raise ValueError(
            f"{name} must be a{' writable' if write else ''} C-contiguous, native-order 4-D array of "
            f"{np.dtype(cnp.PyArray_DescrFromType(typenum))}, got {(<object>a).dtype} with shape {(<object>a).shape}"
        )
    return 0


cdef int _float_type(cnp.ndarray a, str name) except -1:
    """NPY_FLOAT or NPY_DOUBLE: the kernel dtype that ``a`` selects; TypeError otherwise."""
    cdef int t = cnp.PyArray_TYPE(a)
    if t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE:
        raise TypeError(f"{name} must be float32 or float64, got {(<object>a).dtype}")
    return t


cdef inline Py_ssize_t _dim(cnp.ndarray a, int k) noexcept:
    return cnp.PyArray_DIMS(a)[k]


cdef inline void _maxc_row(
    const floating* x, floating* y, uint8_t* code, Py_ssize_t n, Py_ssize_t i,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Ho, Py_ssize_t Wo,
    Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
) noexcept nogil:
    """One output row (n, i) of max pooling with window codes, any window of at most 256 elements."""
    cdef Py_ssize_t j, di, dj, c, k
    cdef floating v, cur
    cdef const floating* x0
    cdef const floating* xp
    cdef floating* yp
    cdef uint8_t* cp
    if ph == 2 and pw == 2 and C == 1 and sw == 2:  # a plane of an NCHW pool: vectorised along the row
        x0 = x + (n * H + i * sh) * W
        if floating is float:
            fc_maxc_plane_row_f(x0, x0 + W, y + (n * Ho + i) * Wo, code + (n * Ho + i) * Wo, Wo)
        else:
            fc_maxc_plane_row_d(x0, x0 + W, y + (n * Ho + i) * Wo, code + (n * Ho + i) * Wo, Wo)
        return
    if ph == 2 and pw == 2:
        x0 = x + (n * H + i * sh) * W * C
        if floating is float:
            fc_maxc_row_f(x0, x0 + W * C, y + (n * Ho + i) * Wo * C, code + (n * Ho + i) * Wo * C, Wo, C, sw * C)
        else:
            fc_maxc_row_d(x0, x0 + W * C, y + (n * Ho + i) * Wo * C, code + (n * Ho + i) * Wo * C, Wo, C, sw * C)
        return
    for j in range(Wo):
        yp = y + ((n * Ho + i) * Wo + j) * C
        cp = code + ((n * Ho + i) * Wo + j) * C
        x0 = x + ((n * H + i * sh) * W + j * sw) * C
        for c in range(C):
            yp[c] = x0[c]
            cp[c] = 0
        for di in range(ph):
            for dj in range(pw):
                k = di * pw + dj
                if k == 0:
                    continue
                xp = x0 + (di * W + dj) * C
                for c in range(C):
                    v = xp[c]
                    cur = yp[c]
                    # strictly greater keeps the first maximum; a NaN wins once, like np.argmax
                    if v > cur or (v != v and cur == cur):
                        yp[c] = v
                        cp[c] = <uint8_t>k


cdef void _maxc_fwd(
    const floating* x, floating* y, uint8_t* code, Py_ssize_t N, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
    Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw, int nt,
) noexcept nogil:
    cdef Py_ssize_t r, n, i
    if nt <= 1:  # no OpenMP region at all for a one-thread call
        for r in range(N * Ho):
            n = r // Ho
            _maxc_row(x, y, code, n, r - n * Ho, H, W, C, Ho, Wo, ph, pw, sh, sw)
        return
    for r in prange(N * Ho, schedule="static", num_threads=nt):
        n = r // Ho
        i = r - n * Ho
        _maxc_row(x, y, code, n, i, H, W, C, Ho, Wo, ph, pw, sh, sw)


def maxpool_forward_codes_kernel(
    cnp.ndarray x,                    # IN  (N, H, W, C) float32 or float64
    cnp.ndarray y,                    # OUT (N, Ho, Wo, C), dtype of x
    cnp.ndarray code,                 # OUT (N, Ho, Wo, C) uint8: offset di * pw + dj of each window's first maximum
    Py_ssize_t ph, Py_ssize_t pw,     # window, ph * pw <= 256
    Py_ssize_t sh, Py_ssize_t sw,     # stride
    int num_threads,                  # OpenMP threads over output rows
) -> None:
    """Max pooling forward with one-byte window codes. All extents must be non-zero."""
    cdef int t = _float_type(x, "x")
    _need(x, "x", t, False)
    _need(y, "y", t, True)
    _need(code, "code", cnp.NPY_UINT8, True)
    if ph * pw > 256 or ph < 1 or pw < 1 or sh < 1 or sw < 1:
        raise ValueError(f"window {ph}x{pw} / stride {sh}x{sw}: codes need 1 <= ph * pw <= 256 and strides >= 1")
    cdef Py_ssize_t N = _dim(x, 0), H = _dim(x, 1), W = _dim(x, 2), C = _dim(x, 3)
    cdef Py_ssize_t Ho = _dim(y, 1), Wo = _dim(y, 2)
    _check_geometry("maxpool_forward_codes_kernel", N, _dim(y, 0), C, _dim(y, 3), H, W, Ho, Wo, ph, pw, sh, sw)
    if _dim(code, 0) != N or _dim(code, 1) != Ho or _dim(code, 2) != Wo or _dim(code, 3) != C:
        raise IndexError(f"maxpool_forward_codes_kernel: code shape {(<object>code).shape} differs from y shape {(<object>y).shape}")
    if t == cnp.NPY_FLOAT:
        with nogil:
            _maxc_fwd(<const float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(y), <uint8_t*>cnp.PyArray_DATA(code),
                      N, H, W, C, Ho, Wo, ph, pw, sh, sw, num_threads)
    else:
        with nogil:
            _maxc_fwd(<const double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(y), <uint8_t*>cnp.PyArray_DATA(code),
                      N, H, W, C, Ho, Wo, ph, pw, sh, sw, num_threads)


cdef inline void _maxc_bwd_row(
    const floating* dy, const uint8_t* code, floating* dx, Py_ssize_t n, Py_ssize_t i,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw,
) noexcept nogil:
    """dx rows i*ph .. (i+1)*ph of image n from output row (n, i), windows tiling the input."""
    cdef Py_ssize_t j, di, dj, c
    cdef int k
    cdef const floating* g
    cdef const uint8_t* cp
    cdef floating* d0
    cdef floating* d
    if ph == 2 and pw == 2 and C == 1:  # a plane of an NCHW pool
        d0 = dx + (n * H + i * 2) * W
        if floating is float:
            fc_maxbwdc_plane_row_f(dy + (n * Ho + i) * Wo, code + (n * Ho + i) * Wo, d0, d0 + W, Wo)
        else:
            fc_maxbwdc_plane_row_d(dy + (n * Ho + i) * Wo, code + (n * Ho + i) * Wo, d0, d0 + W, Wo)
    elif ph == 2 and pw == 2:
        d0 = dx + (n * H + i * 2) * W * C
        if floating is float:
            fc_maxbwdc_row_f(dy + (n * Ho + i) * Wo * C, code + (n * Ho + i) * Wo * C, d0, d0 + W * C, Wo, C)
        else:
            fc_maxbwdc_row_d(dy + (n * Ho + i) * Wo * C, code + (n * Ho + i) * Wo * C, d0, d0 + W * C, Wo, C)
    for j in range(Wo if ph != 2 or pw != 2 else 0):
        g = dy + ((n * Ho + i) * Wo + j) * C
        cp = code + ((n * Ho + i) * Wo + j) * C
        d0 = dx + ((n * H + i * ph) * W + j * pw) * C
        for di in range(ph):
            for dj in range(pw):
                k = <int>(di * pw + dj)
                d = d0 + (di * W + dj) * C
                for c in range(C):
                    d[c] = g[c] if cp[c] == k else 0
    _zero_tail(dx, n, i * ph, (i + 1) * ph, Wo * pw, H, W, C)
    if i == Ho - 1:
        _zero_tail(dx, n, Ho * ph, H, 0, H, W, C)


cdef void _maxc_bwd(
    const floating* dy, const uint8_t* code, floating* dx, Py_ssize_t N, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t C, Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw, int nt,
) noexcept nogil:
    cdef Py_ssize_t r, n, i
    if nt <= 1:
        for r in range(N * Ho):
            n = r // Ho
            _maxc_bwd_row(dy, code, dx, n, r - n * Ho, H, W, C, Ho, Wo, ph, pw)
        return
    for r in prange(N * Ho, schedule="static", num_threads=nt):
        n = r // Ho
        i = r - n * Ho
        _maxc_bwd_row(dy, code, dx, n, i, H, W, C, Ho, Wo, ph, pw)


def maxpool_backward_codes_tiled_kernel(
    cnp.ndarray dy,                   # IN  (N, Ho, Wo, C) float32 or float64
    cnp.ndarray code,                 # IN  (N, Ho, Wo, C) uint8 from maxpool_forward_codes_kernel
    cnp.ndarray dx,                   # OUT (N, H, W, C), dtype of dy, fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,     # window, equal to the stride (windows tile the input)
    int num_threads,                  # OpenMP threads over output rows
) -> None:
    """Max pooling backward from window codes, non-overlapping windows: every dx element written once."""
    cdef int t = _float_type(dy, "dy")
    _need(dy, "dy", t, False)
    _need(code, "code", cnp.NPY_UINT8, False)
    _need(dx, "dx", t, True)
    cdef Py_ssize_t N = _dim(dy, 0), Ho = _dim(dy, 1), Wo = _dim(dy, 2), C = _dim(dy, 3)
    cdef Py_ssize_t H = _dim(dx, 1), W = _dim(dx, 2)
    if ph < 1 or pw < 1:
        raise ValueError(f"window {ph}x{pw} must be at least 1x1")
    _check_geometry("maxpool_backward_codes_tiled_kernel", _dim(dx, 0), N, _dim(dx, 3), C, H, W, Ho, Wo, ph, pw, ph, pw)
    if _dim(code, 0) != N or _dim(code, 1) != Ho or _dim(code, 2) != Wo or _dim(code, 3) != C:
        raise IndexError(f"maxpool_backward_codes_tiled_kernel: code shape {(<object>code).shape} differs from dy shape {(<object>dy).shape}")
    if t == cnp.NPY_FLOAT:
        with nogil:
            _maxc_bwd(<const float*>cnp.PyArray_DATA(dy), <const uint8_t*>cnp.PyArray_DATA(code),
                      <float*>cnp.PyArray_DATA(dx), N, H, W, C, Ho, Wo, ph, pw, num_threads)
    else:
        with nogil:
            _maxc_bwd(<const double*>cnp.PyArray_DATA(dy), <const uint8_t*>cnp.PyArray_DATA(code),
                      <double*>cnp.PyArray_DATA(dx), N, H, W, C, Ho, Wo, ph, pw, num_threads)


# --------------------------------------------------------------------------- average pooling
cdef inline void _avgpool_fwd_row(
    const floating* x, floating* y, Py_ssize_t n, Py_ssize_t i,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Ho, Py_ssize_t Wo,
    Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
) noexcept nogil:
    """One output row (n, i) of average pooling."""
    cdef Py_ssize_t j, di, dj, c
    cdef floating area = <floating>(ph * pw)
    cdef const floating* xn = x + n * H * W * C
    cdef const floating* xp
    cdef const floating* x0
    cdef const floating* x1
    cdef floating* yp
    if ph == 2 and pw == 2:
        x0 = xn + (i * sh) * W * C
        if floating is float:
            fc_avg_row_f(x0, x0 + W * C, y + (n * Ho + i) * Wo * C, Wo, C, sw * C)
        else:
            fc_avg_row_d(x0, x0 + W * C, y + (n * Ho + i) * Wo * C, Wo, C, sw * C)
        return
    for j in range(Wo):
        yp = y + ((n * Ho + i) * Wo + j) * C
        for c in range(C):
            yp[c] = 0
        for di in range(ph):
            for dj in range(pw):
                xp = xn + ((i * sh + di) * W + j * sw + dj) * C
                for c in range(C):
                    yp[c] += xp[c]
        for c in range(C):
            yp[c] = yp[c] / area


cdef void _avg_fwd(
    const floating* x, floating* y, Py_ssize_t N, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
    Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw, int nt,
) noexcept nogil:
    cdef Py_ssize_t r, n, i
    if nt <= 1:
        for r in range(N * Ho):
            n = r // Ho
            _avgpool_fwd_row(x, y, n, r - n * Ho, H, W, C, Ho, Wo, ph, pw, sh, sw)
        return
    for r in prange(N * Ho, schedule="static", num_threads=nt):
        n = r // Ho
        i = r - n * Ho
        _avgpool_fwd_row(x, y, n, i, H, W, C, Ho, Wo, ph, pw, sh, sw)


def avgpool_forward_kernel(
    cnp.ndarray x,                    # IN  (N, H, W, C) float32 or float64
    cnp.ndarray y,                    # OUT (N, Ho, Wo, C), dtype of x, fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t sh, Py_ssize_t sw,
    int num_threads,                  # OpenMP threads over output rows
) -> None:
    """Average pooling forward: the mean of each window."""
    cdef int t = _float_type(x, "x")
    _need(x, "x", t, False)
    _need(y, "y", t, True)
    if ph < 1 or pw < 1 or sh < 1 or sw < 1:
        raise ValueError(f"window {ph}x{pw} and stride {sh}x{sw} must be at least 1x1")
    cdef Py_ssize_t N = _dim(x, 0), H = _dim(x, 1), W = _dim(x, 2), C = _dim(x, 3)
    cdef Py_ssize_t Ho = _dim(y, 1), Wo = _dim(y, 2)
    _check_geometry("avgpool_forward_kernel", N, _dim(y, 0), C, _dim(y, 3), H, W, Ho, Wo, ph, pw, sh, sw)
    if t == cnp.NPY_FLOAT:
        with nogil:
            _avg_fwd(<const float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(y),
                     N, H, W, C, Ho, Wo, ph, pw, sh, sw, num_threads)
    else:
        with nogil:
            _avg_fwd(<const double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(y),
                     N, H, W, C, Ho, Wo, ph, pw, sh, sw, num_threads)


def avgpool_backward_kernel(
    const floating[:, :, :, ::1] dy,  # IN  (N, Ho, Wo, C)
    floating[:, :, :, ::1] dx,        # OUT (N, H, W, C), zero on entry
    Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t sh, Py_ssize_t sw,
    int num_threads,                  # OpenMP threads over images
) -> None:
    """Average pooling backward for any windows: each window's dy / (ph*pw) is added to all its elements."""
    cdef Py_ssize_t N = dy.shape[0], Ho = dy.shape[1], Wo = dy.shape[2], C = dy.shape[3]
    cdef Py_ssize_t n, i, j, di, dj, c
    cdef floating area = <floating>(ph * pw)
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads):
            for i in range(Ho):
                for j in range(Wo):
                    for di in range(ph):
                        for dj in range(pw):
                            for c in range(C):
                                dx[n, i * sh + di, j * sw + dj, c] += dy[n, i, j, c] / area


cdef inline void _avg_bwd_row(
    const floating* dy, floating* dx, Py_ssize_t n, Py_ssize_t i,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw,
) noexcept nogil:
    """dx rows i*ph .. (i+1)*ph of image n from output row (n, i), windows tiling the input."""
    cdef Py_ssize_t j, di, dj, c
    cdef floating area = <floating>(ph * pw)
    cdef floating q
    cdef const floating* g
    cdef floating* d0
    cdef floating* d1
    cdef floating* d
    if ph == 2 and pw == 2:
        d0 = dx + (n * H + i * 2) * W * C
        if floating is float:
            fc_avgbwd_row_f(dy + (n * Ho + i) * Wo * C, d0, d0 + W * C, Wo, C)
        else:
            fc_avgbwd_row_d(dy + (n * Ho + i) * Wo * C, d0, d0 + W * C, Wo, C)
    for j in range(Wo if ph != 2 or pw != 2 else 0):
        g = dy + ((n * Ho + i) * Wo + j) * C
        d0 = dx + ((n * H + i * ph) * W + j * pw) * C
        for di in range(ph):
            for dj in range(pw):
                d = d0 + (di * W + dj) * C
                for c in range(C):
                    d[c] = g[c] / area
    _zero_tail(dx, n, i * ph, (i + 1) * ph, Wo * pw, H, W, C)
    if i == Ho - 1:
        _zero_tail(dx, n, Ho * ph, H, 0, H, W, C)


cdef void _avg_bwd(
    const floating* dy, floating* dx, Py_ssize_t N, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
    Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw, int nt,
) noexcept nogil:
    cdef Py_ssize_t r, n, i
    if nt <= 1:
        for r in range(N * Ho):
            n = r // Ho
            _avg_bwd_row(dy, dx, n, r - n * Ho, H, W, C, Ho, Wo, ph, pw)
        return
    for r in prange(N * Ho, schedule="static", num_threads=nt):
        n = r // Ho
        i = r - n * Ho
        _avg_bwd_row(dy, dx, n, i, H, W, C, Ho, Wo, ph, pw)


def avgpool_backward_tiled_kernel(
    cnp.ndarray dy,                   # IN  (N, Ho, Wo, C) float32 or float64
    cnp.ndarray dx,                   # OUT (N, H, W, C), dtype of dy, fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,     # window, equal to the stride (windows tile the input)
    int num_threads,                  # OpenMP threads over output rows
) -> None:
    """Average pooling backward for non-overlapping windows: every dx element written once."""
    cdef int t = _float_type(dy, "dy")
    _need(dy, "dy", t, False)
    _need(dx, "dx", t, True)
    if ph < 1 or pw < 1:
        raise ValueError(f"window {ph}x{pw} must be at least 1x1")
    cdef Py_ssize_t N = _dim(dy, 0), Ho = _dim(dy, 1), Wo = _dim(dy, 2), C = _dim(dy, 3)
    cdef Py_ssize_t H = _dim(dx, 1), W = _dim(dx, 2)
    _check_geometry("avgpool_backward_tiled_kernel", _dim(dx, 0), N, _dim(dx, 3), C, H, W, Ho, Wo, ph, pw, ph, pw)
    if t == cnp.NPY_FLOAT:
        with nogil:
            _avg_bwd(<const float*>cnp.PyArray_DATA(dy), <float*>cnp.PyArray_DATA(dx), N, H, W, C, Ho, Wo, ph, pw, num_threads)
    else:
        with nogil:
            _avg_bwd(<const double*>cnp.PyArray_DATA(dy), <double*>cnp.PyArray_DATA(dx), N, H, W, C, Ho, Wo, ph, pw, num_threads)


# --------------------------------------------------------------------------- codes to flat indices
def codes_to_argmax_kernel(
    const unsigned char[:, :, :, ::1] code,  # IN  (N, Ho, Wo, C) window codes
    const long long[::1] rowbase,            # IN  (Ho,) flat index of the first input row of each window row: r0[i] * W
    const long long[::1] colbase,            # IN  (Wo,) first input column of each window column: c0[j]
    const long long[::1] offset,             # IN  (256,) flat offset inside the window of each code
    long long[:, :, :, ::1] argmax,          # OUT (N, Ho, Wo, C): rowbase[i] + colbase[j] + offset[code]
    int num_threads,                         # OpenMP threads over images
) -> None:
    """The int64 flat indices ``h * W + w`` of the maxima that window codes name."""
    cdef Py_ssize_t N = code.shape[0], Ho = code.shape[1], Wo = code.shape[2], C = code.shape[3]
    cdef Py_ssize_t n, i, j, c
    cdef long long b
    cdef const unsigned char* cp
    cdef long long* ap
    if tuple(argmax.shape)[:4] != tuple(code.shape)[:4]:
        raise IndexError(f"codes_to_argmax_kernel: argmax shape {tuple(argmax.shape)[:4]} differs from code shape {tuple(code.shape)[:4]}")
    if rowbase.shape[0] != Ho or colbase.shape[0] != Wo or offset.shape[0] != 256:
        raise IndexError(f"codes_to_argmax_kernel: {rowbase.shape[0]} row bases, {colbase.shape[0]} column bases, "
                         f"{offset.shape[0]} offsets for {Ho}x{Wo} outputs and 256 codes")
    if code.size == 0:
        return
    cdef const unsigned char* code0 = &code[0, 0, 0, 0]
    cdef long long* am0 = &argmax[0, 0, 0, 0]
    cdef const long long* off = &offset[0]
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads if num_threads > 1 else 1):
            for i in range(Ho):
                for j in range(Wo):
                    b = rowbase[i] + colbase[j]
                    cp = code0 + ((n * Ho + i) * Wo + j) * C
                    ap = am0 + ((n * Ho + i) * Wo + j) * C
                    for c in range(C):
                        ap[c] = b + off[cp[c]]
