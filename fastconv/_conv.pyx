# cython: language_level=3
"""Convolution kernels over C-contiguous typed memoryviews (NHWC activations, (Kh, Kw, C, Cout) weights).

The Python wrappers in :mod:`fastconv.conv` validate arguments, choose the dtype, allocate
every output and the bounded workspace; these kernels only compute. They release the GIL.

Two families:

* GEMM kernels (``*_gemm_kernel``): the output pixels of the whole batch, flattened to rows
  ``m = (n, i, j)``, are cut into fixed tiles of ``MT`` rows. Each tile is unfolded into a
  cache-sized ``(MT, Kh*Kw*C)`` im2col buffer (one per thread, never sized for the batch) and
  multiplied with the ``(Kh*Kw*C, Cout)`` weight matrix by BLAS (``sgemm``/``dgemm`` from
  ``scipy.linalg.cython_blas``). OpenMP threads run whole tiles; BLAS runs single-threaded
  inside them (the wrapper pins the BLAS pool to one thread for the call), so the two thread
  pools never multiply.
* ``correlate2d_valid_kernel``: the single-channel 2-D filter loop of ``convolve2d``.

Results never depend on the thread count: tiles and reduction parts are fixed by the
wrapper, and each is always computed by the same sequence of operations.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport sgemm, dgemm

from ._blas_pin cimport fc_blas_available, fc_blas_pin as _blas_pin, fc_blas_register
from ._blas_pin cimport fc_blas_restore as _blas_restore


def _set_blas_thread_functions(size_t set_addr, size_t get_addr):
    """Register the BLAS library's set/get-num-threads functions (addresses; 0 to clear)."""
    fc_blas_register(set_addr, get_addr)


def blas_pinning_available():
    """Return True if BLAS can be pinned to one thread while OpenMP threads call it."""
    return fc_blas_available()


from ._threads import blas_thread_functions  # registered at import: the GEMM kernels pin BLAS
_set_blas_thread_functions(*blas_thread_functions())


cdef inline void _gemm(
    char transa, char transb, int m, int n, int k, floating alpha,
    const floating* a, int lda, const floating* b, int ldb,
    floating beta, floating* c, int ldc,
) noexcept nogil:
    """Column-major C = alpha * op(A) @ op(B) + beta * C via BLAS."""
    if floating is float:
        sgemm(&transa, &transb, &m, &n, &k, &alpha, <float*>a, &lda, <float*>b, &ldb, &beta, c, &ldc)
    else:
        dgemm(&transa, &transb, &m, &n, &k, &alpha, <double*>a, &lda, <double*>b, &ldb, &beta, c, &ldc)


cdef void _im2col(
    const floating* x, floating* col, Py_ssize_t m0, Py_ssize_t m1,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Kh, Py_ssize_t Kw,
    Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
) noexcept nogil:
    """Rows m0..m1 of the batch's im2col matrix: row (n, i, j) holds the window, (ki, kj, c) order."""
    cdef Py_ssize_t K = Kh * Kw * C, m, n, i, j, ki, kj, hi, wi, r, t
    cdef floating* row
    cdef const floating* xn
    cdef const floating* src
    n = m0 // (Ho * Wo)
    r = m0 - n * Ho * Wo
    i = r // Wo
    j = r - i * Wo
    for m in range(m0, m1):
        row = col + (m - m0) * K
        xn = x + n * H * W * C
        for ki in range(Kh):
            hi = i * sh - ph + ki
            if hi < 0 or hi >= H:
                memset(row, 0, Kw * C * sizeof(floating))
                row += Kw * C
                continue
            wi = j * sw - pw
            if wi >= 0 and wi + Kw <= W:
                src = xn + (hi * W + wi) * C
                if Kw * C < 16:  # a few values: a plain loop beats a memcpy call
                    for t in range(Kw * C):
                        row[t] = src[t]
                else:
                    memcpy(row, src, Kw * C * sizeof(floating))
                row += Kw * C
                continue
            for kj in range(Kw):
                if wi + kj < 0 or wi + kj >= W:
                    memset(row, 0, C * sizeof(floating))
                else:
                    memcpy(row, xn + (hi * W + wi + kj) * C, C * sizeof(floating))
                row += C
        j += 1
        if j == Wo:
            j = 0
            i += 1
            if i == Ho:
                i = 0
                n += 1


