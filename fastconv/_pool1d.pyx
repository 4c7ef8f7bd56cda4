# cython: language_level=3
"""1-D max and average pooling kernels over C-contiguous (N, L, C) typed memoryviews.

The wrappers in :mod:`fastconv.onedim` validate, choose the dtype, compute each window's first
input position and its range of taps inside the row (padding, dilation and ceil_mode are all in
those three arrays) and allocate the outputs; the kernels only compute, without the GIL. The
innermost loop runs over the contiguous channel axis, and the max selection is branch-free, so the
compiler vectorizes it.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdint cimport int64_t, uint8_t

from fastconv._pool1d_kernels cimport (
    fc_max1d_d, fc_max1d_f, fc_max1d_k3s2_d, fc_max1d_k3s2_f, fc_maxbwd1d_k3s2_d, fc_maxbwd1d_k3s2_f,
    fc_pool1d_sfence,
)


ctypedef fused code_t:
    uint8_t
    int64_t


def maxpool1d_forward_kernel(
    const floating[:, :, ::1] x,       # IN  (N, L, C)
    floating[:, :, ::1] y,             # OUT (N, Lo, C)
    code_t[:, :, ::1] code,            # OUT (N, Lo, C): tap t of each window's first maximum (NaN: first NaN)
    const Py_ssize_t[::1] start,       # IN  (Lo,) input position of tap 0 of window j (may be < 0)
    const Py_ssize_t[::1] t0,          # IN  (Lo,) first tap of window j inside the row
    const Py_ssize_t[::1] t1,          # IN  (Lo,) one past its last tap inside the row (t0 < t1)
    Py_ssize_t d,                      # dilation
    floating[:, ::1] taps,             # SCRATCH (num_threads, C)
    int num_threads,                   # OpenMP threads over images, <= taps.shape[0]
) -> None:
    """Max pooling forward over windows given by their tap ranges."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[2], Lo = y.shape[1]
    cdef Py_ssize_t n, j, c
    cdef floating* kp
    if N * Lo == 0 or C == 0:
        return
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads):
            kp = &taps[threadid(), 0]
            for j in range(Lo):
                if floating is float:
                    fc_max1d_f(&x[n, start[j] + t0[j] * d, 0], d * C, t1[j] - t0[j], t0[j], &y[n, j, 0], kp, C)
                else:
                    fc_max1d_d(&x[n, start[j] + t0[j] * d, 0], d * C, t1[j] - t0[j], t0[j], &y[n, j, 0], kp, C)
                for c in range(C):
                    code[n, j, c] = <code_t>kp[c]


def maxpool1d_backward_kernel(
    const floating[:, :, ::1] dy,      # IN  (N, Lo, C)
    const code_t[:, :, ::1] code,      # IN  (N, Lo, C) from the forward kernel
    floating[:, :, ::1] dx,            # OUT (N, L, C), fully overwritten
    const Py_ssize_t[::1] start,       # IN  (Lo,) as in the forward
    Py_ssize_t d,                      # dilation
    int num_threads,                   # OpenMP threads over images
) -> None:
    """Max pooling backward: each window's gradient added to its first maximum, windows in order."""
    cdef Py_ssize_t N = dx.shape[0], L = dx.shape[1], C = dx.shape[2], Lo = dy.shape[1]
    cdef Py_ssize_t n, j, c, pos
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads):
            for j in range(L):
                for c in range(C):
                    dx[n, j, c] = 0
            for j in range(Lo):
                for c in range(C):
                    pos = start[j] + <Py_ssize_t>code[n, j, c] * d
                    dx[n, pos, c] += dy[n, j, c]


cdef int _check_k3s2(str kernel, str pooled, tuple p, tuple code, str full, tuple f) except -1:
    """ValueError unless the pooled array ``p`` and the codes are (N, Lo, C) of 3-tap, stride-2
    windows inside the rows of ``f`` (N, L, C): 2 * Lo < L."""
    if 2 * p[1] >= f[1] or p[0] != f[0] or p[2] != f[2] or code != p:
        raise ValueError(f"{kernel}: {pooled} {p} and code {code} do not fit {full} {f}")
    return 0


