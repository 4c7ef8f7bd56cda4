"""Dilated 3x3 stride-1 convolutions by Winograd over the polyphase components of the input.

With dilation ``d``, output row ``i = d*a + r`` reads padded input rows ``d*(a + ki) + r``: the
rows of phase ``r`` (index mod ``d``) only, as an undilated 3x3 window. So a stride-1 layer
with dilation ``(dh, dw)`` is ``dh*dw`` independent undilated layers on the phases of the padded
input (rows and columns split by index mod ``dh``, ``dw``). Stacked along the batch axis, the
phases make ONE undilated 3x3 stride-1 layer that fastconv._winograd runs (forward, dx and dw;
dw sums over the batch, which is the sum over the phases).

Each phase is padded to the same extent: the buffer of phase ``r`` holds input rows
``d*(a + p) + r - top`` for ``a = 0 .. nb-1`` (zeros where that row is padding), and the
Winograd kernels pad it by ``p`` more rows on each side (``p`` at most 2, chosen as large as
the layer's padding allows, so that 'same' layers need no zeros in the buffer). Every phase
yields ``ceil(Ho/d)`` output rows; those beyond ``Ho`` are dropped (their dy is zero in the
backward). The cost beyond the undilated layer is the copies: x's phases, y's scatter, and in
the backward dy's phases and dx's gather.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Tuple

import numpy as np

from . import _outpool, _winograd

#: "auto" sends a dilated layer here when it has one group, dilation at most AUTO_MAX_DILATION
#: per axis and at least AUTO_MIN_CHANNELS input and output channels: there the polyphase path
#: measured faster than the direct kernels (float32, forward + backward, 1 thread, CPU time:
#: 0.76-0.99 of their time at 64 to 128 channels and dilation 2 to 4; 1.1-1.5 at 16 to 32
#: channels and on grouped layers, where the phase copies weigh more than Winograd saves).
AUTO_MAX_DILATION = 4
AUTO_MIN_CHANNELS = 64


def pays(w_shape, dilation, groups: int) -> bool:
    """The "auto" rule's condition on dilated layers (true for undilated ones)."""
    if tuple(dilation) == (1, 1):
        return True
    return groups == 1 and max(dilation) <= AUTO_MAX_DILATION and min(w_shape[2], w_shape[3]) >= AUTO_MIN_CHANNELS


class Axis(NamedTuple):
    """How one axis (rows or columns) splits into phases."""

    d: int  # the dilation: the number of phases
    p: int  # the Winograd kernels' padding of each phase, each side (0..2)
    nb: int  # the phase extent in the buffer
    no: int  # the output extent of each phase: ceil(out / d)
    before: int  # the layer's padding before (top or left)
    n: int  # the input extent
    out: int  # the layer's output extent


