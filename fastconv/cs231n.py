"""The convolution and max-pooling layers of the Stanford cs231n assignment, on fastconv's kernels.

Same names, arguments, dict keys, return structures, shapes and dtypes as the assignment's
documented layers, so an assignment-style project changes one import::

    from fastconv.cs231n import conv_forward_fast, conv_backward_fast  # was: from .fast_layers import ...
    from fastconv.cs231n import conv_relu_pool_forward, conv_relu_pool_backward  # was: from .layer_utils import ...

Everything is NCHW: x ``(N, C, H, W)``, conv weights ``w`` ``(F, C, HH, WW)``, bias ``b``
``(F,)``. ``conv_param = {'stride': s, 'pad': p}`` (zero padding ``p`` on each side);
``pool_param = {'pool_height': ph, 'pool_width': pw, 'stride': s}``. Outputs have
``H' = 1 + (H + 2 * p - HH) // s`` rows (likewise columns; pooling: ``1 + (H - ph) // s``):
windows that do not fit are dropped, as the assignment's naive loops do, rather than refused.

* ``x``, ``dx`` and the forward output keep ``x``'s dtype (float32 stays float32, float64 stays
  float64; integer inputs give float64); ``dw`` keeps ``w``'s and ``db`` ``b``'s.
* The ``_naive`` and ``_fast`` names are the same functions: a notebook that compares them sees
  agreement to the last bit.
* Max-pool ties: the gradient of a window goes to its *first* maximum in row-major order (as
  ``np.argmax``, torch and the assignment's im2col path do). The assignment's reshape fast path
  splits it equally among tied maxima instead; the two agree whenever a window's maximum is
  unique (always, with random float data).
* Layers of at most 32 taps ``C*HH*WW`` and 64 filters, with ``x``, ``w`` and ``b`` arrays of one
  float dtype, run on small-channel kernels that read and write NCHW directly (no layout
  transposes); other layers go through ``conv2d_forward(..., layout="NCHW")``. Both agree with
  the reference loops to float rounding.
* Caches are opaque: pass them back to the matching backward. Bad parameter dicts raise a
  ``TypeError`` or ``ValueError`` naming the key; no input array or dict is modified.
"""
from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any, NamedTuple, Tuple

import numpy as np

from . import _conv_smallc
from . import _validate as v
from ._cache import ConvCache
from ._cache import PoolCache
from .conv import conv2d_backward, conv2d_forward
from .layers import relu_backward, relu_forward
from .pool import _CodedPoolCache, maxpool_backward, maxpool_forward
from ._threads import threads_for

__all__ = [
    "conv_forward_naive",
    "conv_backward_naive",
    "conv_forward_fast",
    "conv_backward_fast",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
    "max_pool_forward_fast",
    "max_pool_backward_fast",
    "conv_relu_forward",
    "conv_relu_backward",
    "conv_relu_pool_forward",
    "conv_relu_pool_backward",
]

_CONV_KEYS = ("stride", "pad")
_POOL_KEYS = ("pool_height", "pool_width", "stride")


def _param_ints(param, name: str, keys, minimums) -> Tuple[int, ...]:
    """The integer values of ``keys`` in the dict ``param`` (named ``name``), each ``>=`` its minimum."""
    if not isinstance(param, Mapping):
        raise TypeError(
            f"{name} must be a dict with keys {', '.join(map(repr, keys))}, got {type(param).__name__}"
        )
    values = []
    for key, minimum in zip(keys, minimums):
        if key not in param:
            raise ValueError(
                f"{name} is missing the key {key!r} (it needs {', '.join(map(repr, keys))}; got keys {sorted(map(str, param))})"
            )
        value = param[key]
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name}[{key!r}] must be an int, got {value!r}")
        try:
            iv = operator.index(value)
        except TypeError:
            raise TypeError(f"{name}[{key!r}] must be an int, got {type(value).__name__} {value!r}") from None
        if iv < minimum:
            raise ValueError(f"{name}[{key!r}] must be >= {minimum}, got {iv}")
        values.append(iv)
    return tuple(values)


# The small-channel kernels (fastconv._conv_smallc) read and write NCHW directly: they serve layers
# of at most _SMALLC_TAPS taps HH*WW*C and _SMALLC_COUT filters with x, w, b ndarrays of one float
# dtype; other layers go through conv2d_forward(..., layout="NCHW").
_SMALLC_TAPS = 32
_SMALLC_COUT = 64
# Below this many multiply-adds a call runs on one thread (as fastconv.conv does).
_PARALLEL_MIN_MACS = 1 << 20
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _SmallCCache(NamedTuple):
    """The cache of a convolution on the small-channel kernels: NCHW x, weights (HH, WW, C, F)."""

    x: np.ndarray
    w: np.ndarray
    pad: int
    stride: int
    y_shape: tuple


