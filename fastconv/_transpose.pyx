# cython: language_level=3
"""Batched 2-D transposes, the NCHW <-> NHWC conversions of :mod:`fastconv._layout`.

NumPy copies a transposed view element by element along the output, reading the input with a
stride of a whole row: for (N, H*W, C) -> (N, C, H*W) with H*W*itemsize a multiple of 4 KiB
every read lands in the same cache set and the copy runs 20x slower than a plain copy. These
kernels copy square tiles small enough that both the rows read and the rows written stay in
L1, so a transpose costs about what a copy costs. One tile is one unit of OpenMP work.
"""
from cython cimport floating
from cython.parallel cimport prange

cdef enum:
    TILE = 32  # tile edge in elements: a 32x32 tile of float64 is 8 KiB read plus 8 KiB written


def transpose_batch_kernel(
    const floating[:, :, ::1] a,   # IN  (B, R, C)
    floating[:, :, ::1] out,       # OUT (B, C, R)
    int num_threads,
) -> None:
    """out[b, j, i] = a[b, i, j] for every b, i, j."""
    cdef Py_ssize_t B = a.shape[0], R = a.shape[1], C = a.shape[2]
    cdef Py_ssize_t nr = (R + TILE - 1) // TILE, nc = (C + TILE - 1) // TILE
    cdef Py_ssize_t ntiles = B * nr * nc
    cdef Py_ssize_t t, b, i0, j0, i1, j1, i, j
    if ntiles == 0:
        return
    with nogil:
        for t in prange(ntiles, schedule="static", num_threads=num_threads):
            b = t // (nr * nc)
            i0 = ((t // nc) % nr) * TILE
            j0 = (t % nc) * TILE
            i1 = i0 + TILE
            if i1 > R:
                i1 = R
            j1 = j0 + TILE
            if j1 > C:
                j1 = C
            for j in range(j0, j1):
                for i in range(i0, i1):
                    out[b, j, i] = a[b, i, j]
