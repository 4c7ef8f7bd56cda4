# cython: language_level=3
"""Same-size 2-D cross-correlation kernels for (H, W, C) images with scipy.ndimage border modes.

The wrapper in :mod:`fastconv.filters` validates arguments, picks the dtype, removes zero taps,
factors rank-1 kernels and allocates the output; these kernels only compute. They release the
GIL and split the output rows across OpenMP threads, in chunks of 16 rows handed out on demand:
a thread that starts late (on a busy machine) takes fewer chunks instead of holding up the call.
Each row is computed the same way whichever thread takes it, so results do not depend on the
number of threads. At AVX-512, kernels of 9 taps and more run blocks of 4 output rows at once
(the several-rows kernel of ``_filter.h``: each vector loaded from an input row serves every row
of the block; the same sums in the same order as one row at a time).

Anchor (as ``scipy.ndimage.correlate`` with ``origin=0``): output pixel ``(i, j)`` reads input
``(i + ki - Kh // 2, j + kj - Kw // 2)`` for kernel tap ``(ki, kj)``.

An (H, W, C) image is treated as H rows of W*C interleaved values; a horizontal tap offset is a
multiple of C, so every channel is filtered independently with no transposition.

The hot loop is one C function (``_filter.h``), ``out[j] = sum_t w[t] * src[t][j]``,
register-blocked along the contiguous row axis with GCC/Clang vector types (12 accumulators of
4 doubles or 8 floats with AVX2, each tap's weight broadcast once per block). It is compiled for
every instruction-set level of ``_simd.h`` and the level that runs is picked at run time (see
:mod:`fastconv._simd`), so a portable build still uses AVX2 where available. With ``stream``
the output blocks that start on a cache-line boundary are written with non-temporal stores (a
large output; the values do not change) and each thread issues one store fence after its rows.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc

from ._filter_kernels cimport (
    FC_FILTER_BLOCK_ROWS, FC_FILTER_SEP_NB, fc_filter_rows_serve, fc_filter_sfence, fc_map, fc_rows_f32, fc_rows_f64, fc_rows_on,
    fc_sep_f32, fc_sep_f64, fc_sep_lanes_f32, fc_sep_lanes_f64, fc_taps_f32, fc_taps_f64,
)


def several_rows_runs() -> bool:
    """Whether the instruction-set level that runs has the several-rows kernel (AVX-512), which
    ``correlate2d_same_kernel`` uses for kernels of 9 taps and more."""
    return fc_rows_on() == 1


cdef inline void _taps(const floating** src, const floating* w, Py_ssize_t ntaps,
                       floating* out, Py_ssize_t n, int stream) noexcept nogil:
    """Dispatch to the float or double C row kernel (``stream``: non-temporal stores)."""
    if floating is float:
        fc_taps_f32(src, w, ntaps, out, n, stream)
    else:
        fc_taps_f64(src, w, ntaps, out, n, stream)


cdef inline int _rows(const floating** rows, const Py_ssize_t* tki, const Py_ssize_t* tkj, const floating* w,
                      Py_ssize_t ntaps, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t step, floating* out,
                      Py_ssize_t ostride, Py_ssize_t n, int stream) noexcept nogil:
    """Dispatch to the float or double several-rows kernel (0: it does not serve; nothing written)."""
    if floating is float:
        return fc_rows_f32(rows, tki, tkj, w, ntaps, kh, kw, step, out, ostride, n, stream)
    else:
        return fc_rows_f64(rows, tki, tkj, w, ntaps, kh, kw, step, out, ostride, n, stream)


cdef inline const floating* _row(const floating* img, const floating* cval_row, Py_ssize_t r,
                                 Py_ssize_t H, Py_ssize_t WC, int mode) noexcept nogil:
    """Pointer to input row ``r`` after border mapping (the cval row when it falls outside)."""
    cdef Py_ssize_t m = fc_map(r, H, mode)
    if m < 0:
        return cval_row
    return img + m * WC


cdef inline void _edges(const floating** rows, const floating* w, const Py_ssize_t* tki,
                        const Py_ssize_t* tkj, Py_ssize_t ntaps, floating* out,
                        Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t W, Py_ssize_t C, Py_ssize_t aw,
                        int mode, floating cval) noexcept nogil:
    """Output columns [j0, j1) of one row with column border mapping (the non-interior part)."""
    cdef Py_ssize_t j, c, t, col
    cdef floating s, val
    for j in range(j0, j1):
        for c in range(C):
            s = 0
            for t in range(ntaps):
                col = fc_map(j + tkj[t] - aw, W, mode)
                if col < 0:
                    val = cval
                else:
                    val = rows[tki[t]][col * C + c]
                s = s + w[t] * val
            out[j * C + c] = s


cdef inline void _out_row(const floating** rows, const floating** src, const floating* w, const Py_ssize_t* tki,
                          const Py_ssize_t* tkj, Py_ssize_t ntaps, floating* out, Py_ssize_t jlo, Py_ssize_t jhi,
                          Py_ssize_t W, Py_ssize_t C, Py_ssize_t aw, int mode, floating cval, bint interior,
                          int stream) noexcept nogil:
    """One output row ``out`` from its Kh border-mapped input rows: the interior columns [jlo, jhi)
    on the row kernel (unless ``interior`` is False: written already), then the edge columns."""
    cdef Py_ssize_t t
    if interior and jhi > jlo:
        for t in range(ntaps):
            src[t] = rows[tki[t]] + (tkj[t] - aw + jlo) * C
        _taps(src, w, ntaps, out + jlo * C, (jhi - jlo) * C, stream)
    _edges(rows, w, tki, tkj, ntaps, out, 0, jlo, W, C, aw, mode, cval)
    _edges(rows, w, tki, tkj, ntaps, out, jhi, W, W, C, aw, mode, cval)


def correlate2d_same_kernel(
    const floating[:, :, ::1] image,   # IN  (H, W, C), H, W, C >= 1
    const floating[::1] weights,       # IN  (T,) the non-zero taps' weights, row-major order
    const Py_ssize_t[::1] tap_row,     # IN  (T,) kernel row ki of each tap
    const Py_ssize_t[::1] tap_col,     # IN  (T,) kernel column kj of each tap
    Py_ssize_t Kh, Py_ssize_t Kw,      # kernel extent (the anchor is (Kh // 2, Kw // 2))
    int mode,                          # 0 constant, 1 nearest, 2 reflect, 3 mirror, 4 wrap
    floating cval,                     # value outside the image in constant mode
    floating[:, :, ::1] out,           # OUT (H, W, C), fully overwritten
    int num_threads,                   # OpenMP threads over output rows
    bint stream=False,                 # non-temporal stores of out (a large output; same values)
    bint several_rows=True,            # blocks of rows on the several-rows kernel where it serves (same values)
) -> None:
    """General same-size correlation: every listed tap, one pass.

    Each output value sums exactly the listed taps, in the order given: a tap left out (a zero
    weight) adds nothing, not even ``0 * x``. Kernels of many taps (at least 9, in row-major
    order, at most 8x8) run blocks of 4 output rows at once, each loaded input vector serving
    every row of the block; the sums and their order are the row kernel's.
    """
    cdef Py_ssize_t H = image.shape[0], W = image.shape[1], C = image.shape[2]
    cdef Py_ssize_t WC = W * C, T = weights.shape[0]
    cdef Py_ssize_t ah = Kh // 2, aw = Kw // 2
    cdef Py_ssize_t jlo = aw, jhi = W - (Kw - 1 - aw)   # interior columns [jlo, jhi)
    cdef Py_ssize_t i, t, ki, ib, r, nblk = 0, B = FC_FILTER_BLOCK_ROWS, chunk = 16
    cdef int done
    cdef const floating* img = &image[0, 0, 0]
    cdef const floating* wp = &weights[0] if T > 0 else NULL
    cdef const Py_ssize_t* tki = &tap_row[0] if T > 0 else NULL
    cdef const Py_ssize_t* tkj = &tap_col[0] if T > 0 else NULL
    cdef floating* op = &out[0, 0, 0]
    cdef floating* cval_row = NULL
    cdef const floating** rows
    cdef const floating** src
    if T != tap_row.shape[0] or T != tap_col.shape[0]:
        raise ValueError(f"weights, tap_row and tap_col must have one length, got {T}, "
                         f"{tap_row.shape[0]}, {tap_col.shape[0]}")
    for t in range(T):
        if not (0 <= tki[t] < Kh and 0 <= tkj[t] < Kw):
            raise ValueError(f"tap {t} at ({tki[t]}, {tkj[t]}) is outside the {Kh}x{Kw} kernel")
    try:
        cval_row = <floating*> malloc(WC * sizeof(floating))
        if cval_row == NULL:
            raise MemoryError()
        for t in range(WC):
            cval_row[t] = cval
        if jhi < jlo:
            jhi = jlo = W          # no interior: every column goes through the edge path
        if jlo > W:
            jlo = W
        # blocks of B output rows on the several-rows kernel where it serves (the interior of B rows
        # at once, each input row's vectors loaded once for all of them), then the last H % B rows
        # one by one; both give the row kernel's sums
        if several_rows and jhi > jlo and fc_filter_rows_serve(tki, tkj, T, Kh, Kw):
            nblk = H // B
            chunk = 16 // B  # blocks handed out as 16 rows, as rows are
        with nogil, parallel(num_threads=num_threads):
            rows = <const floating**> malloc((2 * (Kh + B) + T + 1) * sizeof(floating*))
            brows = rows + Kh + B  # the block's input rows from its first interior column's first tap
            src = brows + Kh + B
            if rows != NULL:
                for ib in prange(nblk + H - nblk * B, schedule="dynamic", chunksize=chunk):
                    if ib < nblk:
                        i = ib * B
                        for ki in range(Kh + B - 1):
                            rows[ki] = _row(img, cval_row, i + ki - ah, H, WC, mode)
                            brows[ki] = rows[ki] + (jlo - aw) * C
                        done = _rows(brows, tki, tkj, wp, T, Kh, Kw, C, op + i * WC + jlo * C, WC,
                                     (jhi - jlo) * C, stream)
                        for r in range(B):
                            _out_row(rows + r, src, wp, tki, tkj, T, op + (i + r) * WC, jlo, jhi, W, C, aw, mode,
                                     cval, not done, stream)
                    else:
                        i = nblk * B + ib - nblk
                        for ki in range(Kh):
                            rows[ki] = _row(img, cval_row, i + ki - ah, H, WC, mode)
                        _out_row(rows, src, wp, tki, tkj, T, op + i * WC, jlo, jhi, W, C, aw, mode, cval, True,
                                 stream)
                if stream:
                    fc_filter_sfence()
            else:
                with gil:
                    raise MemoryError()
            free(rows)
    finally:
        free(cval_row)


cdef inline int _sep(const floating** src, const floating* u, Py_ssize_t tu, const floating* v,
                     const Py_ssize_t* vk, Py_ssize_t tv, Py_ssize_t step, Py_ssize_t off, floating* out,
                     Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """Dispatch to the float or double fused separable kernel (0: it does not serve; nothing written)."""
    if floating is float:
        return fc_sep_f32(src, u, tu, v, vk, tv, step, off, out, j0, j1)
    else:
        return fc_sep_f64(src, u, tu, v, vk, tv, step, off, out, j0, j1)


cdef inline void _pad_columns(floating* tmp, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Kw, int mode, floating cval,
                              floating usum) noexcept nogil:
    """The Kw - 1 padded columns of an intermediate row ``tmp`` (image column c at tmp[(aw + c) * C]),
    from the columns they map to, or ``cval * usum`` outside the image in constant mode."""
    cdef Py_ssize_t aw = Kw // 2, jj, j, col, c
    for jj in range(Kw - 1):
        j = jj if jj < aw else jj + W   # the aw left and Kw-1-aw right columns
        col = fc_map(j - aw, W, mode)
        for c in range(C):
            if col < 0:
                tmp[j * C + c] = cval * usum
            else:
                tmp[j * C + c] = tmp[(aw + col) * C + c]


cdef inline void _sep_row(const floating** src, const floating** aux, const floating* up, Py_ssize_t Tu,
                          const floating* vp, const Py_ssize_t* vi, Py_ssize_t Tv, floating usum, floating* tmp,
                          floating* orow, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Kw, int mode, floating cval,
                          Py_ssize_t lanes, bint fused, int stream) noexcept nogil:
    """One output row ``orow`` of the separable path from its Tu border-mapped input rows ``src``
    (``aux``: room for max(Tu, Tv) pointers; ``tmp``: the intermediate row, W + Kw - 1 pixels).

    With ``fused`` (and a level that has it: ``lanes``), the values from the first whose vertical
    window starts on a cache line to ``lanes`` before the end (less the anchor) go to the fused
    kernel (_sep), which keeps the vertical sums in registers; the vertical pass then covers only
    the values the remaining edge outputs read and the padded columns map to (the Kw pixels at
    each end), and the horizontal pass only those outputs. Else (or where it does not serve) a
    vertical pass over the whole row into tmp and a horizontal pass from it. Same values either
    way."""
    cdef Py_ssize_t aw = Kw // 2, WC = W * C, off = aw * C, t
    # the values the vertical pass covers, [0, lo) and [hi, WC), and the outputs the horizontal
    # pass writes, [0, j0) and [j1, WC): the whole row, unless the fused kernel takes its middle
    cdef Py_ssize_t lo = WC, hi = WC, j0 = WC, j1 = WC
    if fused and lanes:
        j0 = off
        if <size_t>src[0] % sizeof(floating) == 0:
            j0 = off + <Py_ssize_t>(((-<size_t>src[0]) & 63) // sizeof(floating))
        j1 = WC + off - lanes
        if j1 > j0 and _sep(src, up, Tu, vp, vi, Tv, C, off, orow, j0, j1):
            # the edges, each widened to a vector (their first outputs again, same values) so that
            # the row kernel's vector loop runs them, not its scalar tail; they read the values
            # [0, lo) and [hi, WC), which also hold every column the padding maps to
            j0 = max(j0, lanes)
            j1 = min(j1, WC - lanes)
            lo = min(WC, max(j0 + (Kw - 1 - aw) * C, Kw * C))
            hi = max(0, min(j1 - off, WC - Kw * C))
            stream = 0
        else:
            j0 = j1 = WC
    _taps(src, up, Tu, tmp + off, lo, 0)
    for t in range(Tu):
        aux[t] = src[t] + hi
    _taps(aux, up, Tu, tmp + off + hi, WC - hi, 0)
    _pad_columns(tmp, W, C, Kw, mode, cval, usum)
    for t in range(Tv):
        aux[t] = tmp + vi[t] * C
    _taps(aux, vp, Tv, orow, j0, stream)
    for t in range(Tv):
        aux[t] += j1
    _taps(aux, vp, Tv, orow + j1, WC - j1, 0)


def separable_fused_serves(dtype, width: int, channels: int, kernel_width: int) -> bool:
    """Whether the fused separable kernel runs every row of a ``(H, width, channels)`` image of
    ``dtype`` (float32 or float64) with a kernel ``kernel_width`` columns wide on
    ``correlate2d_separable_kernel``, apart from its edge columns: a level that has it (AVX-512),
    rows of at least one block plus two vectors of values, and every horizontal tap within one
    vector (``(kernel_width - 1) * channels`` at most the lanes: 16 float32, 8 float64)."""
    lanes = fc_sep_lanes_f32() if dtype == np.float32 else fc_sep_lanes_f64()
    return lanes > 0 and width * channels >= (FC_FILTER_SEP_NB + 2) * lanes and (kernel_width - 1) * channels <= lanes


def correlate2d_separable_kernel(
    const floating[:, :, ::1] image,   # IN  (H, W, C), H, W, C >= 1
    const floating[::1] u,             # IN  (Tu,) non-zero weights of the column factor
    const Py_ssize_t[::1] u_idx,       # IN  (Tu,) kernel row ki of each
    const floating[::1] v,             # IN  (Tv,) non-zero weights of the row factor
    const Py_ssize_t[::1] v_idx,       # IN  (Tv,) kernel column kj of each
    Py_ssize_t Kh, Py_ssize_t Kw,      # kernel extent; the kernel is outer(u, v)
    int mode,                          # 0 constant, 1 nearest, 2 reflect, 3 mirror, 4 wrap
    floating cval,                     # value outside the image in constant mode
    floating[:, :, ::1] out,           # OUT (H, W, C), fully overwritten
    int num_threads,                   # OpenMP threads over output rows
    bint stream=False,                 # non-temporal stores of out (a large output; same values)
    bint fused=True,                   # rows on the fused kernel where it serves (same values)
) -> None:
    """Rank-1 kernel: a vertical pass into a per-thread padded row, then a horizontal pass.

    Both passes use the same border mapping, so the result equals the 2-D correlation with
    ``outer(u, v)`` up to rounding. In constant mode the padded columns of the intermediate row
    hold ``cval * sum(u)``. With ``fused``, most of each row runs on the fused kernel of
    ``_filter.h`` where it serves (AVX-512): the vertical sums stay in registers and the
    horizontal taps are lane shifts of them, the same sums in the same order (``stream`` then
    applies to the rows it does not serve). ``separable_fused_serves`` says where it runs.
    """
    cdef Py_ssize_t H = image.shape[0], W = image.shape[1], C = image.shape[2]
    cdef Py_ssize_t WC = W * C, Tu = u.shape[0], Tv = v.shape[0]
    cdef Py_ssize_t ah = Kh // 2
    cdef Py_ssize_t Wp = W + Kw - 1
    cdef Py_ssize_t i, t
    cdef Py_ssize_t lanes = fc_sep_lanes_f32() if floating is float else fc_sep_lanes_f64()
    cdef const floating* img = &image[0, 0, 0]
    cdef const floating* up = &u[0]
    cdef const floating* vp = &v[0]
    cdef const Py_ssize_t* ui = &u_idx[0]
    cdef const Py_ssize_t* vi = &v_idx[0]
    cdef floating* op = &out[0, 0, 0]
    cdef floating usum = 0
    cdef floating* cval_row = <floating*> malloc(WC * sizeof(floating))
    cdef const floating** src
    cdef floating* tmp
    if cval_row == NULL:
        raise MemoryError()
    for t in range(WC):
        cval_row[t] = cval
    for t in range(Tu):
        usum = usum + up[t]
    try:
        with nogil, parallel(num_threads=num_threads):
            src = <const floating**> malloc((Tu + max(Tu, Tv) + 1) * sizeof(floating*))
            tmp = <floating*> malloc((Wp * C + 1) * sizeof(floating))
            if src != NULL and tmp != NULL:
                for i in prange(H, schedule="dynamic", chunksize=16):
                    for t in range(Tu):
                        src[t] = _row(img, cval_row, i + ui[t] - ah, H, WC, mode)
                    _sep_row(src, src + Tu, up, Tu, vp, vi, Tv, usum, tmp, op + i * WC, W, C, Kw, mode, cval,
                             lanes, fused, stream)
                if stream:
                    fc_filter_sfence()
            else:
                with gil:
                    raise MemoryError()
            free(src)
            free(tmp)
    finally:
        free(cval_row)
