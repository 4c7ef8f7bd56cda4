# cython: language_level=3
"""Max and average pooling kernels over C-contiguous NHWC typed memoryviews.

The wrappers in :mod:`fastconv.pool` validate, choose the dtype and allocate outputs; the
kernels only compute, without the GIL, with the batch split across OpenMP threads.
"""
from cython cimport floating
from cython.parallel cimport prange


cdef inline void _maxpool_fwd_image(
    const floating* x, floating* y, long long* am,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Ho, Py_ssize_t Wo,
    Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
) noexcept nogil:
    cdef Py_ssize_t i, j, di, dj, c, h, wi
    cdef floating v, cur
    cdef const floating* xp
    cdef floating* yp
    cdef long long* ap
    for i in range(Ho):
        for j in range(Wo):
            yp = y + (i * Wo + j) * C
            ap = am + (i * Wo + j) * C
            h = i * sh
            wi = j * sw
            xp = x + (h * W + wi) * C
            for c in range(C):
                yp[c] = xp[c]
                ap[c] = h * W + wi
            for di in range(ph):
                for dj in range(pw):
                    if di == 0 and dj == 0:
                        continue
                    h = i * sh + di
                    wi = j * sw + dj
                    xp = x + (h * W + wi) * C
                    for c in range(C):
                        v = xp[c]
                        cur = yp[c]
                        # strictly greater keeps the first maximum; a NaN wins once, like np.argmax
                        if v > cur or (v != v and cur == cur):
                            yp[c] = v
                            ap[c] = h * W + wi


def maxpool_forward_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C)
    floating[:, :, :, ::1] y,         # OUT (N, Ho, Wo, C)
    long long[:, :, :, ::1] argmax,   # OUT (N, Ho, Wo, C): flat index h*W + w of each window's first maximum
    Py_ssize_t ph, Py_ssize_t pw,     # window
    Py_ssize_t sh, Py_ssize_t sw,     # stride
    int num_threads,
) -> None:
    """Max pooling forward with an argmax mask. All extents must be non-zero."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Ho = y.shape[1], Wo = y.shape[2]
    cdef Py_ssize_t n
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef long long* ap = &argmax[0, 0, 0, 0]
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads):
            _maxpool_fwd_image(xp + n * H * W * C, yp + n * Ho * Wo * C, ap + n * Ho * Wo * C,
                               H, W, C, Ho, Wo, ph, pw, sh, sw)


def maxpool_backward_kernel(
    const floating[:, :, :, ::1] dy,       # IN  (N, Ho, Wo, C)
    const long long[:, :, :, ::1] argmax,  # IN  (N, Ho, Wo, C) from the forward call
    floating[:, :, ::1] dx,                # OUT (N, H*W, C), zero on entry
    int num_threads,
) -> None:
    """Max pooling backward: dy of each window is added at its argmax."""
    cdef Py_ssize_t N = dy.shape[0], Ho = dy.shape[1], Wo = dy.shape[2], C = dy.shape[3]
    cdef Py_ssize_t n, i, j, c
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads):
            for i in range(Ho):
                for j in range(Wo):
                    for c in range(C):
                        dx[n, argmax[n, i, j, c], c] += dy[n, i, j, c]


def avgpool_forward_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C)
    floating[:, :, :, ::1] y,         # OUT (N, Ho, Wo, C), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t sh, Py_ssize_t sw,
    int num_threads,
) -> None:
    """Average pooling forward: the mean of each window."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[3]
    cdef Py_ssize_t Ho = y.shape[1], Wo = y.shape[2]
    cdef Py_ssize_t n, i, j, di, dj, c
    cdef floating area = <floating>(ph * pw)
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads):
            for i in range(Ho):
                for j in range(Wo):
                    for c in range(C):
                        y[n, i, j, c] = 0
                    for di in range(ph):
                        for dj in range(pw):
                            for c in range(C):
                                y[n, i, j, c] += x[n, i * sh + di, j * sw + dj, c]
                    for c in range(C):
                        y[n, i, j, c] = y[n, i, j, c] / area


def avgpool_backward_kernel(
    const floating[:, :, :, ::1] dy,  # IN  (N, Ho, Wo, C)
    floating[:, :, :, ::1] dx,        # OUT (N, H, W, C), zero on entry
    Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t sh, Py_ssize_t sw,
    int num_threads,
) -> None:
    """Average pooling backward: each window's dy / (ph*pw) is added to all its elements."""
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
