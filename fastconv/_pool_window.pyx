# cython: language_level=3
"""Pooling kernels for general windows: padded, ceil-mode, dilated and adaptive pools (NHWC).

One kernel serves every window geometry: the wrapper (:mod:`fastconv.pool`) describes the
windows once per call by per-output-row and per-output-column arrays, already clipped to the
input plane:

* ``r0[i] .. r1[i]`` (step ``dh``): the input rows read by output row ``i`` (``r0[i] < r1[i]``),
* ``c0[j] .. c1[j]`` (step ``dw``): the input columns read by output column ``j``,
* ``rdiv[i] * cdiv[j]``: the divisor of the average of output pixel ``(i, j)`` (torch's divisor
  is always such a product, or ``divisor_override`` put in ``rdiv``),
* for the average backward, ``ia[h] .. ib[h]`` and ``ja[w] .. jb[w]``: the output rows and
  columns whose windows read input row ``h`` and column ``w`` (windows are intervals whose ends
  never decrease, so these are intervals too).

Inputs are C-contiguous (N, H, W, C); every inner loop runs over the contiguous channel axis
with no branch and no division, so the compiler vectorises it; average windows are summed
separably (rows, then columns, through a per-thread row buffer the caller allocates). One output
row (or, in the average backward, one input row) is one unit of OpenMP work. The kernels only compute: the
window arrays are checked against the array shapes once at entry (IndexError), nothing else.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdint cimport int32_t
from libc.string cimport memcpy, memset

from fastconv._pool_kernels cimport fc_bcast_rows_d, fc_bcast_rows_f
from fastconv._pool_window_kernels cimport (
    pw_f32_max_row, pw_f64_max_row, pw_f32_max_bwd_image, pw_f64_max_bwd_image,
)

# channels handled per block by the max kernel (its running argmax lives in a C array of this size)
cdef enum:
    _BLOCK = 256


cdef int _check_windows(
    str kernel, const Py_ssize_t[::1] lo, const Py_ssize_t[::1] hi, Py_ssize_t step,
    Py_ssize_t n_out, Py_ssize_t size, str axis,
) except -1:
    """IndexError unless ``n_out`` windows ``lo[i] .. hi[i]`` (step ``step``) are non-empty and inside 0..size."""
    cdef Py_ssize_t i
    if lo.shape[0] != n_out or hi.shape[0] != n_out:
        raise IndexError(f"{kernel}: {lo.shape[0]}/{hi.shape[0]} {axis} windows for {n_out} outputs")
    if step < 1:
        raise IndexError(f"{kernel}: {axis} step {step} must be >= 1")
    for i in range(n_out):
        if not (0 <= lo[i] < hi[i] <= size):
            raise IndexError(f"{kernel}: {axis} window {i} is {lo[i]}..{hi[i]}, outside 0..{size} or empty")
    return 0


cdef int _check_cover(
    str kernel, const Py_ssize_t[::1] a, const Py_ssize_t[::1] b, Py_ssize_t size, Py_ssize_t n_out, str axis,
) except -1:
    """IndexError unless ``size`` intervals ``a[h] .. b[h]`` lie inside 0..n_out (empty allowed)."""
    cdef Py_ssize_t h
    if a.shape[0] != size or b.shape[0] != size:
        raise IndexError(f"{kernel}: {a.shape[0]}/{b.shape[0]} {axis} covers for {size} inputs")
    for h in range(size):
        if not (0 <= a[h] <= b[h] <= n_out):
            raise IndexError(f"{kernel}: {axis} cover {h} is {a[h]}..{b[h]}, outside 0..{n_out}")
    return 0


cdef int _check_nc(str kernel, tuple a, tuple b) except -1:
    """IndexError unless two NHWC shapes share N and C."""
    if a[0] != b[0] or a[3] != b[3]:
        raise IndexError(f"{kernel}: batch/channels of {a} and {b} differ")
    return 0


cdef int _check_global(str kernel, tuple pooled, str name, tuple full, tuple scratch, Py_ssize_t nt,
                       Py_ssize_t width) except -1:
    """IndexError unless ``pooled`` is (N, 1, 1, C) of the non-empty NHWC plane ``full`` and the
    scratch has one row of at least ``width`` values per thread."""
    _check_nc(kernel, pooled, full)
    if pooled[1] != 1 or pooled[2] != 1 or full[1] < 1 or full[2] < 1:
        raise IndexError(f"{kernel}: {name} {pooled} is not (N, 1, 1, C) of a non-empty plane {full[1]}x{full[2]}")
    if scratch[0] < nt or scratch[1] < width:
        raise IndexError(f"{kernel}: scratch {scratch} is smaller than ({nt}, {width})")
    return 0


# --------------------------------------------------------------------------- max pooling
cdef inline void _max_pixel(
    const floating* xn, floating* yp, long long* ap, Py_ssize_t W, Py_ssize_t C,
    Py_ssize_t h0, Py_ssize_t h1, Py_ssize_t dh, Py_ssize_t w0, Py_ssize_t w1, Py_ssize_t dw,
) noexcept nogil:
    """One output pixel, all channels: the maximum over rows h0..h1 (step dh) x columns w0..w1 (step dw).

    The first maximum in row-major window order wins; a NaN replaces a number once and is then
    kept (np.argmax's rule). The running index is int32 (as wide as a float32 lane) and widened
    to int64 at the end.
    """
    cdef int32_t kb[_BLOCK]
    cdef Py_ssize_t cb, ce, c, h, w
    cdef int32_t idx
    cdef const floating* xp
    cdef floating v, cur
    cdef bint take
    cb = 0
    while cb < C:
        ce = cb + _BLOCK if cb + _BLOCK < C else C
        idx = <int32_t>(h0 * W + w0)
        xp = xn + idx * C
        for c in range(cb, ce):
            yp[c] = xp[c]
            kb[c - cb] = idx
        h = h0
        while h < h1:
            w = w0 if h != h0 else w0 + dw
            while w < w1:
                idx = <int32_t>(h * W + w)
                xp = xn + idx * C
                for c in range(cb, ce):
                    v = xp[c]
                    cur = yp[c]
                    take = (not (v <= cur)) & (cur == cur)  # v > cur, or v NaN over a number
                    yp[c] = v if take else cur
                    kb[c - cb] = idx if take else kb[c - cb]
                w = w + dw
            h = h + dh
        for c in range(cb, ce):
            ap[c] = kb[c - cb]
        cb = ce


cdef void _max_row(
    const floating* x, floating* y, long long* am, Py_ssize_t r,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Ho, Py_ssize_t Wo,
    const Py_ssize_t* r0, const Py_ssize_t* r1, Py_ssize_t dh,
    const Py_ssize_t* c0, const Py_ssize_t* c1, Py_ssize_t dw,
) noexcept nogil:
    """Output row r = n * Ho + i."""
    cdef Py_ssize_t n = r // Ho
    cdef Py_ssize_t i = r - n * Ho
    cdef Py_ssize_t j
    cdef const floating* xn = x + n * H * W * C
    for j in range(Wo):
        _max_pixel(xn, y + (r * Wo + j) * C, am + (r * Wo + j) * C, W, C, r0[i], r1[i], dh, c0[j], c1[j], dw)


def maxpool_window_forward_kernel(
    const floating[:, :, :, ::1] x,     # IN  (N, H, W, C)
    floating[:, :, :, ::1] y,           # OUT (N, Ho, Wo, C)
    long long[:, :, :, ::1] argmax,     # OUT (N, Ho, Wo, C): flat index h*W + w of each window's first maximum
    const Py_ssize_t[::1] r0,           # IN  (Ho,) first input row of each window row (inside the plane)
    const Py_ssize_t[::1] r1,           # IN  (Ho,) end (exclusive) of its rows
    Py_ssize_t dh,                      # row step (dilation)
    const Py_ssize_t[::1] c0,           # IN  (Wo,) first input column of each window column
    const Py_ssize_t[::1] c1,           # IN  (Wo,) end (exclusive) of its columns
    Py_ssize_t dw,                      # column step (dilation)
    int num_threads,                    # OpenMP threads over output rows
) -> None:
    """Max pooling forward with argmax over windows given by row and column ranges."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Ho = y.shape[1], Wo = y.shape[2]
    cdef Py_ssize_t r
    k = "maxpool_window_forward_kernel"
    _check_nc(k, tuple(x.shape)[:4], tuple(y.shape)[:4])
    if tuple(argmax.shape)[:4] != tuple(y.shape)[:4]:
        raise IndexError(f"{k}: argmax shape differs from y shape")
    _check_windows(k, r0, r1, dh, Ho, H, "row")
    _check_windows(k, c0, c1, dw, Wo, W, "column")
    if H * W >= 2**31:
        raise IndexError(f"{k}: planes of {H}x{W} do not fit the int32 running index")
    if y.size == 0:
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef long long* ap = &argmax[0, 0, 0, 0]
    with nogil:
        if num_threads <= 1:
            for r in range(N * Ho):
                _max_row(xp, yp, ap, r, H, W, C, Ho, Wo, &r0[0], &r1[0], dh, &c0[0], &c1[0], dw)
        else:
            for r in prange(N * Ho, schedule="static", num_threads=num_threads):
                _max_row(xp, yp, ap, r, H, W, C, Ho, Wo, &r0[0], &r1[0], dh, &c0[0], &c1[0], dw)


cdef int _max_scatter_image(
    const floating* dy, const long long* am, floating* dx, Py_ssize_t n,
    Py_ssize_t HW, Py_ssize_t C, Py_ssize_t HoWo,
) noexcept nogil:
    """Image n of dx: zeroed, then each output's gradient added at its argmax (while the image is in
    cache). Returns the number of indices outside the plane (skipped)."""
    cdef Py_ssize_t k, c
    cdef long long t
    cdef int bad = 0
    cdef floating* d = dx + n * HW * C
    cdef const floating* g = dy + n * HoWo * C
    cdef const long long* a = am + n * HoWo * C
    memset(d, 0, HW * C * sizeof(floating))
    for k in range(HoWo):
        for c in range(C):
            t = a[c]
            if 0 <= t < HW:
                d[t * C + c] += g[c]
            else:
                bad += 1
        g += C
        a += C
    return bad


def maxpool_scatter_backward_kernel(
    const floating[:, :, :, ::1] dy,       # IN  (N, Ho, Wo, C)
    const long long[:, :, :, ::1] argmax,  # IN  (N, Ho, Wo, C) flat indices h*W + w from the forward call
    floating[:, :, :, ::1] dx,             # OUT (N, H, W, C), fully overwritten
    int num_threads,                       # OpenMP threads over images
) -> None:
    """Max pooling backward for any windows: per image, dx is zeroed and dy added at each argmax."""
    cdef Py_ssize_t N = dy.shape[0], C = dy.shape[3], HoWo = dy.shape[1] * dy.shape[2]
    cdef Py_ssize_t HW = dx.shape[1] * dx.shape[2]
    cdef Py_ssize_t n
    k_ = "maxpool_scatter_backward_kernel"
    _check_nc(k_, tuple(dy.shape)[:4], tuple(dx.shape)[:4])
    if tuple(argmax.shape)[:4] != tuple(dy.shape)[:4]:
        raise IndexError(f"{k_}: argmax shape differs from dy shape")
    if dx.size == 0:
        return
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef const long long* ap = &argmax[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0]
    cdef Py_ssize_t bad = 0
    with nogil:
        if num_threads <= 1:
            for n in range(N):
                bad += _max_scatter_image(dyp, ap, dxp, n, HW, C, HoWo)
        else:
            for n in prange(N, schedule="static", num_threads=num_threads):
                bad += _max_scatter_image(dyp, ap, dxp, n, HW, C, HoWo)
    if bad:
        raise IndexError(f"{k_}: {bad} argmax indices outside the {HW}-pixel plane")


cdef int _check_codes(str kernel, const Py_ssize_t[::1] lo, const Py_ssize_t[::1] hi, Py_ssize_t step,
                      Py_ssize_t n_out, Py_ssize_t kw) except -1:
    """IndexError unless no window has more than ``kw`` taps along this axis (the column axis: the code stride)."""
    cdef Py_ssize_t i
    for i in range(n_out):
        if (hi[i] - lo[i] + step - 1) // step > kw:
            raise IndexError(f"{kernel}: window {i} has more than {kw} taps")
    return 0


def maxpool_window_codes_forward_kernel(
    const floating[:, :, :, ::1] x,     # IN  (N, H, W, C)
    floating[:, :, :, ::1] y,           # OUT (N, Ho, Wo, C)
    unsigned char[:, :, :, ::1] code,   # OUT (N, Ho, Wo, C): tap di * KW + dj of each window's first maximum
    const Py_ssize_t[::1] r0,           # IN  (Ho,) first input row of each window row (inside the plane)
    const Py_ssize_t[::1] r1,           # IN  (Ho,) end (exclusive) of its rows
    Py_ssize_t dh,                      # row step (dilation)
    const Py_ssize_t[::1] c0,           # IN  (Wo,) first input column of each window column
    const Py_ssize_t[::1] c1,           # IN  (Wo,) end (exclusive) of its columns
    Py_ssize_t dw,                      # column step (dilation)
    Py_ssize_t KW,                      # code stride: at least the column taps of any window
    int num_threads,                    # OpenMP threads over output rows
) -> None:
    """Max pooling forward over windows given by row and column ranges, keeping one-byte tap codes.

    The tap ``(di, dj)`` (row and column number inside the window) of each window's first maximum
    is stored as ``di * KW + dj``; the flat index is ``(r0[i] + di * dh) * W + c0[j] + dj * dw``.
    Windows must have at most 256 taps in that numbering.
    """
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Ho = y.shape[1], Wo = y.shape[2]
    cdef Py_ssize_t r, n, i, KH = 0
    k = "maxpool_window_codes_forward_kernel"
    _check_nc(k, tuple(x.shape)[:4], tuple(y.shape)[:4])
    if tuple(code.shape)[:4] != tuple(y.shape)[:4]:
        raise IndexError(f"{k}: code shape differs from y shape")
    _check_windows(k, r0, r1, dh, Ho, H, "row")
    _check_windows(k, c0, c1, dw, Wo, W, "column")
    _check_codes(k, c0, c1, dw, Wo, KW)
    for i in range(Ho):
        KH = max(KH, (r1[i] - r0[i] + dh - 1) // dh)
    if KW < 1 or KH * KW > 256:
        raise IndexError(f"{k}: windows of {KH} x {KW} taps do not fit one-byte codes")
    if y.size == 0:
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef unsigned char* cp = &code[0, 0, 0, 0]
    cdef Py_ssize_t nr = N * Ho
    with nogil:
        for r in prange(nr, schedule="static", num_threads=num_threads if num_threads > 1 else 1):
            n = r // Ho
            i = r - n * Ho
            if floating is float:
                pw_f32_max_row(xp + n * H * W * C, yp + r * Wo * C, cp + r * Wo * C, W, C, Wo,
                               r0[i], r1[i], dh, &c0[0], &c1[0], dw, KW)
            else:
                pw_f64_max_row(xp + n * H * W * C, yp + r * Wo * C, cp + r * Wo * C, W, C, Wo,
                               r0[i], r1[i], dh, &c0[0], &c1[0], dw, KW)


def maxpool_window_codes_backward_kernel(
    const floating[:, :, :, ::1] dy,        # IN  (N, Ho, Wo, C)
    const unsigned char[:, :, :, ::1] code,  # IN  (N, Ho, Wo, C) tap codes from the forward call
    floating[:, :, :, ::1] dx,              # OUT (N, H, W, C), fully overwritten
    const Py_ssize_t[::1] r0,               # IN  the forward call's windows
    const Py_ssize_t[::1] r1,
    Py_ssize_t dh,
    const Py_ssize_t[::1] c0,
    const Py_ssize_t[::1] c1,
    Py_ssize_t dw,
    Py_ssize_t KW,                          # the forward call's code stride
    int num_threads,                        # OpenMP threads over images
) -> None:
    """Max pooling backward from tap codes: per image, dx is zeroed and dy added at each coded tap."""
    cdef Py_ssize_t N = dy.shape[0], Ho = dy.shape[1], Wo = dy.shape[2], C = dy.shape[3]
    cdef Py_ssize_t H = dx.shape[1], W = dx.shape[2]
    cdef Py_ssize_t n, i, KH = 0
    k = "maxpool_window_codes_backward_kernel"
    _check_nc(k, tuple(dy.shape)[:4], tuple(dx.shape)[:4])
    if tuple(code.shape)[:4] != tuple(dy.shape)[:4]:
        raise IndexError(f"{k}: code shape differs from dy shape")
    _check_windows(k, r0, r1, dh, Ho, H, "row")
    _check_windows(k, c0, c1, dw, Wo, W, "column")
    _check_codes(k, c0, c1, dw, Wo, KW)
    if dx.size == 0:
        return
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef const unsigned char* cp = &code[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0]
    with nogil:
        for n in prange(N, schedule="static", num_threads=num_threads if num_threads > 1 else 1):
            if floating is float:
                pw_f32_max_bwd_image(dyp + n * Ho * Wo * C, cp + n * Ho * Wo * C, dxp + n * H * W * C,
                                     H, W, C, Ho, Wo, &r0[0], &r1[0], dh, &c0[0], &c1[0], dw, KW)
            else:
                pw_f64_max_bwd_image(dyp + n * Ho * Wo * C, cp + n * Ho * Wo * C, dxp + n * H * W * C,
                                     H, W, C, Ho, Wo, &r0[0], &r1[0], dh, &c0[0], &c1[0], dw, KW)


# --------------------------------------------------------------------------- average pooling
# Window sums are separable: a window row's sum over its input rows is one contiguous (W * C)
# vector loop, shared by every window column of that output row; the column sums then read that
# buffer. Each output element costs (window rows + window columns) additions, not their product.
cdef inline void _sum_rows(
    const floating* src, floating* buf, Py_ssize_t a, Py_ssize_t b, Py_ssize_t L,
) noexcept nogil:
    """buf[0:L] = sum of rows a .. b (each L long) of src, added in row order; zero when a == b."""
    cdef Py_ssize_t k, t
    cdef const floating* sp
    if a == b:
        for k in range(L):
            buf[k] = 0
        return
    sp = src + a * L
    for k in range(L):
        buf[k] = sp[k]
    for t in range(a + 1, b):
        sp = src + t * L
        for k in range(L):
            buf[k] = buf[k] + sp[k]


cdef inline void _sum_cols(
    const floating* buf, floating* out, Py_ssize_t a, Py_ssize_t b, Py_ssize_t C, floating q,
) noexcept nogil:
    """out[0:C] = (sum of the C-long columns a .. b of buf) / q; zero when a == b."""
    cdef Py_ssize_t c
    _sum_rows(buf, out, a, b, C)
    if q != 1 and a != b:
        for c in range(C):
            out[c] = out[c] / q


cdef void _avg_row(
    const floating* x, floating* y, floating* buf, Py_ssize_t r,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Ho, Py_ssize_t Wo,
    const Py_ssize_t* r0, const Py_ssize_t* r1, const Py_ssize_t* c0, const Py_ssize_t* c1,
    const floating* rdiv, const floating* cdiv,
) noexcept nogil:
    """Output row r = n * Ho + i: buf = the window rows' sum, then each window's column sum / divisor."""
    cdef Py_ssize_t n = r // Ho
    cdef Py_ssize_t i = r - n * Ho
    cdef Py_ssize_t j
    _sum_rows(x + n * H * W * C, buf, r0[i], r1[i], W * C)
    for j in range(Wo):
        _sum_cols(buf, y + (r * Wo + j) * C, c0[j], c1[j], C, rdiv[i] * cdiv[j])


def avgpool_window_forward_kernel(
    const floating[:, :, :, ::1] x,     # IN  (N, H, W, C)
    floating[:, :, :, ::1] y,           # OUT (N, Ho, Wo, C)
    floating[:, ::1] scratch,           # SCRATCH (num_threads, W * C): one row sum per thread
    const Py_ssize_t[::1] r0,           # IN  (Ho,) first input row of each window row
    const Py_ssize_t[::1] r1,           # IN  (Ho,) end (exclusive)
    const Py_ssize_t[::1] c0,           # IN  (Wo,) first input column of each window column
    const Py_ssize_t[::1] c1,           # IN  (Wo,) end (exclusive)
    const floating[::1] rdiv,           # IN  (Ho,) row factor of the divisor
    const floating[::1] cdiv,           # IN  (Wo,) column factor of the divisor
    int num_threads,                    # OpenMP threads over output rows
) -> None:
    """Average pooling forward: y = (sum over the window) / (rdiv[i] * cdiv[j])."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Ho = y.shape[1], Wo = y.shape[2]
    cdef Py_ssize_t r
    cdef int nt = num_threads if num_threads > 1 else 1
    k = "avgpool_window_forward_kernel"
    _check_nc(k, tuple(x.shape)[:4], tuple(y.shape)[:4])
    _check_windows(k, r0, r1, 1, Ho, H, "row")
    _check_windows(k, c0, c1, 1, Wo, W, "column")
    if rdiv.shape[0] != Ho or cdiv.shape[0] != Wo:
        raise IndexError(f"{k}: divisor factors of lengths {rdiv.shape[0]}, {cdiv.shape[0]} for output {Ho}x{Wo}")
    if scratch.shape[0] < nt or scratch.shape[1] < W * C:
        raise IndexError(f"{k}: scratch {tuple(scratch.shape)[:2]} is smaller than ({nt}, {W * C})")
    if y.size == 0:
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef floating* sp = &scratch[0, 0]
    cdef Py_ssize_t L = scratch.shape[1]
    with nogil:
        if nt == 1:
            for r in range(N * Ho):
                _avg_row(xp, yp, sp, r, H, W, C, Ho, Wo, &r0[0], &r1[0], &c0[0], &c1[0], &rdiv[0], &cdiv[0])
        else:
            for r in prange(N * Ho, schedule="static", num_threads=nt):
                _avg_row(xp, yp, sp + threadid() * L, r, H, W, C, Ho, Wo,
                         &r0[0], &r1[0], &c0[0], &c1[0], &rdiv[0], &cdiv[0])


cdef void _avg_bwd_image(
    const floating* dy, floating* g, floating* buf, floating* dx, Py_ssize_t n,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Ho, Py_ssize_t Wo,
    const Py_ssize_t* ia, const Py_ssize_t* ib, const Py_ssize_t* ja, const Py_ssize_t* jb,
    const floating* rdiv, const floating* cdiv,
) noexcept nogil:
    """Image n of dx: g = dy / (rdiv[i] * cdiv[j]) (each window's share), then every dx element gathers
    the shares of the windows that read it (rows into buf, then columns); unread elements get 0."""
    cdef Py_ssize_t i, j, c, h, w
    cdef floating q
    cdef const floating* d
    cdef floating* o
    for i in range(Ho):
        for j in range(Wo):
            q = rdiv[i] * cdiv[j]
            d = dy + ((n * Ho + i) * Wo + j) * C
            o = g + (i * Wo + j) * C
            for c in range(C):
                o[c] = d[c] / q
    for h in range(H):
        _sum_rows(g, buf, ia[h], ib[h], Wo * C)
        for w in range(W):
            _sum_cols(buf, dx + ((n * H + h) * W + w) * C, ja[w], jb[w], C, 1)


def avgpool_window_backward_kernel(
    const floating[:, :, :, ::1] dy,    # IN  (N, Ho, Wo, C)
    floating[:, ::1] scratch,           # SCRATCH (num_threads, (Ho + 1) * Wo * C): one image of shares and one row sum per thread
    floating[:, :, :, ::1] dx,          # OUT (N, H, W, C), fully overwritten
    const Py_ssize_t[::1] ia,           # IN  (H,) first output row whose window reads input row h
    const Py_ssize_t[::1] ib,           # IN  (H,) end (exclusive) of those output rows
    const Py_ssize_t[::1] ja,           # IN  (W,) first output column whose window reads input column w
    const Py_ssize_t[::1] jb,           # IN  (W,) end (exclusive)
    const floating[::1] rdiv,           # IN  (Ho,) row factor of the divisor
    const floating[::1] cdiv,           # IN  (Wo,) column factor of the divisor
    int num_threads,                    # OpenMP threads over images
) -> None:
    """Average pooling backward as a gather: every dx element is written once (zero where no window reads it)."""
    cdef Py_ssize_t N = dy.shape[0], Ho = dy.shape[1], Wo = dy.shape[2], C = dy.shape[3]
    cdef Py_ssize_t H = dx.shape[1], W = dx.shape[2]
    cdef Py_ssize_t n
    cdef int nt = num_threads if num_threads > 1 else 1
    k = "avgpool_window_backward_kernel"
    _check_nc(k, tuple(dy.shape)[:4], tuple(dx.shape)[:4])
    _check_cover(k, ia, ib, H, Ho, "row")
    _check_cover(k, ja, jb, W, Wo, "column")
    if rdiv.shape[0] != Ho or cdiv.shape[0] != Wo:
        raise IndexError(f"{k}: divisor factors of lengths {rdiv.shape[0]}, {cdiv.shape[0]} for output {Ho}x{Wo}")
    if scratch.shape[0] < nt or scratch.shape[1] < (Ho + 1) * Wo * C:
        raise IndexError(f"{k}: scratch {tuple(scratch.shape)[:2]} is smaller than ({nt}, {(Ho + 1) * Wo * C})")
    if dx.size == 0:
        return
    cdef const floating* dyp = &dy[0, 0, 0, 0]  # dy is not empty when dx is not (Ho, Wo >= 1)
    cdef floating* dxp = &dx[0, 0, 0, 0]
    cdef floating* sp = &scratch[0, 0]
    cdef Py_ssize_t L = scratch.shape[1], G = Ho * Wo * C
    with nogil:
        if nt == 1:
            for n in range(N):
                _avg_bwd_image(dyp, sp, sp + G, dxp, n, H, W, C, Ho, Wo, &ia[0], &ib[0], &ja[0], &jb[0],
                               &rdiv[0], &cdiv[0])
        else:
            for n in prange(N, schedule="static", num_threads=nt):
                _avg_bwd_image(dyp, sp + threadid() * L, sp + threadid() * L + G, dxp, n, H, W, C, Ho, Wo,
                               &ia[0], &ib[0], &ja[0], &jb[0], &rdiv[0], &cdiv[0])


# --------------------------------------------------------------------------- global average pooling
# One window per image: the forward sums the image's rows into a (W * C) buffer, then its columns
# (the adaptive kernel's order of additions, so the same results bit for bit), and the backward
# writes each image's dy / (H * W) to all its H * W pixels: one streaming pass over dx.
cdef void _global_avg_image(
    const floating* x, floating* y, floating* buf, Py_ssize_t n, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
    floating q,
) noexcept nogil:
    """y[n] = (sum over rows, then over columns, of image n) / q."""
    _sum_rows(x + n * H * W * C, buf, 0, H, W * C)
    _sum_cols(buf, y + n * C, 0, W, C, q)


def global_avgpool_forward_kernel(
    const floating[:, :, :, ::1] x,     # IN  (N, H, W, C)
    floating[:, :, :, ::1] y,           # OUT (N, 1, 1, C)
    floating[:, ::1] scratch,           # SCRATCH (num_threads, W * C): one row sum per thread
    int num_threads,                    # OpenMP threads over images
) -> None:
    """Global average pooling forward: y[n, 0, 0, c] = sum of x[n, :, :, c] / (H * W)."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t n
    cdef int nt = num_threads if num_threads > 1 else 1
    _check_global("global_avgpool_forward_kernel", tuple(y.shape)[:4], "y", tuple(x.shape)[:4],
                  tuple(scratch.shape)[:2], nt, W * C)
    if y.size == 0:
        return
    cdef floating q = <floating>H * <floating>W  # the adaptive kernel's rdiv * cdiv
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef floating* sp = &scratch[0, 0]
    cdef Py_ssize_t L = scratch.shape[1]
    with nogil:
        if nt == 1:
            for n in range(N):
                _global_avg_image(xp, yp, sp, n, H, W, C, q)
        else:
            for n in prange(N, schedule="static", num_threads=nt):
                _global_avg_image(xp, yp, sp + threadid() * L, n, H, W, C, q)


cdef void _global_avg_bwd_image(
    const floating* dy, floating* dx, Py_ssize_t n, Py_ssize_t HW, Py_ssize_t C, floating q, floating* row,
    int stream,
) noexcept nogil:
    """Image n of dx: row = dy[n] / q, written to its HW pixels."""
    cdef Py_ssize_t c
    cdef const floating* g = dy + n * C
    for c in range(C):
        row[c] = g[c] / q
    if floating is float:
        fc_bcast_rows_f(row, dx + n * HW * C, HW, C, stream)
    else:
        fc_bcast_rows_d(row, dx + n * HW * C, HW, C, stream)


def global_avgpool_backward_kernel(
    const floating[:, :, :, ::1] dy,    # IN  (N, 1, 1, C)
    floating[:, :, :, ::1] dx,          # OUT (N, H, W, C), fully overwritten
    floating[:, ::1] scratch,           # SCRATCH (num_threads, C): one row per thread
    bint stream,                        # write dx with non-temporal stores (where aligned)
    int num_threads,                    # OpenMP threads over images
) -> None:
    """Global average pooling backward: dx[n, h, w, c] = dy[n, 0, 0, c] / (H * W)."""
    cdef Py_ssize_t N = dx.shape[0], H = dx.shape[1], W = dx.shape[2], C = dx.shape[3]
    cdef Py_ssize_t n
    cdef int nt = num_threads if num_threads > 1 else 1
    _check_global("global_avgpool_backward_kernel", tuple(dy.shape)[:4], "dy", tuple(dx.shape)[:4],
                  tuple(scratch.shape)[:2], nt, C)
    if dx.size == 0:
        return
    cdef floating q = <floating>H * <floating>W  # the adaptive kernel's rdiv * cdiv
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0]
    cdef floating* sp = &scratch[0, 0]
    cdef Py_ssize_t L = scratch.shape[1]
    with nogil:
        if nt == 1:
            for n in range(N):
                _global_avg_bwd_image(dyp, dxp, n, H * W, C, q, sp, stream)
        else:
            for n in prange(N, schedule="static", num_threads=nt):
                _global_avg_bwd_image(dyp, dxp, n, H * W, C, q, sp + threadid() * L, stream)
