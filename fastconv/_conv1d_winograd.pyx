# cython: language_level=3
"""1-D Winograd convolution F(m, r) with 8-point transforms (m = 9 - r outputs per tile).

``y[n, i] = b + sum_k x[n, i + k - pl] @ u[k]`` (zero outside ``0 <= i + k - pl < L``) is computed
per tile of ``m`` outputs from the tile's 8 inputs ``d``: ``y_tile = AT @ ((G u) * (BT d))``,
where the elementwise product over the 8 transform points is, for all tiles of a block and all
channels, 8 matrix products ``(tiles, C) @ (C, Cout)`` by BLAS (``sgemm``/``dgemm``), or with
``gmul`` by the 2-D Winograd family's register-blocked kernel (``_wgmul.h``; Cout a multiple of
``GROUP_CHUNK``). The wrapper (:mod:`fastconv.onedim`) builds ``BT``, ``AT`` and the transformed
weights ``GU``, and chooses ``gmul``.

The weight gradient (``winograd1d_weight_grad_kernel``) sums, per transform point, ``(BT d)^T (A dy)``
over the tiles (8 products per block, by BLAS or the same kernel) in fixed parts; the wrapper
applies ``G^T``.

The tiles of the batch, flattened to ``(n, t)``, are cut into fixed blocks of ``TB`` tiles; OpenMP
threads run whole blocks (each with its own scratch), BLAS runs single-threaded inside them, so
results never depend on the thread count. The kernel releases the GIL.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from scipy.linalg.cython_blas cimport sgemm, dgemm

from ._blas_gemm cimport fc_gemm
from ._blas_pin cimport fc_blas_pin as _blas_pin, fc_blas_register, fc_blas_restore as _blas_restore
from ._scratch import scratch
from ._wgmul_kernels cimport (
    fcw_gacc_f32, fcw_gacc_f64, fcw_gmul_f32, fcw_gmul_f64, fcw_gmul_f32_t, fcw_gmul_f64_t, fcw_group_chunk,
)

cdef extern from "_conv1d_winograd_kernels.h" nogil:
    ctypedef void (*w1_in_f32_t)(const float* const*, float*, Py_ssize_t, Py_ssize_t, const float*)
    ctypedef void (*w1_in_f64_t)(const double* const*, double*, Py_ssize_t, Py_ssize_t, const double*)
    ctypedef void (*w1_out_f32_t)(const float*, Py_ssize_t, float*, Py_ssize_t, Py_ssize_t, const float*,
                                  const float*)
    ctypedef void (*w1_out_f64_t)(const double*, Py_ssize_t, double*, Py_ssize_t, Py_ssize_t, const double*,
                                  const double*)
    ctypedef void (*w1_inc_f32_t)(const float* const*, float*, Py_ssize_t, Py_ssize_t)
    ctypedef void (*w1_inc_f64_t)(const double* const*, double*, Py_ssize_t, Py_ssize_t)
    w1_in_f32_t w1_in_f32()
    w1_in_f64_t w1_in_f64()
    w1_inc_f32_t w1_inc_f32(int which)
    w1_inc_f64_t w1_inc_f64(int which)
    const double* const w1_compiled[4]
    w1_out_f32_t w1_out_f32()
    w1_out_f64_t w1_out_f64()
    const char* w1_simd_name()


def _register_blas_threads() -> None:
    """Register the BLAS library's set/get-num-threads functions, so that the kernel can pin
    BLAS to one thread while OpenMP threads call it."""
    from ._threads import blas_thread_functions

    set_addr, get_addr = blas_thread_functions()
    fc_blas_register(set_addr, get_addr)


_register_blas_threads()


def simd_level() -> str:
    """The FASTCONV_SIMD name of the instruction-set level the tile transforms run at."""
    return w1_simd_name().decode()

cdef enum:
    A = 8  # transform points


cdef inline void _gemm_acc(int m, int n, int k, const floating* a, const floating* b, floating* c) noexcept nogil:
    """Column-major C (m, n) += A (m, k) @ B (n, k)^T, leading dimensions m, n, m."""
    cdef char tn = b"N", tt = b"T"
    cdef floating one = 1
    if floating is float:
        sgemm(&tn, &tt, &m, &n, &k, &one, <float*>a, &m, <float*>b, &n, &one, c, &m)
    else:
        dgemm(&tn, &tt, &m, &n, &k, &one, <double*>a, &m, <double*>b, &n, &one, c, &m)


def compiled_transforms():
    """The transforms compiled into the kernels, float64 (8, 8) each: ``BT``, then ``A8`` (AT
    transposed, columns m.. zero) for m = 4, 5, 6. A kernel given a matrix equal to one of these (in
    its dtype) runs the compiled transform, which leaves out the zero entries (the same sums in the
    same order otherwise); any other matrix runs the general one."""
    return tuple(np.array([w1_compiled[i][j] for j in range(64)]).reshape(8, 8) for i in range(4))


cdef int _compiled(const floating[:, ::1] mat, int which) noexcept:
    """``which`` if ``mat`` (8 x 8) equals compiled transform ``which`` in its dtype, else -1."""
    cdef int i
    for i in range(64):
        if mat[i // 8, i % 8] != <floating>w1_compiled[which][i]:
            return -1
    return which


cdef inline void _transform(const floating* const* rows, const floating* mat, int which, floating* dst,
                            Py_ssize_t ld, Py_ssize_t C) noexcept nogil:
    """dst[al * ld : al * ld + C] = (mat @ rows)[al]: the compiled transform ``which``, or (-1) the
    general one on ``mat``."""
    if floating is float:
        if which >= 0:
            w1_inc_f32(which)(rows, dst, ld, C)
        else:
            w1_in_f32()(rows, dst, ld, C, mat)
    else:
        if which >= 0:
            w1_inc_f64(which)(rows, dst, ld, C)
        else:
            w1_in_f64()(rows, dst, ld, C, mat)


cdef inline void _input_tile(const floating* x, const floating* bt, int which, const floating* zeros,
                             floating* dst, Py_ssize_t ld, Py_ssize_t n, Py_ssize_t t, Py_ssize_t m,
                             Py_ssize_t pl, Py_ssize_t L, Py_ssize_t C) noexcept nogil:
    """Tile t of image n: dst[al * ld : al * ld + C] = (BT @ the tile's A input rows)[al], rows
    outside 0..L-1 read as zeros (BT the compiled one if ``which`` is 0)."""
    cdef Py_ssize_t j, l
    cdef const floating* rows[A]
    for j in range(A):
        l = t * m - pl + j
        rows[j] = x + (n * L + l) * C if 0 <= l < L else zeros
    _transform(rows, bt, which, dst, ld, C)


#: The register-blocked products' chunk: with ``gmul``, Co must be a multiple of it.
GROUP_CHUNK = fcw_group_chunk()


def _check_gmul(bint gmul, Py_ssize_t co):
    """A ValueError where ``gmul`` asks for the register-blocked products on a partial chunk."""
    if gmul and co % GROUP_CHUNK:
        raise ValueError(f"gmul=True needs output channels in multiples of {GROUP_CHUNK}, got {co}")


cdef void _dw_block(const floating* x, const floating* dy, floating* acc, const floating* bt, int bt_which,
                    const floating* a8, int a8_which, const floating* zeros, floating* v, floating* d,
                    Py_ssize_t t0, Py_ssize_t t1, Py_ssize_t T, Py_ssize_t m, Py_ssize_t pl,
                    Py_ssize_t L, Py_ssize_t Lo, Py_ssize_t C, Py_ssize_t Co, double* db, bint gm) noexcept nogil:
    """Tiles t0..t1-1: v (A, nt, C) = BT @ the tiles' inputs, d (A, nt, Co) = A8 @ their output
    gradients, then acc[al] (C, Co) += v[al]^T @ d[al] for the A points (by BLAS, or with ``gm`` by
    the register-blocked kernel); with ``db``, also
    db (Co,) += d[1] summed over the tiles in order in float64 (A8's row at the point 1 is all ones:
    d[1] is each tile's sum of dy)."""
    cdef Py_ssize_t nt = t1 - t0, i, tt, n, t, j, al, l, o
    cdef const floating* rows[A]
    cdef fcw_gmul_f32_t facc = fcw_gacc_f32()
    cdef fcw_gmul_f64_t dacc = fcw_gacc_f64()
    for i in range(nt):
        tt = t0 + i
        n = tt // T
        t = tt - n * T
        _input_tile(x, bt, bt_which, zeros, v + i * C, nt * C, n, t, m, pl, L, C)
        for j in range(A):
            l = t * m + j
            rows[j] = dy + (n * Lo + l) * Co if j < m and l < Lo else zeros
        _transform(rows, a8, a8_which, d + i * Co, nt * Co, Co)
    for al in range(A):
        # row-major acc[al] (C, Co) += v[al]^T d[al], as column-major acc^T (Co, C) += d^T (Co, nt) @ v^T (C, nt)^T
        if not gm:
            _gemm_acc(<int>Co, <int>C, <int>nt, d + al * nt * Co, v + al * nt * C, acc + al * C * Co)
        elif floating is float:
            facc(v + al * nt * C, d + al * nt * Co, acc + al * C * Co, nt, C, Co, 1)
        else:
            dacc(v + al * nt * C, d + al * nt * Co, acc + al * C * Co, nt, C, Co, 1)
    if db != NULL:
        for i in range(nt):
            for o in range(Co):
                db[o] += d[nt * Co + i * Co + o]


def winograd1d_weight_grad_kernel(
    const floating[:, :, ::1] x,       # IN  (N, L, C), the forward input
    const floating[:, :, ::1] dy,      # IN  (N, Lo, Co), the output gradient
    floating[:, :, :, ::1] parts,      # OUT (P, 8, C, Co): each part's sum over its tiles, overwritten
    const floating[:, ::1] bt,         # IN  (8, 8) input transform
    const floating[:, ::1] a8,         # IN  (8, 8): the output transform transposed, columns m.. zero
    Py_ssize_t m,                      # outputs per tile
    Py_ssize_t pl,                     # zeros before x[:, 0] in the forward
    Py_ssize_t tiles_per_block,
    int num_threads,
    double[:, ::1] db_parts=None,      # OUT (P, Co), optional: each part's sum of dy, overwritten
    bint general=False,                # the general transforms even for the compiled matrices (checks)
    bint gmul=False,                   # the products by the register-blocked kernel (Co a multiple of 16)
) -> None:
    """The weight gradient in the transform domain, in P fixed parts: part p sums
    ``(BT d_t)[al]^T (A8 dy_t)[al]`` over the tiles t of its fixed contiguous range, block by block
    in order (the wrapper sums the parts in order and applies G^T: results do not depend on the
    thread count). With ``db_parts`` (A8's row 1, the point 1, all ones up to m), part p's sum of
    dy too, from the same pass: each tile's transformed row 1 added in float64 in tile order.
    ``bt`` and ``a8`` equal to compiled ones (:func:`compiled_transforms`) run the compiled
    transforms."""
    cdef Py_ssize_t N = x.shape[0], L = x.shape[1], C = x.shape[2], Co = dy.shape[2], Lo = dy.shape[1]
    cdef Py_ssize_t P = parts.shape[0], TB = tiles_per_block, T, ntiles, p, t0, t1, tb, j
    cdef floating* work
    cdef floating* accp
    cdef double* dbp = NULL
    cdef int prev
    if bt.shape[0] != A or bt.shape[1] != A or a8.shape[0] != A or a8.shape[1] != A or not 1 <= m < A:
        raise ValueError(f"bt {tuple(bt.shape)[:2]}, a8 {tuple(a8.shape)[:2]} are not 8-point transforms")
    if (dy.shape[0] != N or parts.shape[1] != A or parts.shape[2] != C or parts.shape[3] != Co or P < 1
            or TB < 1):
        raise ValueError(f"dy {tuple(dy.shape)[:3]}, parts {tuple(parts.shape)[:4]} do not fit x {tuple(x.shape)[:3]}")
    if db_parts is not None:
        if db_parts.shape[0] != P or db_parts.shape[1] != Co:
            raise ValueError(f"db_parts {tuple(db_parts.shape)[:2]} must be (P, Co) = {(P, Co)}")
        if any(a8[1, j] != 1 for j in range(m)):
            raise ValueError("a8's row 1 must be all ones up to m (the point 1) to give the sum of dy")
        if C == 0 and Co:
            raise ValueError("db_parts needs C >= 1 (the sums come from the weight gradient's pass)")
        db_parts[...] = 0
        if Co:
            dbp = &db_parts[0, 0]
    _check_gmul(gmul, Co)
    if C == 0 or Co == 0:
        return
    parts[...] = 0
    if N == 0 or L == 0 or Lo == 0:
        return
    T = (Lo + m - 1) // m
    ntiles = N * T
    cdef int bt_which = -1 if general else _compiled(bt, 0)
    cdef int a8_which = -1 if general or not 4 <= m <= 6 else _compiled(a8, m - 3)
    # the threads' tile buffers, kept between calls (fresh pages would be faulted in on every call)
    work_rows = scratch("winograd1d.work", (max(1, num_threads), A * TB * (C + Co)),
                        np.float32 if floating is float else np.float64)
    zs = np.zeros(max(C, Co), dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] zv = zs
    cdef floating[:, ::1] ws = work_rows
    with nogil:
        prev = _blas_pin()
        for p in prange(P, schedule="dynamic", num_threads=num_threads):
            work = &ws[threadid(), 0]
            accp = &parts[p, 0, 0, 0]
            tb = p * ntiles // P
            t0 = (p + 1) * ntiles // P
            while tb < t0:
                t1 = min(tb + TB, t0)
                _dw_block(&x[0, 0, 0], &dy[0, 0, 0], accp, &bt[0, 0], bt_which, &a8[0, 0], a8_which, &zv[0], work,
                          work + A * TB * C, tb, t1, T, m, pl, L, Lo, C, Co, NULL if dbp == NULL else dbp + p * Co,
                          gmul)
                tb = t1
        _blas_restore(prev)


cdef void _block(const floating* x, const floating* gu, const floating* bias, floating* y,
                 const floating* bt, int bt_which, const floating* at, const floating* zeros, floating* v, floating* mb,
                 Py_ssize_t t0, Py_ssize_t t1, Py_ssize_t T, Py_ssize_t m, Py_ssize_t pl,
                 Py_ssize_t L, Py_ssize_t Lo, Py_ssize_t C, Py_ssize_t Co, bint gm) noexcept nogil:
    """Tiles t0..t1-1 (flattened (n, t)): input transform into v (A, nt, C), A products into
    mb (A, nt, Co) (by BLAS, or with ``gm`` by the register-blocked kernel), output transform (plus
    bias) into y."""
    cdef Py_ssize_t nt = t1 - t0, i, tt, n, t, al
    cdef fcw_gmul_f32_t fmul = fcw_gmul_f32()
    cdef fcw_gmul_f64_t dmul = fcw_gmul_f64()
    for i in range(nt):
        tt = t0 + i
        n = tt // T
        t = tt - n * T
        _input_tile(x, bt, bt_which, zeros, v + i * C, nt * C, n, t, m, pl, L, C)
    for al in range(A):
        # row-major mb[al] (nt, Co) = v[al] (nt, C) @ gu[al] (C, Co), as column-major mb^T = gu^T v^T
        if not gm:
            fc_gemm(<int>Co, <int>nt, <int>C, gu + al * C * Co, <int>Co, v + al * nt * C, <int>C, mb + al * nt * Co,
                    <int>Co)
        elif floating is float:
            fmul(v + al * nt * C, gu + al * C * Co, mb + al * nt * Co, nt, C, Co, 1)
        else:
            dmul(v + al * nt * C, gu + al * C * Co, mb + al * nt * Co, nt, C, Co, 1)
    for i in range(nt):
        tt = t0 + i
        n = tt // T
        t = tt - n * T
        if floating is float:
            w1_out_f32()(mb + i * Co, nt * Co, y + (n * Lo + t * m) * Co, min(m, Lo - t * m), Co, at, bias)
        else:
            w1_out_f64()(mb + i * Co, nt * Co, y + (n * Lo + t * m) * Co, min(m, Lo - t * m), Co, at, bias)


def winograd1d_kernel(
    const floating[:, :, ::1] x,     # IN  (N, L, C)
    const floating[:, :, ::1] gu,    # IN  (8, C, Co): the transformed weights G @ u
    const floating[::1] b,           # IN  (Co,), or empty for no bias
    floating[:, :, ::1] y,           # OUT (N, Lo, Co), fully overwritten
    const floating[:, ::1] bt,       # IN  (8, 8) input transform
    const floating[:, ::1] at,       # IN  (m, 8) output transform
    Py_ssize_t pl,                   # zeros before x[:, 0] (may be negative: x's first rows skipped)
    Py_ssize_t tiles_per_block,
    int num_threads,
    bint general=False,              # the general input transform even for the compiled BT (checks)
    bint gmul=False,                 # the products by the register-blocked kernel (Co a multiple of 16)
) -> None:
    """y = the stride-1 correlation of x with the kernel whose transform is gu (plus b), by
    F(m, 9 - m) tiles; ``Lo`` is y's length and every output is written. A ``bt`` equal to the
    compiled one (:func:`compiled_transforms`) runs the compiled input transform."""
    cdef Py_ssize_t N = x.shape[0], L = x.shape[1], C = x.shape[2], Co = y.shape[2], Lo = y.shape[1]
    cdef Py_ssize_t m = at.shape[0], T, ntiles, nblocks, TB = tiles_per_block, blk, t0, t1
    cdef const floating* bp = NULL
    cdef floating* work
    cdef int prev
    if gu.shape[0] != A or bt.shape[0] != A or bt.shape[1] != A or at.shape[1] != A or not 1 <= m < A:
        raise ValueError(f"gu {tuple(gu.shape)[:3]}, bt {tuple(bt.shape)[:2]}, at {tuple(at.shape)[:2]} "
                         f"are not 8-point transforms")
    if gu.shape[1] != C or gu.shape[2] != Co or y.shape[0] != N or b.shape[0] not in (0, Co) or TB < 1:
        raise ValueError(f"gu {tuple(gu.shape)[:3]}, b ({b.shape[0]},), y {tuple(y.shape)[:3]} do not fit "
                         f"x {tuple(x.shape)[:3]}")
    _check_gmul(gmul, Co)
    if y.size == 0:
        return
    if C == 0 or L == 0:
        raise ValueError("winograd1d_kernel needs input channels and a non-empty x")
    T = (Lo + m - 1) // m
    ntiles = N * T
    nblocks = (ntiles + TB - 1) // TB
    if b.shape[0]:
        bp = &b[0]
    cdef int bt_which = -1 if general else _compiled(bt, 0)
    work_rows = scratch("winograd1d.work", (max(1, num_threads), A * TB * (C + Co)),
                        np.float32 if floating is float else np.float64)
    zs = np.zeros(C, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] zv = zs
    cdef floating[:, ::1] ws = work_rows
    with nogil:
        prev = _blas_pin()
        for blk in prange(nblocks, schedule="dynamic", num_threads=num_threads):
            t0 = blk * TB
            t1 = min(t0 + TB, ntiles)
            work = &ws[threadid(), 0]
            _block(&x[0, 0, 0], &gu[0, 0, 0], bp, &y[0, 0, 0], &bt[0, 0], bt_which, &at[0, 0], &zv[0], work,
                   work + A * TB * C, t0, t1, T, m, pl, L, Lo, C, Co, gmul)
        _blas_restore(prev)
