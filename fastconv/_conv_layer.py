"""A conv2d layer on the public ``conv2d_forward``/``conv2d_backward`` (per-side padding, where a
negative amount crops x, dilation, groups, no bias), and its weight gradient without the forward
pass: the building blocks of the transposed and 1-D convolutions."""
from __future__ import annotations

import numpy as np

from ._cache import ConvCache
from .conv import conv2d_backward, conv2d_forward


def _dilated(w: np.ndarray, dil) -> np.ndarray:
    """``w`` (Kh, Kw, C, Cout) with ``dil - 1`` zero taps between its taps."""
    if dil == (1, 1):
        return w
    kh, kw = w.shape[:2]
    out = np.zeros((dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1) + w.shape[2:], dtype=w.dtype)
    out[:: dil[0], :: dil[1]] = w
    return out


def layer_forward(x, w, b, padding, stride, dilation, groups, ct):
    """y (in ``ct``) and the state (a ConvCache) for :func:`layer_backward`.

    x (N, H, W, C) and w (Kh, Kw, C/groups, Cout) in ``ct``; b (Cout,) or None; padding
    ((top, bottom), (left, right)), a negative amount cropping that side of x; stride, dilation pairs.
    """
    (pt, pb), (pl, pr) = padding
    if min(pt, pb, pl, pr) < 0:
        x = _pad_or_crop(x, ((min(pt, 0), min(pb, 0)), (min(pl, 0), min(pr, 0))))
        padding = ((max(pt, 0), max(pb, 0)), (max(pl, 0), max(pr, 0)))
    bias = None if b is None else b.astype(ct, copy=False)
    return conv2d_forward(x, w, bias, padding, tuple(stride), tuple(dilation), groups)


def layer_backward(dy, state, compute_dx: bool):
    """(dx or None, dw, db) for the layer of ``state`` (non-negative padding only)."""
    return conv2d_backward(dy, state, compute_dx=compute_dx)


def _pad_or_crop(a: np.ndarray, padding) -> np.ndarray:
    """``a`` (N, H, W, C) zero-padded per side; a negative amount crops that side instead."""
    (pt, pb), (pl, pr) = padding
    a = a[:, max(0, -pt) : a.shape[1] - max(0, -pb), max(0, -pl) : a.shape[2] - max(0, -pr)]
    pads = ((0, 0), (max(0, pt), max(0, pb)), (max(0, pl), max(0, pr)), (0, 0))
    return np.pad(a, pads) if any(p for pair in pads for p in pair) else a


def layer_weight_grad(x, dy, w_shape, padding, stride, dilation, groups, ct):
    """dw (in ``ct``, shape ``w_shape``) of the conv layer with input ``x`` and output gradient ``dy``,
    without its forward pass (the weight gradient of a transposed convolution).

    x (N, H, W, C) and dy (N, Ho, Wo, Cout) in ``ct``; padding ((top, bottom), (left, right)), where
    a negative amount crops that side of x.
    """
    (pt, pb), (pl, pr) = padding
    if min(pt, pb, pl, pr) < 0:
        x = _pad_or_crop(x, ((min(pt, 0), min(pb, 0)), (min(pl, 0), min(pr, 0))))
        (pt, pb), (pl, pr) = (max(pt, 0), max(pb, 0)), (max(pl, 0), max(pr, 0))
    # a conv2d cache as its forward pass would have stored it, with x the input and dy the output gradient
    cache = ConvCache(np.ascontiguousarray(x), np.zeros(w_shape, dtype=ct), (w_shape[3],), (pt, pl), tuple(stride),
                      ct, ct, ct, dy.shape, pad_end=(pb, pr), dilation=tuple(dilation), groups=groups)
    return conv2d_backward(dy, cache, compute_dx=False)[1]
