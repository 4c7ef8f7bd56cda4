"""Pooling: the tutorial's ``pooling`` and max/avg pooling layers, on Cython kernels."""
from __future__ import annotations

import numpy as np

from . import _pool
from . import _validate as v
from ._cache import PoolCache
from ._threads import threads_for

__all__ = ["pooling", "maxpool_forward", "maxpool_backward", "avgpool_forward", "avgpool_backward"]

# Below this many elements touched a call runs on one thread: starting OpenMP workers costs more.
_PARALLEL_MIN_ELEMS = 1 << 15


def _threads(elems: int) -> int:
    """OpenMP threads for a pooling call touching ``elems`` elements."""
    return threads_for(elems, _PARALLEL_MIN_ELEMS)


def maxpool_forward(x, pool_size=2, stride=None):
    """Max pooling forward pass (NHWC), no padding.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    pool_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to ``pool_size``. Windows that do not fit are dropped.

    Returns
    -------
    y : ndarray, shape (N, Ho, Wo, C), dtype of ``x`` (float64 for integer ``x``)
        ``Ho = (H - ph) // sh + 1``. A NaN in a window is its maximum, as in ``np.max``.
    cache : PoolCache
        ``cache.argmax`` is an int64 (N, Ho, Wo, C) array of flat indices ``h * W + w`` into
        each input plane: the first maximum of each window in row-major order.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import maxpool_forward
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> y, cache = maxpool_forward(x)
    >>> y[0, :, :, 0], cache.argmax[0, :, :, 0]
    (array([[ 5.,  7.],
           [13., 15.]]), array([[ 5,  7],
           [13, 15]]))
    """
    x, (ph, pw), (sh, sw), (ho, wo) = v.pool_args(x, pool_size, stride)
    ct = v.compute_dtype(x.dtype)
    shape = (x.shape[0], ho, wo, x.shape[3])
    y = np.empty(shape, dtype=ct)
    argmax = np.empty(shape, dtype=np.int64)
    if y.size:
        _pool.maxpool_forward_kernel(np.ascontiguousarray(x, dtype=ct), y, argmax, ph, pw, sh, sw, _threads(x.size))
    dx_dt = v.out_dtype(x.dtype)
    return y.astype(dx_dt, copy=False), PoolCache(x.shape, dx_dt, argmax, (ph, pw), (sh, sw), shape)


def maxpool_backward(dy, cache):
    """Max pooling backward pass: each window's gradient goes to its first maximum.

    Parameters
    ----------
    dy : array_like, shape (N, Ho, Wo, C)
    cache : PoolCache
        The second value returned by :func:`maxpool_forward`.

    Returns
    -------
    dx : ndarray, shape and dtype of the forward input
        Overlapping windows (stride < pool size) add up; unread positions get zero.
    """
    v.check_pool_cache(cache, "max", PoolCache)
    dy = v.check_dy(dy, cache.y_shape)
    ct = v.compute_dtype(cache.dx_dtype, dy.dtype)
    n, h, w, c = cache.x_shape
    if dy.size and cache.stride == cache.pool_size:
        # windows tile the input: the kernel writes every element of dx exactly once
        dx = np.empty(cache.x_shape, dtype=ct)
        (ph, pw) = cache.pool_size
        _pool.maxpool_backward_tiled_kernel(
            np.ascontiguousarray(dy, dtype=ct), cache.argmax, dx, ph, pw, _threads(dx.size)
        )
        return dx.astype(cache.dx_dtype, copy=False)
    dx = np.zeros((n, h * w, c), dtype=ct)
    if dy.size:
        _pool.maxpool_backward_kernel(np.ascontiguousarray(dy, dtype=ct), cache.argmax, dx, _threads(dx.size))
    return dx.reshape(cache.x_shape).astype(cache.dx_dtype, copy=False)


def avgpool_forward(x, pool_size=2, stride=None):
    """Average pooling forward pass (NHWC), no padding.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    pool_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to ``pool_size``.

    Returns
    -------
    y : ndarray, shape (N, Ho, Wo, C), dtype of ``x`` (float64 for integer ``x``)
    cache : PoolCache
        Opaque; pass it to :func:`avgpool_backward`.
    """
    x, (ph, pw), (sh, sw), (ho, wo) = v.pool_args(x, pool_size, stride)
    ct = v.compute_dtype(x.dtype)
    shape = (x.shape[0], ho, wo, x.shape[3])
    y = np.empty(shape, dtype=ct)
    if y.size:
        _pool.avgpool_forward_kernel(np.ascontiguousarray(x, dtype=ct), y, ph, pw, sh, sw, _threads(x.size))
    dx_dt = v.out_dtype(x.dtype)
    return y.astype(dx_dt, copy=False), PoolCache(x.shape, dx_dt, None, (ph, pw), (sh, sw), shape)


def avgpool_backward(dy, cache):
    """Average pooling backward pass: each window's gradient is shared equally by its elements.

    Returns
    -------
    dx : ndarray, shape and dtype of the forward input
    """
    v.check_pool_cache(cache, "avg", PoolCache)
    dy = v.check_dy(dy, cache.y_shape)
    ct = v.compute_dtype(cache.dx_dtype, dy.dtype)
    (ph, pw), (sh, sw) = cache.pool_size, cache.stride
    if dy.size and (sh, sw) == (ph, pw):
        # windows tile the input: the kernel writes every element of dx exactly once
        dx = np.empty(cache.x_shape, dtype=ct)
        _pool.avgpool_backward_tiled_kernel(np.ascontiguousarray(dy, dtype=ct), dx, ph, pw, _threads(dx.size))
        return dx.astype(cache.dx_dtype, copy=False)
    dx = np.zeros(cache.x_shape, dtype=ct)
    if dy.size:
        _pool.avgpool_backward_kernel(np.ascontiguousarray(dy, dtype=ct), dx, ph, pw, sh, sw, _threads(dx.size))
    return dx.astype(cache.dx_dtype, copy=False)


def pooling(input_array, pool_size=(2, 2), stride=None, mode="max"):
    """Max or average pooling of a 2-D image or a 4-D NHWC batch (the tutorial's ``pooling``).

    Parameters
    ----------
    input_array : array_like, shape (H, W) or (N, H, W, C)
    pool_size : int or (int, int), default (2, 2)
    stride : int or (int, int), optional
        Defaults to ``pool_size``.
    mode : {'max', 'avg'}

    Returns
    -------
    ndarray, float64
        (Ho, Wo) for a 2-D input, and also for a 4-D input with N == C == 1 (as in the
        tutorial); (N, Ho, Wo, C) otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import pooling
    >>> a = np.arange(1, 17).reshape(4, 4)
    >>> pooling(a, mode="max")
    array([[ 6.,  8.],
           [14., 16.]])
    >>> pooling(a, mode="avg")
    array([[ 3.5,  5.5],
           [11.5, 13.5]])
    """
    return v.run_pooling(input_array, pool_size, stride, mode, maxpool_forward, avgpool_forward)
