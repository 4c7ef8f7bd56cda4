"""Transposed 2-D convolution (torch's ``conv_transpose2d``, NHWC) on the conv2d kernels.

A transposed convolution is the input gradient of a convolution: the forward pass is one call of
the direct kernels' input-gradient rows (fastconv._conv_transpose) applied to x with w, any
stride, padding, output padding, dilation and groups, writing every output row once (no
zero-inserted input, no per-phase convolutions, no strided scatter), with the bias added to each
finished row.

The backward pass is two conv2d computations: dx is the conv2d forward pass of dy with w (stride s,
padding p), and dw is conv2d's weight gradient with the roles of x and dy swapped (dy is that
conv's input, x its output gradient).

4x4 stride-2 layers (the U-Net/DCGAN upsampling layer: no dilation, one group, output padding at
most the padding) take a faster route when large enough. Each of the four output phases (row and
column parity of the full output) is a 2x2 convolution of x, so the layer is one 2x2 stride-1
convolution with 4 * Cout outputs over x padded by 1, ``z[n, t, u, (r, s, co)]`` = full output
pixel ``(2t + r, 2u + s)``, computed by Winograd F(m x m, 2 x 2) (:mod:`fastconv._winograd`): 1.44 (m = 5) or
1.78 (m = 3) multiplies per output instead of 4. z is never stored: the Winograd passes read and write
it in place through a phase view of y (the forward's output transform writes each pixel of a tile
into y, the backward's transforms read dy's pixels as z's), and dx and dw are that 2x2
convolution's input and weight gradients.
"""
from __future__ import annotations

import numpy as np

from . import _conv_transpose, _outpool, _winograd
from . import _validate as v
from ._cache import ConvTransposeCache
from ._conv_layer import layer_forward, layer_weight_grad
from ._threads import threads_for

__all__ = ["conv_transpose2d_forward", "conv_transpose2d_backward"]

# Below this many multiply-adds the forward kernel runs on one thread.
_PARALLEL_MIN_MACS = 1 << 20
# Below this many elements the bias gradient runs on one thread.
_PARALLEL_MIN_SUM = 1 << 18
# The phase route of 4x4 stride-2 layers (see the module docstring): from this many multiply-adds
# of the direct computation (x.size * 16 * Cout) and these channel counts on. The tile sizes of its
# Winograd passes (F(m x m, 2 x 2)): forward, input gradient, weight gradient. F(3x3, 2x2) in all
# three: on the benchmarked layer fwd+bwd took 0.87-0.94 of the time with F(5x5, 2x2) in the
# forward and dx (calls alternating, six runs), although F(5x5, 2x2)'s GEMMs do 1.44 multiplies per
# output against F(3x3, 2x2)'s 1.78
_PHASE_MIN_MACS = 1 << 24
_PHASE_MIN_CIN = 16
_PHASE_MIN_COUT = 8
_PHASE_TILES = (3, 3, 3)


def _bias_grad(dy: np.ndarray) -> np.ndarray:
    """The sum of dy (N, Ho, Wo, Cout) over its pixels, (Cout,) in dy's dtype: the float64 column
    sums of :func:`fastconv._winograd.bias_grad` (numpy's bits, independent of the thread count)."""
    if dy.size == 0:
        return np.zeros(dy.shape[-1], dtype=dy.dtype)
    return _winograd.bias_grad(np.ascontiguousarray(dy), threads_for(dy.size, _PARALLEL_MIN_SUM))


def _phase_route(x_shape, w_shape, st, pad, op, g, dil) -> bool:
    """Whether a layer takes the phase route: 4x4 kernel, stride 2, no dilation, one group, output
    padding at most the padding on each axis, and large enough."""
    return (tuple(w_shape[:2]) == (4, 4) and tuple(st) == (2, 2) and tuple(dil) == (1, 1) and g == 1
            and op[0] <= pad[0] and op[1] <= pad[1]
            and x_shape[3] >= _PHASE_MIN_CIN and w_shape[2] >= _PHASE_MIN_COUT
            and x_shape[0] * x_shape[1] * x_shape[2] * x_shape[3] * 16 * w_shape[2] >= _PHASE_MIN_MACS)


def _phase_weights(w: np.ndarray) -> np.ndarray:
    """The phase route's 2x2 kernel (2, 2, Cin, 4 * Cout) of w (4, 4, Cout, Cin): tap (i, j) of phase
    (r, s) is ``w[r + 2 - 2i, s + 2 - 2j]`` (transposed to (Cin, Cout))."""
    cout, cin = w.shape[2], w.shape[3]
    w6 = w.reshape(2, 2, 2, 2, cout, cin)  # (2 - 2i, r, 2 - 2j, s, co, c) for i, j in {0, 1}
    return np.ascontiguousarray(w6[::-1, :, ::-1].transpose(0, 2, 5, 1, 3, 4).reshape(2, 2, cin, 4 * cout))


