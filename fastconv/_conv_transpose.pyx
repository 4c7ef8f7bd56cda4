# cython: language_level=3
"""The transposed convolution's forward pass as one call of the direct kernels' input gradient.

A transposed convolution of ``x`` with ``w`` is the input gradient of the convolution whose output
gradient is ``x``: each output row is one input-gradient row of the direct kernels
(``_conv_direct.h``'s ``dx_row``, any stride, dilation and groups), written once, in place, with
the bias added to the finished row. No per-phase convolutions and no strided scatter.

Results never depend on the thread count: each output row is a fixed sequence of operations of
its own, handed to the threads dynamically. The kernel releases the GIL.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport calloc, free, malloc

from ._conv_direct_kernels cimport (
    fck_f32_cb, fck_f32_dx_row, fck_f32_pack, fck_f64_cb, fck_f64_dx_row, fck_f64_pack, fck_geo,
)


cdef inline void _row(const fck_geo* g, const floating* ximg, const floating* zeros, const floating* wpk,
                      const floating* b, floating* yrow, Py_ssize_t h, Py_ssize_t ys) noexcept nogil:
    """Output row ``h`` of one image and one group (channels ``g.C`` at pixel stride ``ys``), plus ``b``."""
    cdef Py_ssize_t j, c
    if floating is float:
        fck_f32_dx_row(g, ximg, zeros, wpk, yrow, h)
    else:
        fck_f64_dx_row(g, ximg, zeros, wpk, yrow, h)
    if b != NULL:
        for j in range(g.W):
            for c in range(g.C):
                yrow[j * ys + c] += b[c]


def conv_transpose2d_forward_direct_kernel(
    const floating[:, :, :, ::1] x,    # IN  (N, H, W, Cin)
    const floating[:, :, :, ::1] w,    # IN  (Kh, Kw, Cout/groups, Cin)
    const floating[::1] b,             # IN  (Cout,), or empty for no bias
    floating[:, :, :, ::1] y,          # OUT (N, Ho, Wo, Cout), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,      # padding cut off the top and left of the full output
    Py_ssize_t sh, Py_ssize_t sw,
    int num_threads,
    Py_ssize_t dh=1, Py_ssize_t dil_w=1,
    Py_ssize_t groups=1,
) -> None:
    """y = the transposed convolution of x with w (plus b): one task per (output row, group).

    ``y``'s shape sets the output size (output padding included); output pixels that no input
    pixel reaches get the bias (zero without one).
    """
    cdef fck_geo g
    cdef Py_ssize_t G = groups, N = x.shape[0], Cin = x.shape[3], Cout = y.shape[3]
    cdef Py_ssize_t Kh = w.shape[0], Kw = w.shape[1], og, ig, CB, nb, gsize, ntasks, task, r, n, h, gi, k, c, t
    cdef floating dummy = 0
    cdef floating* wpk = NULL
    cdef floating* wg = NULL
    cdef floating* zeros = NULL
    cdef const floating* bp = NULL
    cdef const floating* xp = &x[0, 0, 0, 0] if x.size else NULL
    cdef floating* yp = &y[0, 0, 0, 0] if y.size else NULL
    if G < 1 or Cin % G or Cout % G or w.shape[3] != Cin or w.shape[2] * G != Cout:
        raise ValueError(f"groups={G} does not fit x {tuple(x.shape)[:4]}, w {tuple(w.shape)[:4]} and "
                         f"y {tuple(y.shape)[:4]}")
    if y.shape[0] != N or b.shape[0] not in (0, Cout):
        raise ValueError(f"y {tuple(y.shape)[:4]} and b ({b.shape[0]},) do not fit x {tuple(x.shape)[:4]}")
    if x.size == 0 or y.size == 0:
        return
    og, ig = Cout // G, Cin // G
    # the convolution whose input gradient this is: input y, output gradient x, weight w
    g.H, g.W, g.C = y.shape[1], y.shape[2], og
    g.Kh, g.Kw, g.Cout = Kh, Kw, ig
    g.Ho, g.Wo = x.shape[1], x.shape[2]
    g.ph, g.pw, g.sh, g.sw = ph, pw, sh, sw
    g.dh, g.dw, g.xs, g.ys = dh, dil_w, Cout, Cin
    if floating is float:
        CB = fck_f32_cb()
    else:
        CB = fck_f64_cb()
    nb = (og + CB - 1) // CB
    gsize = nb * CB * Kh * Kw * ig
    ntasks = N * g.H * G
    if b.shape[0]:
        bp = &b[0]
    with nogil:
        wpk = <floating*>malloc(G * gsize * sizeof(floating))
        zeros = <floating*>calloc(ig + 1, sizeof(floating))
        if G > 1:
            wg = <floating*>malloc(Kh * Kw * og * ig * sizeof(floating))
        if wpk == NULL or zeros == NULL or (G > 1 and wg == NULL):
            ntasks = 0
        else:
            for gi in range(G):
                if G > 1:  # group gi's columns of w as a (Kh*Kw*og, ig) matrix
                    for k in range(Kh * Kw * og):
                        for c in range(ig):
                            wg[k * ig + c] = w[k // (Kw * og), (k // og) % Kw, k % og, gi * ig + c]
                if floating is float:
                    fck_f32_pack(wg if G > 1 else &w[0, 0, 0, 0], Kh, Kw, og, ig, 2, wpk + gi * gsize)
                else:
                    fck_f64_pack(wg if G > 1 else &w[0, 0, 0, 0], Kh, Kw, og, ig, 2, wpk + gi * gsize)
        for task in prange(ntasks, schedule="dynamic", num_threads=num_threads):
            r = task // G
            gi = task - r * G
            n = r // g.H
            h = r - n * g.H
            _row(&g, xp + n * g.Ho * g.Wo * Cin + gi * ig, zeros, wpk + gi * gsize,
                 bp + gi * og if bp != NULL else NULL, yp + r * g.W * Cout + gi * og, h, Cout)
        free(wpk)
        free(wg)
        free(zeros)
    if ntasks == 0:
        raise MemoryError("conv_transpose2d_forward_direct_kernel: no memory for the packed weights")
