"""A conv2d layer with per-side padding, dilation, groups and no bias, on the public
``conv2d_forward``/``conv2d_backward``: the building block of the transposed and 1-D convolutions.

``layer_forward`` returns ``(y, state)`` in the computing dtype it is given; ``layer_backward``
takes the state back. Options that ``conv2d_forward`` does not take are carried out around it:
per-side padding by padding a copy of x, dilation by a kernel with zeros between the taps, groups
by one call per group, no bias by a zero bias.
"""
from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np

from ._cache import ConvCache
from .conv import conv2d_backward, conv2d_forward


class _State(NamedTuple):
    caches: list  # one ConvCache per group
    pad_copy: Tuple[Tuple[int, int], Tuple[int, int]]  # padding done by copying x (cropped from dx)
    dilation: Tuple[int, int]
    groups: int
    x_shape: Tuple[int, ...]


def _dilated(w: np.ndarray, dil) -> np.ndarray:
    """``w`` (Kh, Kw, C, Cout) with ``dil - 1`` zero taps between its taps."""
    if dil == (1, 1):
        return w
    kh, kw = w.shape[:2]
    out = np.zeros((dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1) + w.shape[2:], dtype=w.dtype)
    out[:: dil[0], :: dil[1]] = w
    return out


def layer_forward(x, w, b, padding, stride, dilation, groups, ct):
    """y (in ``ct``) and the state for :func:`layer_backward`.

    x (N, H, W, C) and w (Kh, Kw, C/groups, Cout) in ``ct``; b (Cout,) or None; padding
    ((top, bottom), (left, right)); stride, dilation pairs.
    """
    (pt, pb), (pl, pr) = padding
    if pt == pb and pl == pr and min(pt, pl) >= 0:
        pad_copy, conv_pad = ((0, 0), (0, 0)), (pt, pl)
    else:  # per-side padding: pad a copy, convolve unpadded
        pad_copy, conv_pad = padding, (0, 0)
        x = _pad_or_crop(x, padding)
    wd = _dilated(w, dilation)
    cout = w.shape[3]
    bias = np.zeros(cout, dtype=ct) if b is None else b.astype(ct, copy=False)
    if groups == 1:
        y, cache = conv2d_forward(x, wd, bias, conv_pad, stride)
        caches = [cache]
    else:
        c_g, cout_g = w.shape[2], cout // groups
        parts, caches = [], []
        for g in range(groups):
            yg, cache = conv2d_forward(x[..., g * c_g : (g + 1) * c_g], wd[..., g * cout_g : (g + 1) * cout_g],
                                       bias[g * cout_g : (g + 1) * cout_g], conv_pad, stride)
            parts.append(yg)
            caches.append(cache)
        y = np.concatenate(parts, axis=3)
    return y, _State(caches, pad_copy, tuple(dilation), groups, x.shape)


def layer_backward(dy, state: _State, compute_dx: bool):
    """(dx or None, dw, db) in the computing dtype, for the layer of ``state``."""
    caches, ((pt, pb), (pl, pr)), dil, groups, _ = state
    if groups == 1:
        dx, dw, db = conv2d_backward(dy, caches[0], compute_dx=compute_dx)
    else:
        cout_g = dy.shape[3] // groups
        outs = [conv2d_backward(np.ascontiguousarray(dy[..., g * cout_g : (g + 1) * cout_g]), cache,
                                compute_dx=compute_dx) for g, cache in enumerate(caches)]
        dx = np.concatenate([o[0] for o in outs], axis=3) if compute_dx else None
        dw = np.concatenate([o[1] for o in outs], axis=3)
        db = np.concatenate([o[2] for o in outs])
    if compute_dx and (pt or pb or pl or pr):  # undo the copy's padding (or cropping: zero gradient there)
        dx = _pad_or_crop(dx, ((-pt, -pb), (-pl, -pr)))
    if dil != (1, 1):
        dw = np.ascontiguousarray(dw[:: dil[0], :: dil[1]])
    return dx, dw, db


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
    if pt == pb and pl == pr and min(pt, pl) >= 0:
        conv_pad = (pt, pl)
    else:
        x, conv_pad = _pad_or_crop(x, padding), (0, 0)
    kh, kw, c_g, cout = w_shape
    wd_shape = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1, c_g, cout // groups)
    parts = []
    for g in range(groups):
        xg = x if groups == 1 else np.ascontiguousarray(x[..., g * c_g : (g + 1) * c_g])
        dyg = dy if groups == 1 else np.ascontiguousarray(dy[..., g * (cout // groups) : (g + 1) * (cout // groups)])
        # a conv2d cache as its forward pass would have stored it, with x the input and dy the output gradient
        cache = ConvCache(np.ascontiguousarray(xg), np.empty(wd_shape, dtype=ct), (wd_shape[3],), conv_pad,
                          tuple(stride), ct, ct, ct, dyg.shape)
        parts.append(conv2d_backward(dyg, cache, compute_dx=False)[1])
    dw = parts[0] if groups == 1 else np.concatenate(parts, axis=3)
    if tuple(dilation) != (1, 1):
        dw = np.ascontiguousarray(dw[:: dilation[0], :: dilation[1]])
    return dw
