"""Pooling: the tutorial's ``pooling`` and max/avg pooling layers, on Cython kernels."""
from __future__ import annotations

import numpy as np

from . import _cache
from . import _layout
from . import _pool
from . import _validate as v
from ._threads import threads_for

__all__ = ["pooling", "maxpool_forward", "maxpool_backward", "avgpool_forward", "avgpool_backward"]

# Below this many elements touched a call runs on one thread: waking an OpenMP team (and, on a
# busy machine, waiting for it) costs more than a second core saves on so little memory traffic.
_PARALLEL_MIN_ELEMS = 1 << 18
# Windows of at most this many elements keep their maximum's position in one byte.
_MAX_CODED_WINDOW = 256

_F32, _F64 = v._F32, v._F64  # the float dtypes of the cheap common-case checks
_U8 = np.dtype(np.uint8)


def _threads(elems: int) -> int:
    """OpenMP threads for a pooling call touching ``elems`` elements."""
    return threads_for(elems, _PARALLEL_MIN_ELEMS)


class _CodedPoolCache(_cache.PoolCache):
    """A max-pool :class:`~fastconv._cache.PoolCache` holding one-byte window offsets.

    The forward kernel records, for each output element, the offset ``di * pw + dj`` of its
    window's first maximum (a uint8 array, ``_code``). ``argmax`` (the documented int64 flat
    indices ``h * W + w``) is built from it on first access and kept; indexing, iteration and
    pickling see that int64 array too, so the cache reads like any other ``PoolCache``.
    """

    def __new__(cls, x_shape, dx_dtype, code, pool_size, stride, y_shape):
        self = super().__new__(cls, x_shape, dx_dtype, None, pool_size, stride, y_shape)
        self._code = code
        self._argmax = None
        return self

    @property
    def argmax(self) -> np.ndarray:
        """int64 (N, Ho, Wo, C) flat indices ``h * W + w`` of each window's first maximum."""
        if self._argmax is None:
            (_, _, w, _), (ph, pw), (sh, sw) = self.x_shape, self.pool_size, self.stride
            _, ho, wo, _ = self.y_shape
            di, dj = np.divmod(self._code, np.uint8(pw))
            rows = di + (np.arange(ho, dtype=np.int64) * sh)[:, None, None]
            cols = dj + (np.arange(wo, dtype=np.int64) * sw)[:, None]
            argmax = rows * w + cols
            argmax.flags.writeable = False  # the backward pass reads the codes, not this array
            self._argmax = argmax
        return self._argmax

    def __iter__(self):
        return iter((self.x_shape, self.dx_dtype, self.argmax, self.pool_size, self.stride, self.y_shape, self.layout))

    def __getitem__(self, k):
        return tuple(self)[k]

    def __reduce__(self):
        return (_cache.PoolCache, tuple(self))

    def __repr__(self):
        return repr(_cache.PoolCache(*self))


def _int_pair(value):
    """``(a, b)`` for an int or a tuple of two ints (exactly ``int``), else None."""
    if type(value) is int:
        return value, value
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int:
        return value
    return None


