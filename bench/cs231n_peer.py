"""The cs231n assignment's own "fast" layers, rebuilt from their published algorithm (the peer of bench_cs231n).

* Convolution: im2col by strides (``as_strided`` over the padded input gives the
  (C, HH, WW, N, H', W') windows, copied once into a (C*HH*WW, N*H'*W') matrix), one BLAS
  matmul for the forward; the backward is two matmuls and a col2im that scatters the
  column gradients back, one (kernel row, kernel column) offset at a time (strided slice adds,
  no ``np.add.at``).
* Max pooling: the reshape path for square, tiling windows: ``x.reshape(N, C, H/ph, ph, W/pw, pw)``
  and two ``max`` reductions; the backward sends ``dout`` to every position equal to its
  window's maximum and divides it among ties.
"""
from __future__ import annotations

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np
from numpy.lib.stride_tricks import as_strided


def conv_forward_strides(x, w, b, conv_param):
    """im2col by strides + one matmul; NCHW x, (F, C, HH, WW) w. Returns (out, cache)."""
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    ho, wo = (h + 2 * pad - hh) // stride + 1, (wd + 2 * pad - ww) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    hp, wp = h + 2 * pad, wd + 2 * pad
    isz = xp.itemsize
    # windows (C, HH, WW, N, H', W') read straight out of the padded input
    strides = tuple(isz * s for s in (hp * wp, wp, 1, c * hp * wp, stride * wp, stride))
    x_stride = as_strided(xp, shape=(c, hh, ww, n, ho, wo), strides=strides)
    x_cols = np.ascontiguousarray(x_stride).reshape(c * hh * ww, n * ho * wo)
    res = w.reshape(f, -1) @ x_cols + b.reshape(-1, 1)
    out = np.ascontiguousarray(res.reshape(f, n, ho, wo).transpose(1, 0, 2, 3))
    return out, (x.shape, w, b, conv_param, x_cols)


def _col2im(dx_cols, x_shape, hh, ww, pad, stride, ho, wo):
    """Sum the (C, HH, WW, N, H', W') column gradients back into an (N, C, H, W) array."""
    n, c, h, wd = x_shape
    dxp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), dtype=dx_cols.dtype)
    cols = dx_cols.transpose(3, 0, 1, 2, 4, 5)  # (N, C, HH, WW, H', W')
    for i in range(hh):
        for j in range(ww):
            dxp[:, :, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride] += cols[:, :, i, j]
    return dxp[:, :, pad : pad + h, pad : pad + wd]


def conv_backward_strides(dout, cache):
    """Backward of :func:`conv_forward_strides`: two matmuls and the col2im scatter. Returns (dx, dw, db)."""
    x_shape, w, b, conv_param, x_cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, c = x_shape[:2]
    f, _, hh, ww = w.shape
    _, _, ho, wo = dout.shape
    db = np.sum(dout, axis=(0, 2, 3))
    dout_r = dout.transpose(1, 0, 2, 3).reshape(f, -1)
    dw = (dout_r @ x_cols.T).reshape(w.shape)
    dx_cols = (w.reshape(f, -1).T @ dout_r).reshape(c, hh, ww, n, ho, wo)
    dx = _col2im(dx_cols, x_shape, hh, ww, pad, stride, ho, wo)
    return dx, dw, db


def max_pool_forward_reshape(x, pool_param):
    """Max pooling by a reshape and two reductions (square windows that tile the input)."""
    n, c, h, w = x.shape
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    if not (ph == pw == stride and h % ph == 0 and w % pw == 0):
        raise ValueError("the reshape path needs square pools that tile the input")
    x_r = x.reshape(n, c, h // ph, ph, w // pw, pw)
    out = x_r.max(axis=3).max(axis=4)
    return out, (x, x_r, out)


def max_pool_backward_reshape(dout, cache):
    """Backward of :func:`max_pool_forward_reshape`: dout goes to every maximum, split among ties."""
    x, x_r, out = cache
    dx_r = np.zeros_like(x_r)
    out_b = out[:, :, :, np.newaxis, :, np.newaxis]
    mask = x_r == out_b
    dout_b, _ = np.broadcast_arrays(dout[:, :, :, np.newaxis, :, np.newaxis], dx_r)
    dx_r[mask] = dout_b[mask]
    dx_r /= np.sum(mask, axis=(3, 5), keepdims=True)
    return dx_r.reshape(x.shape)
