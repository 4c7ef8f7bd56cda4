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
from libc.string cimport memcpy, memset

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


# --------------------------------------------------------------------------- stride-2 phase planes
# A 4x4 stride-2 transposed convolution is one 2x2 stride-1 convolution with 4 * Cout outputs (one
# Cout block per output phase): z[n, t, u, (r, s, co)] holds the full output's pixel
# (2t + r, 2u + s); the layer's output pixel (i, j) is the full output's (i + ph, j + pw). Planes
# may instead hold the first three phases, (0, 0), (0, 1) and (1, 0) (3 * Cout channels), phase
# (1, 1) being the caller's (the 3x3 layer's one-tap phase: bench/tconv3x3_phases_interleaved.py
# measures that form). The two kernels below move between y (or dy) and the phase planes by one
# loop, _phase_copy; each row is a fixed sequence of copies.

cdef void _phase_copy(
    const floating* zin, floating* zout, const floating* yin, floating* yout,
    Py_ssize_t N, Py_ssize_t Hz, Py_ssize_t Wz, Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t Cout,
    Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t P, int num_threads,
) noexcept nogil:
    """For every block z[n, t, u, (r, s, :)] (block 2r + s < P of the P per pixel) and the pixel
    y[n, 2t + r - ph, 2u + s - pw, :] it holds: planes to output (zin and yout given) copies the
    block into y where that pixel is inside y; output to planes (yin and zout given) copies the
    pixel into the block, or zeros where it is outside y. Pixels of phases without a block are not
    touched. One task per row of z; two rows of z hold disjoint rows of y."""
    cdef bint to_output = zin != NULL
    cdef Py_ssize_t row, n, t, u, r, s, i, j, zi, yi
    cdef size_t nbytes = Cout * sizeof(floating)
    for row in prange(N * Hz, schedule="static", num_threads=num_threads if num_threads > 1 else 1):
        n = row // Hz
        t = row - n * Hz
        for u in range(Wz):
            for r in range(2):
                i = 2 * t + r - ph
                for s in range(2):
                    if 2 * r + s >= P:
                        break
                    j = 2 * u + s - pw
                    zi = ((row * Wz + u) * P + 2 * r + s) * Cout
                    if 0 <= i < Ho and 0 <= j < Wo:
                        yi = ((n * Ho + i) * Wo + j) * Cout
                        if to_output:
                            memcpy(yout + yi, zin + zi, nbytes)
                        else:
                            memcpy(zout + zi, yin + yi, nbytes)
                    elif not to_output:
                        memset(zout + zi, 0, nbytes)


cdef inline Py_ssize_t _phase_blocks(Py_ssize_t zc, Py_ssize_t Cout) noexcept:
    """Phase blocks per pixel of planes with ``zc`` channels over ``Cout``-channel pixels: 4 or 3, or
    0 where ``zc`` is neither (an empty layer's planes, Cout and zc both 0, count as four)."""
    if zc == 4 * Cout:
        return 4
    if Cout and zc == 3 * Cout:
        return 3
    return 0


def phases_to_output_kernel(
    const floating[:, :, :, ::1] z,    # IN  (N, Hz, Wz, 4 * Cout) phase planes
    floating[:, :, :, ::1] y,          # OUT (N, Ho, Wo, Cout), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,      # the layer's padding: y[i, j] is the full output's (i + ph, j + pw)
    int num_threads,
) -> None:
    """y[n, i, j, :] = z[n, (i + ph) // 2, (j + pw) // 2, phase block ((i + ph) % 2, (j + pw) % 2)].

    z holds four phase blocks per pixel (4 * Cout channels) or the first three (3 * Cout: the
    pixels of phase (1, 1) are then left as they are)."""
    cdef Py_ssize_t N = y.shape[0], Ho = y.shape[1], Wo = y.shape[2], Cout = y.shape[3]
    cdef Py_ssize_t P = _phase_blocks(z.shape[3], Cout)
    if z.shape[0] != N or P == 0 or (Ho - 1 + ph) // 2 >= z.shape[1] or (Wo - 1 + pw) // 2 >= z.shape[2] \
            or ph < 0 or pw < 0:
        raise ValueError(f"phase planes {tuple(z.shape)[:4]} do not cover y {tuple(y.shape)[:4]} at padding "
                         f"({ph}, {pw})")
    if y.size == 0:
        return
    with nogil:
        _phase_copy(&z[0, 0, 0, 0], NULL, NULL, &y[0, 0, 0, 0], N, z.shape[1], z.shape[2], Ho, Wo, Cout,
                    ph, pw, P, num_threads)


def output_to_phases_kernel(
    const floating[:, :, :, ::1] dy,   # IN  (N, Ho, Wo, Cout)
    floating[:, :, :, ::1] dz,         # OUT (N, Hz, Wz, 4 * Cout) phase planes, fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,      # the layer's padding
    int num_threads,
) -> None:
    """The adjoint of :func:`phases_to_output_kernel`: dz[n, t, u, (r, s, :)] = dy[n, 2t + r - ph,
    2u + s - pw, :], or 0 where that pixel is outside dy; for the four phase blocks per pixel, or
    the first three (dz with 3 * Cout channels)."""
    cdef Py_ssize_t N = dy.shape[0], Cout = dy.shape[3]
    cdef Py_ssize_t P = _phase_blocks(dz.shape[3], Cout)
    cdef const floating* yin = NULL
    if dz.shape[0] != N or P == 0 or ph < 0 or pw < 0:
        raise ValueError(f"phase planes {tuple(dz.shape)[:4]} do not match dy {tuple(dy.shape)[:4]}")
    if dz.size == 0:
        return
    if dy.size:
        yin = &dy[0, 0, 0, 0]
    with nogil:
        _phase_copy(NULL, &dz[0, 0, 0, 0], yin, NULL, N, dz.shape[1], dz.shape[2], dy.shape[1], dy.shape[2], Cout,
                    ph, pw, P, num_threads)