def _smallc_serves(x, w, b, stride: int, pad: int) -> bool:
    """True if the small-channel kernels serve this layer (else conv2d_forward does)."""
    if not (type(x) is np.ndarray and type(w) is np.ndarray and type(b) is np.ndarray):
        return False
    if x.dtype not in _FLOATS or w.dtype != x.dtype or b.dtype != x.dtype:
        return False
    if x.ndim != 4 or w.ndim != 4 or b.ndim != 1 or x.size == 0 or w.size == 0:
        return False
    n, c, h, wd = x.shape
    f, cw, hh, ww = w.shape
    return (cw == c and b.shape[0] == f and hh * ww * c <= _SMALLC_TAPS and f <= _SMALLC_COUT
            and h + 2 * pad >= hh and wd + 2 * pad >= ww)


def _check_tuple(cache, n: int, producer: str) -> tuple:
    """``cache`` if it is the ``n``-tuple that ``producer`` returns, else a TypeError."""
    if type(cache) is not tuple or len(cache) != n:
        raise TypeError(f"cache must be the cache returned by {producer}, got {type(cache).__name__}")
    return cache


# --------------------------------------------------------------------------- convolution
def conv_forward_fast(x, w, b, conv_param: Mapping) -> Tuple[np.ndarray, Any]:
    """Convolution layer forward pass (NCHW), zero padding and stride.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
    w : array_like, shape (F, C, HH, WW)
    b : array_like, shape (F,)
    conv_param : dict
        ``'stride'``: int >= 1; ``'pad'``: int >= 0, zeros added on each side of the rows and
        columns. Other keys are ignored.

    Returns
    -------
    out : ndarray, shape (N, F, H', W'), dtype of ``x``
        ``H' = 1 + (H + 2 * pad - HH) // stride``, ``W' = 1 + (W + 2 * pad - WW) // stride``.
    cache : object
        Opaque; pass it to :func:`conv_backward_fast`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.cs231n import conv_forward_fast
    >>> x = np.ones((1, 1, 4, 4)); w = np.ones((2, 1, 3, 3)); b = np.zeros(2)
    >>> out, cache = conv_forward_fast(x, w, b, {'stride': 2, 'pad': 1})
    >>> out[0, 0]
    array([[4., 6.],
           [6., 9.]])
    """
    stride, pad = _param_ints(conv_param, "conv_param", _CONV_KEYS, (1, 0))
    if not _smallc_serves(x, w, b, stride, pad):
        return conv2d_forward(x, w, b, pad, stride, layout="NCHW")
    x = np.ascontiguousarray(x)
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    ho, wo = (h + 2 * pad - hh) // stride + 1, (wd + 2 * pad - ww) // stride + 1
    wk = np.ascontiguousarray(w.transpose(2, 3, 1, 0))  # (HH, WW, C, F)
    out = np.empty((n, f, ho, wo), dtype=x.dtype)
    _conv_smallc.smallc_forward(x, wk, b, out, pad, pad, stride, stride, True, True,
                                threads_for(out.size * hh * ww * c, _PARALLEL_MIN_MACS))
    return out, _SmallCCache(x, wk, pad, stride, out.shape)


