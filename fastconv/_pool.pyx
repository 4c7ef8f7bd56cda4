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
    cdef floating a, v
    cdef long long k
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
        for c in range(C):
            a = x0[c]
            k = base
            v = x0[C + c]
            if v > a or (v != v and a == a):
                a = v
                k = base + 1
            v = x1[c]
            if v > a or (v != v and a == a):
                a = v
                k = base + W
            v = x1[C + c]
            if v > a or (v != v and a == a):
                a = v
                k = base + W + 1
            yp[c] = a
            ap[c] = k


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
    cdef floating gv
    cdef long long base
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef const long long* amp = &argmax[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0]
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
                    for c in range(C):
                        gv = g[c]
                        idx = ap[c]
                        d0[c] = gv if idx == base else 0
                        d0[C + c] = gv if idx == base + 1 else 0
                        d1[c] = gv if idx == base + W else 0
                        d1[C + c] = gv if idx == base + W + 1 else 0
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
    for j in range(Wo):
        yp = y + ((n * Ho + i) * Wo + j) * C
        if ph == 2 and pw == 2:
            x0 = xn + ((i * sh) * W + j * sw) * C
            x1 = x0 + W * C
            for c in range(C):
                yp[c] = (((x0[c] + x0[C + c]) + x1[c]) + x1[C + c]) / area
            continue
        for c in range(C):
            yp[c] = 0
        for di in range(ph):
            for dj in range(pw):
                xp = xn + ((i * sh + di) * W + j * sw + dj) * C
                for c in range(C):
                    yp[c] += xp[c]
        for c in range(C):
            yp[c] = yp[c] / area


def avgpool_forward_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C)
    floating[:, :, :, ::1] y,         # OUT (N, Ho, Wo, C), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t sh, Py_ssize_t sw,
    int num_threads,                  # OpenMP threads over output rows
) -> None:
    """Average pooling forward: the mean of each window."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Ho = y.shape[1], Wo = y.shape[2]
    cdef Py_ssize_t r, n, i
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    with nogil:
        for r in prange(N * Ho, schedule="static", num_threads=num_threads):
            n = r // Ho
            i = r - n * Ho
            _avgpool_fwd_row(xp, yp, n, i, H, W, C, Ho, Wo, ph, pw, sh, sw)


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


def avgpool_backward_tiled_kernel(
    const floating[:, :, :, ::1] dy,  # IN  (N, Ho, Wo, C)
    floating[:, :, :, ::1] dx,        # OUT (N, H, W, C), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,     # window, equal to the stride (windows tile the input)
    int num_threads,                  # OpenMP threads over output rows
) -> None:
    """Average pooling backward for non-overlapping windows: every dx element written once."""
    cdef Py_ssize_t N = dy.shape[0], Ho = dy.shape[1], Wo = dy.shape[2], C = dy.shape[3]
    cdef Py_ssize_t H = dx.shape[1], W = dx.shape[2]
    cdef Py_ssize_t r, n, i, j, di, dj, c
    cdef floating area = <floating>(ph * pw)
    cdef floating gv
    cdef const floating* g
    cdef floating* d
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0]
    with nogil:
        for r in prange(N * Ho, schedule="static", num_threads=num_threads):
            n = r // Ho
            i = r - n * Ho
            for j in range(Wo):
                g = dyp + ((n * Ho + i) * Wo + j) * C
                for di in range(ph):
                    for dj in range(pw):
                        d = dxp + ((n * H + i * ph + di) * W + j * pw + dj) * C
                        for c in range(C):
                            d[c] = g[c] / area
            _zero_tail(dxp, n, i * ph, (i + 1) * ph, Wo * pw, H, W, C)
            if i == Ho - 1:
                _zero_tail(dxp, n, Ho * ph, H, 0, H, W, C)
