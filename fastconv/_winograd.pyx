# cython: language_level=3
"""Winograd convolution F(m x m, r x r) for 3x3 and 2x2 stride-1 layers (NHWC, (r, r, C, Cout) weights).

An even tile size m (2, 4, 6) is F(m x m, 3 x 3), for 3x3 kernels; an odd one (3, 5) is
F(m x m, 2 x 2), for 2x2 kernels (on the same Toom-Cook points as F(m - 1, 3), so the same
input transform): :func:`kernel_size` gives r, and the tile is alpha = m + r - 1 pixels wide.

The output is cut into m x m tiles (over the whole batch, flattened in (n, tile row, tile column)
order) and the tiles into fixed blocks of ``T`` tiles. For each block a thread

1. transforms the block's alpha x alpha input patches, ``V = B^T d B``, into ``alpha**2`` row-major
   ``(T, C)`` matrices (channels innermost, so the transform loops vectorise; patch
   pixels outside the padded input read a zero row),
2. multiplies each with the transformed weights, ``M_p = V_p @ U_p`` (``(T, C) @ (C, Cout)``), by
   BLAS (``sgemm``/``dgemm`` from ``scipy.linalg.cython_blas``, pinned to one thread while OpenMP
   threads run blocks, so the two pools never multiply),
3. transforms back, ``Y = A^T M A``, adds the bias and stores the in-range pixels of each tile.

A phase view (``y_phases`` of the forward, ``dy_phases`` of the gradients) lets the logical
output (or output gradient) be P = 1 to 4 stride-2 interleaved phases of a stored array: logical
pixel (i, j), channel block q, is stored pixel (2i + dr_q, 2j + ds_q). The tile transforms read
and write those pixels in place, one phase's channel block at a time, so a stride-2 transposed
convolution computed as one stride-1 convolution over its output phases
(:mod:`fastconv.conv_transpose`) needs no phase planes and no copies.

Grouped layers (weights (r, r, C/groups, Cout), groups inferred from the shapes) run the same
transforms over all channels; step 2 is then block-diagonal, one ``(T, C/groups) @ (C/groups,
Cout/groups)`` product per group, by the family's register-blocked kernel (``_winograd.h``) where
Cout/groups is a multiple of its 16-element chunk, else by BLAS per group. Where the transforms
run at AVX2, ungrouped layers whose Cout is a multiple of the chunk take that kernel too (one
group): there it measured 0.5-0.7 of BLAS's time (``_UNGROUPED_GMUL_AT``).

Everything a block touches (its ``alpha**2 * T * (C + Cout)`` scratch) is sized for a core's L2.
The transforms ``B^T``, ``G``, ``A^T`` are Toom-Cook matrices on the points 0, +-1, +-2, +-1/2
(built exactly with fractions in :func:`transforms`); the weights are transformed in float64 and
rounded once. Blocks are fixed by the tile count alone and each is computed by the same sequence
of operations, so results do not depend on the thread count.

Public entry points: :func:`winograd_forward`, :func:`winograd_backward_input`,
:func:`winograd_backward_weights`,
:func:`transforms`, :func:`default_tile`, :func:`block_tiles`, :func:`kernel_size`.
"""
from fractions import Fraction

import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from scipy.linalg.cython_blas cimport sgemm, dgemm
from libc.string cimport memset

from ._blas_pin cimport fc_blas_available, fc_blas_pin as _blas_pin, fc_blas_register
from ._blas_pin cimport fc_blas_restore as _blas_restore
from ._blas_gemm cimport fc_gemm as _gemm

from ._transpose_strided cimport transpose_strided
from ._wgmul_kernels cimport (
    fcw_gacc_f32, fcw_gacc_f64, fcw_gmul_f32, fcw_gmul_f64, fcw_gmul_f32_t, fcw_gmul_f64_t, fcw_group_chunk,
)
from ._scratch import scratch

# Toom-Cook points for each output tile size m (alpha - 1 finite points, plus infinity).
_POINTS = {
    2: (0, 1, -1),
    4: (0, 1, -1, 2, -2),
    6: (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2)),
    3: (0, 1, -1),
    5: (0, 1, -1, 2, -2),
}
# The default tile of 2x2 kernels (m = 0): F(3x3, 2x2), the tile the transposed convolution's phase
# route passes (fastconv.conv_transpose._PHASE_TILES says why).
_DEFAULT_TILE_2 = 3
# Scratch bytes per block (V and M for all alpha**2 positions): a good share of a core's L2, so
# the block stays cached from the input transform through the GEMMs to the output transform.
_BLOCK_BYTES = 1 << 20
_MIN_BLOCK_TILES = 16
_MAX_BLOCK_TILES = 512
# At least this many blocks when the layer has the tiles for it (fixed, not the thread count).
_MIN_BLOCKS = 8
_transform_cache = {}


def _register_blas_pinning(size_t set_addr, size_t get_addr):
    """Register the BLAS set/get-num-threads functions (addresses; 0 to clear)."""
    fc_blas_register(set_addr, get_addr)


from ._threads import blas_thread_functions  # registered at import, as for the im2col kernels
_register_blas_pinning(*blas_thread_functions())


def blas_pinning_available():
    """Return True if BLAS can be pinned to one thread while OpenMP threads call it."""
    return fc_blas_available()


cdef inline Py_ssize_t _alpha(Py_ssize_t m) noexcept nogil:
    """The tile width of output tile size m: m + 2 for F(m, 3) (even m), m + 1 for F(m, 2) (odd m)."""
    return m + 1 if m % 2 else m + 2


def kernel_size(int m):
    """The kernel size r of tile size ``m``: 3 for an even m (F(m x m, 3 x 3)), 2 for an odd one."""
    if m not in _POINTS:
        raise ValueError(f"m must be one of {sorted(_POINTS)}, got {m!r}")
    return 2 if m % 2 else 3


def transforms(int m):
    """Toom-Cook matrices of F(m x m, r x r) as float64 arrays ``(BT, G, AT)``.

    ``BT`` is (alpha, alpha), ``G`` (alpha, r), ``AT`` (m, alpha) with r = :func:`kernel_size`
    and alpha = m + r - 1; for any 1-D signal d of length alpha and filter g of length r,
    ``AT @ ((G @ g) * (BT @ d))`` is the valid correlation ``y[k] = sum_j g[j] d[k + j]``. The
    matrices are derived and checked with exact rational arithmetic; every entry is a small dyadic
    or sixth-type fraction.

    Parameters
    ----------
    m : {2, 4, 6} for 3x3 kernels, {3, 5} for 2x2 kernels
        Output tile size.

    Returns
    -------
    BT, G, AT : ndarray of float64
    """
    if m not in _POINTS:
        raise ValueError(f"m must be one of {sorted(_POINTS)}, got {m!r}")
    if m in _transform_cache:
        return tuple(a.copy() for a in _transform_cache[m])
    pts = [Fraction(p) for p in _POINTS[m]]
    r = kernel_size(m)
    alpha = m + r - 1
    # A^T: column i holds powers of point i; the point at infinity picks the top coefficient.
    at = [[pts[i] ** k if i < alpha - 1 else Fraction(int(k == m - 1)) for i in range(alpha)] for k in range(m)]
    # G: row i evaluates the filter polynomial at point i, scaled by 1/prod_{k != i}(a_i - a_k).
    g = []
    for i in range(alpha):
        if i == alpha - 1:
            g.append([Fraction(int(j == r - 1)) for j in range(r)])
            continue
        scale = Fraction(1)
        for k in range(alpha - 1):
            if k != i:
                scale *= pts[i] - pts[k]
        g.append([pts[i] ** j / scale for j in range(r)])
    # B^T solves sum_i AT[k,i] G[i,j] BT[i,l] = [l == k + j] for all k, j, l (a unique solution,
    # found in float64 and snapped to small rationals, then verified exactly).
    eqs = np.zeros((m * r * alpha, alpha * alpha))
    rhs = np.zeros(m * r * alpha)
    row = 0
    for k in range(m):
        for j in range(r):
            for l in range(alpha):
                for i in range(alpha):
                    eqs[row, i * alpha + l] = float(at[k][i] * g[i][j])
                rhs[row] = 1.0 if l == k + j else 0.0
                row += 1
    sol = np.linalg.lstsq(eqs, rhs, rcond=None)[0]
    bt = [[Fraction(float(sol[i * alpha + l])).limit_denominator(64) for l in range(alpha)] for i in range(alpha)]
    for k in range(m):
        for j in range(r):
            for l in range(alpha):
                s = sum(at[k][i] * g[i][j] * bt[i][l] for i in range(alpha))
                if s != (1 if l == k + j else 0):
                    raise RuntimeError(f"Toom-Cook transform for m={m} failed its exact check")
    out = tuple(np.array([[float(v) for v in rw] for rw in mat]) for mat in (bt, g, at))
    _transform_cache[m] = out
    return tuple(a.copy() for a in out)


