# cython: language_level=3
"""Convolution kernels for layers with few input channels (``Kh*Kw*C`` taps packed into one short
reduction), reading and writing NHWC or NCHW activations directly.

Each image is copied once into a zero-padded NHWC plane (from either layout: the transpose of a
small image is done in cache, inside the kernel), and every pass is one register-blocked
product of ``_conv_smallc.h`` over that plane:

* forward: output pixels x output channels, over the packed taps (weights ``(K, CP)``, ``CP``
  the output channels rounded up to whole vectors); the block is written out in the caller's
  layout.
* weight gradient: taps x output channels, over the image's output pixels (dy packed as
  ``(Ho*Wo, CP)``), summed within ``SMALLC_PARTS`` fixed parts of the batch and then across
  the parts in order, so results never depend on the thread count.
* input gradient: output pixels x taps, over the output channels (the transposed weights),
  then added to the padded input gradient tap by tap and cropped into the caller's layout.

The C loops are compiled for every instruction-set level of ``_simd.h`` and the level that
runs is picked at run time (see :mod:`fastconv._simd`).
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memset

cdef extern from "_conv_smallc_kernels.h" nogil:
    Py_ssize_t fcc_lanes(Py_ssize_t itemsize)
    void fcc_gemm_f32(const float* base, const Py_ssize_t* ro, Py_ssize_t M, const Py_ssize_t* ko,
                      Py_ssize_t R, const float* B, Py_ssize_t ldb, float* C, Py_ssize_t ldc, const float* init)
    void fcc_gemm_f64(const double* base, const Py_ssize_t* ro, Py_ssize_t M, const Py_ssize_t* ko,
                      Py_ssize_t R, const double* B, Py_ssize_t ldb, double* C, Py_ssize_t ldc, const double* init)

from ._transpose_strided cimport transpose_strided

# The batch is cut into this many fixed parts for the weight/bias gradient sums.
SMALLC_PARTS = 8
cdef enum:
    QB = 48  # output pixels per block of products: a (QB, CP) block of float64 stays in L1


def lanes(itemsize: int) -> int:
    """Vector lanes of the level that runs, for elements of ``itemsize`` bytes."""
    return fcc_lanes(itemsize)


cdef inline void _gemm(const floating* base, const Py_ssize_t* ro, Py_ssize_t M, const Py_ssize_t* ko,
                       Py_ssize_t R, const floating* B, Py_ssize_t ldb, floating* C, Py_ssize_t ldc,
                       const floating* init) noexcept nogil:
    """C[r, :ldb] (+)= sum_k base[ro[r] + ko[k]] * B[k, :ldb] (float or double C kernel)."""
    if floating is float:
        fcc_gemm_f32(base, ro, M, ko, R, B, ldb, C, ldc, init)
    else:
        fcc_gemm_f64(base, ro, M, ko, R, B, ldb, C, ldc, init)


cdef inline void _pack(const floating* x, floating* xp, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                       Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp, bint nchw) noexcept nogil:
    """Write one image (NHWC, or NCHW if ``nchw``) into the interior of its padded NHWC plane."""
    cdef Py_ssize_t i, j, c
    cdef floating* row
    for i in range(H):
        row = xp + ((i + ph) * Wp + pw) * C
        if nchw:
            for c in range(C):
                for j in range(W):
                    row[j * C + c] = x[(c * H + i) * W + j]
        else:
            for j in range(W * C):
                row[j] = x[i * W * C + j]


cdef inline void _sum_planes(const floating* dy, floating* db, Py_ssize_t Q, Py_ssize_t Cout) noexcept nogil:
    """db[co] += the sum of dy's NCHW plane co (Q pixels), in eight interleaved partial sums: no
    chain of dependent adds."""
    cdef Py_ssize_t q, co, u
    cdef floating s[8]
    for co in range(Cout):
        for u in range(8):
            s[u] = 0
        for q in range(0, Q - 7, 8):
            for u in range(8):
                s[u] += dy[co * Q + q + u]
        for q in range(Q - Q % 8, Q):
            s[q % 8] += dy[co * Q + q]
        db[co] += ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))


cdef inline void _pack_dy(const floating* dy, floating* d, floating* db, Py_ssize_t Q, Py_ssize_t Cout,
                          Py_ssize_t CP, bint nchw) noexcept nogil:
    """d[q, co] = dy of one image (Q pixels, Cout channels; NHWC, or NCHW if ``nchw``), and
    db[co] += its sum over the pixels; d's columns Cout..CP stay as they are (zero). NCHW planes
    are read a few pixels at a time, so that the rows of d being written stay in L1."""
    cdef Py_ssize_t q, q0, qn, co
    if nchw:
        _sum_planes(dy, db, Q, Cout)
        for q0 in range(0, Q, 8):
            qn = min(8, Q - q0)
            for co in range(Cout):
                for q in range(q0, q0 + qn):
                    d[q * CP + co] = dy[co * Q + q]
    else:
        for q in range(Q):
            for co in range(Cout):
                d[q * CP + co] = dy[q * Cout + co]
                db[co] += dy[q * Cout + co]


cdef inline void _unpack(const floating* ys, floating* y, Py_ssize_t q0, Py_ssize_t qn, Py_ssize_t Q,
                         Py_ssize_t Cout, Py_ssize_t CP, bint nchw) noexcept nogil:
    """Output pixels q0 .. q0+qn-1 of one image from their (qn, CP) block into y (NHWC, or NCHW
    if ``nchw``)."""
    cdef Py_ssize_t q, co
    if nchw:  # y[co * Q + q0 + q] = ys[q * CP + co], in register blocks
        transpose_strided(ys, CP, y + q0, Q, qn, Cout)
    else:
        for q in range(qn):
            for co in range(Cout):
                y[(q0 + q) * Cout + co] = ys[q * CP + co]


def _geometry(Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t c, Py_ssize_t ho, Py_ssize_t wo,
              Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t wp):
    """(toff, poff): tap offsets ((ki*Wp + kj)*C + c) and pixel origins ((i*sh*Wp + j*sw)*C)."""
    ki, kj, cc = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(c), indexing="ij")
    toff = ((ki * wp + kj) * c + cc).reshape(-1).astype(np.intp)
    i, j = np.meshgrid(np.arange(ho), np.arange(wo), indexing="ij")
    poff = ((i * sh * wp + j * sw) * c).reshape(-1).astype(np.intp)
    return toff, poff


def _round_up(Py_ssize_t n, Py_ssize_t lanes) -> int:
    return (n + lanes - 1) // lanes * lanes


def smallc_forward(
    x,                  # IN  (N, C, H, W) if x_nchw else (N, H, W, C), C-contiguous
    w,                  # IN  (Kh, Kw, C, Cout), C-contiguous, x's dtype
    b,                  # IN  (Cout,), x's dtype
    y,                  # OUT (N, Cout, Ho, Wo) if y_nchw else (N, Ho, Wo, Cout)
    Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
    bint x_nchw, bint y_nchw, int num_threads,
) -> None:
    """y = conv(x, w) + b, zero padding (ph, pw), stride (sh, sw); padding smaller than the kernel."""
    kh, kw, c, cout = w.shape
    n = x.shape[0]
    h, wd = (x.shape[2], x.shape[3]) if x_nchw else (x.shape[1], x.shape[2])
    ho, wo = (y.shape[2], y.shape[3]) if y_nchw else (y.shape[1], y.shape[2])
    L = fcc_lanes(x.dtype.itemsize)
    cp = _round_up(cout, L)
    k = kh * kw * c
    hp, wp = h + 2 * ph, wd + 2 * pw
    toff, poff = _geometry(kh, kw, c, ho, wo, sh, sw, wp)
    wpk = np.zeros((k, cp), dtype=x.dtype)
    wpk[:, :cout] = w.reshape(k, cout)
    bp = np.zeros(cp, dtype=x.dtype)
    bp[:cout] = b
    nt = max(1, min(num_threads, n))
    work = np.zeros((nt, hp * wp * c + min(ho * wo, 48) * cp + 2 * L), dtype=x.dtype)
    _forward(x.reshape(-1), wpk, bp, y.reshape(-1), work, toff, poff, n, c, h, wd, ph, pw, wp, ho * wo, cout, cp,
             k, x_nchw, y_nchw, nt)


def _forward(const floating[::1] x, const floating[:, ::1] wpk, const floating[::1] bp, floating[::1] y,
             floating[:, ::1] work, const Py_ssize_t[::1] toff, const Py_ssize_t[::1] poff,
             Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw,
             Py_ssize_t Wp, Py_ssize_t Q, Py_ssize_t Cout, Py_ssize_t CP, Py_ssize_t K,
             bint x_nchw, bint y_nchw, int nt):
    """The forward over the batch, one image per unit of work (scratch: one row of ``work`` per thread)."""
    cdef Py_ssize_t nn, tid, q0, qn
    cdef Py_ssize_t plane = (H + 2 * ph) * Wp * C
    cdef floating* xp
    cdef floating* ys
    if N == 0:
        return
    with nogil:
        for nn in prange(N, schedule="static", num_threads=nt):
            tid = threadid()
            xp = &work[tid, 0]
            ys = xp + plane
            _pack(&x[nn * C * H * W], xp, H, W, C, ph, pw, Wp, x_nchw)
            for q0 in range((Q + QB - 1) // QB):  # chunks of output pixels whose block stays in L1
                qn = min(QB, Q - q0 * QB)
                _gemm(xp, &poff[q0 * QB], qn, &toff[0], K, &wpk[0, 0], CP, ys, CP, &bp[0])
                _unpack(ys, &y[nn * Q * Cout], q0 * QB, qn, Q, Cout, CP, y_nchw)


def smallc_backward(
    x,                  # IN  (N, C, H, W) if x_nchw else (N, H, W, C), C-contiguous
    w,                  # IN  (Kh, Kw, C, Cout), C-contiguous, x's dtype
    dy,                 # IN  (N, Cout, Ho, Wo) if y_nchw else (N, Ho, Wo, Cout), C-contiguous
    dx,                 # OUT like x (ignored unless compute_dx)
    Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
    bint x_nchw, bint y_nchw, bint compute_dx, int num_threads,
):
    """(dw (Kh, Kw, C, Cout), db (Cout,)) of the layer, and dx written if ``compute_dx``."""
    kh, kw, c, cout = w.shape
    n = x.shape[0]
    h, wd = (x.shape[2], x.shape[3]) if x_nchw else (x.shape[1], x.shape[2])
    ho, wo = (dy.shape[2], dy.shape[3]) if y_nchw else (dy.shape[1], dy.shape[2])
    dt = x.dtype
    L = fcc_lanes(dt.itemsize)
    cp = _round_up(cout, L)
    k = kh * kw * c
    kp = _round_up(k, L)
    hp, wp = h + 2 * ph, wd + 2 * pw
    q = ho * wo
    toff, poff = _geometry(kh, kw, c, ho, wo, sh, sw, wp)
    wt = np.zeros((cout, kp), dtype=dt)
    wt[:, :k] = w.reshape(k, cout).T
    parts = max(1, min(n, SMALLC_PARTS))
    nt = max(1, min(num_threads, parts))
    dbp = np.zeros((parts, cp), dtype=dt)
    plane = hp * wp * c
    if x_nchw and y_nchw:
        # dy read in place: dw as (Cout, KP) over the image's (Q, KP) patch rows, dx from dy's planes
        dwp = np.zeros((parts, cout, kp), dtype=dt)
        work = np.zeros((nt, 2 * plane + q * kp + min(q, 48) * kp + kp + 2 * L), dtype=dt)
        if n:
            _backward_nchw(x.reshape(-1), wt, dy.reshape(-1), dx.reshape(-1) if compute_dx else np.empty(1, dt), dwp,
                           dbp, work, toff, poff, n, c, h, wd, ph, pw, wp, q, cout, k, kp, kw * c, parts,
                           compute_dx, nt)
        dw = dwp.sum(axis=0) if parts > 1 else dwp[0]  # in part order
        db = dbp.sum(axis=0) if parts > 1 else dbp[0]
        return np.ascontiguousarray(dw[:, :k].T).reshape(kh, kw, c, cout), db[:cout].copy()
    dwp = np.zeros((parts, k, cp), dtype=dt)
    work = np.zeros((nt, 2 * plane + q * cp + min(q, 48) * kp + kp + 2 * L), dtype=dt)
    qoff = (np.arange(q) * cp).astype(np.intp)
    coff = np.arange(cout, dtype=np.intp)
    if n:
        _backward(x.reshape(-1), wt, dy.reshape(-1), dx.reshape(-1) if compute_dx else np.empty(1, dt), dwp, dbp, work,
                  toff, poff, qoff, coff, n, c, h, wd, ph, pw, wp, q, cout, cp, k, kp, kw * c, parts,
                  x_nchw, y_nchw, compute_dx, nt)
    dw = dwp.sum(axis=0) if parts > 1 else dwp[0]  # in part order
    db = dbp.sum(axis=0) if parts > 1 else dbp[0]
    return dw[:, :cout].reshape(kh, kw, c, cout).copy(), db[:cout].copy()


cdef inline void _dx_padded(const floating* a, const Py_ssize_t* ro, const Py_ssize_t* ko, Py_ssize_t Q,
                            Py_ssize_t Cout, const floating* wt, Py_ssize_t KP, floating* g, const floating* zero,
                            const Py_ssize_t* poff, const Py_ssize_t* toff, Py_ssize_t K, Py_ssize_t KWC,
                            floating* dxp, Py_ssize_t plane) noexcept nogil:
    """The input gradient of one zero-padded image (``plane`` values at dxp): QB pixels at a time,
    their (pixel, tap) products ``g`` = a[ro[q] + ko[:]] x wt, added to the pixels' taps kernel row
    by kernel row (runs of Kw*C taps)."""
    cdef Py_ssize_t q0, qn, qq, t, u
    cdef floating* dxr
    cdef const floating* gr
    memset(dxp, 0, plane * sizeof(floating))
    for q0 in range((Q + QB - 1) // QB):
        qn = min(QB, Q - q0 * QB)
        _gemm(a, ro + q0 * QB, qn, ko, Cout, wt, KP, g, KP, zero)
        for qq in range(qn):
            for t in range(K // KWC):
                dxr = dxp + poff[q0 * QB + qq] + toff[t * KWC]
                gr = g + qq * KP + t * KWC
                for u in range(KWC):
                    dxr[u] += gr[u]


def _backward(const floating[::1] x, const floating[:, ::1] wt, const floating[::1] dy, floating[::1] dx,
              floating[:, :, ::1] dwp, floating[:, ::1] dbp, floating[:, ::1] work,
              const Py_ssize_t[::1] toff, const Py_ssize_t[::1] poff, const Py_ssize_t[::1] qoff,
              const Py_ssize_t[::1] coff, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
              Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp, Py_ssize_t Q, Py_ssize_t Cout, Py_ssize_t CP,
              Py_ssize_t K, Py_ssize_t KP, Py_ssize_t KWC, Py_ssize_t parts, bint x_nchw, bint y_nchw, bint compute_dx, int nt):
    """The backward over fixed parts of the batch (scratch: one row of ``work`` per thread)."""
    cdef Py_ssize_t part, nn, n0, n1, tid, i, j, cc, co, u
    cdef Py_ssize_t Hp = H + 2 * ph
    cdef Py_ssize_t plane = Hp * Wp * C
    cdef floating* xp
    cdef floating* dxp
    cdef floating* dys
    cdef floating* g
    cdef floating* zero
    cdef floating* dxn
    cdef floating* dwa
    cdef floating* dba
    with nogil:
        for part in prange(parts, schedule="static", num_threads=nt):
            tid = threadid()
            xp = &work[tid, 0]
            dxp = xp + plane
            dys = dxp + plane
            g = dys + Q * CP
            zero = g + min(Q, QB) * KP
            dwa = &dwp[part, 0, 0]
            dba = &dbp[part, 0]
            n0 = part * N // parts
            n1 = (part + 1) * N // parts
            for nn in range(n0, n1):
                _pack(&x[nn * C * H * W], xp, H, W, C, ph, pw, Wp, x_nchw)
                _pack_dy(&dy[nn * Q * Cout], dys, dba, Q, Cout, CP, y_nchw)
                _gemm(xp, &toff[0], K, &poff[0], Q, dys, CP, dwa, CP, <floating*>0)
                if compute_dx:
                    _dx_padded(dys, &qoff[0], &coff[0], Q, Cout, &wt[0, 0], KP, g, zero, &poff[0], &toff[0],
                               K, KWC, dxp, plane)
                    dxn = &dx[nn * C * H * W]
                    for i in range(H):
                        for j in range(W):
                            for cc in range(C):
                                if x_nchw:
                                    dxn[(cc * H + i) * W + j] = dxp[((i + ph) * Wp + j + pw) * C + cc]
                                else:
                                    dxn[(i * W + j) * C + cc] = dxp[((i + ph) * Wp + j + pw) * C + cc]


def _backward_nchw(const floating[::1] x, const floating[:, ::1] wt, const floating[::1] dy, floating[::1] dx,
                   floating[:, :, ::1] dwp, floating[:, ::1] dbp, floating[:, ::1] work,
                   const Py_ssize_t[::1] toff, const Py_ssize_t[::1] poff, Py_ssize_t N, Py_ssize_t C,
                   Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp, Py_ssize_t Q,
                   Py_ssize_t Cout, Py_ssize_t K, Py_ssize_t KP, Py_ssize_t KWC, Py_ssize_t parts,
                   bint compute_dx, int nt):
    """The backward of NCHW x and dy over fixed parts of the batch, dy read where it lies (no
    packed copy): the weight gradient (Cout, KP) += dy's planes (Cout, Q) x the image's patch
    rows (Q, KP), and the (pixel, tap) products of the input gradient with dy's planes as the
    broadcast operand. Every sum runs in the order of the NHWC kernel's (same results)."""
    cdef Py_ssize_t part, nn, n0, n1, tid, t, i, j, cc, q, u
    cdef const floating* xr
    cdef floating* br
    cdef Py_ssize_t Hp = H + 2 * ph
    cdef Py_ssize_t plane = Hp * Wp * C
    cdef floating* xp
    cdef floating* dxp
    cdef floating* bt
    cdef floating* g
    cdef floating* zero
    cdef floating* dxn
    cdef const floating* dyn
    cdef Py_ssize_t[::1] qidx = np.arange(max(Q, 1), dtype=np.intp)
    cdef Py_ssize_t[::1] yoff = np.arange(Cout, dtype=np.intp) * Q
    with nogil:
        for part in prange(parts, schedule="static", num_threads=nt):
            tid = threadid()
            xp = &work[tid, 0]
            dxp = xp + plane
            bt = dxp + plane
            g = bt + Q * KP
            zero = g + min(Q, QB) * KP
            n0 = part * N // parts
            n1 = (part + 1) * N // parts
            for nn in range(n0, n1):
                dyn = &dy[nn * Q * Cout]
                _pack(&x[nn * C * H * W], xp, H, W, C, ph, pw, Wp, True)
                _sum_planes(dyn, &dbp[part, 0], Q, Cout)
                for q in range(Q):  # patch rows: kernel row by kernel row, runs of Kw*C taps
                    br = bt + q * KP
                    for t in range(K // KWC):
                        xr = xp + poff[q] + toff[t * KWC]
                        for u in range(KWC):
                            br[t * KWC + u] = xr[u]
                _gemm(dyn, &yoff[0], Cout, &qidx[0], Q, bt, KP, &dwp[part, 0, 0], KP, <floating*>0)
                if compute_dx:
                    _dx_padded(dyn, &qidx[0], &yoff[0], Q, Cout, &wt[0, 0], KP, g, zero, &poff[0], &toff[0],
                               K, KWC, dxp, plane)
                    dxn = &dx[nn * C * H * W]
                    for cc in range(C):  # NCHW rows written in order
                        for i in range(H):
                            for j in range(W):
                                dxn[(cc * H + i) * W + j] = dxp[((i + ph) * Wp + j + pw) * C + cc]
