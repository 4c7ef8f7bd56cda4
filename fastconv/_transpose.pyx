# cython: language_level=3
"""Batched 2-D transposes, the NCHW <-> NHWC conversions of :mod:`fastconv._layout`.

NumPy copies a transposed view element by element along the output, reading the input with a
stride of a whole row: for (N, H*W, C) -> (N, C, H*W) with H*W*itemsize a multiple of 4 KiB
every read lands in the same cache set and the copy runs 20x slower than a plain copy. These
kernels copy square tiles small enough that both the rows read and the rows written stay in
L1, so a transpose costs about what a copy costs. One tile is one unit of OpenMP work.

float32 matrices with both sides at least 8 go to ``fc_transpose_rows_f32`` (_transpose.h):
register-block transposes (16x16 with AVX2) in strips of 16 columns, every cache line read and
written whole in one block, at the kernels' SIMD level; on several threads a unit is a block of
about 64 KiB of a matrix's rows.

When one side of the matrices is short (at most ``SHORT`` elements: the channels of a
small-channel activation), a tile would have a short inner loop; the matrix is then copied
whole, a short row at a time, and for the common channel counts (2, 3, 4, 8, 16) with that
count a compile-time constant, so that the compiler unrolls it and vectorises across rows. With ``num_threads <= 1`` no OpenMP region is entered at all (it costs
microseconds, a measurable share of a small call).
"""
from cython cimport floating
from cython.parallel cimport prange

cdef extern from "_transpose.h" nogil:
    void fc_transpose_tile_f32(const float* src, float* dst, Py_ssize_t R, Py_ssize_t C,
                               Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1)
    void fc_transpose_rows_f32(const float* src, float* dst, Py_ssize_t R, Py_ssize_t C,
                               Py_ssize_t i0, Py_ssize_t i1, int stream)
    void fc_transpose_sfence()

cdef enum:
    TILE = 32  # tile edge in elements: a 32x32 tile of float64 is 8 KiB read plus 8 KiB written
    SHORT = 16  # a side of at most this many elements takes the whole-matrix loop
    BLOCK = 8  # float32 matrices with both sides at least this long go to fc_transpose_rows_f32
    UNIT = 16384  # float32: about this many elements (64 KiB) of rows are one unit of OpenMP work


