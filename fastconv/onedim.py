"""1-D convolution and pooling (torch's ``conv1d``, ``max_pool1d``, ``avg_pool1d``) in the
channels-last layout (N, L, C), on the 2-D kernels through (N, 1, L, C) views."""
from __future__ import annotations

import numpy as np

from . import _validate as v
from ._cache import Conv1dCache, Pool1dCache
from ._conv_layer import layer_backward, layer_forward
from .pool import avgpool_backward, avgpool_forward, maxpool_backward, maxpool_forward

__all__ = [
    "conv1d_forward",
    "conv1d_backward",
    "maxpool1d_forward",
    "maxpool1d_backward",
    "avgpool1d_forward",
    "avgpool1d_backward",
]


def conv1d_forward(x, w, b, padding=0, stride=1, dilation=1, groups=1):
    """1-D convolution layer forward pass (N, L, C), torch's ``conv1d``.

    Parameters
    ----------
    x : array_like, shape (N, L, C)
    w : array_like, shape (K, C/groups, Cout)
        torch's weight ``(Cout, C/groups, K)`` is ``w.transpose(2, 1, 0)``.
    b : array_like, shape (Cout,), or None
        None: no bias (the backward pass returns ``db=None``).
    padding : int, (int, int), 'same' or 'valid', default 0
        Zeros on each side, ``(left, right)``, none (``'valid'``), or as many as keep the length
        (``'same'``, stride 1 only; an odd total puts the extra zero on the right, as torch does).
    stride : int, default 1
    dilation : int, default 1
    groups : int, default 1
        Divides C and Cout.

    Returns
    -------
    y : ndarray, shape (N, Lo, Cout)
        ``Lo = (L + left + right - d*(K - 1) - 1) // s + 1``; dtype of ``x`` (float64 for
        integer ``x``), sums in the promoted dtype of ``x``, ``w``, ``b``.
    cache : Conv1dCache
        Opaque; pass it to :func:`conv1d_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import conv1d_forward
    >>> y, cache = conv1d_forward(np.arange(5.0).reshape(1, 5, 1), np.ones((3, 1, 1)), None, padding="same")
    >>> y[0, :, 0]
    array([ 1.,  3.,  6.,  9.,  7.])
    """
    x, w, b, pad, s, d, g, lo = v.conv1d_args(x, w, b, padding, stride, dilation, groups)
    ct = v.compute_dtype(x.dtype, w.dtype, *(() if b is None else (b.dtype,)))
    n, length, c = x.shape
    x4 = np.ascontiguousarray(x, dtype=ct).reshape(n, 1, length, c)
    w4 = np.ascontiguousarray(w, dtype=ct)[None]
    y4, state = layer_forward(x4, w4, b, ((0, 0), pad), (1, s), (1, d), g, ct)
    dx_dt = v.out_dtype(x.dtype)
    y = y4.reshape(n, lo, w.shape[2])
    cache = Conv1dCache(x4[:, 0], w4[0], None if b is None else b.shape, pad, s, d, g, dx_dt,
                        v.out_dtype(w.dtype), None if b is None else v.out_dtype(b.dtype), y.shape, state)
    return (y if y.dtype == dx_dt else y.astype(dx_dt)), cache


def conv1d_backward(dy, cache):
    """1-D convolution layer backward pass.

    Parameters
    ----------
    dy : array_like, shape (N, Lo, Cout)
    cache : Conv1dCache
        The second value returned by :func:`conv1d_forward`.

    Returns
    -------
    dx : ndarray, shape and dtype of ``x``
    dw : ndarray, shape and dtype of ``w``
    db : ndarray, shape and dtype of ``b``, or None if the forward had ``b=None``

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import conv1d_forward, conv1d_backward
    >>> y, cache = conv1d_forward(np.ones((1, 5, 1)), np.ones((3, 1, 1)), np.zeros(1))
    >>> dx, dw, db = conv1d_backward(np.ones_like(y), cache)
    >>> dx[0, :, 0], db
    (array([1., 2., 3., 2., 1.]), array([3.]))
    """
    v.check_cache(cache, Conv1dCache, "conv1d_forward")
    if cache.plan is None:  # a cache of fastconv.reference's forward: set the layer up again
        x, w, b_shape, pad, s, d, g = cache[:7]
        cache = conv1d_forward(x, w, None if b_shape is None else np.zeros(b_shape, cache.db_dtype), pad, s, d,
                               g)[1]._replace(dx_dtype=cache.dx_dtype, dw_dtype=cache.dw_dtype)
    x, w, b_shape, _, _, _, _, dx_dt, dw_dt, db_dt, y_shape, state = cache
    dy = v.check_dy(dy, y_shape)
    n, lo, cout = y_shape
    dx4, dw4, db = layer_backward(dy.reshape(n, 1, lo, cout), state, True)
    dx = dx4.reshape(x.shape)
    db = None if b_shape is None else db.astype(db_dt, copy=False).reshape(b_shape)
    return dx.astype(dx_dt, copy=False), dw4[0].astype(dw_dt, copy=False), db