def default_tile(Py_ssize_t c, Py_ssize_t cout, bint double_precision):
    """Output tile size m for a layer with ``c`` -> ``cout`` channels: 4, F(4x4, 3x3).

    F(4x4, 3x3) does 4x fewer multiplies than direct convolution in its GEMMs, F(6x6, 3x3) 5.06x
    and F(2x2, 3x3) 2.25x; the transforms cost grows with the tile. Measured (float32, calls
    interleaved, medians, 1 thread) F(4x4) took 0.27-0.46 of the direct kernels' time on
    64->64 and 128->128 layers, F(2x2) 0.43-0.57 and F(6x6) 0.44-1.4; on 16->32 F(4x4) and
    F(6x6) tie (0.6-0.9). Float32 error on the benchmarked layers: 4e-7 (m=2), 8e-6 (m=4),
    1.3e-5 (m=6) of max |y|.
    """
    return 4


def block_tiles(Py_ssize_t ntiles, Py_ssize_t m, Py_ssize_t c, Py_ssize_t cout, Py_ssize_t itemsize):
    """Tiles per block: V and M of a block take about _BLOCK_BYTES; at least _MIN_BLOCKS blocks.

    Depends only on the layer, never on the thread count.
    """
    cdef Py_ssize_t a2 = _alpha(m) * _alpha(m)
    t = _BLOCK_BYTES // (a2 * (c + cout) * itemsize)
    t = min(t, -(-ntiles // _MIN_BLOCKS))
    t = max(_MIN_BLOCK_TILES, min(_MAX_BLOCK_TILES, t))
    return int(max(1, min(ntiles, t)))


cdef inline Py_ssize_t _round16(Py_ssize_t n) noexcept nogil:
    return (n + 15) // 16 * 16


cdef inline Py_ssize_t _plane_ld(Py_ssize_t n, Py_ssize_t itemsize) noexcept nogil:
    """Elements from one alpha**2 plane of a block's V, M or D to the next, for ``n`` elements per
    plane: a whole number of 64-byte lines, and an odd one. A tile's transform touches the same
    offset in every plane; with planes a multiple of 4 KiB apart (64 channels and a multiple of
    16 tiles in float32, say) those alpha**2 lines fall into one or two sets of the L1 cache and
    evict each other. An odd number of lines spreads them over alpha**2 sets."""
    cdef Py_ssize_t per = 64 // itemsize, lines = (n + per - 1) // per
    if lines % 2 == 0:
        lines += 1
    return lines * per


# One thread's scratch row (``_workspace_len`` elements, each part 64-byte aligned): the alpha**2
# tile pointers | V (alpha**2 planes ldv apart) | M or D (alpha**2 planes ldm apart) | the NCHW stage.
cdef inline floating* _ws_v(floating* row, Py_ssize_t a2) noexcept nogil:
    """The V part of a scratch row (after the a2 pointers)."""
    return row + _round16(a2 * 8 // sizeof(floating))


cdef inline floating* _ws_after(floating* part, Py_ssize_t a2, Py_ssize_t ld) noexcept nogil:
    """The part after ``part``, a2 planes ``ld`` apart."""
    return part + _round16(a2 * ld)


def plane_stride(Py_ssize_t n, Py_ssize_t itemsize):
    """Elements between consecutive planes of ``n`` elements in the transform workspaces (an odd
    number of 64-byte lines, at least ``n``)."""
    return _plane_ld(n, itemsize)


cdef extern from "_winograd_kernels.h" nogil:
    ctypedef void (*fcw_in_f32_t)(const float* const*, float*, Py_ssize_t, Py_ssize_t) noexcept nogil
    ctypedef void (*fcw_out_f32_t)(const float*, Py_ssize_t, float* const*, const float*, Py_ssize_t) noexcept nogil
    ctypedef void (*fcw_in_f64_t)(const double* const*, double*, Py_ssize_t, Py_ssize_t) noexcept nogil
    ctypedef void (*fcw_out_f64_t)(const double*, Py_ssize_t, double* const*, const double*, Py_ssize_t) noexcept nogil
    fcw_in_f32_t fcw_input_f32(int m)
    fcw_in_f32_t fcw_gradout_f32(int m)
    fcw_in_f64_t fcw_gradout_f64(int m)
    fcw_out_f32_t fcw_output_f32(int m)
    fcw_in_f64_t fcw_input_f64(int m)
    fcw_out_f64_t fcw_output_f64(int m)
    const double* fcw_matrix(int m, int which_at)
    const char* fcw_simd_name()
    ctypedef void (*fcw_colsum_f32_t)(const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, double*) noexcept nogil
    ctypedef void (*fcw_colsum_f64_t)(const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, double*) noexcept nogil
    fcw_colsum_f32_t fcw_colsum_f32()
    fcw_colsum_f64_t fcw_colsum_f64()


def simd_path():
    """The instruction-set level the tile transforms run at (a ``FASTCONV_SIMD`` name, e.g. ``"avx2"``)."""
    return fcw_simd_name().decode()


def compiled_matrices(int m):
    """The ``(BT, AT)`` matrices compiled into the tile transforms (for checks against :func:`transforms`)."""
    if m not in _POINTS:
        raise ValueError(f"m must be one of {sorted(_POINTS)}, got {m!r}")
    cdef const double* bt = fcw_matrix(m, 0)
    cdef const double* at = fcw_matrix(m, 1)
    a = _alpha(m)
    return (np.array([bt[i] for i in range(a * a)]).reshape(a, a),
            np.array([at[i] for i in range(m * a)]).reshape(m, a))


# A phase view: the logical (N, Hl, Wl, P * Cq) array whose pixel (h, w), channels q*Cq .. (q+1)*Cq,
# is pixel (2h + dr[q], 2w + ds[q]) of a stored (N, Hb, Wb, Cq) array (reads 0 and is not written
# where that pixel lies outside it). A stride-2 transposed convolution's output phases are such a
# view of its output: each phase is a stride-1 convolution of x, and the phases' weights side by
# side make one convolution with P * Cq outputs, read and written in place through the view.
cdef struct _Phases:
    Py_ssize_t P, Hl, Wl, Hb, Wb
    Py_ssize_t dr[4]
    Py_ssize_t ds[4]


cdef inline const floating* _phase_pixel(
    const floating* base, const _Phases* ph, Py_ssize_t q, Py_ssize_t n, Py_ssize_t h, Py_ssize_t w,
    Py_ssize_t Cq,
) noexcept nogil:
    """The stored pixel of phase q of logical pixel (n, h, w), or NULL outside the stored array."""
    cdef Py_ssize_t hb = 2 * h + ph.dr[q], wb = 2 * w + ph.ds[q]
    if hb < 0 or hb >= ph.Hb or wb < 0 or wb >= ph.Wb:
        return NULL
    return base + ((n * ph.Hb + hb) * ph.Wb + wb) * Cq


cdef void _tiles(
    const floating* x, floating* v, const floating** rows, Py_ssize_t t0, Py_ssize_t t1,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t tiles_h, Py_ssize_t tiles_w,
    Py_ssize_t m, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t ldv, const _Phases* phv=NULL,
) noexcept nogil:
    """V[p, t - t0, :] = (B^T d_t B)[p] for tiles t0..t1; plane p of V starts at v + p * ldv and holds
    (t1 - t0, C) values. With ``phv``, x is the stored array of that phase view of the (N, H, W, C)
    input: one input transform per phase, into its Cq = C / P columns of V."""
    cdef Py_ssize_t P = 1 if phv == NULL else phv.P, Cq = C // P, q
    cdef Py_ssize_t alpha = _alpha(m), t, n, r, th, tw, i, s, hi, wi
    cdef fcw_in_f32_t fin
    cdef fcw_in_f64_t din
    if floating is float:
        fin = fcw_input_f32(<int>m)
    else:
        din = fcw_input_f64(<int>m)
    for t in range(t0, t1):
        n = t // (tiles_h * tiles_w)
        r = t - n * tiles_h * tiles_w
        th = r // tiles_w
        tw = r - th * tiles_w
        for q in range(P):
            for i in range(alpha):
                hi = th * m - ph + i
                for s in range(alpha):
                    wi = tw * m - pw + s
                    if hi < 0 or hi >= H or wi < 0 or wi >= W:
                        rows[i * alpha + s] = NULL
                    elif phv == NULL:
                        rows[i * alpha + s] = x + ((n * H + hi) * W + wi) * C
                    else:
                        rows[i * alpha + s] = _phase_pixel(x, phv, q, n, hi, wi, Cq)
            if floating is float:
                fin(rows, v + (t - t0) * C + q * Cq, ldv, Cq)
            else:
                din(rows, v + (t - t0) * C + q * Cq, ldv, Cq)


cdef inline void _tile_pixels(
    floating* base, floating** dst, Py_ssize_t t, Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t Cout,
    Py_ssize_t tiles_h, Py_ssize_t tiles_w, Py_ssize_t m, const _Phases* phv=NULL, Py_ssize_t q=0,
) noexcept nogil:
    """dst[k*m + l] = the Cout channels of pixel (k, l) of output tile t in the (N, Ho, Wo, Cout) array at
    base, or NULL where the tile reaches past (Ho, Wo). With ``phv``: the Cout channels of phase q of
    that pixel of the phase view's logical (N, Ho, Wo, P * Cout) array, base being the stored one
    (NULL too where that pixel lies outside it)."""
    cdef Py_ssize_t n = t // (tiles_h * tiles_w), r = t - n * tiles_h * tiles_w
    cdef Py_ssize_t th = r // tiles_w, tw = r - th * tiles_w, k, l, ho, wo
    for k in range(m):
        ho = th * m + k
        for l in range(m):
            wo = tw * m + l
            if ho >= Ho or wo >= Wo:
                dst[k * m + l] = NULL
            elif phv == NULL:
                dst[k * m + l] = base + ((n * Ho + ho) * Wo + wo) * Cout
            else:
                dst[k * m + l] = <floating*>_phase_pixel(base, phv, q, n, ho, wo, Cout)


cdef void _untiles(
    const floating* mm, Py_ssize_t ldm, floating* y, floating** dst, const floating* bias,
    Py_ssize_t t0, Py_ssize_t t1, Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t Cout,
    Py_ssize_t tiles_h, Py_ssize_t tiles_w, Py_ssize_t m, const _Phases* phv=NULL,
) noexcept nogil:
    """Y tile = A^T M A (+ bias) for tiles t0..t1 of the (N, Ho, Wo, Cout) array y, storing only
    pixels inside (Ho, Wo); tile t's M values are at mm + (t - t0) * Cout, ``ldm`` apart. With
    ``phv``, y is the stored array of that phase view of the (N, Ho, Wo, Cout) output."""
    cdef Py_ssize_t t, q, P = 1 if phv == NULL else phv.P, Cq = Cout // P
    cdef fcw_out_f32_t fout
    cdef fcw_out_f64_t dout
    if floating is float:
        fout = fcw_output_f32(<int>m)
    else:
        dout = fcw_output_f64(<int>m)
    for t in range(t0, t1):
        for q in range(P):  # each phase's Cq channels (all Cout without a phase view)
            _tile_pixels(y, dst, t, Ho, Wo, Cq, tiles_h, tiles_w, m, phv, q)
            if floating is float:
                fout(mm + (t - t0) * Cout + q * Cq, ldm, dst, NULL if bias == NULL else bias + q * Cq, Cq)
            else:
                dout(mm + (t - t0) * Cout + q * Cq, ldm, dst, NULL if bias == NULL else bias + q * Cq, Cq)


cdef void _untiles_nchw(
    const floating* mm, Py_ssize_t ldm, floating* y, floating** dst, const floating* bias, floating* stage,
    Py_ssize_t t0, Py_ssize_t t1, Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t Cout,
    Py_ssize_t tiles_h, Py_ssize_t tiles_w, Py_ssize_t m,
) noexcept nogil:
    """:func:`_untiles` into an NCHW y (N, Cout, Ho, Wo): the block's tiles of one tile row go
    through _untiles into ``stage``, an NHWC image of that tile row's valid pixels (up to m rows
    of up to tiles_w*m pixels of Cout values), whose rows then go into the Cout planes of y. The
    same values as _untiles."""
    cdef Py_ssize_t t = t0, e, n, r, th, tw, k, hv, wv
    while t < t1:
        n = t // (tiles_h * tiles_w)
        r = t - n * tiles_h * tiles_w
        th = r // tiles_w
        tw = r - th * tiles_w
        e = min(t1, t + tiles_w - tw)  # this tile row's tiles in the block: t .. e-1
        hv = min(m, Ho - th * m)  # the valid rows and columns of their pixels
        wv = min((e - t) * m, Wo - tw * m)
        _untiles(mm + (t - t0) * Cout, ldm, stage, dst, bias, 0, e - t, hv, wv, Cout, 1, e - t, m)
        for k in range(hv):  # d[c * Ho*Wo + j] = stage row k [j * Cout + c]
            transpose_strided(stage + k * wv * Cout, Cout, y + (n * Cout * Ho + th * m + k) * Wo + tw * m, Ho * Wo,
                              wv, Cout)
        t = e


# Whether ungrouped layers whose Cout is a multiple of the chunk (GROUP_CHUNK) multiply by the
# grouped layers' register-blocked products (one group) instead of BLAS, in the forward, dx and the
# weight gradient, by the level the transforms run at (the kernel's level). Time, register-blocked /
# BLAS (2 threads, calls alternating): at AVX2 (AMD Zen 3, OpenBLAS's Haswell kernel) forward and
# dx 0.67-0.72 on 16->32 to 64->64, 0.65 on 128->128, 0.53 on 256->256 (float32), 0.70-0.75 on
# 16->32 to 128->128 (float64); weight gradient 0.54-0.80 (float32), 0.70-0.82 (float64); at the
# SSE2 baseline forward 1.20-1.65 (BLAS runs AVX2 there); at AVX-512 (AMD Zen 5) forward within
# +-10 % either way on the medium, large and transposed-phase layers, so BLAS stays.
_UNGROUPED_GMUL_AT = {"baseline": False, "avx2": True, "avx512": False}
cdef bint _ungrouped_gmul = _UNGROUPED_GMUL_AT.get(fcw_simd_name().decode(), False)


#: The register-blocked products' chunk of output channels: the grouped layers' Cout / groups, and
#: an ungrouped layer's Cout where ungrouped_gmul() is on, must be a multiple of it.
GROUP_CHUNK = fcw_group_chunk()


def ungrouped_gmul():
    """Whether ungrouped layers (Cout a multiple of GROUP_CHUNK) multiply by the register-blocked
    products instead of BLAS in the forward, dx and weight gradient, at this process's level (see
    _UNGROUPED_GMUL_AT)."""
    return _ungrouped_gmul


cdef inline bint _gmul_serves(Py_ssize_t groups, Py_ssize_t cout) noexcept nogil:
    """Whether an ungrouped layer's products run on the register-blocked kernel (see ungrouped_gmul)."""
    return _ungrouped_gmul and groups == 1 and cout % fcw_group_chunk() == 0


def gmul_serves(Py_ssize_t cout):
    """Whether an ungrouped layer of ``cout`` output channels multiplies by the register-blocked
    products at this process's level: :func:`ungrouped_gmul` and Cout a multiple of GROUP_CHUNK."""
    return _gmul_serves(1, cout)


def set_ungrouped_gmul(bint on):
    """Set :func:`ungrouped_gmul` (for tests and benchmarks); returns the previous setting."""
    global _ungrouped_gmul
    prev = _ungrouped_gmul
    _ungrouped_gmul = on
    return prev


cdef void _forward(
    const floating[:, :, :, ::1] x, const floating[:, :, ::1] u, const floating* bias,
    floating[:, :, :, ::1] y, floating[:, ::1] work,
    Py_ssize_t m, Py_ssize_t T, Py_ssize_t ph, Py_ssize_t pw, int nthreads, bint y_nchw=False,
    const _Phases* phx=NULL, const _Phases* phy=NULL,
) noexcept nogil:
    """y = the convolution of x by the transformed weights u (+ bias); y is (N, Ho, Wo, Cout), or
    (N, Cout, Ho, Wo) if ``y_nchw`` (then each thread's scratch row ends in a stage for one tile
    row of output pixels, see _untiles_nchw). ``phx`` / ``phy``: x / y is the stored array of
    that phase view of the input / output (NHWC)."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Ho = y.shape[2] if y_nchw else y.shape[1], Wo = y.shape[3] if y_nchw else y.shape[2]
    cdef Py_ssize_t Cout = y.shape[1] if y_nchw else y.shape[3]
    if phx != NULL:
        H, W, C = phx.Hl, phx.Wl, C * phx.P
    if phy != NULL:
        Ho, Wo, Cout = phy.Hl, phy.Wl, Cout * phy.P
    # groups: u is (alpha**2, C/G, Cout); group g multiplies V's columns g*cg.. by U's g*og..
    cdef Py_ssize_t cg = u.shape[1], G = C // cg, og = Cout // G, g, chunk = fcw_group_chunk()
    cdef fcw_gmul_f32_t fgmul = fcw_gmul_f32()
    cdef fcw_gmul_f64_t dgmul = fcw_gmul_f64()
    cdef Py_ssize_t alpha = _alpha(m), a2 = alpha * alpha
    cdef Py_ssize_t tiles_h = (Ho + m - 1) // m, tiles_w = (Wo + m - 1) // m
    cdef Py_ssize_t ntiles = N * tiles_h * tiles_w
    cdef Py_ssize_t nblocks = (ntiles + T - 1) // T, blk, t0, t1, p, ldw = work.shape[1]
    cdef Py_ssize_t ldv = _plane_ld(T * C, sizeof(floating)), ldm = _plane_ld(T * Cout, sizeof(floating))
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* up = &u[0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef floating* wk = &work[0, 0]
    cdef floating* base
    cdef floating* v
    cdef floating* mm
    cdef const floating** rows
    cdef bint gm = _gmul_serves(G, Cout)  # ungrouped, by the register-blocked products
    cdef int prev = _blas_pin()
    for blk in prange(nblocks, schedule="dynamic", num_threads=nthreads):
        base = wk + threadid() * ldw
        # the thread's scratch row: the tile pointers | V | M | the NCHW stage
        rows = <const floating**>base
        v = _ws_v(base, a2)
        mm = _ws_after(v, a2, ldv)
        t0 = blk * T
        t1 = min(t0 + T, ntiles)
        _tiles(xp, v, rows, t0, t1, H, W, C, tiles_h, tiles_w, m, ph, pw, ldv, phx)
        for p in range(a2):
            # row-major M_p (rows, Cout) = V_p (rows, C) @ U_p (C, Cout), as column-major M^T = U^T V^T;
            # with groups, the block-diagonal product: one (rows, cg) @ (cg, og) GEMM per group
            # (by the family's own kernel where og is a multiple of its chunk: BLAS is slow on these
            # small products), one (rows, cg) @ (cg, og) product per group
            if G == 1 and not gm:
                _gemm(<int>Cout, <int>(t1 - t0), <int>C, up + p * C * Cout, <int>Cout,
                      v + p * ldv, <int>C, mm + p * ldm, <int>Cout)
            elif og % chunk == 0:
                if floating is float:
                    fgmul(v + p * ldv, up + p * cg * Cout, mm + p * ldm, t1 - t0, C, Cout, G)
                else:
                    dgmul(v + p * ldv, up + p * cg * Cout, mm + p * ldm, t1 - t0, C, Cout, G)
            else:
                for g in range(G):
                    _gemm(<int>og, <int>(t1 - t0), <int>cg, up + p * cg * Cout + g * og, <int>Cout,
                          v + p * ldv + g * cg, <int>C, mm + p * ldm + g * og, <int>Cout)
        if y_nchw:
            _untiles_nchw(mm, ldm, yp, <floating**>rows, bias, _ws_after(mm, a2, ldm), t0, t1, Ho, Wo, Cout,
                          tiles_h, tiles_w, m)
        else:
            _untiles(mm, ldm, yp, <floating**>rows, bias, t0, t1, Ho, Wo, Cout, tiles_h, tiles_w, m, phy)
    _blas_restore(prev)


cdef inline void _gemm_acc_tn(
    int m, int n, int k, const floating* a, int lda, const floating* b, int ldb, floating* c, int ldc,
) noexcept nogil:
    """Column-major C += A @ B^T via BLAS (A m x k, B n x k)."""
    cdef char tn = b"N"
    cdef char tt = b"T"
    cdef floating one = 1
    if floating is float:
        sgemm(&tn, &tt, &m, &n, &k, &one, <float*>a, &lda, <float*>b, &ldb, &one, c, &ldc)
    else:
        dgemm(&tn, &tt, &m, &n, &k, &one, <double*>a, &lda, <double*>b, &ldb, &one, c, &ldc)


cdef void _dytiles(
    const floating* dy, floating* v, const floating** rows, Py_ssize_t t0, Py_ssize_t t1,
    Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t Cout, Py_ssize_t tiles_h, Py_ssize_t tiles_w, Py_ssize_t m,
    Py_ssize_t ldd, const _Phases* phv=NULL,
) noexcept nogil:
    """D[p, t - t0, :] = (A dY_t A^T)[p] for tiles t0..t1 (pixels past Ho, Wo read 0); plane p of D
    starts at v + p * ldd and holds (t1 - t0, Cout) values. With ``phv``, dy is the stored array of
    that phase view of the (N, Ho, Wo, Cout) gradient: one transform per phase."""
    cdef Py_ssize_t t, q, P = 1 if phv == NULL else phv.P, Cq = Cout // P
    cdef fcw_in_f32_t fin
    cdef fcw_in_f64_t din
    if floating is float:
        fin = fcw_gradout_f32(<int>m)
    else:
        din = fcw_gradout_f64(<int>m)
    for t in range(t0, t1):
        for q in range(P):  # each phase's Cq channels (all Cout without a phase view)
            _tile_pixels(<floating*>dy, <floating**>rows, t, Ho, Wo, Cq, tiles_h, tiles_w, m, phv, q)
            if floating is float:
                fin(rows, v + (t - t0) * Cout + q * Cq, ldd, Cq)
            else:
                din(rows, v + (t - t0) * Cout + q * Cq, ldd, Cq)


cdef void _weights_grad(
    const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] parts,
    floating[:, ::1] work, Py_ssize_t m, Py_ssize_t T, Py_ssize_t ph, Py_ssize_t pw, int nthreads,
    double* dbp=NULL, Py_ssize_t pone=0, const _Phases* phd=NULL,
) noexcept nogil:
    """parts[q] (alpha**2, C, Cout) = sum over the tiles of part q of V_p^T D_p, the parts being fixed
    runs of whole blocks, each summed in block order by one thread. With ``dbp``, also dbp[q] (Cout,)
    = the float64 sum over the tiles of part q, in tile order, of D's plane ``pone`` (the point 1 in
    both directions, where ``A dY A^T`` is the tile's pixel sum): part q's share of the bias gradient."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Ho = dy.shape[1], Wo = dy.shape[2], Cout = dy.shape[3]
    if phd != NULL:  # dy is the stored array of this phase view of the gradient
        Ho, Wo, Cout = phd.Hl, phd.Wl, Cout * phd.P
    cdef Py_ssize_t alpha = _alpha(m), a2 = alpha * alpha, P = parts.shape[0]
    cdef Py_ssize_t cg = parts.shape[2], G = C // cg, og = Cout // G, g, chunk = fcw_group_chunk()
    cdef fcw_gmul_f32_t fgacc = fcw_gacc_f32()
    cdef fcw_gmul_f64_t dgacc = fcw_gacc_f64()
    cdef Py_ssize_t tiles_h = (Ho + m - 1) // m, tiles_w = (Wo + m - 1) // m
    cdef Py_ssize_t ntiles = N * tiles_h * tiles_w
    cdef Py_ssize_t nblocks = (ntiles + T - 1) // T, q, blk, t0, t1, p, ldw = work.shape[1]
    cdef Py_ssize_t ldv = _plane_ld(T * C, sizeof(floating)), ldd = _plane_ld(T * Cout, sizeof(floating))
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef floating* pp = &parts[0, 0, 0, 0]
    cdef floating* wk = &work[0, 0]
    cdef floating* base
    cdef floating* v
    cdef floating* dd
    cdef floating* acc
    cdef const floating* one
    cdef double* dbq
    cdef Py_ssize_t t, o
    cdef const floating** rows
    cdef bint gm = _gmul_serves(G, Cout)  # ungrouped, by the register-blocked products
    cdef int prev = _blas_pin()
    for q in prange(P, schedule="dynamic", num_threads=nthreads):
        base = wk + threadid() * ldw
        rows = <const floating**>base  # the thread's scratch row: the tile pointers | V | D
        v = _ws_v(base, a2)
        dd = _ws_after(v, a2, ldv)
        acc = pp + q * a2 * cg * Cout
        memset(acc, 0, a2 * cg * Cout * sizeof(floating))
        if dbp != NULL:
            memset(dbp + q * Cout, 0, Cout * sizeof(double))
        for blk in range(q * nblocks // P, (q + 1) * nblocks // P):
            t0 = blk * T
            t1 = min(t0 + T, ntiles)
            _tiles(xp, v, rows, t0, t1, H, W, C, tiles_h, tiles_w, m, ph, pw, ldv)
            _dytiles(dyp, dd, rows, t0, t1, Ho, Wo, Cout, tiles_h, tiles_w, m, ldd, phd)
            if dbp != NULL:
                dbq = dbp + q * Cout
                for t in range(t1 - t0):
                    one = dd + pone * ldd + t * Cout
                    for o in range(Cout):
                        dbq[o] += one[o]
            for p in range(a2):
                # row-major acc_p (C, Cout) += V_p^T (C, rows) @ D_p (rows, Cout), as column-major
                # acc^T (Cout, C) += D_p^T (Cout, rows) @ V_p (rows, C); with groups, acc_p is
                # (cg, Cout) and group g sums V's columns g*cg.. against D's g*og..
                if G == 1 and not gm:
                    _gemm_acc_tn(<int>Cout, <int>C, <int>(t1 - t0), dd + p * ldd, <int>Cout,
                                 v + p * ldv, <int>C, acc + p * C * Cout, <int>Cout)
                elif og % chunk == 0:
                    if floating is float:
                        fgacc(v + p * ldv, dd + p * ldd, acc + p * cg * Cout, t1 - t0, C, Cout, G)
                    else:
                        dgacc(v + p * ldv, dd + p * ldd, acc + p * cg * Cout, t1 - t0, C, Cout, G)
                else:
                    for g in range(G):
                        _gemm_acc_tn(<int>og, <int>cg, <int>(t1 - t0), dd + p * ldd + g * og, <int>Cout,
                                     v + p * ldv + g * cg, <int>C, acc + p * cg * Cout + g * og, <int>Cout)
    _blas_restore(prev)


cdef void _lmul(const double* a, Py_ssize_t p, Py_ssize_t q, const double* b, Py_ssize_t L, double* c,
                int nthreads) noexcept nogil:
    """Row-major c (p, L) = a (p, q) @ b (q, L) for a small a, as ``c[i] = a[i, 0] b[0]``, then
    ``c[i] += a[i, j] b[j]`` for j = 1 .. q-1 (the same operations for every element and thread
    count), over fixed chunks of L in parallel. The transforms' products: numpy's matmul would hand
    them to its own multi-threaded BLAS, whose threads then spin and hold the cores the next OpenMP
    region needs (measured: Winograd's weight gradient of a 112->112 layer, 2 threads, 8.0 ms
    against 2.5 ms with that BLAS limited to one thread)."""
    cdef Py_ssize_t nch = (L + 2047) // 2048, ch, e, e0, e1, i, j
    cdef double aij
    cdef double* ci
    cdef const double* bj
    for ch in prange(nch, schedule="static", num_threads=nthreads):
        e0 = ch * 2048
        e1 = min(L, e0 + 2048)
        for i in range(p):
            ci = c + i * L
            aij = a[i * q]
            for e in range(e0, e1):
                ci[e] = aij * b[e]
            for j in range(1, q):
                aij = a[i * q + j]
                bj = b + j * L
                for e in range(e0, e1):
                    ci[e] = ci[e] + aij * bj[e]


def _left_matmul(a, b, out, int nthreads=1):
    """``out[...] = a @ b`` for a small float64 matrix ``a`` (p, q) and a float64 ``b`` of shape
    (q, L) or (B, q, L) (then ``out`` is (B, p, L)), without BLAS (see _lmul); returns ``out``."""
    cdef const double[:, ::1] am = np.ascontiguousarray(a, dtype=np.float64)
    cdef Py_ssize_t p = am.shape[0], q = am.shape[1], nb, L, k
    b3 = b.reshape((1,) + b.shape) if b.ndim == 2 else b
    o3 = out.reshape((1,) + out.shape) if out.ndim == 2 else out
    if (b3.dtype != np.float64 or o3.dtype != np.float64 or not b3.flags.c_contiguous or not o3.flags.c_contiguous
            or b3.ndim != 3 or b3.shape[1] != q or o3.shape != (b3.shape[0], p, b3.shape[2])):
        raise ValueError(f"_left_matmul: a {am.shape[0], am.shape[1]}, b {b.shape} and out {out.shape} do not fit")
    cdef const double[:, :, ::1] bm = b3
    cdef double[:, :, ::1] om = o3
    nb, L = bm.shape[0], bm.shape[2]
    if nb == 0 or L == 0 or p == 0:
        return out
    with nogil:
        for k in range(nb):
            _lmul(&am[0, 0], p, q, &bm[k, 0, 0], L, &om[k, 0, 0], nthreads)
    return out


cdef void _sum_parts(const floating[:, ::1] parts, double[::1] out, int nthreads) noexcept nogil:
    """out[e] = ((double)parts[0, e] + parts[1, e]) + ... in part order (the sum
    ``parts[0].astype(float64); += parts[q]`` makes), over fixed element chunks in parallel."""
    cdef Py_ssize_t P = parts.shape[0], L = parts.shape[1], nch = (L + 1023) // 1024, ch, e, e1, q
    cdef const floating* pp = &parts[0, 0]
    cdef double* op = &out[0]
    for ch in prange(nch, schedule="static", num_threads=nthreads):
        e1 = min(L, (ch + 1) * 1024)
        for e in range(ch * 1024, e1):
            op[e] = pp[e]
        for q in range(1, P):
            for e in range(ch * 1024, e1):
                op[e] = op[e] + pp[q * L + e]


def sum_parts(parts, out, int nthreads=1):
    """``out[...] = parts[0] + parts[1] + ...`` in part order, in float64 (the bits of
    ``parts[0].astype(float64)`` then ``+= parts[q]``), for a C-contiguous float32 or float64
    ``parts`` of shape (P, ...) and a C-contiguous float64 ``out`` of shape parts.shape[1:];
    over fixed element chunks on ``nthreads`` threads (the same bits on any count). Returns ``out``."""
    if (parts.dtype not in (np.float32, np.float64) or out.dtype != np.float64 or not parts.flags.c_contiguous
            or not out.flags.c_contiguous or parts.ndim < 1 or parts.shape[0] < 1 or out.shape != parts.shape[1:]):
        raise ValueError(f"sum_parts: parts {parts.dtype} {parts.shape} and out {out.dtype} {out.shape} do not fit")
    cdef Py_ssize_t P = parts.shape[0]
    cdef double[::1] o = out.reshape(-1)
    cdef const float[:, ::1] sf
    cdef const double[:, ::1] sd
    if o.shape[0] == 0:
        return out
    if parts.dtype == np.float32:
        sf = parts.reshape(P, -1)
        with nogil:
            _sum_parts[float](sf, o, nthreads)
    else:
        sd = parts.reshape(P, -1)
        with nogil:
            _sum_parts[double](sd, o, nthreads)
    return out


cdef inline void _col_sums_part(const floating* a, Py_ssize_t R, Py_ssize_t K, Py_ssize_t n, double* out) noexcept nogil:
    """out[j] += sum over rows i < R, in row order, of (double)a[i * K + j], for j < n < 16: the last,
    partial chunk of columns (whole chunks go to the level's ``wino_colsum``)."""
    cdef double acc[16]
    cdef Py_ssize_t i, j
    for j in range(n):
        acc[j] = out[j]
    for i in range(R):
        for j in range(n):
            acc[j] = acc[j] + a[i * K + j]
    for j in range(n):
        out[j] = acc[j]


cdef void _col_sums(const floating[:, ::1] a, double[::1] out, int nthreads) noexcept nogil:
    """out[j] = sum over rows i, in row order, of (double)a[i, j] (the order of numpy's
    ``a.sum(axis=0, dtype=float64)``): each of ``nthreads`` threads takes a fixed run of 16-column
    chunks and sums them row by row (``wino_colsum``: the array is read in address order; each
    column still in row order)."""
    cdef Py_ssize_t R = a.shape[0], K = a.shape[1], nch = (K + 15) // 16, nfull = K // 16, part, c0, c1, j
    cdef const floating* ap = &a[0, 0]
    cdef double* op = &out[0]
    cdef fcw_colsum_f32_t fsum = fcw_colsum_f32()
    cdef fcw_colsum_f64_t dsum = fcw_colsum_f64()
    for j in range(K):
        op[j] = 0
    for part in prange(nthreads, schedule="static", num_threads=nthreads):
        c0 = part * nch // nthreads
        c1 = min((part + 1) * nch // nthreads, nfull)
        if c1 > c0:
            if floating is float:
                fsum(ap + c0 * 16, R, K, (c1 - c0) * 16, op + c0 * 16)
            else:
                dsum(ap + c0 * 16, R, K, (c1 - c0) * 16, op + c0 * 16)
        if nfull < nch and part == nthreads - 1:  # the partial chunk: the last thread's (nthreads <= nch)
            _col_sums_part(ap + nfull * 16, R, K, K - nfull * 16, op + nfull * 16)


def bias_grad(dy, int nthreads):
    """The bias gradient ``dy.reshape(-1, Cout).sum(axis=0, dtype=float64)`` rounded to ``dy.dtype``,
    over OpenMP threads (each column summed in row order by one thread: the same bits as numpy's
    sum, for every thread count).

    Parameters
    ----------
    dy : ndarray, shape (..., Cout), float32 or float64, C-contiguous, non-empty
        Read only.
    nthreads : int >= 1

    Returns
    -------
    ndarray, shape (Cout,), dtype of ``dy``
    """
    if not isinstance(dy, np.ndarray):
        raise TypeError("dy must be a numpy array")
    if dy.dtype not in (np.float32, np.float64) or not dy.flags.c_contiguous or dy.ndim < 1 or dy.size == 0:
        raise ValueError(f"dy must be a non-empty C-contiguous float32 or float64 array, got {dy.dtype} {dy.shape}")
    if nthreads < 1:
        raise ValueError(f"nthreads must be >= 1, got {nthreads}")
    a = dy.reshape(-1, dy.shape[dy.ndim - 1])
    nch = -(-a.shape[1] // 16)
    out = np.empty(a.shape[1], dtype=np.float64)
    cdef double[::1] o = out
    cdef const float[:, ::1] af
    cdef const double[:, ::1] ad
    cdef int nt = min(nthreads, nch)
    if dy.dtype == np.float32:
        af = a
        with nogil:
            _col_sums[float](af, o, nt)
    else:
        ad = a
        with nogil:
            _col_sums[double](ad, o, nt)
    return out.astype(dy.dtype)


# The weight gradient's tile blocks are summed in this many fixed parts (at most one per block),
_DW_PARTS = 8
# ... fewer where those parts' sums (alpha**2 * C/groups * Cout values each) would pass
# _DW_PARTS_BYTES in all, down to _DW_MIN_PARTS: each block adds its products into its part's sums,
# so large sums cost a pass over memory per block, and then one more to add the parts. Measured on
# the weight gradient alone (float32, 2 threads, calls alternating): 4 parts instead of 8 took
# 0.85-0.94 of the time on N8 64x64 64->64, N4 56x56 64->128 and the 4x4 transposed layer's phase
# route (512-590 KiB per part), but 1.10 on N32 32x32 16->32 (72 KiB per part), which keeps 8.
_DW_PARTS_BYTES = 2 << 20
_DW_MIN_PARTS = 4


def dw_parts(Py_ssize_t nblocks, Py_ssize_t alpha, Py_ssize_t cg, Py_ssize_t cout, Py_ssize_t itemsize):
    """The weight gradient's fixed parts for ``nblocks`` blocks of alpha x alpha tiles and (cg, Cout)
    sums of ``itemsize`` bytes: _DW_PARTS, fewer (not below _DW_MIN_PARTS) where they would pass
    _DW_PARTS_BYTES, at most one per block. Depends only on the layer, never on the thread count."""
    fit = _DW_PARTS_BYTES // (alpha * alpha * cg * cout * itemsize)
    return int(min(nblocks, max(_DW_MIN_PARTS, min(_DW_PARTS, fit))))


def winograd_backward_weights(x, dy, int ph, int pw, dw, int nthreads, int m=0, db=None, dy_phases=None):
    """Weight gradient of an r x r stride-1 convolution (r = 3 or 2) by Winograd, written into ``dw``.

    ``dw[ki, kj, c, co] = sum_{n, i, j} xpad[n, i + ki, j + kj, c] * dy[n, i, j, co]``, computed
    as ``G^T (sum over tiles of V_p^T D_p) G`` with ``V = B^T d B`` (input patches, as in the
    forward) and ``D = A dY A^T`` (output-gradient tiles): 4x fewer multiplies than the direct
    sum for m = 4 (3x3), 2.8x for m = 5 (2x2). The tiles are summed in float32/float64 over fixed blocks and fixed parts, the
    parts added and transformed back in float64 and rounded once, so the result does not depend
    on the thread count. Matches the ``dw`` of :func:`fastconv.reference.conv2d_backward` up to
    rounding.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C), float32 or float64, C-contiguous
        The forward input. Read only.
    dy : ndarray, shape (N, H + 2*ph - r + 1, W + 2*pw - r + 1, Cout), dtype of ``x``, C-contiguous
        Read only.
    ph, pw : int, 0 to r - 1
        The forward padding.
    dw : ndarray, shape (r, r, C/groups, Cout), r = 3 or 2, dtype of ``x``, C-contiguous
        Output, fully overwritten. ``groups = C / dw.shape[2]`` must divide Cout.
    nthreads : int >= 1
    m : {0, 2, 4, 6} (3x3) or {0, 3, 5} (2x2), optional
        Output tile size; 0 picks :func:`default_tile` or 5.
    db : ndarray, shape (Cout,), float64, C-contiguous, optional
        Output, fully overwritten: the bias gradient, the sum of dy over (N, Ho, Wo), from the same
        pass. Each tile's sum is its transformed gradient at the point 1 in both directions (the
        alpha + 1'th plane of ``A dY A^T``, in dy's dtype); those are summed in float64 in tile
        order per fixed part, then the parts in order, so it too does not depend on the thread
        count. It differs from numpy's row-order sum by rounding only.
    dy_phases : (Hl, Wl, ((dr, ds), ...)), optional
        dy is the stored array of this phase view of the (N, Ho, Wo, Cout) gradient (see
        ``y_phases`` of :func:`winograd_forward`); db then sums the view's pixels (a stored pixel
        that no phase reaches counts nowhere, one that two phases reach counts twice).
    """
    if not all(isinstance(a, np.ndarray) for a in (x, dy, dw)):
        raise TypeError("x, dy and dw must be numpy arrays")
    if db is not None and not (isinstance(db, np.ndarray) and db.dtype == np.float64 and db.ndim == 1
                               and db.flags.c_contiguous and db.flags.writeable):
        raise TypeError("db must be None or a writeable C-contiguous float64 ndarray of shape (Cout,)")
    if dw.ndim != 4 or dw.shape[0] != dw.shape[1] or dw.shape[0] not in (2, 3) or x.ndim != 4 \
            or not _grouped(x.shape[3], dw.shape[2], dw.shape[3]):
        raise ValueError(f"dw must have shape (r, r, C/groups, Cout), r 2 or 3, with C of x {x.shape} and groups "
                         f"dividing C and Cout, got {dw.shape}")
    r = dw.shape[0]
    dt = x.dtype
    if dt not in (np.float32, np.float64) or dy.dtype != dt or dw.dtype != dt:
        raise TypeError(f"x, dy, dw must share dtype float32 or float64, got {x.dtype}, {dy.dtype}, {dw.dtype}")
    if not (x.flags.c_contiguous and dy.flags.c_contiguous and dw.flags.c_contiguous and dw.flags.writeable):
        raise ValueError("x, dy and dw must be C-contiguous (and dw writeable)")
    if not (0 <= ph <= r - 1 and 0 <= pw <= r - 1):
        raise ValueError(f"padding must be 0 to {r - 1} per axis, got ({ph}, {pw})")
    ho, wo = x.shape[1] + 2 * ph - (r - 1), x.shape[2] + 2 * pw - (r - 1)
    dys = dy.shape if dy_phases is None else _phase_shape(dy_phases, dy, "dy")
    if dy.ndim != 4 or dys != (x.shape[0], ho, wo, dw.shape[3]) or ho < 1 or wo < 1:
        raise ValueError(f"dy must have shape {(x.shape[0], ho, wo, dw.shape[3])} (non-empty), got {dys}")
    if db is not None and db.shape != (dw.shape[3],):
        raise ValueError(f"db must have shape {(dw.shape[3],)} (Cout of dw {dw.shape}), got {db.shape}")
    if 0 in x.shape or 0 in dw.shape:
        raise ValueError(f"x and dw must be non-empty, got x {x.shape}, dw {dw.shape}")
    if nthreads < 1:
        raise ValueError(f"nthreads must be >= 1, got {nthreads}")
    if m not in _POINTS and m != 0:
        raise ValueError(f"m must be 0 (default) or one of {sorted(_POINTS)}, got {m}")
    if m == 0:
        m = _default(r, x.shape[3], dy.shape[3], x.dtype == np.float64)
    if kernel_size(m) != r:
        raise ValueError(f"m must be 0 or one of {_tiles_of(r)} for {r}x{r} kernels, got {m} (a tile size of "
                         f"{kernel_size(m)}x{kernel_size(m)} kernels) with dw {dw.shape}")
    if not fc_blas_available():
        nthreads = 1
    c, cout = x.shape[3], dys[3]
    alpha = m + r - 1
    tiles = x.shape[0] * (-(-dys[1] // m)) * (-(-dys[2] // m))
    cdef _Phases phd
    cdef const _Phases* phdp = NULL
    if dy_phases is not None:
        phd = _phase_struct(dy_phases, dy)
        phdp = &phd
    cdef Py_ssize_t T = block_tiles(tiles, m, c, cout, dt.itemsize)
    nblocks = -(-tiles // T)
    P = dw_parts(nblocks, alpha, dw.shape[2], cout, dt.itemsize)
    nthreads = max(1, min(nthreads, P))
    work = scratch("winograd.work", (nthreads, _workspace_len(m, T, c, cout, dt.itemsize)), dt)
    parts = scratch("winograd.parts", (P, alpha * alpha, dw.shape[2], cout), dt)
    dbparts = None if db is None else scratch("winograd.dbparts", (P, cout), np.float64)
    cdef double* dbp = NULL
    cdef double[:, ::1] dbv
    if dbparts is not None:
        dbv = dbparts
        dbp = &dbv[0, 0]
    # the plane of D at the point 1 in both directions: A's row there is all ones (see transforms)
    cdef Py_ssize_t pone = alpha + 1
    cdef int mm = m, nt = nthreads, h = ph, v = pw
    cdef const float[:, :, :, ::1] xf, dyf
    cdef float[:, :, :, ::1] pf
    cdef float[:, ::1] wf
    cdef const double[:, :, :, ::1] xd, dyd
    cdef double[:, :, :, ::1] pd
    cdef double[:, ::1] wd
    if dt == np.float32:
        xf, dyf, pf, wf = x, dy, parts, work
        with nogil:
            _weights_grad[float](xf, dyf, pf, wf, mm, T, h, v, nt, dbp, pone, phdp)
    else:
        xd, dyd, pd, wd = x, dy, parts, work
        with nogil:
            _weights_grad[double](xd, dyd, pd, wd, mm, T, h, v, nt, dbp, pone, phdp)
    _, g, _ = transforms(m)
    # du = parts[0] (float64) + parts[1] + ... in part order, over threads
    du = sum_parts(parts.reshape(P, -1), scratch("winograd.du", (parts[0].size,), np.float64), nt)
    # dw[a, b] = sum_{i, j} G[i, a] dU[i, j] G[j, b], the temporaries in scratch (see transform_weights)
    K = dw.shape[2] * cout
    t = _left_matmul(g.T, du.reshape(alpha, alpha * K), scratch("winograd.gtdu", (r, alpha * K), np.float64), nt)
    res = _left_matmul(g.T, t.reshape(r, alpha, K), scratch("winograd.gtdug", (r, r, K), np.float64), nt)  # [a, b]
    np.copyto(dw.reshape(r, r, K), res)
    if dbparts is not None:
        sum_parts(dbparts, db)


def _workspace_len(Py_ssize_t m, Py_ssize_t T, Py_ssize_t c, Py_ssize_t cout, Py_ssize_t itemsize,
                   Py_ssize_t stage_pixels=0):
    """Elements of one thread's scratch row (the parts of _ws_v and _ws_after), a multiple of 16;
    ``stage_pixels``: the NCHW output stage's pixels (0 for an NHWC output)."""
    cdef Py_ssize_t a2 = _alpha(m) * _alpha(m)
    return _round16(a2 * 8 // itemsize) + _round16(a2 * _plane_ld(T * c, itemsize)) \
        + _round16(a2 * _plane_ld(T * cout, itemsize)) + _round16(stage_pixels * cout)


def transform_weights(w, int m, out=None, int nthreads=1):
    """Transformed weights ``U[p] = (G g G^T)[p]`` as a C-contiguous (alpha**2, C, Cout) array.

    Computed in float64 (two small matrix products) and rounded once to ``w.dtype``. Its float64
    temporaries come from the calling thread's scratch buffers (:mod:`fastconv._scratch`): as fresh
    arrays of a few MiB they page-faulted on every call.

    Parameters
    ----------
    w : ndarray, shape (r, r, C, Cout), float32 or float64
    m : {2, 4, 6} (r = 3) or {3, 5} (r = 2)
    out : ndarray, shape (alpha**2, C, Cout), dtype of ``w``, C-contiguous, optional
        Written and returned instead of a new array.
    nthreads : int, optional
        OpenMP threads for the two products (results identical for every value). They run
        without BLAS: a multi-threaded BLAS call would leave its threads spinning on the cores
        the caller's next OpenMP region needs.

    Returns
    -------
    ndarray, shape (alpha**2, C, Cout), dtype of ``w``
    """
    _, g, _ = transforms(m)
    r = kernel_size(m)
    alpha = m + r - 1
    if not isinstance(w, np.ndarray) or w.ndim != 4 or w.shape[:2] != (r, r):
        raise ValueError(f"w must be an ({r}, {r}, C, Cout) array for m={m}")
    shape = (alpha * alpha, w.shape[2], w.shape[3])
    if out is None:
        out = np.empty(shape, dtype=w.dtype)
    elif out.shape != shape or out.dtype != w.dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {shape} array of {w.dtype}")
    cc = w.shape[2] * w.shape[3]
    w64 = scratch("winograd.w64", (r, r * cc), np.float64)
    np.copyto(w64, w.reshape(r, r * cc))
    t = _left_matmul(g, w64, scratch("winograd.gw", (alpha, r * cc), np.float64), nthreads).reshape(alpha, r, cc)  # G g
    u = _left_matmul(g, t, scratch("winograd.gwg", (alpha, alpha, cc), np.float64), nthreads)  # u[a] = G (G g)[a]
    np.copyto(out.reshape(alpha, alpha, cc), u)
    return out


def _weights_scratch(w, m, nthreads=1):
    """:func:`transform_weights` of ``w`` into the calling thread's scratch (used within one call)."""
    r = kernel_size(m)
    a = m + r - 1
    return transform_weights(w, m, scratch("winograd.u", (a * a, w.shape[2], w.shape[3]), w.dtype), nthreads)


def _tiles_of(r):
    """The tile sizes of r x r kernels."""
    return sorted(m for m in _POINTS if kernel_size(m) == r)


def _default(r, c, cout, double_precision):
    """The default tile size of an r x r kernel with c -> cout channels."""
    return default_tile(c, cout, double_precision) if r == 3 else _DEFAULT_TILE_2


def _grouped(Py_ssize_t c, Py_ssize_t cg, Py_ssize_t cout):
    """True if weights with ``cg`` input channels serve ``c`` input channels in groups = c / cg
    dividing both ``c`` and ``cout``."""
    if c <= 0 or cg <= 0:
        return c == cg  # empty layers are refused by the non-empty checks
    return c % cg == 0 and cout % (c // cg) == 0


def _phase_shape(phases, a, name):
    """The logical shape (N, Hl, Wl, P * Cq) of the phase view ``phases`` = (Hl, Wl, ((dr, ds), ...))
    over the stored (N, Hb, Wb, Cq) array ``a`` (see _Phases), checked."""
    if not isinstance(a, np.ndarray) or a.ndim != 4:
        raise ValueError(f"{name} must be an (N, H, W, C) array under a phase view")
    hl, wl, offs = phases
    if not 1 <= len(offs) <= 4 or any(len(o) != 2 for o in offs) or hl < 1 or wl < 1:
        raise ValueError(f"phases must be (Hl, Wl, ((dr, ds), ...)) with 1 to 4 offset pairs, got {phases!r}")
    return (a.shape[0], int(hl), int(wl), len(offs) * a.shape[3])


cdef _Phases _phase_struct(phases, a):
    """The _Phases of ``phases`` (checked by _phase_shape) over the stored array ``a``."""
    cdef _Phases v
    hl, wl, offs = phases
    v.P, v.Hl, v.Wl, v.Hb, v.Wb = len(offs), hl, wl, a.shape[1], a.shape[2]
    for q in range(4):
        v.dr[q] = offs[q][0] if q < len(offs) else 0
        v.ds[q] = offs[q][1] if q < len(offs) else 0
    return v


def _check(x, w, y, ph, pw, nthreads, m, y_nchw=False, x_shape=None, y_shape=None):
    """Cheap consistency checks, so that a wrong call raises instead of reading out of bounds
    (``y_nchw``: y is (N, Cout, Ho, Wo); ``x_shape`` / ``y_shape``: the logical shapes of x / y
    under a phase view, checked in place of theirs)."""
    if not all(isinstance(a, np.ndarray) for a in (x, w, y)):
        raise TypeError("x, w and y must be numpy arrays")
    dt = x.dtype
    if dt not in (np.float32, np.float64) or w.dtype != dt or y.dtype != dt:
        raise TypeError(f"x, w, y must share dtype float32 or float64, got {x.dtype}, {w.dtype}, {y.dtype}")
    if not (x.flags.c_contiguous and w.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable):
        raise ValueError("x, w and y must be C-contiguous (and y writeable)")
    xs = x.shape if x_shape is None else x_shape
    if x.ndim != 4 or w.ndim != 4 or y.ndim != 4 or w.shape[0] != w.shape[1] or w.shape[0] not in (2, 3) \
            or not _grouped(xs[3], w.shape[2], w.shape[3]):
        raise ValueError(f"need x (N, H, W, C), w (r, r, C/groups, Cout) with r 2 or 3 and groups dividing C and "
                         f"Cout; got x {x.shape}, w {w.shape}")
    r = w.shape[0]
    if m != 0 and m in _POINTS and kernel_size(m) != r:
        raise ValueError(f"m must be 0 or one of {_tiles_of(r)} for {r}x{r} kernels, got {m} (a tile size of "
                         f"{kernel_size(m)}x{kernel_size(m)} kernels) with w {w.shape}")
    if not (0 <= ph <= r - 1 and 0 <= pw <= r - 1):
        raise ValueError(f"padding must be 0 to {r - 1} per axis, got ({ph}, {pw})")
    ho, wo = xs[1] + 2 * ph - (r - 1), xs[2] + 2 * pw - (r - 1)
    if ho < 1 or wo < 1:
        raise ValueError(f"the output of x {xs} with padding ({ph}, {pw}) would be empty ({ho} x {wo})")
    want = (xs[0], w.shape[3], ho, wo) if y_nchw else (xs[0], ho, wo, w.shape[3])
    if (y.shape if y_shape is None else y_shape) != want:
        raise ValueError(f"y must have shape {want}, got {y.shape if y_shape is None else y_shape}")
    if 0 in x.shape or 0 in w.shape:
        raise ValueError(f"x and w must be non-empty, got x {x.shape}, w {w.shape}")
    if nthreads < 1:
        raise ValueError(f"nthreads must be >= 1, got {nthreads}")
    if m not in _POINTS and m != 0:
        raise ValueError(f"m must be 0 (default) or one of {sorted(_POINTS)}, got {m}")


def _run(x, u, b, ph, pw, y, nthreads, m, y_nchw=False, x_phases=None, y_phases=None):
    """_forward of x by the transformed weights u into y (x / y under the phase views x_phases /
    y_phases where given, already checked)."""
    cdef Py_ssize_t T
    cdef _Phases phx, phy
    cdef const _Phases* phxp = NULL
    cdef const _Phases* phyp = NULL
    if not fc_blas_available():
        nthreads = 1  # BLAS cannot be pinned: do not nest its pool inside ours
    dt = x.dtype
    c = x.shape[3]
    cout, ho, wo = (y.shape[1], y.shape[2], y.shape[3]) if y_nchw else (y.shape[3], y.shape[1], y.shape[2])
    if x_phases is not None:
        phx = _phase_struct(x_phases, x)
        phxp = &phx
        c *= phx.P
    if y_phases is not None:
        phy = _phase_struct(y_phases, y)
        phyp = &phy
        cout, ho, wo = cout * phy.P, phy.Hl, phy.Wl
    tiles = x.shape[0] * (-(-ho // m)) * (-(-wo // m))
    T = block_tiles(tiles, m, c, cout, dt.itemsize)
    nthreads = max(1, min(nthreads, -(-tiles // T)))
    stage = m * min(T, -(-wo // m)) * m if y_nchw else 0  # output pixels of one tile row of a block
    work = scratch("winograd.work", (nthreads, _workspace_len(m, T, c, cout, dt.itemsize, stage)), dt)
    cdef int mm = m, nt = nthreads, h = ph, v = pw
    cdef bint yn = y_nchw
    cdef float[:, :, :, ::1] xf, yf
    cdef float[:, :, ::1] uf
    cdef float[:, ::1] wf
    cdef float[::1] bf
    cdef double[:, :, :, ::1] xd, yd
    cdef double[:, :, ::1] ud
    cdef double[:, ::1] wd
    cdef double[::1] bd
    cdef const float* bfp = NULL
    cdef const double* bdp = NULL
    if dt == np.float32:
        xf, uf, yf, wf = x, u, y, work
        if b is not None:
            bf = b
            bfp = &bf[0]
        with nogil:
            _forward[float](xf, uf, bfp, yf, wf, mm, T, h, v, nt, yn, phxp, phyp)
    else:
        xd, ud, yd, wd = x, u, y, work
        if b is not None:
            bd = b
            bdp = &bd[0]
        with nogil:
            _forward[double](xd, ud, bdp, yd, wd, mm, T, h, v, nt, yn, phxp, phyp)


def winograd_forward(x, w, b, int ph, int pw, y, int nthreads, int m=0, bint y_nchw=False, y_phases=None):
    """Winograd F(m x m, r x r) forward of an r x r stride-1 convolution (r = 3 or 2), written into ``y``.

    ``y[n, i, j, co] = b[co] + sum_{ki, kj, c} xpad[n, i + ki, j + kj, c] * w[ki, kj, c, co]``
    where ``xpad`` is ``x`` with ``ph`` zero rows and ``pw`` zero columns on each side: the same
    result as :func:`fastconv.reference.conv2d_forward` with ``stride=1``, ``padding=(ph, pw)``,
    up to rounding (3x3, float32: max |error| / max |y| up to 8e-6 for m = 4 on random He-scaled
    layers of 64 channels; 4e-7 for m = 2, 1.3e-5 for m = 6).

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C), float32 or float64, C-contiguous
        Read only.
    w : ndarray, shape (r, r, C/groups, Cout), r = 3 or 2, dtype of ``x``, C-contiguous
        Read only. ``groups = C / w.shape[2]`` must divide Cout (a grouped layer when > 1).
    b : ndarray, shape (Cout,), dtype of ``x``, C-contiguous; or None (no bias)
    ph, pw : int, 0 to r - 1
        Zero padding of rows and columns.
    y : ndarray, shape (N, H + 2*ph - r + 1, W + 2*pw - r + 1, Cout), dtype of ``x``, C-contiguous
        Output, fully overwritten. Must not overlap ``x``, ``w`` or ``b``. Both output extents
        must be >= 1, and N, C, Cout >= 1.
    nthreads : int >= 1
        OpenMP threads over tile blocks (BLAS is pinned to one thread inside them). Results are
        bit-identical for every value.
    m : {0, 2, 4, 6} for 3x3 kernels, {0, 3, 5} for 2x2 ones, optional
        Output tile size; 0 picks :func:`default_tile` (3x3) or 5 (2x2).
    y_nchw : bool, optional
        y is (N, Cout, Ho, Wo) instead: each block's output tiles are staged by tile row and
        written into the channel planes (the same values).
    y_phases : (Hl, Wl, ((dr, ds), ...)), optional
        y is the stored (N, Hb, Wb, Cout / P) array of a phase view of the output (NHWC; P = 1 to 4
        offset pairs): output pixel (i, j), channels ``q*Cout/P ...``, goes to y[n, 2i + dr_q,
        2j + ds_q] where that is inside y (else nowhere); (Hl, Wl) must be the output's (Ho, Wo).
        y's pixels no phase reaches are left as they are; no pixel may be reached twice (the
        offsets must differ modulo 2, else ValueError). The bias, if any, has Cout entries.

    Raises
    ------
    TypeError, ValueError
        On inconsistent dtypes, shapes, contiguity or arguments (cheap checks only; argument
        conversion and user-facing messages belong to the caller).
    """
    if y_phases is not None and y_nchw:
        raise ValueError("y_phases needs an NHWC y")
    if y_phases is not None and len({(dr % 2, ds % 2) for dr, ds in y_phases[2]}) != len(y_phases[2]):
        # two phases would write the same pixels of y (from different threads)
        raise ValueError(f"y_phases' offsets must differ modulo 2, got {tuple(y_phases[2])}")
    _check(x, w, y, ph, pw, nthreads, m, y_nchw,
           y_shape=None if y_phases is None else _phase_shape(y_phases, y, "y"))
    if b is not None and (not isinstance(b, np.ndarray) or b.dtype != x.dtype or b.shape != (w.shape[3],)
                          or not b.flags.c_contiguous):
        raise ValueError(f"b must be None or a C-contiguous ({w.shape[3]},) array of {x.dtype}")
    if m == 0:
        m = _default(w.shape[0], w.shape[2], w.shape[3], x.dtype == np.float64)
    _run(x, _weights_scratch(w, m, nthreads), b, ph, pw, y, nthreads, m, y_nchw, y_phases=y_phases)


def winograd_backward_input(dy, w, int ph, int pw, dx, int nthreads, int m=0, bint dx_nchw=False, dy_phases=None):
    """Input gradient of an r x r stride-1 convolution (r = 3 or 2) by Winograd, written into ``dx``.

    For the forward ``y = conv(x, w, padding=(ph, pw), stride=1)``, ``dx`` is the correlation of
    ``dy`` with the spatially flipped, channel-transposed kernel ``w[::-1, ::-1].transpose(0, 1, 3, 2)``
    under padding ``(r - 1 - ph, r - 1 - pw)``: one :func:`winograd_forward` call. Matches the ``dx`` of
    :func:`fastconv.reference.conv2d_backward` up to rounding.

    Parameters
    ----------
    dy : ndarray, shape (N, Ho, Wo, Cout), float32 or float64, C-contiguous
        Read only. Ho = H + 2*ph - r + 1, Wo = W + 2*pw - r + 1.
    w : ndarray, shape (r, r, C/groups, Cout), dtype of ``dy``, C-contiguous
        The forward weights. Read only. ``groups = C / w.shape[2]``, C from ``dx``.
    ph, pw : int, 0 to r - 1
        The forward padding.
    dx : ndarray, shape (N, H, W, C), or (N, C, H, W) if ``dx_nchw``; dtype of ``dy``, C-contiguous
        Output, fully overwritten (rows/columns no window reads get 0).
    nthreads : int >= 1
    m : {0, 2, 4, 6} (3x3) or {0, 3, 5} (2x2), optional
        Output tile size; 0 picks :func:`default_tile` (with the roles of C and Cout swapped) or 5.
    dx_nchw : bool, optional
        dx is NCHW (see ``y_nchw`` of :func:`winograd_forward`).
    dy_phases : (Hl, Wl, ((dr, ds), ...)), optional
        dy is the stored array of this phase view of the (N, Ho, Wo, Cout) gradient (see
        ``y_phases`` of :func:`winograd_forward`; its pixels outside dy read 0).
    """
    if not all(isinstance(a, np.ndarray) for a in (dy, w, dx)):
        raise TypeError("dy, w and dx must be numpy arrays")
    if w.ndim != 4 or w.shape[0] != w.shape[1] or w.shape[0] not in (2, 3):
        raise ValueError(f"w must have shape (r, r, C, Cout) with r 2 or 3, got {w.shape}")
    r = w.shape[0]
    if not (0 <= ph <= r - 1 and 0 <= pw <= r - 1):
        raise ValueError(f"padding must be 0 to {r - 1} per axis, got ({ph}, {pw})")
    cx = dx.shape[1 if dx_nchw else 3] if dx.ndim == 4 else -1
    if dx.ndim != 4 or not _grouped(cx, w.shape[2], w.shape[3]):
        raise ValueError(f"dx must have shape {'(N, C, H, W)' if dx_nchw else '(N, H, W, C)'} with C a multiple "
                         f"of w's {w.shape[2]} input channels per group, groups dividing Cout; got dx {dx.shape}, "
                         f"w {w.shape}")
    groups = cx // w.shape[2] if w.shape[2] else 1
    cg, og = w.shape[2], w.shape[3] // groups
    # per group, the flipped kernel with its (cg, og) channels transposed: (r, r, og, C) for dy's og per group
    wt = np.ascontiguousarray(
        w.reshape(r, r, cg, groups, og)[::-1, ::-1].transpose(0, 1, 4, 3, 2).reshape(r, r, og, groups * cg))
    dys = None if dy_phases is None else _phase_shape(dy_phases, dy, "dy")
    _check(dy, wt, dx, r - 1 - ph, r - 1 - pw, nthreads, m, dx_nchw, x_shape=dys)
    if m == 0:
        m = _default(r, wt.shape[2], wt.shape[3], dy.dtype == np.float64)
    _run(dy, _weights_scratch(wt, m, nthreads), None, r - 1 - ph, r - 1 - pw, dx, nthreads, m, dx_nchw,
         x_phases=dy_phases)
