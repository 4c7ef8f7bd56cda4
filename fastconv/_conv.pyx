# cython: language_level=3
"""Convolution kernels over C-contiguous typed memoryviews (NHWC activations, (Kh, Kw, C, Cout) weights).

The Python wrappers in :mod:`fastconv.conv` validate arguments, choose the dtype and allocate
every output; these kernels only compute. They release the GIL and split the batch across
OpenMP threads when the extension was built with OpenMP.
"""
from cython cimport floating
from cython.parallel cimport prange


cdef inline void _conv_fwd_image(
    const floating* x, const floating* w, const floating* b, floating* y,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t Cout,
    Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
) noexcept nogil:
    """y[i, j, :] = b + sum over the window of x[hi, wi, c] * w[ki, kj, c, :] for one image."""
    cdef Py_ssize_t i, j, ki, kj, c, co, hi, wi
    cdef floating xv
    cdef floating* yp
    cdef const floating* xp
    cdef const floating* wp
    for i in range(Ho):
        for j in range(Wo):
            yp = y + (i * Wo + j) * Cout
            for co in range(Cout):
                yp[co] = b[co]
            for ki in range(Kh):
                hi = i * sh - ph + ki
                if hi < 0 or hi >= H:
                    continue
                for kj in range(Kw):
                    wi = j * sw - pw + kj
                    if wi < 0 or wi >= W:
                        continue
                    xp = x + (hi * W + wi) * C
                    wp = w + (ki * Kw + kj) * C * Cout
                    for c in range(C):
                        xv = xp[c]
                        for co in range(Cout):
                            yp[co] += xv * wp[c * Cout + co]


cdef inline void _conv_bwd_image(
    const floating* x, const floating* w, const floating* dy,
    floating* dx, floating* dw, floating* db, bint want_dx,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t Cout,
    Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
) noexcept nogil:
    """For one image: dx (if wanted) written, dw and db accumulated."""
    cdef Py_ssize_t i, j, ki, kj, c, co, hi, wi
    cdef floating xv, s, g
    cdef const floating* dyp
    cdef const floating* xp
    cdef const floating* wp
    cdef floating* dxp
    cdef floating* dwp
    for i in range(Ho):
        for j in range(Wo):
            dyp = dy + (i * Wo + j) * Cout
            for co in range(Cout):
                db[co] += dyp[co]
            for ki in range(Kh):
                hi = i * sh - ph + ki
                if hi < 0 or hi >= H:
                    continue
                for kj in range(Kw):
                    wi = j * sw - pw + kj
                    if wi < 0 or wi >= W:
                        continue
                    xp = x + (hi * W + wi) * C
                    dxp = dx + (hi * W + wi) * C
                    wp = w + (ki * Kw + kj) * C * Cout
                    dwp = dw + (ki * Kw + kj) * C * Cout
                    for c in range(C):
                        xv = xp[c]
                        s = 0
                        for co in range(Cout):
                            g = dyp[co]
                            dwp[c * Cout + co] += xv * g
                            s = s + wp[c * Cout + co] * g
                        if want_dx:
                            dxp[c] += s


def conv2d_forward_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C)
    const floating[:, :, :, ::1] w,   # IN  (Kh, Kw, C, Cout)
    const floating[::1] b,            # IN  (Cout,)
    floating[:, :, :, ::1] y,         # OUT (N, Ho, Wo, Cout), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,     # zero padding (rows, columns)
    Py_ssize_t sh, Py_ssize_t sw,     # stride (rows, columns)
    int num_threads,                  # OpenMP threads over the batch
) -> None:
    """Direct convolution forward. All extents must be non-zero (the wrapper handles empties)."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Kh = w.shape[0], Kw = w.shape[1], Cout = w.shape[3]
    cdef Py_ssize_t Ho = y.shape[1], Wo = y.shape[2]
    cdef Py_ssize_t n
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* wp = &w[0, 0, 0, 0]
    cdef const floating* bp = &b[0]
    cdef floating* yp = &y[0, 0, 0, 0]
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads):
            _conv_fwd_image(xp + n * H * W * C, wp, bp, yp + n * Ho * Wo * Cout,
                            H, W, C, Kh, Kw, Cout, Ho, Wo, ph, pw, sh, sw)


def conv2d_backward_kernel(
    const floating[:, :, :, ::1] x,    # IN  (N, H, W, C), the forward input
    const floating[:, :, :, ::1] w,    # IN  (Kh, Kw, C, Cout)
    const floating[:, :, :, ::1] dy,   # IN  (N, Ho, Wo, Cout)
    floating[:, :, :, ::1] dx,         # OUT (N, H, W, C), must be zero on entry (ignored if not want_dx)
    floating[:, :, :, :, ::1] dw_parts,  # OUT (P, Kh, Kw, C, Cout), zero on entry: per-part sums of dw
    floating[:, ::1] db_parts,         # OUT (P, Cout), zero on entry: per-part sums of db
    Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t sh, Py_ssize_t sw,
    bint want_dx,                      # compute dx (False skips it, e.g. for a network's first layer)
    int num_threads,
) -> None:
    """Direct convolution backward.

    The batch is cut into P contiguous parts; part p accumulates into ``dw_parts[p]`` and
    ``db_parts[p]``, and the caller sums over parts. P is chosen by the caller independently of
    the thread count, so the result does not depend on how many threads ran.
    """
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Kh = w.shape[0], Kw = w.shape[1], Cout = w.shape[3]
    cdef Py_ssize_t Ho = dy.shape[1], Wo = dy.shape[2]
    cdef Py_ssize_t P = dw_parts.shape[0]
    cdef Py_ssize_t p, n
    cdef Py_ssize_t wsize = Kh * Kw * C * Cout
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* wp = &w[0, 0, 0, 0]
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0]
    cdef floating* dwp = &dw_parts[0, 0, 0, 0, 0]
    cdef floating* dbp = &db_parts[0, 0]
    with nogil:
        for p in prange(P, schedule="static", num_threads=num_threads):
            for n in range(p * N // P, (p + 1) * N // P):
                _conv_bwd_image(
                    xp + n * H * W * C, wp, dyp + n * Ho * Wo * Cout,
                    dxp + (n * H * W * C if want_dx else 0), dwp + p * wsize, dbp + p * Cout, want_dx,
                    H, W, C, Kh, Kw, Cout, Ho, Wo, ph, pw, sh, sw)


def correlate2d_valid_kernel(
    const floating[:, ::1] image,   # IN  (H, W)
    const floating[:, ::1] kernel,  # IN  (Kh, Kw)
    floating[:, ::1] out,           # OUT (Ho, Wo), fully overwritten
    Py_ssize_t sh, Py_ssize_t sw,   # stride
    int num_threads,                # OpenMP threads over output rows
) -> None:
    """Valid (unpadded) strided 2-D cross-correlation."""
    cdef Py_ssize_t Kh = kernel.shape[0], Kw = kernel.shape[1]
    cdef Py_ssize_t Ho = out.shape[0], Wo = out.shape[1]
    cdef Py_ssize_t i, j, ki, kj
    cdef floating s
    with nogil:
        for i in prange(Ho, schedule="static", num_threads=num_threads):
            for j in range(Wo):
                s = 0
                for ki in range(Kh):
                    for kj in range(Kw):
                        s = s + image[i * sh + ki, j * sw + kj] * kernel[ki, kj]
                out[i, j] = s