cdef void _col2im_add(
    const floating* col, floating* dx, Py_ssize_t m0, Py_ssize_t m1,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Kh, Py_ssize_t Kw,
    Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
) noexcept nogil:
    """Add rows m0..m1 of an im2col-shaped gradient back onto dx (the adjoint of :func:`_im2col`)."""
    cdef Py_ssize_t K = Kh * Kw * C, m, n, i, j, ki, kj, hi, wi, r, c
    cdef const floating* row
    cdef floating* d
    n = m0 // (Ho * Wo)
    r = m0 - n * Ho * Wo
    i = r // Wo
    j = r - i * Wo
    for m in range(m0, m1):
        row = col + (m - m0) * K
        for ki in range(Kh):
            hi = i * sh - ph + ki
            if hi < 0 or hi >= H:
                row += Kw * C
                continue
            for kj in range(Kw):
                wi = j * sw - pw + kj
                if wi >= 0 and wi < W:
                    d = dx + ((n * H + hi) * W + wi) * C
                    for c in range(C):
                        d[c] += row[c]
                row += C
        j += 1
        if j == Wo:
            j = 0
            i += 1
            if i == Ho:
                i = 0
                n += 1


def conv2d_forward_gemm_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C)
    const floating[:, :, :, ::1] w,   # IN  (Kh, Kw, C, Cout), read as a (Kh*Kw*C, Cout) matrix
    const floating[::1] b,            # IN  (Cout,), or (0,) for no bias
    floating[:, :, :, ::1] y,         # OUT (N, Ho, Wo, Cout), fully overwritten
    floating[:, ::1] work,            # SCRATCH (T, >= MT*Kh*Kw*C): one im2col tile per thread
    Py_ssize_t MT,                    # rows per tile (fixed by the caller, independent of T)
    Py_ssize_t ph, Py_ssize_t pw,     # zero padding (rows, columns)
    Py_ssize_t sh, Py_ssize_t sw,     # stride (rows, columns)
    int num_threads,                  # OpenMP threads over tiles (<= work.shape[0])
) -> None:
    """im2col + GEMM convolution forward over fixed row tiles. All extents must be non-zero."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Kh = w.shape[0], Kw = w.shape[1], Cout = w.shape[3]
    cdef Py_ssize_t Ho = y.shape[1], Wo = y.shape[2]
    cdef Py_ssize_t K = Kh * Kw * C, M = N * Ho * Wo
    cdef Py_ssize_t ntiles = (M + MT - 1) // MT, t, m0, m1, r, co
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* wp = &w[0, 0, 0, 0]
    cdef const floating* bp = &b[0] if b.shape[0] > 0 else NULL
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef floating* wk = &work[0, 0]
    cdef Py_ssize_t ldw = work.shape[1]
    cdef floating* col
    cdef floating* yt
    cdef floating beta = 1 if bp != NULL else 0
    cdef int prev
    with nogil:
        prev = _blas_pin()
        for t in prange(ntiles, schedule="static", num_threads=num_threads):
            m0 = t * MT
            m1 = min(m0 + MT, M)
            col = wk + threadid() * ldw
            yt = yp + m0 * Cout
            _im2col(xp, col, m0, m1, H, W, C, Kh, Kw, Ho, Wo, ph, pw, sh, sw)
            if bp != NULL:
                for r in range(m1 - m0):
                    for co in range(Cout):
                        yt[r * Cout + co] = bp[co]
            # row-major yt (rows, Cout) (+)= col (rows, K) @ w (K, Cout), as column-major Y^T = W^T col^T
            _gemm(c"N", c"N", <int>Cout, <int>(m1 - m0), <int>K, 1, wp, <int>Cout, col, <int>K, beta, yt, <int>Cout)
        _blas_restore(prev)


def conv2d_backward_gemm_kernel(
    const floating[:, :, :, ::1] x,    # IN  (N, H, W, C), the forward input
    const floating[:, :, :, ::1] w,    # IN  (Kh, Kw, C, Cout)
    const floating[:, :, :, ::1] dy,   # IN  (N, Ho, Wo, Cout)
    floating[:, :, :, ::1] dx,         # OUT (N, H, W, C), zero on entry (ignored if not want_dx)
    floating[:, :, :, :, ::1] dw_parts,  # OUT (P, Kh, Kw, C, Cout): per-part sums; dw_parts[0] ends as dw
    floating[:, ::1] db_parts,         # OUT (P, Cout): per-part sums; db_parts[0] ends as db
    floating[:, ::1] work,             # SCRATCH (T, >= 2*MT*Kh*Kw*C): im2col and its gradient, per thread
    Py_ssize_t MT,                     # rows per tile
    Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t sh, Py_ssize_t sw,
    bint want_dx,                      # compute dx (False skips it, e.g. for a network's first layer)
    int num_threads,
) -> None:
    """im2col + GEMM convolution backward.

    The batch is cut into P contiguous parts of whole images (P fixed by the caller, each part
    at least one image). Part p walks its rows in tiles of MT and sums ``dw_parts[p]``,
    ``db_parts[p]`` (overwritten, no zeroing needed) and the dx of its own images, so no two
    threads ever write the same memory. Then the parts are added into part 0 in the order
    0, 1, ..., P-1, in parallel over the elements. The result does not depend on the thread
    count.
    """
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Kh = w.shape[0], Kw = w.shape[1], Cout = w.shape[3]
    cdef Py_ssize_t Ho = dy.shape[1], Wo = dy.shape[2]
    cdef Py_ssize_t K = Kh * Kw * C, HoWo = Ho * Wo
    cdef Py_ssize_t P = dw_parts.shape[0], p, m0, m1, mend, r, co, e, e1, q
    cdef Py_ssize_t KC = K * Cout, RCH = 4096, nch = (KC + RCH - 1) // RCH
    cdef floating beta
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* wp = &w[0, 0, 0, 0]
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0]
    cdef floating* dwp = &dw_parts[0, 0, 0, 0, 0]
    cdef floating* dbp = &db_parts[0, 0]
    cdef floating* wk = &work[0, 0]
    cdef Py_ssize_t ldw = work.shape[1]
    cdef floating* col
    cdef floating* dcol
    cdef const floating* g
    cdef floating* dwq
    cdef floating* dbq
    cdef int prev
    with nogil:
        prev = _blas_pin()
        for p in prange(P, schedule="static", num_threads=num_threads):
            col = wk + threadid() * ldw
            dcol = col + MT * K
            dwq = dwp + p * K * Cout
            dbq = dbp + p * Cout
            m0 = (p * N // P) * HoWo
            mend = ((p + 1) * N // P) * HoWo
            memset(dbq, 0, Cout * sizeof(floating))
            beta = 0  # the part's first tile overwrites dw_parts[p]
            while m0 < mend:
                m1 = min(m0 + MT, mend)
                g = dyp + m0 * Cout
                for r in range(m1 - m0):
                    for co in range(Cout):
                        dbq[co] += g[r * Cout + co]
                _im2col(xp, col, m0, m1, H, W, C, Kh, Kw, Ho, Wo, ph, pw, sh, sw)
                # dw (K, Cout) += col^T (K, rows) @ dy (rows, Cout); column-major: dW^T += dy^T col
                _gemm(c"N", c"T", <int>Cout, <int>K, <int>(m1 - m0), 1, g, <int>Cout, col, <int>K, beta, dwq, <int>Cout)
                beta = 1
                if want_dx:
                    # dcol (rows, K) = dy (rows, Cout) @ w^T (Cout, K); column-major: dcol^T = W dy^T
                    _gemm(c"T", c"N", <int>K, <int>(m1 - m0), <int>Cout, 1, wp, <int>Cout, g, <int>Cout, 0, dcol, <int>K)
                    _col2im_add(dcol, dxp, m0, m1, H, W, C, Kh, Kw, Ho, Wo, ph, pw, sh, sw)
                m0 = m1
        _blas_restore(prev)
        if P > 1:
            for q in prange(nch, schedule="static", num_threads=num_threads):
                e1 = min((q + 1) * RCH, KC)
                for p in range(1, P):
                    for e in range(q * RCH, e1):
                        dwp[e] += dwp[p * KC + e]
            for p in range(1, P):
                for co in range(Cout):
                    dbp[co] += dbp[p * Cout + co]


def conv2d_weight_grad_gemm_kernel(
    const floating[:, :, :, ::1] x,    # IN  (N, H, W, C), the forward input
    const floating[:, :, :, ::1] dy,   # IN  (N, Ho, Wo, Cout)
    floating[:, :, :, ::1] dw,         # OUT (Kh, Kw, C, Cout), overwritten
    floating[:, ::1] work,             # SCRATCH (>= MT, Kh*Kw*C): one im2col chunk, shared by the threads
    Py_ssize_t MT,                     # rows per chunk
    Py_ssize_t KB,                     # columns of the im2col matrix (rows of dw) per GEMM block
    Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t sh, Py_ssize_t sw,
    int num_threads,
) -> None:
    """Weight gradient by im2col + GEMM, for layers whose dw does not fit a core's cache.

    The batch's output pixels (rows ``m = (n, i, j)``) are taken in fixed chunks of MT rows, in
    order. The threads unfold a chunk together (fixed pieces of 64 rows), then compute
    ``dw[k0:k0+KB] (+)= col[:, k0:k0+KB]^T @ dy_chunk`` for the fixed column blocks of KB, one
    BLAS call (pinned to one thread) per block, the first chunk overwriting dw and the later
    ones adding to it. Each dw element is summed by the same sequence of operations whatever the
    thread count: chunks in order, and BLAS over the chunk's rows.
    """
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Kh = dw.shape[0], Kw = dw.shape[1], Cout = dw.shape[3]
    cdef Py_ssize_t Ho = dy.shape[1], Wo = dy.shape[2]
    cdef Py_ssize_t K = Kh * Kw * C, M = N * Ho * Wo, RP = 64
    cdef Py_ssize_t m0, rows, q, nq = (K + KB - 1) // KB, k0, kb, r0
    cdef floating beta
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef floating* dwp = &dw[0, 0, 0, 0]
    cdef floating* col = &work[0, 0]
    cdef int prev
    with nogil:
        prev = _blas_pin()
        m0 = 0
        while m0 < M:
            rows = min(MT, M - m0)
            for q in prange((rows + RP - 1) // RP, schedule="dynamic", num_threads=num_threads):
                r0 = q * RP
                _im2col(xp, col + r0 * K, m0 + r0, m0 + min(r0 + RP, rows), H, W, C, Kh, Kw, Ho, Wo, ph, pw, sh, sw)
            beta = 0 if m0 == 0 else 1
            for q in prange(nq, schedule="dynamic", num_threads=num_threads):
                k0 = q * KB
                kb = min(KB, K - k0)
                # dw[k0:k0+kb] (kb, Cout) (+)= col[:, k0:k0+kb]^T @ dy (rows, Cout); column-major:
                # dW^T (Cout, kb) (+)= dy^T (Cout, rows) @ col[:, k0:k0+kb] (rows, kb)
                _gemm(c"N", c"T", <int>Cout, <int>kb, <int>rows, 1, dyp + m0 * Cout, <int>Cout, col + k0, <int>K,
                      beta, dwp + k0 * Cout, <int>Cout)
            m0 += rows
        _blas_restore(prev)


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