def _phase_view(x_shape, pad):
    """The phase view (fastconv._winograd's ``y_phases``) of a 4x4 stride-2 layer's output: the
    2x2 convolution's output pixel ``(t, u)`` (of ``(H + 1, W + 1)``), phase block ``(r, s)``, is
    the full output's ``(2t + r, 2u + s)``, i.e. y's ``(2t + r - ph, 2u + s - pw)``."""
    return (x_shape[1] + 1, x_shape[2] + 1, tuple((r - pad[0], s - pad[1]) for r in (0, 1) for s in (0, 1)))


def _phase_forward(x, w, bias, pad, y, nthreads):
    """y (preallocated) = the 4x4 stride-2 transposed convolution of x with w (+ bias) by phases,
    each output tile's pixels transformed straight into their places in y."""
    b4 = np.tile(bias, 4) if bias.size else None
    _winograd.winograd_forward(x, _phase_weights(w), b4, 1, 1, y, nthreads, _PHASE_TILES[0],
                               y_phases=_phase_view(x.shape, pad))


def _phase_dx(x, w, dy, pad, nthreads):
    """dx of the 4x4 stride-2 transposed convolution, dy read in place as the phase planes of the
    2x2 convolution's output (the planes' pixels past dy read 0)."""
    dx = _outpool.empty(x.shape, x.dtype)
    _winograd.winograd_backward_input(dy, _phase_weights(w), 1, 1, dx, nthreads, _PHASE_TILES[1],
                                      dy_phases=_phase_view(x.shape, pad))
    return dx


def _phase_dw(x, w, dy, pad, nthreads):
    """(dw, db): dw (4, 4, Cout, Cin) of the 4x4 stride-2 transposed convolution, dy read in place
    as the phase planes, and db (Cout,) float64, the sum of dy, from the same pass (every pixel of
    dy is in one phase plane): the four phases' sums added in phase order."""
    cin, cout = x.shape[3], w.shape[2]
    dk = np.empty((2, 2, cin, 4 * cout), dtype=x.dtype)
    dbz = np.empty(4 * cout)
    _winograd.winograd_backward_weights(x, dy, 1, 1, dk, nthreads, _PHASE_TILES[2], db=dbz,
                                        dy_phases=_phase_view(x.shape, pad))
    # dw[r + 2 - 2i, s + 2 - 2j, co, c] = dk[i, j, c, (r, s, co)]
    dw = dk.reshape(2, 2, cin, 2, 2, cout)[::-1, ::-1].transpose(0, 3, 1, 4, 5, 2).reshape(w.shape)
    dbz = dbz.reshape(4, cout)
    return np.ascontiguousarray(dw), ((dbz[0] + dbz[1]) + dbz[2]) + dbz[3]