class _MaxPool1dCache(Pool1dCache):
    """A max-pool :class:`~fastconv._cache.Pool1dCache` whose ``argmax`` is read from the 2-D pool's
    cache (``plan``) on first access."""

    def __new__(cls, x_shape, dx_dtype, *rest):
        return super().__new__(cls, x_shape, dx_dtype, None, *rest)

    @property
    def argmax(self) -> np.ndarray:
        """int64 (N, Lo, C) input positions of each window's first maximum."""
        return self.plan.argmax[:, 0]

    def __iter__(self):
        return iter(tuple(super().__iter__())[:2] + (self.argmax,) + tuple(super().__iter__())[3:])

    def __getitem__(self, k):
        return tuple(self)[k]

    def __reduce__(self):
        return (Pool1dCache, tuple(self))

    def __repr__(self):
        return repr(Pool1dCache(*self))


def _is_max_cache(cache) -> bool:
    """Whether ``cache`` came from a 1-D max pool (without building a lazy argmax to find out)."""
    return isinstance(cache, _MaxPool1dCache) or tuple.__getitem__(cache, 2) is not None


def _pool_options(a, avg: bool) -> dict:
    """The 2-D pools' keyword options of a 1-D call, the defaults left out."""
    opts = {}
    if a.padding:
        opts["padding"] = (0, a.padding)
    if a.dilation != 1:
        opts["dilation"] = (1, a.dilation)
    if a.ceil_mode:
        opts["ceil_mode"] = True
    if avg and not a.count_include_pad:
        opts["count_include_pad"] = False
    if avg and a.divisor_override is not None:
        opts["divisor_override"] = a.divisor_override
    return opts


def maxpool1d_forward(x, pool_size=2, stride=None, padding=0, dilation=1, ceil_mode=False):
    """1-D max pooling forward pass (N, L, C), torch's ``max_pool1d``.

    Parameters
    ----------
    x : array_like, shape (N, L, C)
    pool_size : int, default 2
    stride : int, optional
        Defaults to ``pool_size``.
    padding : int, default 0
        Implicit -inf on both sides; at most ``pool_size // 2``.
    dilation : int, default 1
    ceil_mode : bool, default False
        Keep a last, partial window if it starts inside the input or the left padding.

    Returns
    -------
    y : ndarray, shape (N, Lo, C), dtype of ``x`` (float64 for integer ``x``)
        A NaN in a window is its maximum.
    cache : Pool1dCache
        ``cache.argmax``: int64 (N, Lo, C) positions in the input row of each window's first maximum.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import maxpool1d_forward
    >>> y, cache = maxpool1d_forward(np.array([1.0, 3, 2, 5, 4]).reshape(1, 5, 1), 2)
    >>> y[0, :, 0], cache.argmax[0, :, 0]
    (array([3., 5.]), array([1, 3]))
    """
    a = v.pool1d_args(x, pool_size, stride, padding, dilation, ceil_mode)
    n, length, c = a.x.shape
    y4, inner = maxpool_forward(a.x.reshape(n, 1, length, c), (1, a.pool), (1, a.stride), **_pool_options(a, False))
    y = y4.reshape(n, a.out_len, c)
    cache = _MaxPool1dCache(a.x.shape, v.out_dtype(a.x.dtype), a.pool, a.stride, a.padding, a.dilation,
                            a.ceil_mode, True, None, y.shape, inner)
    return y, cache