def conv_backward_fast(dout, cache) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convolution layer backward pass.

    Parameters
    ----------
    dout : array_like, shape (N, F, H', W')
        Upstream derivatives.
    cache : object
        The cache returned by :func:`conv_forward_fast`.

    Returns
    -------
    dx : ndarray, shape and dtype of ``x``
    dw : ndarray, shape and dtype of ``w``
    db : ndarray, shape and dtype of ``b``

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.cs231n import conv_forward_fast, conv_backward_fast
    >>> out, cache = conv_forward_fast(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), np.zeros(1), {'stride': 1, 'pad': 0})
    >>> dx, dw, db = conv_backward_fast(np.ones_like(out), cache)
    >>> dx.shape, dw.shape, db
    ((1, 1, 3, 3), (1, 1, 3, 3), array([1.]))
    """
    if isinstance(cache, _SmallCCache):
        x, wk, pad, stride, y_shape = cache
        dout = np.ascontiguousarray(v.check_dy(dout, y_shape), dtype=x.dtype)
        dx = np.empty_like(x)
        hh, ww, c, _ = wk.shape
        dw, db = _conv_smallc.smallc_backward(x, wk, dout, dx, pad, pad, stride, stride, True, True, True,
                                              threads_for(2 * dout.size * hh * ww * c, _PARALLEL_MIN_MACS))
        return dx, np.ascontiguousarray(dw.transpose(3, 2, 0, 1)), db
    if not isinstance(cache, ConvCache) or cache.layout != "NCHW":
        raise TypeError(f"cache must be the cache returned by conv_forward_fast, got {type(cache).__name__}")
    return conv2d_backward(dout, cache, layout="NCHW")


# --------------------------------------------------------------------------- max pooling
def max_pool_forward_fast(x, pool_param: Mapping) -> Tuple[np.ndarray, Any]:
    """Max pooling forward pass (NCHW).

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
    pool_param : dict
        ``'pool_height'``, ``'pool_width'``, ``'stride'``: ints >= 1. Other keys are ignored.

    Returns
    -------
    out : ndarray, shape (N, C, H', W'), dtype of ``x``
        ``H' = 1 + (H - pool_height) // stride``, ``W' = 1 + (W - pool_width) // stride``.
    cache : object
        Opaque; pass it to :func:`max_pool_backward_fast`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.cs231n import max_pool_forward_fast
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> max_pool_forward_fast(x, {'pool_height': 2, 'pool_width': 2, 'stride': 2})[0][0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    ph, pw, stride = _param_ints(pool_param, "pool_param", _POOL_KEYS, (1, 1, 1))
    return maxpool_forward(x, (ph, pw), stride, layout="NCHW")


def max_pool_backward_fast(dout, cache) -> np.ndarray:
    """Max pooling backward pass: each window's gradient goes to its first maximum.

    Parameters
    ----------
    dout : array_like, shape (N, C, H', W')
    cache : object
        The cache returned by :func:`max_pool_forward_fast`.

    Returns
    -------
    dx : ndarray, shape and dtype of ``x``
        Overlapping windows add up; positions that no window reads get zero.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.cs231n import max_pool_forward_fast, max_pool_backward_fast
    >>> out, cache = max_pool_forward_fast(np.arange(4.0).reshape(1, 1, 2, 2), {'pool_height': 2, 'pool_width': 2, 'stride': 2})
    >>> max_pool_backward_fast(np.ones_like(out), cache)[0, 0]
    array([[0., 0.],
           [0., 1.]])
    """
    if not isinstance(cache, PoolCache) or cache.layout != "NCHW" or not _is_max_cache(cache):
        raise TypeError(f"cache must be the cache returned by max_pool_forward_fast, got {type(cache).__name__}")
    return maxpool_backward(dout, cache, layout="NCHW")


def _is_max_cache(cache: PoolCache) -> bool:
    """True for a max-pool cache, without building a coded cache's int64 ``argmax`` (which the
    backward pass does not need: it reads the one-byte window codes)."""
    if isinstance(getattr(cache, "_inner", cache), _CodedPoolCache):
        return True
    return cache.argmax is not None


# The assignment's naive loops and fast layers compute the same functions; here they are one.
conv_forward_naive = conv_forward_fast
conv_backward_naive = conv_backward_fast
max_pool_forward_naive = max_pool_forward_fast
max_pool_backward_naive = max_pool_backward_fast


# --------------------------------------------------------------------------- sandwich layers
def conv_relu_forward(x, w, b, conv_param: Mapping) -> Tuple[np.ndarray, Any]:
    """A convolution followed by a ReLU.

    Parameters
    ----------
    x, w, b, conv_param
        As for :func:`conv_forward_fast`.

    Returns
    -------
    out : ndarray, shape (N, F, H', W')
        ``max(0, conv(x))``.
    cache : tuple
        Opaque; pass it to :func:`conv_relu_backward`.
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_relu_forward`: ``(dx, dw, db)``."""
    conv_cache, relu_cache = _check_tuple(cache, 2, "conv_relu_forward")
    da = relu_backward(dout, relu_cache)
    return conv_backward_fast(da, conv_cache)


def conv_relu_pool_forward(x, w, b, conv_param: Mapping, pool_param: Mapping) -> Tuple[np.ndarray, Any]:
    """A convolution, a ReLU and a max pool.

    Parameters
    ----------
    x, w, b, conv_param
        As for :func:`conv_forward_fast`.
    pool_param
        As for :func:`max_pool_forward_fast`.

    Returns
    -------
    out : ndarray, shape (N, F, H'', W'')
    cache : tuple
        Opaque; pass it to :func:`conv_relu_pool_backward`.
    """
    _param_ints(pool_param, "pool_param", _POOL_KEYS, (1, 1, 1))  # before the convolution's work
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_relu_pool_forward`: ``(dx, dw, db)``."""
    conv_cache, relu_cache, pool_cache = _check_tuple(cache, 3, "conv_relu_pool_forward")
    ds = max_pool_backward_fast(dout, pool_cache)
    da = relu_backward(ds, relu_cache)
    return conv_backward_fast(da, conv_cache)
