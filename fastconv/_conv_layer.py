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
    if pt == pb and pl == pr:
        pad_copy, conv_pad = ((0, 0), (0, 0)), (pt, pl)
    else:  # per-side padding: pad a copy, convolve unpadded
        pad_copy, conv_pad = padding, (0, 0)
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
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
    if compute_dx and (pt or pb or pl or pr):
        dx = dx[:, pt : dx.shape[1] - pb, pl : dx.shape[2] - pr, :]
    if dil != (1, 1):
        dw = np.ascontiguousarray(dw[:: dil[0], :: dil[1]])
    return dx, dw, db