cdef inline void _tile(const floating* src, floating* dst, Py_ssize_t R, Py_ssize_t C,
                       Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """dst[j, i] = src[i, j] for i0 <= i < i1, j0 <= j < j1 (src R x C, dst C x R)."""
    cdef Py_ssize_t i, j
    if floating is float:
        fc_transpose_tile_f32(src, dst, R, C, i0, i1, j0, j1)
        return
    for j in range(j0, j1):
        for i in range(i0, i1):
            dst[j * R + i] = src[i * C + j]


cdef inline void _narrow_in(const floating* src, floating* dst, Py_ssize_t R, Py_ssize_t C) noexcept nogil:
    """dst = src.T for a matrix of few rows R: each output row of R elements gathers one column.
    Inlined with a constant R, the inner loop unrolls and the compiler vectorises the outer one."""
    cdef Py_ssize_t i, j
    for j in range(C):
        for i in range(R):
            dst[j * R + i] = src[i * C + j]


cdef inline void _narrow_out(const floating* src, floating* dst, Py_ssize_t R, Py_ssize_t C) noexcept nogil:
    """dst = src.T for a matrix of few columns C: each input row of C elements scatters to C rows.
    Inlined with a constant C, the inner loop unrolls and the compiler vectorises the outer one."""
    cdef Py_ssize_t i, j
    for i in range(R):
        for j in range(C):
            dst[j * R + i] = src[i * C + j]


cdef inline void _matrix(const floating* src, floating* dst, Py_ssize_t R, Py_ssize_t C, int stream) noexcept nogil:
    """dst = src.T for one R x C matrix, tiled, or whole when a side is short (stream: see
    transpose_batch_kernel)."""
    cdef Py_ssize_t i, j, i0, j0, ti, tj
    if floating is float and R >= BLOCK and C >= BLOCK:
        fc_transpose_rows_f32(src, dst, R, C, 0, R, stream)  # register blocks in column strips
        return
    if floating is float and C >= 4 and R >= 4 and (R <= SHORT or C <= SHORT):
        fc_transpose_tile_f32(src, dst, R, C, 0, R, 0, C)  # whole, in 4x4 blocks
        return
    if C <= SHORT and C <= R:  # few columns (NHWC -> NCHW of a few channels)
        if C == 2:
            _narrow_out(src, dst, R, 2)
        elif C == 3:
            _narrow_out(src, dst, R, 3)
        elif C == 4:
            _narrow_out(src, dst, R, 4)
        elif C == 8:
            _narrow_out(src, dst, R, 8)
        elif C == 16:
            _narrow_out(src, dst, R, 16)
        else:
            _narrow_out(src, dst, R, C)
    elif R <= SHORT:  # few rows (NCHW -> NHWC of a few channels)
        if R == 2:
            _narrow_in(src, dst, 2, C)
        elif R == 3:
            _narrow_in(src, dst, 3, C)
        elif R == 4:
            _narrow_in(src, dst, 4, C)
        elif R == 8:
            _narrow_in(src, dst, 8, C)
        elif R == 16:
            _narrow_in(src, dst, 16, C)
        else:
            _narrow_in(src, dst, R, C)
    else:
        for ti in range((R + TILE - 1) // TILE):
            i0 = ti * TILE
            for tj in range((C + TILE - 1) // TILE):
                j0 = tj * TILE
                _tile(src, dst, R, C, i0, min(i0 + TILE, R), j0, min(j0 + TILE, C))


def transpose_batch_kernel(
    const floating[:, :, ::1] a,   # IN  (B, R, C)
    floating[:, :, ::1] out,       # OUT (B, C, R)
    int num_threads,
    bint stream=False,
) -> None:
    """out[b, j, i] = a[b, i, j] for every b, i, j.

    ``stream``: float32 register blocks that write whole aligned cache lines of ``out`` use
    non-temporal stores, which skip reading those lines in first (for outputs much larger than the
    cache, about a third of the memory traffic); the values are the same."""
    cdef Py_ssize_t B = a.shape[0], R = a.shape[1], C = a.shape[2]
    cdef Py_ssize_t nr = (R + TILE - 1) // TILE, nc = (C + TILE - 1) // TILE
    cdef Py_ssize_t ntiles = B * nr * nc
    cdef Py_ssize_t t, b, i0, j0
    cdef Py_ssize_t rows = max(16, (UNIT // max(C, 1)) // 16 * 16)  # rows per unit (float32): whole 16-row blocks
    cdef Py_ssize_t nu = (R + rows - 1) // rows
    if out.shape[0] != B or out.shape[1] != C or out.shape[2] != R:
        raise ValueError(f"out shape {(out.shape[0], out.shape[1], out.shape[2])} is not the transpose of a shape {(B, R, C)}")
    if B == 0 or R == 0 or C == 0:
        return
    cdef const floating* src = &a[0, 0, 0]
    cdef floating* dst = &out[0, 0, 0]
    with nogil:
        if num_threads <= 1:
            for b in range(B):
                _matrix(src + b * R * C, dst + b * R * C, R, C, stream)
            if stream:
                fc_transpose_sfence()
        elif floating is float and R >= BLOCK and C >= BLOCK:  # units: blocks of rows of a matrix
            for t in prange(B * nu, schedule="static", num_threads=num_threads):
                b = t // nu
                i0 = (t % nu) * rows
                fc_transpose_rows_f32(<const float*>src + b * R * C, <float*>dst + b * R * C, R, C,
                                      i0, min(i0 + rows, R), stream)
                if stream:
                    fc_transpose_sfence()
        elif R <= SHORT or C <= SHORT:
            for b in prange(B, schedule="static", num_threads=num_threads):
                _matrix(src + b * R * C, dst + b * R * C, R, C, 0)
        else:
            for t in prange(ntiles, schedule="static", num_threads=num_threads):
                b = t // (nr * nc)
                i0 = ((t // nc) % nr) * TILE
                j0 = (t % nc) * TILE
                _tile(src + b * R * C, dst + b * R * C, R, C, i0, min(i0 + TILE, R), j0, min(j0 + TILE, C))