def conv_transpose2d_forward(x, w, b, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution forward pass (NHWC), torch's ``conv_transpose2d``.

    The gradient of ``conv2d_forward`` with respect to its input, as a layer: each input pixel
    spreads ``x[n, i, j] @ w`` over the output window at ``(i*s, j*s)``.

    Parameters
    ----------
    x : array_like, shape (N, H, W, Cin)
    w : array_like, shape (Kh, Kw, Cout/groups, Cin)
        torch's weight ``(Cin, Cout/groups, kH, kW)`` is ``w.transpose(3, 2, 0, 1)``.
    b : array_like, shape (Cout,), or None
        None: no bias (the backward pass returns ``db=None``).
    stride : int or (int, int), default 1
    padding : int or (int, int), default 0
        Rows/columns cut off each side of the full output.
    output_padding : int or (int, int), default 0
        Extra rows/columns kept at the bottom/right; smaller than the stride or the dilation.
    groups : int, default 1
        Divides Cin; group ``g`` maps input channels ``g*Cin/groups ...`` to output channels
        ``g*Cout/groups ...``.
    dilation : int or (int, int), default 1

    Returns
    -------
    y : ndarray, shape (N, Ho, Wo, Cout)
        ``Ho = (H - 1)*sh - 2*ph + dh*(Kh - 1) + output_padding_h + 1`` (likewise ``Wo``); dtype
        of ``x`` (float64 for integer ``x``), sums in the promoted dtype of ``x``, ``w``, ``b``.
    cache : ConvTransposeCache
        Opaque; pass it to :func:`conv_transpose2d_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import conv_transpose2d_forward
    >>> y, cache = conv_transpose2d_forward(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1)), None, stride=2)
    >>> y[0, :, :, 0]
    array([[1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.],
           [2., 2., 4., 2., 2.],
           [1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.]])
    """
    x, w, b, st, pad, op, g, dil, (ho, wo) = v.conv_transpose2d_args(
        x, w, b, stride, padding, output_padding, groups, dilation)
    ct = v.compute_dtype(x.dtype, w.dtype, *(() if b is None else (b.dtype,)))
    xc = np.ascontiguousarray(x, dtype=ct)
    wc = np.ascontiguousarray(w, dtype=ct)
    n, h, wd, cin = x.shape
    cout = w.shape[2] * g
    bias = np.zeros(0, dtype=ct) if b is None else np.ascontiguousarray(b, dtype=ct)
    macs = x.size * w.shape[0] * w.shape[1] * w.shape[2]
    if xc.size and wc.size and _phase_route(x.shape, w.shape, st, pad, op, g, dil):
        y = _outpool.empty((n, ho, wo, cout), ct)
        _phase_forward(xc, wc, bias, pad, y, threads_for(macs, _PARALLEL_MIN_MACS))
    elif xc.size and wc.size:
        y = _outpool.empty((n, ho, wo, cout), ct)
        _conv_transpose.conv_transpose2d_forward_direct_kernel(
            xc, wc, bias, y, pad[0], pad[1], st[0], st[1], threads_for(macs, _PARALLEL_MIN_MACS), dil[0], dil[1], g)
    else:  # no input channels (or no taps): every output holds the bias
        y = np.empty((n, ho, wo, cout), dtype=ct)
        y[...] = bias if bias.size else 0
    dx_dt = v.out_dtype(x.dtype)
    cache = ConvTransposeCache(
        xc, wc, None if b is None else b.shape, st, pad, op, g, dil,
        dx_dt, v.out_dtype(w.dtype), None if b is None else v.out_dtype(b.dtype), y.shape,
    )
    return (y if y.dtype == dx_dt else y.astype(dx_dt)), cache


def conv_transpose2d_backward(dy, cache):
    """Transposed convolution backward pass.

    Parameters
    ----------
    dy : array_like, shape (N, Ho, Wo, Cout)
        Gradient of the loss with respect to the forward output.
    cache : ConvTransposeCache
        The second value returned by :func:`conv_transpose2d_forward`.

    Returns
    -------
    dx : ndarray, shape and dtype of ``x``
    dw : ndarray, shape and dtype of ``w``
        Output rows/columns cut off by ``padding`` contribute nothing.
    db : ndarray, shape and dtype of ``b``, or None if the forward had ``b=None``

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import conv_transpose2d_forward, conv_transpose2d_backward
    >>> y, cache = conv_transpose2d_forward(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1)), np.zeros(1), stride=2)
    >>> dx, dw, db = conv_transpose2d_backward(np.ones_like(y), cache)
    >>> dx[0, :, :, 0], db
    (array([[9., 9.],
           [9., 9.]]), array([25.]))
    """
    v.check_cache(cache, ConvTransposeCache, "conv_transpose2d_forward")
    x, w, b_shape, st, pad, op, g, dil, dx_dt, dw_dt, db_dt, y_shape = cache[:12]
    dy = v.check_dy(dy, y_shape)
    ct = v.compute_dtype(x.dtype, w.dtype, dy.dtype)
    dyc = np.ascontiguousarray(dy, dtype=ct)
    xc = np.ascontiguousarray(x, dtype=ct)
    wc = np.ascontiguousarray(w, dtype=ct)
    # dy as the input of the conv2d whose input gradient the forward pass was: padding p on top/left,
    # and at the bottom/right as much as makes that conv's output exactly x's size (p - output_padding;
    # less than zero crops rows of dy that no tap reaches)
    padding = []
    for size, out, k, s, p, d, o in zip(x.shape[1:3], y_shape[1:3], w.shape[:2], st, pad, dil, op):
        keff = d * (k - 1) + 1
        padding.append((p, p) if (out + 2 * p - keff) // s + 1 == size else (p, p - o))
    padding = tuple(padding)
    if dyc.size and xc.size and _phase_route(x.shape, w.shape, st, pad, op, g, dil):
        macs = xc.size * w.shape[0] * w.shape[1] * w.shape[2]
        nt = threads_for(macs, _PARALLEL_MIN_MACS)
        dx, (dw, db) = _phase_dx(xc, wc, dyc, pad, nt), _phase_dw(xc, wc, dyc, pad, nt)
    elif dyc.size and xc.size:
        dx, _ = layer_forward(dyc, wc, None, padding, st, dil, g, ct)  # (Kh, Kw, Cout/g, Cin) is conv2d's layout here
        dw = layer_weight_grad(dyc, xc, w.shape, padding, st, dil, g, ct)
        db = _bias_grad(dyc)
    else:
        dx, dw, db = np.zeros(x.shape, dtype=ct), np.zeros(w.shape, dtype=ct), _bias_grad(dyc)
    db = None if b_shape is None else db.astype(db_dt).reshape(b_shape)
    return dx.astype(dx_dt, copy=False), dw.astype(dw_dt), db