def maxpool1d_backward(dy, cache):
    """1-D max pooling backward pass: each window's gradient goes to its first maximum.

    Parameters
    ----------
    dy : array_like, shape (N, Lo, C)
    cache : Pool1dCache
        The second value returned by :func:`maxpool1d_forward`.

    Returns
    -------
    dx : ndarray, shape and dtype of ``x``

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import maxpool1d_forward, maxpool1d_backward
    >>> y, cache = maxpool1d_forward(np.array([1.0, 3, 2, 5]).reshape(1, 4, 1), 2)
    >>> maxpool1d_backward(np.ones_like(y), cache)[0, :, 0]
    array([0., 1., 0., 1.])
    """
    if not isinstance(cache, Pool1dCache) or not _is_max_cache(cache):
        raise TypeError(f"cache must be the cache returned by maxpool1d_forward, got {v.public_type_name(cache)}")
    if cache.plan is None:  # a cache of fastconv.reference's forward: scatter to its argmax
        dy = v.check_dy(dy, cache.y_shape)
        dx = np.zeros(cache.x_shape, dtype=v.compute_dtype(cache.dx_dtype, dy.dtype))
        n, lo, c = cache.y_shape
        np.add.at(dx, (np.arange(n)[:, None, None], cache.argmax, np.arange(c)), dy)
        return dx.astype(cache.dx_dtype, copy=False)
    dy = v.check_dy(dy, cache.y_shape)
    n, lo, c = cache.y_shape
    return maxpool_backward(dy.reshape(n, 1, lo, c), cache.plan).reshape(cache.x_shape)


def avgpool1d_forward(x, pool_size=2, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                      divisor_override=None):
    """1-D average pooling forward pass (N, L, C), torch's ``avg_pool1d`` (plus ``divisor_override``).

    Parameters
    ----------
    x : array_like, shape (N, L, C)
    pool_size : int, default 2
    stride : int, optional
        Defaults to ``pool_size``.
    padding : int, default 0
        Zeros on both sides; at most ``pool_size // 2``.
    ceil_mode : bool, default False
    count_include_pad : bool, default True
        Divide by the window's extent in the padded row (True) or by its taps inside the row.
    divisor_override : int, optional
        Divide every window's sum by this instead.

    Returns
    -------
    y : ndarray, shape (N, Lo, C), dtype of ``x`` (float64 for integer ``x``)
    cache : Pool1dCache

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import avgpool1d_forward
    >>> y, cache = avgpool1d_forward(np.arange(6.0).reshape(1, 6, 1), 3)
    >>> y[0, :, 0]
    array([1., 4.])
    """
    a = v.pool1d_args(x, pool_size, stride, padding, 1, ceil_mode, count_include_pad, divisor_override)
    n, length, c = a.x.shape
    y4, inner = avgpool_forward(a.x.reshape(n, 1, length, c), (1, a.pool), (1, a.stride), **_pool_options(a, True))
    y = y4.reshape(n, a.out_len, c)
    cache = Pool1dCache(a.x.shape, v.out_dtype(a.x.dtype), None, a.pool, a.stride, a.padding, 1, a.ceil_mode,
                        a.count_include_pad, a.divisor_override, y.shape, inner)
    return y, cache


def avgpool1d_backward(dy, cache):
    """1-D average pooling backward pass: each window's gradient is shared by its taps.

    Parameters
    ----------
    dy : array_like, shape (N, Lo, C)
    cache : Pool1dCache
        The second value returned by :func:`avgpool1d_forward`.

    Returns
    -------
    dx : ndarray, shape and dtype of ``x``

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import avgpool1d_forward, avgpool1d_backward
    >>> y, cache = avgpool1d_forward(np.arange(4.0).reshape(1, 4, 1), 2)
    >>> avgpool1d_backward(np.ones_like(y), cache)[0, :, 0]
    array([0.5, 0.5, 0.5, 0.5])
    """
    if not isinstance(cache, Pool1dCache) or _is_max_cache(cache):
        raise TypeError(f"cache must be the cache returned by avgpool1d_forward, got {v.public_type_name(cache)}")
    if cache.plan is None:  # a cache of fastconv.reference's forward: set the 2-D pool up again
        x = np.zeros(cache.x_shape, dtype=cache.dx_dtype)
        cache = avgpool1d_forward(x, cache.pool_size, cache.stride, cache.padding, cache.ceil_mode,
                                  cache.count_include_pad, cache.divisor_override)[1]
    dy = v.check_dy(dy, cache.y_shape)
    n, lo, c = cache.y_shape
    return avgpool_backward(dy.reshape(n, 1, lo, c), cache.plan).reshape(cache.x_shape)