def _lean_args(x, pool_size, stride):
    """The common forward call checked cheaply: (x, pool, stride, (Ho, Wo)), or None to take the full checks.

    Handles a native float32/float64 ndarray and int (or int-pair) sizes that fit; anything else,
    valid or not, goes to ``_validate.pool_args`` so that errors and their messages are the shared ones.
    """
    if type(x) is not np.ndarray or x.ndim != 4 or (x.dtype is not _F32 and x.dtype is not _F64):
        return None
    pool = _int_pair(pool_size)
    st = pool if stride is None else _int_pair(stride)
    if pool is None or st is None:
        return None
    (ph, pw), (sh, sw) = pool, st
    _, h, w, _ = x.shape
    if not (1 <= ph <= h and 1 <= pw <= w and 1 <= sh <= v.MAX_EXTENT and 1 <= sw <= v.MAX_EXTENT):
        return None
    return x, pool, st, ((h - ph) // sh + 1, (w - pw) // sw + 1)


def _forward_args(x, pool_size, stride):
    """Checked forward arguments and the kernel's input: (x as the kernel reads it, pool, stride, (Ho, Wo), dtype of y)."""
    args = _lean_args(x, pool_size, stride)
    if args is None:
        x, pool, st, hw = v.pool_args(x, pool_size, stride)
        ct, out_dt = v.compute_dtype(x.dtype), v.out_dtype(x.dtype)
    else:
        x, pool, st, hw = args
        ct = out_dt = x.dtype
    if not x.flags.c_contiguous or x.dtype is not ct:
        x = np.ascontiguousarray(x, dtype=ct)
    return x, pool, st, hw, out_dt


def _backward_dy(dy, cache):
    """``dy`` checked against the forward output, as a C-contiguous array of the kernel dtype."""
    dt = cache.dx_dtype
    if type(dy) is np.ndarray and dy.dtype is dt and dy.shape == cache.y_shape:
        ct = dt
    else:
        dy = v.check_dy(dy, cache.y_shape)
        ct = v.compute_dtype(dt, dy.dtype)
    if not dy.flags.c_contiguous or dy.dtype is not ct:
        dy = np.ascontiguousarray(dy, dtype=ct)
    return dy


def maxpool_forward(x, pool_size=2, stride=None, *, layout="NHWC"):
    """Max pooling forward pass (NHWC), no padding.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    pool_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to ``pool_size``. Windows that do not fit are dropped.
    layout : {"NHWC", "NCHW"}, default "NHWC"
        "NCHW": x is (N, C, H, W); y and ``cache.argmax`` are (N, C, Ho, Wo).

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
    x, nchw = _layout.pool_input(x, layout)
    x, (ph, pw), (sh, sw), (ho, wo), dx_dt = _forward_args(x, pool_size, stride)
    shape = (x.shape[0], ho, wo, x.shape[3])
    y = np.empty(shape, dtype=x.dtype)
    if ph * pw <= _MAX_CODED_WINDOW:
        code = np.empty(shape, dtype=_U8)
        if y.size:
            _pool.maxpool_forward_codes_kernel(x, y, code, ph, pw, sh, sw, _threads(x.size))
        cache = _CodedPoolCache(x.shape, dx_dt, code, (ph, pw), (sh, sw), shape)
    else:
        argmax = np.empty(shape, dtype=np.int64)
        if y.size:
            _pool.maxpool_forward_kernel(x, y, argmax, ph, pw, sh, sw, _threads(x.size))
        cache = _cache.PoolCache(x.shape, dx_dt, argmax, (ph, pw), (sh, sw), shape)
    return _layout.pool_output((y if y.dtype is dx_dt else y.astype(dx_dt)), cache, nchw)


def maxpool_backward(dy, cache, *, layout=None):
    """Max pooling backward pass: each window's gradient goes to its first maximum.

    Parameters
    ----------
    dy : array_like, shape (N, Ho, Wo, C)
    cache : PoolCache
        The second value returned by :func:`maxpool_forward`.
    layout : {"NHWC", "NCHW"}, optional
        The forward call's layout, which the cache records (a different one is a ValueError).

    Returns
    -------
    dx : ndarray, shape and dtype of the forward input
        Overlapping windows (stride < pool size) add up; unread positions get zero.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import maxpool_forward, maxpool_backward
    >>> y, cache = maxpool_forward(np.arange(16.0).reshape(1, 4, 4, 1))
    >>> maxpool_backward(np.ones_like(y), cache)[0, :, :, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 0., 1.],
           [0., 0., 0., 0.],
           [0., 1., 0., 1.]])
    """
    dy, cache, nchw = _layout.pool_dy(dy, cache, layout)
    if type(cache) is not _CodedPoolCache:
        v.check_pool_cache(cache, "max", _cache.PoolCache)
    dy = _backward_dy(dy, cache)
    n, h, w, c = cache.x_shape
    tiled = cache.stride == cache.pool_size
    if dy.size and tiled and type(cache) is _CodedPoolCache:
        # windows tile the input: the kernel writes every element of dx exactly once
        dx = np.empty(cache.x_shape, dtype=dy.dtype)
        (ph, pw) = cache.pool_size
        _pool.maxpool_backward_codes_tiled_kernel(dy, cache._code, dx, ph, pw, _threads(dx.size))
    elif dy.size and tiled:
        dx = np.empty(cache.x_shape, dtype=dy.dtype)
        (ph, pw) = cache.pool_size
        argmax = np.ascontiguousarray(cache.argmax, dtype=np.int64)
        _pool.maxpool_backward_tiled_kernel(dy, argmax, dx, ph, pw, _threads(dx.size))
    else:
        dx = np.zeros((n, h * w, c), dtype=dy.dtype)
        if dy.size:
            argmax = np.ascontiguousarray(cache.argmax, dtype=np.int64)
            _pool.maxpool_backward_kernel(dy, argmax, dx, _threads(dx.size))
        dx = dx.reshape(cache.x_shape)
    return _layout.pool_dx(dx if dx.dtype is cache.dx_dtype else dx.astype(cache.dx_dtype), nchw)


def avgpool_forward(x, pool_size=2, stride=None, *, layout="NHWC"):
    """Average pooling forward pass (NHWC), no padding.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    pool_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to ``pool_size``.
    layout : {"NHWC", "NCHW"}, default "NHWC"
        "NCHW": x is (N, C, H, W) and y is (N, C, Ho, Wo).

    Returns
    -------
    y : ndarray, shape (N, Ho, Wo, C), dtype of ``x`` (float64 for integer ``x``)
    cache : PoolCache
        Opaque; pass it to :func:`avgpool_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import avgpool_forward
    >>> y, cache = avgpool_forward(np.arange(16.0).reshape(1, 4, 4, 1))
    >>> y[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    x, nchw = _layout.pool_input(x, layout)
    x, (ph, pw), (sh, sw), (ho, wo), dx_dt = _forward_args(x, pool_size, stride)
    shape = (x.shape[0], ho, wo, x.shape[3])
    y = np.empty(shape, dtype=x.dtype)
    if y.size:
        _pool.avgpool_forward_kernel(x, y, ph, pw, sh, sw, _threads(x.size))
    cache = _cache.PoolCache(x.shape, dx_dt, None, (ph, pw), (sh, sw), shape)
    return _layout.pool_output((y if y.dtype is dx_dt else y.astype(dx_dt)), cache, nchw)


def avgpool_backward(dy, cache, *, layout=None):
    """Average pooling backward pass: each window's gradient is shared equally by its elements.

    Parameters
    ----------
    dy : array_like, shape (N, Ho, Wo, C)
    cache : PoolCache
        The second value returned by :func:`avgpool_forward`.
    layout : {"NHWC", "NCHW"}, optional
        The forward call's layout, which the cache records (a different one is a ValueError).

    Returns
    -------
    dx : ndarray, shape and dtype of the forward input
        Overlapping windows (stride < pool size) add up; unread positions get zero.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import avgpool_forward, avgpool_backward
    >>> y, cache = avgpool_forward(np.zeros((1, 2, 2, 1)))
    >>> avgpool_backward(np.ones_like(y), cache)[0, :, :, 0]
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    dy, cache, nchw = _layout.pool_dy(dy, cache, layout)
    if type(cache) is not _cache.PoolCache or cache.argmax is not None:
        v.check_pool_cache(cache, "avg", _cache.PoolCache)
    dy = _backward_dy(dy, cache)
    (ph, pw), (sh, sw) = cache.pool_size, cache.stride
    if dy.size and (sh, sw) == (ph, pw):
        # windows tile the input: the kernel writes every element of dx exactly once
        dx = np.empty(cache.x_shape, dtype=dy.dtype)
        _pool.avgpool_backward_tiled_kernel(dy, dx, ph, pw, _threads(dx.size))
    else:
        dx = np.zeros(cache.x_shape, dtype=dy.dtype)
        if dy.size:
            _pool.avgpool_backward_kernel(dy, dx, ph, pw, sh, sw, _threads(dx.size))
    return _layout.pool_dx(dx if dx.dtype is cache.dx_dtype else dx.astype(cache.dx_dtype), nchw)


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