def axis(n: int, before: int, after: int, d: int) -> Axis:
    """The phase split of an axis of extent ``n`` with padding ``before``/``after`` and dilation ``d``
    (3 taps): the largest Winograd padding ``p <= 2`` that reads only zeros beyond the buffer."""
    out = n + before + after - 2 * d
    if out < 1:
        raise ValueError(f"empty output: extent {n}, padding ({before}, {after}), dilation {d}")
    no = -(-out // d)
    for p in range(min(2, before // d), -1, -1):
        nb = no + 2 - 2 * p
        # rows the kernel pads after the buffer are input rows >= n (zeros) for every phase;
        # p = 0 always qualifies: d*(no + 2) >= out + 2d = n + before + after
        if nb >= 1 and d * (nb + p) - before >= n:
            return Axis(d, p, nb, no, before, n, out)
    raise AssertionError("unreachable: p = 0 always serves")  # pragma: no cover


def _span(ax: Axis, r: int) -> Tuple[int, int, int]:
    """(lo, hi, start): buffer rows ``lo:hi`` of phase ``r`` hold input rows ``start::d`` (the rest are zero)."""
    lo = max(0, -(-(ax.before - r) // ax.d) - ax.p)
    hi = min(ax.nb, (ax.n - 1 + ax.before - r) // ax.d - ax.p + 1)
    hi = max(hi, lo)
    return lo, hi, ax.d * (lo + ax.p) + r - ax.before


def _out_count(ax: Axis, r: int) -> int:
    """Outputs of phase ``r`` that the layer has: ``len(range(r, out, d))``."""
    return max(0, -(-(ax.out - r) // ax.d))


def gather(x: np.ndarray, rows: Axis, cols: Axis) -> np.ndarray:
    """x's phases (dh*dw*N, nbh, nbw, C), zero where they are padding (phase (r, s) at ``(r*dw + s)*N``)."""
    n, c = x.shape[0], x.shape[3]
    buf = np.empty((rows.d, cols.d, n, rows.nb, cols.nb, c), dtype=x.dtype)
    for r in range(rows.d):
        lo, hi, h0 = _span(rows, r)
        for s in range(cols.d):
            cl, ch, w0 = _span(cols, s)
            ph = buf[r, s]
            ph[:, :lo] = 0
            ph[:, hi:] = 0
            ph[:, lo:hi, :cl] = 0
            ph[:, lo:hi, ch:] = 0
            if hi > lo and ch > cl:
                ph[:, lo:hi, cl:ch] = x[:, h0:h0 + rows.d * (hi - lo):rows.d, w0:w0 + cols.d * (ch - cl):cols.d]
    return buf.reshape(rows.d * cols.d * n, rows.nb, cols.nb, c)


def scatter_dy(dy: np.ndarray, rows: Axis, cols: Axis) -> np.ndarray:
    """dy's phases (dh*dw*N, noh, now, Cout), zero for the outputs a phase has beyond the layer's."""
    n, co = dy.shape[0], dy.shape[3]
    buf = np.empty((rows.d, cols.d, n, rows.no, cols.no, co), dtype=dy.dtype)
    for r in range(rows.d):
        hr = _out_count(rows, r)
        for s in range(cols.d):
            ws = _out_count(cols, s)
            ph = buf[r, s]
            ph[:, :hr, :ws] = dy[:, r::rows.d, s::cols.d]
            ph[:, hr:] = 0
            ph[:, :hr, ws:] = 0
    return buf.reshape(rows.d * cols.d * n, rows.no, cols.no, co)


def gather_y(yb: np.ndarray, y: np.ndarray, rows: Axis, cols: Axis) -> None:
    """Write the phases' outputs ``yb`` (dh*dw*N, noh, now, Cout) into ``y`` (N, Ho, Wo, Cout)."""
    n = y.shape[0]
    yb = yb.reshape(rows.d, cols.d, n, rows.no, cols.no, y.shape[3])
    for r in range(rows.d):
        hr = _out_count(rows, r)
        for s in range(cols.d):
            y[:, r::rows.d, s::cols.d] = yb[r, s, :, :hr, :_out_count(cols, s)]


def gather_dx(dxb: np.ndarray, dx: np.ndarray, rows: Axis, cols: Axis) -> None:
    """Write the phases' input gradients ``dxb`` (dh*dw*N, nbh, nbw, C) into ``dx`` (N, H, W, C):
    every input row and column lies in exactly one phase's buffer."""
    n = dx.shape[0]
    dxb = dxb.reshape(rows.d, cols.d, n, rows.nb, cols.nb, dx.shape[3])
    for r in range(rows.d):
        lo, hi, h0 = _span(rows, r)
        for s in range(cols.d):
            cl, ch, w0 = _span(cols, s)
            if hi > lo and ch > cl:
                dx[:, h0:h0 + rows.d * (hi - lo):rows.d, w0:w0 + cols.d * (ch - cl):cols.d] = dxb[r, s, :, lo:hi, cl:ch]


def axes(x_shape, pad, pad_end, dil) -> Tuple[Axis, Axis]:
    """The row and column phase splits of a layer."""
    end = tuple(pad) if pad_end is None else tuple(pad_end)
    return axis(x_shape[1], pad[0], end[0], dil[0]), axis(x_shape[2], pad[1], end[1], dil[1])


def forward(x: np.ndarray, w: np.ndarray, b, pad, pad_end, dil, y: np.ndarray, nthreads: int) -> None:
    """y of the dilated 3x3 stride-1 layer (x, w, b C-contiguous of y's float dtype; b may be None)."""
    rows, cols = axes(x.shape, pad, pad_end, dil)
    yb = np.empty((rows.d * cols.d * x.shape[0], rows.no, cols.no, w.shape[3]), dtype=y.dtype)
    _winograd.winograd_forward(gather(x, rows, cols), w, b, rows.p, cols.p, yb, nthreads)
    gather_y(yb, y, rows, cols)


def backward(x: np.ndarray, w: np.ndarray, dy: np.ndarray, ct, pad, pad_end, dil, compute_dx: bool,
             undilated_backward: Callable) -> tuple:
    """(dx, dw, db) in ``ct`` of the dilated layer: ``undilated_backward(x, w, dy, ct, pad, stride,
    compute_dx)`` (the Winograd layer's backward) on the phases; dx None if not wanted."""
    rows, cols = axes(x.shape, pad, pad_end, dil)
    xb = gather(np.ascontiguousarray(x, dtype=ct), rows, cols)
    dyb = scatter_dy(np.ascontiguousarray(dy, dtype=ct), rows, cols)
    dxb, dw, db = undilated_backward(xb, w, dyb, ct, (rows.p, cols.p), (1, 1), compute_dx)
    if not compute_dx:
        return None, dw, db
    dx = _outpool.empty(x.shape, ct)
    gather_dx(dxb, dx, rows, cols)
    return dx, dw, db