def maxpool1d_forward_k3s2_kernel(
    const floating[:, :, ::1] x,       # IN  (N, L, C)
    floating[:, :, ::1] y,             # OUT (N, Lo, C), window j = inputs 2j, 2j+1, 2j+2 (2*Lo < L)
    uint8_t[:, :, ::1] code,           # OUT (N, Lo, C): tap 0, 1 or 2 of each window's first maximum
    bint stream,                       # non-temporal stores of y (a large output)
    int num_threads,                   # OpenMP threads over images
) -> None:
    """Max pooling forward of 3-tap, stride-2 windows that all lie inside the row (no padding):
    one pass over x writing y and the codes once; the same results as maxpool1d_forward_kernel."""
    cdef Py_ssize_t N = x.shape[0], L = x.shape[1], C = x.shape[2], Lo = y.shape[1]
    cdef Py_ssize_t n
    if N * Lo == 0 or C == 0:
        return
    _check_k3s2("maxpool1d_forward_k3s2_kernel", "y", tuple(y.shape)[:3], tuple(code.shape)[:3], "x",
                tuple(x.shape)[:3])
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads):
            if floating is float:
                fc_max1d_k3s2_f(&x[n, 0, 0], Lo, &y[n, 0, 0], &code[n, 0, 0], C, stream)
            else:
                fc_max1d_k3s2_d(&x[n, 0, 0], Lo, &y[n, 0, 0], &code[n, 0, 0], C, stream)
        if stream:
            fc_pool1d_sfence()


def maxpool1d_backward_k3s2_kernel(
    const floating[:, :, ::1] dy,      # IN  (N, Lo, C)
    const uint8_t[:, :, ::1] code,     # IN  (N, Lo, C) from maxpool1d_forward_k3s2_kernel
    floating[:, :, ::1] dx,            # OUT (N, L, C), fully overwritten (2*Lo < L)
    bint stream,                       # non-temporal stores of dx (a large output)
    int num_threads,                   # OpenMP threads over images
) -> None:
    """Max pooling backward of 3-tap, stride-2 windows inside the row: every dx element written
    once, with the bits of maxpool1d_backward_kernel's results."""
    cdef Py_ssize_t N = dx.shape[0], L = dx.shape[1], C = dx.shape[2], Lo = dy.shape[1]
    cdef Py_ssize_t n
    if N * L == 0 or C == 0:
        return
    _check_k3s2("maxpool1d_backward_k3s2_kernel", "dy", tuple(dy.shape)[:3], tuple(code.shape)[:3], "dx",
                tuple(dx.shape)[:3])
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads):
            if floating is float:
                fc_maxbwd1d_k3s2_f(&dy[n, 0, 0] if Lo else NULL, &code[n, 0, 0] if Lo else NULL, Lo, &dx[n, 0, 0],
                                   L, C, stream)
            else:
                fc_maxbwd1d_k3s2_d(&dy[n, 0, 0] if Lo else NULL, &code[n, 0, 0] if Lo else NULL, Lo, &dx[n, 0, 0],
                                   L, C, stream)
        if stream:
            fc_pool1d_sfence()


def avgpool1d_forward_kernel(
    const floating[:, :, ::1] x,       # IN  (N, L, C)
    floating[:, :, ::1] y,             # OUT (N, Lo, C)
    const Py_ssize_t[::1] lo,          # IN  (Lo,) first input position of window j inside the row
    const Py_ssize_t[::1] hi,          # IN  (Lo,) one past its last one (lo < hi)
    const floating[::1] divisor,       # IN  (Lo,) the divisor of window j
    int num_threads,                   # OpenMP threads over output positions
) -> None:
    """Average pooling forward (no dilation): the sum of each window's inputs in order, then one division."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[2], Lo = y.shape[1]
    cdef Py_ssize_t r, n, j, t, c
    cdef floating* yp
    cdef const floating* xp
    if N * Lo == 0 or C == 0:
        return
    with nogil:
        for r in prange(N * Lo, schedule="static", num_threads=num_threads):
            n = r // Lo
            j = r % Lo
            yp = &y[n, j, 0]
            xp = &x[n, lo[j], 0]
            for c in range(C):
                yp[c] = xp[c]
            for t in range(1, hi[j] - lo[j]):
                xp = &x[n, lo[j] + t, 0]
                for c in range(C):
                    yp[c] = yp[c] + xp[c]
            for c in range(C):
                yp[c] = yp[c] / divisor[j]


def avgpool1d_backward_kernel(
    const floating[:, :, ::1] dy,      # IN  (N, Lo, C)
    floating[:, :, ::1] dx,            # OUT (N, L, C), fully overwritten
    const Py_ssize_t[::1] lo,          # IN  (Lo,) as in the forward
    const Py_ssize_t[::1] hi,          # IN  (Lo,)
    const floating[::1] divisor,       # IN  (Lo,)
    int num_threads,                   # OpenMP threads over images
) -> None:
    """Average pooling backward: ``dy / divisor`` added to each input of the window, windows in order."""
    cdef Py_ssize_t N = dx.shape[0], L = dx.shape[1], C = dx.shape[2], Lo = dy.shape[1]
    cdef Py_ssize_t n, j, t, c
    cdef floating g
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads):
            for j in range(L):
                for c in range(C):
                    dx[n, j, c] = 0
            for j in range(Lo):
                for t in range(lo[j], hi[j]):
                    for c in range(C):
                        g = dy[n, j, c] / divisor[j]
                        dx[n, t, c] += g
