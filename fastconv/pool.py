"""Pooling: the tutorial's ``pooling`` and max/avg pooling layers, on Cython kernels."""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

import numpy as np

from . import _cache
from . import _layout
from . import _outpool
from . import _pool
from . import _pool_window
from . import _validate as v
from ._threads import threads_for

__all__ = [
    "pooling", "maxpool_forward", "maxpool_backward", "avgpool_forward", "avgpool_backward",
    "adaptive_avgpool_forward", "adaptive_avgpool_backward", "adaptive_maxpool_forward", "adaptive_maxpool_backward",
    "global_avgpool_forward", "global_avgpool_backward", "global_maxpool_forward", "global_maxpool_backward",
]

# Below this many elements touched a call runs on one thread: waking an OpenMP team (and, on a
# busy machine, waiting for it) costs more than a second core saves on so little memory traffic.
# A 2x2 pool of 300K float64 elements takes about 0.3 ms of one core's time, while a parallel
# region on a loaded 2-core machine was measured to add tens of milliseconds of waiting.
_PARALLEL_MIN_ELEMS = 1 << 20
# Gradients of at least this many bytes (the L2 cache of one core, typically) that a kernel
# writes without reading are written with non-temporal stores, past the caches: saves the
# read-for-ownership of every line (half the traffic) when the array would not stay cached anyway.
_STREAM_MIN_BYTES = 1 << 22
# Windows of at most this many elements keep their maximum's position in one byte.
_MAX_CODED_WINDOW = 256

_F32, _F64 = v._F32, v._F64  # the float dtypes of the cheap common-case checks
_U8 = np.dtype(np.uint8)


def _threads(elems: int) -> int:
    """OpenMP threads for a pooling call touching ``elems`` elements."""
    return threads_for(elems, _PARALLEL_MIN_ELEMS)


@lru_cache(maxsize=64)
def _code_offsets(kw, dh, dw, w):
    """(256,) int64: the flat offset ``(k // kw) * dh * w + (k % kw) * dw`` of the tap that code ``k`` names."""
    di, dj = np.divmod(np.arange(256, dtype=np.int64), kw)
    off = di * (dh * w) + dj * dw
    off.flags.writeable = False
    return off


def _codes_to_argmax(code, rowbase, colbase, kw, dh, dw, w):
    """Read-only int64 flat indices ``rowbase[i] + colbase[j] + offset(code)`` of coded maxima."""
    argmax = np.empty(code.shape, dtype=np.int64)
    _pool.codes_to_argmax_kernel(code, rowbase, colbase, _code_offsets(kw, dh, dw, w), argmax,
                                 _threads(argmax.size))
    argmax.flags.writeable = False  # the backward pass reads the codes, not this array
    return argmax


class _CodedPoolCache(_cache.PoolCache):
    """A max-pool :class:`~fastconv._cache.PoolCache` holding one-byte window offsets.

    The forward kernel records, for each output element, the offset ``di * pw + dj`` of its
    window's first maximum (a uint8 array, ``_code``). ``argmax`` (the documented int64 flat
    indices ``h * W + w``) is built from it on first access and kept; indexing, iteration and
    pickling see that int64 array too, so the cache reads like any other ``PoolCache``.
    """

    _code: np.ndarray
    _argmax: Optional[np.ndarray]

    def __new__(cls, x_shape, dx_dtype, code, pool_size, stride, y_shape):
        self = super().__new__(cls, x_shape, dx_dtype, None, pool_size, stride, y_shape)
        self._code = code
        self._argmax = None
        return self

    @property
    def argmax(self) -> np.ndarray:
        """int64 (N, Ho, Wo, C) flat indices ``h * W + w`` of each window's first maximum."""
        if self._argmax is None:
            (_, _, w, _), (_, pw), (sh, sw) = self.x_shape, self.pool_size, self.stride
            _, ho, wo, _ = self.y_shape
            self._argmax = _codes_to_argmax(
                self._code, np.arange(ho, dtype=np.int64) * (sh * w), np.arange(wo, dtype=np.int64) * sw, pw, 1, 1, w)
        return self._argmax

    def __iter__(self):
        return iter((self.x_shape, self.dx_dtype, self.argmax, self.pool_size, self.stride, self.y_shape, self.window,
                     self.layout))

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


def maxpool_forward(x, pool_size=2, stride=None, padding=0, dilation=1, ceil_mode=False, *, layout="NHWC"):
    """Max pooling forward pass (NHWC), with torch's ``max_pool2d`` options.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    pool_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to ``pool_size``. Windows that do not fit are dropped (unless ``ceil_mode``).
    padding : int or (int, int), default 0
        Implicit -inf padding on both sides; at most ``pool_size // 2``.
    dilation : int or (int, int), default 1
        Spacing between the window's taps.
    ceil_mode : bool, default False
        Round the output size up: a last, partial window is kept if it starts inside the
        input or the left padding.
    layout : {"NHWC", "NCHW"}, default "NHWC"
        "NCHW": x is (N, C, H, W); y and ``cache.argmax`` are (N, C, Ho, Wo).

    Returns
    -------
    y : ndarray, shape (N, Ho, Wo, C), dtype of ``x`` (float64 for integer ``x``)
        ``Ho = (H + 2p - d(k-1) - 1 [+ s-1 with ceil_mode]) // s + 1`` (minus one when
        ceil_mode would start the last window in the right padding); with the defaults,
        ``(H - ph) // sh + 1``. A NaN in a window is its maximum, as in ``np.max``.
    cache : PoolCache
        ``cache.argmax`` is an int64 (N, Ho, Wo, C) array of flat indices ``h * W + w`` into
        each (unpadded) input plane: the first maximum of each window in row-major order.

    Raises
    ------
    ValueError
        ``padding`` above ``pool_size // 2``, a window larger than the padded input (without
        ``ceil_mode``), or a window lying entirely in the padding (possible with dilation).

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
    if _plain_options(padding, dilation, ceil_mode):
        x, (ph, pw), (sh, sw), (ho, wo), dx_dt = _forward_args(x, pool_size, stride)
    else:
        x, (ph, pw), (sh, sw), (ho, wo), dx_dt, window = _window_forward_args(
            x, pool_size, stride, padding, dilation, ceil_mode, True, None)
        if window is not None:
            return _layout.pool_output(*_maxpool_window(x, (ph, pw), (sh, sw), (ho, wo), dx_dt, window), nchw)
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
    return _layout.pool_output((y if y.dtype == dx_dt else y.astype(dx_dt)), cache, nchw)


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
        if type(cache) is not _CodedWindowCache:  # its argmax is built on demand: not needed here
            v.check_pool_cache(cache, "max", _cache.PoolCache)
        v.check_pool_cache_adaptive(cache, False, "maxpool_forward")
    dy = _backward_dy(dy, cache)
    if cache.window is not None:
        return _layout.pool_dx(_max_scatter_backward(dy, cache), nchw)
    n, h, w, c = cache.x_shape
    tiled = cache.stride == cache.pool_size
    if dy.size and tiled and type(cache) is _CodedPoolCache:
        # windows tile the input: the kernel writes every element of dx exactly once
        dx = _outpool.empty(cache.x_shape, dy.dtype)
        (ph, pw) = cache.pool_size
        _pool.maxpool_backward_codes_tiled_kernel(dy, cache._code, dx, ph, pw, _threads(dx.size))
    elif dy.size and tiled:
        dx = _outpool.empty(cache.x_shape, dy.dtype)
        (ph, pw) = cache.pool_size
        argmax = np.ascontiguousarray(cache.argmax, dtype=np.int64)
        _pool.maxpool_backward_tiled_kernel(dy, argmax, dx, ph, pw, _threads(dx.size))
    else:
        dx = np.zeros((n, h * w, c), dtype=dy.dtype)
        if dy.size:
            argmax = np.ascontiguousarray(cache.argmax, dtype=np.int64)
            _pool.maxpool_backward_kernel(dy, argmax, dx, _threads(dx.size))
        dx = dx.reshape(cache.x_shape)
    return _layout.pool_dx(dx if dx.dtype == cache.dx_dtype else dx.astype(cache.dx_dtype), nchw)


def avgpool_forward(x, pool_size=2, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                    divisor_override=None, *, layout="NHWC"):
    """Average pooling forward pass (NHWC), with torch's ``avg_pool2d`` options.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    pool_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to ``pool_size``.
    padding : int or (int, int), default 0
        Implicit zero padding on both sides; at most ``pool_size // 2``.
    ceil_mode : bool, default False
        Round the output size up, as in :func:`maxpool_forward`.
    count_include_pad : bool, default True
        Divide by the window's extent clipped to the padded input (True), or by the number of
        input pixels in the window (False).
    divisor_override : int, optional
        A non-zero divisor used for every window instead.
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
    if _plain_options(padding, 1, ceil_mode) and divisor_override is None and count_include_pad is True:
        x, (ph, pw), (sh, sw), (ho, wo), dx_dt = _forward_args(x, pool_size, stride)
    else:
        x, (ph, pw), (sh, sw), (ho, wo), dx_dt, window = _window_forward_args(
            x, pool_size, stride, padding, 1, ceil_mode, count_include_pad, divisor_override)
        if window is not None:
            return _layout.pool_output(*_avgpool_window(x, (ph, pw), (sh, sw), (ho, wo), dx_dt, window), nchw)
    shape = (x.shape[0], ho, wo, x.shape[3])
    y = np.empty(shape, dtype=x.dtype)
    if y.size:
        _pool.avgpool_forward_kernel(x, y, ph, pw, sh, sw, _threads(x.size))
    cache = _cache.PoolCache(x.shape, dx_dt, None, (ph, pw), (sh, sw), shape)
    return _layout.pool_output((y if y.dtype == dx_dt else y.astype(dx_dt)), cache, nchw)


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
    if type(cache) is not _cache.PoolCache or cache.argmax is not None or cache.window is not None:
        v.check_pool_cache(cache, "avg", _cache.PoolCache)
        v.check_pool_cache_adaptive(cache, False, "avgpool_forward")
    dy = _backward_dy(dy, cache)
    if cache.window is not None:
        return _layout.pool_dx(_avg_gather_backward(dy, cache), nchw)
    (ph, pw), (sh, sw) = cache.pool_size, cache.stride
    if dy.size and (sh, sw) == (ph, pw):
        # windows tile the input: the kernel writes every element of dx exactly once
        dx = _outpool.empty(cache.x_shape, dy.dtype)
        _pool.avgpool_backward_tiled_kernel(dy, dx, ph, pw, _threads(dx.size))
    else:
        dx = np.zeros(cache.x_shape, dtype=dy.dtype)
        if dy.size:
            _pool.avgpool_backward_kernel(dy, dx, ph, pw, sh, sw, _threads(dx.size))
    return _layout.pool_dx(dx if dx.dtype == cache.dx_dtype else dx.astype(cache.dx_dtype), nchw)


# --------------------------------------------------------------------------- general windows
def _plain_options(padding, dilation, ceil_mode) -> bool:
    """True for the default options (no padding, no dilation, floor mode), checked cheaply."""
    return type(padding) is int and padding == 0 and type(dilation) is int and dilation == 1 and ceil_mode is False


def _window_forward_args(x, pool_size, stride, padding, dilation, ceil_mode, count_include_pad, divisor_override):
    """Checked forward arguments with torch's options: those of ``_forward_args`` and the window record.

    The window record is None when the call's windows are the plain ones (the plain kernels serve it).
    """
    x, pool, st, hw, window, plain = v.pool_window_args(
        x, pool_size, stride, padding, dilation, ceil_mode, count_include_pad, divisor_override, _cache.PoolWindow)
    ct, out_dt = v.compute_dtype(x.dtype), v.out_dtype(x.dtype)
    if not x.flags.c_contiguous or x.dtype is not ct:
        x = np.ascontiguousarray(x, dtype=ct)
    return x, pool, st, hw, out_dt, (None if plain else window)


def _readonly(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays


@lru_cache(maxsize=512)
def _axis_windows(size, n_out, k, s, p, d, count_include_pad, adaptive):
    """One axis's windows: (lo, hi, div, ia, ib), read-only intp arrays.

    Output ``i`` reads inputs ``lo[i] .. hi[i]`` (step ``d``, clipped to ``0 .. size``) and
    contributes the factor ``div[i]`` to its divisor; input ``h`` is read by outputs
    ``ia[h] .. ib[h]`` (for undilated windows, whose ends never decrease).
    """
    i = np.arange(n_out, dtype=np.intp)
    if adaptive:  # torch: floor(i * size / n_out) .. ceil((i + 1) * size / n_out)
        lo = i * size // n_out
        hi = -(-(i + 1) * size // n_out)
        div = hi - lo
    else:
        start = i * s - p
        lo = start + (np.maximum(-start, 0) + d - 1) // d * d  # the first tap inside the input
        hi = np.minimum(start + d * (k - 1) + 1, size)
        div = np.minimum(start + k, size + p) - start if count_include_pad else hi - lo
    h = np.arange(size, dtype=np.intp)
    ia = np.searchsorted(hi, h, side="right").astype(np.intp)
    ib = np.searchsorted(lo, h, side="right").astype(np.intp)
    return _readonly(lo, hi, div.astype(np.intp), ia, ib)


def _geometry(x_shape, y_shape, pool, stride, window):
    """Both axes' windows of a call: ((lo, hi, div, ia, ib) of the rows, of the columns), dilation."""
    (_, h, w, _), (_, ho, wo, _) = x_shape, y_shape
    adaptive = window.output_size is not None
    if adaptive:
        pool = stride = (1, 1)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = pool, stride, window.padding, window.dilation
    rows = _axis_windows(h, ho, kh, sh, ph, dh, window.count_include_pad, adaptive)
    cols = _axis_windows(w, wo, kw, sw, pw, dw, window.count_include_pad, adaptive)
    return rows, cols, (dh, dw)


def _divisors(rows, cols, window, dtype):
    """The divisor factors (rdiv, cdiv) in ``dtype``: rdiv[i] * cdiv[j] divides output (i, j)."""
    if window.divisor_override is not None:
        return (np.full(rows[0].shape, window.divisor_override, dtype=dtype), np.ones(cols[0].shape, dtype=dtype))
    return rows[2].astype(dtype), cols[2].astype(dtype)


class _CodedWindowCache(_CodedPoolCache):
    """A general-window max-pool cache holding one-byte tap codes (see ``_CodedPoolCache``).

    The code of an output element is ``di * kw + dj``, the tap (row ``di``, column ``dj`` inside
    its window) of the window's first maximum; ``argmax`` is built from it on first access.
    """

    _kw: int

    def __new__(cls, x_shape, dx_dtype, code, pool_size, stride, y_shape, window, kw):
        self = _cache.PoolCache.__new__(cls, x_shape, dx_dtype, None, pool_size, stride, y_shape, window)
        self._code = code
        self._kw = kw
        self._argmax = None
        return self

    @property
    def argmax(self) -> np.ndarray:
        """int64 (N, Ho, Wo, C) flat indices ``h * W + w`` of each window's first maximum."""
        if self._argmax is None:
            (r0, _, _, _, _), (c0, _, _, _, _), (dh, dw) = _geometry(
                self.x_shape, self.y_shape, self.pool_size, self.stride, self.window)
            w = self.x_shape[2]
            self._argmax = _codes_to_argmax(
                self._code, r0.astype(np.int64) * w, c0.astype(np.int64), self._kw, dh, dw, w)
        return self._argmax


def _taps(lo, hi, d):
    """The largest number of taps of the windows ``lo[i] .. hi[i]`` (step ``d``)."""
    return int(((hi - lo + d - 1) // d).max())


def _maxpool_window(x, pool, stride, hw, dx_dt, window):
    """Max pooling forward over general windows (padded, dilated, ceil-mode or adaptive)."""
    shape = (x.shape[0], hw[0], hw[1], x.shape[3])
    y = np.empty(shape, dtype=x.dtype)
    (r0, r1, _, _, _), (c0, c1, _, _, _), (dh, dw) = _geometry(x.shape, shape, pool, stride, window)
    kw = _taps(c0, c1, dw)
    if _taps(r0, r1, dh) * kw <= _MAX_CODED_WINDOW:
        code = np.empty(shape, dtype=_U8)
        if y.size:
            _pool_window.maxpool_window_codes_forward_kernel(x, y, code, r0, r1, dh, c0, c1, dw, kw, _threads(x.size))
        cache = _CodedWindowCache(x.shape, dx_dt, code, pool, stride, shape, window, kw)
        return (y if y.dtype is dx_dt else y.astype(dx_dt)), cache
    argmax = np.empty(shape, dtype=np.int64)
    if y.size:
        _pool_window.maxpool_window_forward_kernel(x, y, argmax, r0, r1, dh, c0, c1, dw, _threads(x.size))
    cache = _cache.PoolCache(x.shape, dx_dt, argmax, pool, stride, shape, window=window)
    return (y if y.dtype is dx_dt else y.astype(dx_dt)), cache


def _max_scatter_backward(dy, cache):
    """Max pooling backward for any windows: dy of each window is added at its argmax."""
    dx = _outpool.empty(cache.x_shape, dy.dtype)
    if dy.size and type(cache) is _CodedWindowCache:
        (r0, r1, _, _, _), (c0, c1, _, _, _), (dh, dw) = _geometry(
            cache.x_shape, cache.y_shape, cache.pool_size, cache.stride, cache.window)
        _pool_window.maxpool_window_codes_backward_kernel(
            dy, cache._code, dx, r0, r1, dh, c0, c1, dw, cache._kw, min(_threads(dx.size), dx.shape[0]))
    elif dy.size:
        argmax = np.ascontiguousarray(cache.argmax, dtype=np.int64)
        _pool_window.maxpool_scatter_backward_kernel(dy, argmax, dx, min(_threads(dx.size), dx.shape[0]))
    else:
        dx.fill(0)
    return dx if dx.dtype is cache.dx_dtype else dx.astype(cache.dx_dtype)


def _avgpool_window(x, pool, stride, hw, dx_dt, window):
    """Average pooling forward over general windows (padded, ceil-mode, divisor_override or adaptive)."""
    shape = (x.shape[0], hw[0], hw[1], x.shape[3])
    y = np.empty(shape, dtype=x.dtype)
    rows, cols, _ = _geometry(x.shape, shape, pool, stride, window)
    if y.size:
        rdiv, cdiv = _divisors(rows, cols, window, x.dtype)
        nt = _threads(x.size)
        scratch = np.empty((nt, x.shape[2] * x.shape[3]), dtype=x.dtype)
        _pool_window.avgpool_window_forward_kernel(x, y, scratch, rows[0], rows[1], cols[0], cols[1], rdiv, cdiv, nt)
    cache = _cache.PoolCache(x.shape, dx_dt, None, pool, stride, shape, window=window)
    return (y if y.dtype is dx_dt else y.astype(dx_dt)), cache


def _avg_gather_backward(dy, cache):
    """Average pooling backward for general windows: every dx element gathers its windows' shares."""
    rows, cols, _ = _geometry(cache.x_shape, cache.y_shape, cache.pool_size, cache.stride, cache.window)
    dx = _outpool.empty(cache.x_shape, dy.dtype)
    if dx.size:
        rdiv, cdiv = _divisors(rows, cols, cache.window, dy.dtype)
        nt = min(_threads(dx.size), dx.shape[0])
        _, ho, wo, c = dy.shape
        scratch = np.empty((nt, (ho + 1) * wo * c), dtype=dy.dtype)
        _pool_window.avgpool_window_backward_kernel(dy, scratch, dx, rows[3], rows[4], cols[3], cols[4], rdiv, cdiv, nt)
    return dx if dx.dtype is cache.dx_dtype else dx.astype(cache.dx_dtype)


def _global_avg_forward(x, dx_dt, window):
    """Average pooling forward to a (1, 1) output: one window per image (the adaptive windows' sums)."""
    shape = (x.shape[0], 1, 1, x.shape[3])
    y = np.empty(shape, dtype=x.dtype)
    if y.size:
        nt = min(_threads(x.size), x.shape[0])
        scratch = np.empty((nt, x.shape[2] * x.shape[3]), dtype=x.dtype)
        _pool_window.global_avgpool_forward_kernel(x, y, scratch, nt)
    cache = _cache.PoolCache(x.shape, dx_dt, None, None, None, shape, window=window)
    return (y if y.dtype is dx_dt else y.astype(dx_dt)), cache


def _global_avg_backward(dy, cache):
    """Average pooling backward from a (1, 1) output: every pixel of image n gets dy[n] / (H * W)."""
    dx = _outpool.empty(cache.x_shape, dy.dtype)
    if dx.size:
        nt = min(_threads(dx.size), dx.shape[0])
        scratch = np.empty((nt, dx.shape[3]), dtype=dx.dtype)
        _pool_window.global_avgpool_backward_kernel(dy, dx, scratch, dx.nbytes >= _STREAM_MIN_BYTES, nt)
    return dx if dx.dtype is cache.dx_dtype else dx.astype(cache.dx_dtype)


def _adaptive_args(x, output_size):
    """Checked adaptive forward arguments: (x as the kernel reads it, (Ho, Wo), dtype of y, window record)."""
    x, hw, window = v.adaptive_pool_args(x, output_size, _cache.PoolWindow)
    ct, out_dt = v.compute_dtype(x.dtype), v.out_dtype(x.dtype)
    if not x.flags.c_contiguous or x.dtype is not ct:
        x = np.ascontiguousarray(x, dtype=ct)
    return x, hw, out_dt, window


def adaptive_avgpool_forward(x, output_size, *, layout="NHWC"):
    """Adaptive average pooling forward pass (NHWC), torch's ``adaptive_avg_pool2d``.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    output_size : int or (int or None, int or None)
        (Ho, Wo), each >= 1 (larger than the input is allowed); ``None`` keeps that input size.
    layout : {"NHWC", "NCHW"}, default "NHWC"
        "NCHW": x is (N, C, H, W); y are (N, C, Ho, Wo).

    Returns
    -------
    y : ndarray, shape (N, Ho, Wo, C), dtype of ``x`` (float64 for integer ``x``)
        Output row ``i`` averages input rows ``floor(i*H/Ho) .. ceil((i+1)*H/Ho) - 1`` (windows
        may differ in size and overlap); columns likewise.
    cache : PoolCache
        Opaque; pass it to :func:`adaptive_avgpool_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import adaptive_avgpool_forward
    >>> y, cache = adaptive_avgpool_forward(np.arange(9.0).reshape(1, 3, 3, 1), 2)
    >>> y[0, :, :, 0]
    array([[2., 3.],
           [5., 6.]])
    """
    x, nchw = _layout.pool_input(x, layout)
    x, hw, dx_dt, window = _adaptive_args(x, output_size)
    if hw == (1, 1):
        return _layout.pool_output(*_global_avg_forward(x, dx_dt, window), nchw)
    return _layout.pool_output(*_avgpool_window(x, None, None, hw, dx_dt, window), nchw)


def adaptive_avgpool_backward(dy, cache, *, layout=None):
    """Adaptive average pooling backward pass: each window's gradient is shared equally by its elements.

    Parameters
    ----------
    dy : array_like, shape (N, Ho, Wo, C)
    cache : PoolCache
        The second value returned by :func:`adaptive_avgpool_forward`.
    layout : {"NHWC", "NCHW"}, optional
        The forward call's layout, which the cache records (a different one is a ValueError).

    Returns
    -------
    dx : ndarray, shape and dtype of the forward input
        Overlapping windows add up.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import adaptive_avgpool_forward, adaptive_avgpool_backward
    >>> y, cache = adaptive_avgpool_forward(np.zeros((1, 2, 2, 1)), 1)
    >>> adaptive_avgpool_backward(np.ones_like(y), cache)[0, :, :, 0]
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    dy, cache, nchw = _layout.pool_dy(dy, cache, layout)
    v.check_pool_cache(cache, "avg", _cache.PoolCache)
    v.check_pool_cache_adaptive(cache, True, "adaptive_avgpool_forward")
    if tuple(cache.y_shape[1:3]) == (1, 1):
        return _layout.pool_dx(_global_avg_backward(_backward_dy(dy, cache), cache), nchw)
    return _layout.pool_dx(_avg_gather_backward(_backward_dy(dy, cache), cache), nchw)


def adaptive_maxpool_forward(x, output_size, *, layout="NHWC"):
    """Adaptive max pooling forward pass (NHWC), torch's ``adaptive_max_pool2d``.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    output_size : int or (int or None, int or None)
        (Ho, Wo), each >= 1 (larger than the input is allowed); ``None`` keeps that input size.
    layout : {"NHWC", "NCHW"}, default "NHWC"
        "NCHW": x is (N, C, H, W); y and ``cache.argmax`` are (N, C, Ho, Wo).

    Returns
    -------
    y : ndarray, shape (N, Ho, Wo, C), dtype of ``x`` (float64 for integer ``x``)
        The windows of :func:`adaptive_avgpool_forward`; a NaN is a window's maximum.
    cache : PoolCache
        ``cache.argmax``: int64 flat indices ``h * W + w`` of each window's first maximum.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import adaptive_maxpool_forward
    >>> y, cache = adaptive_maxpool_forward(np.arange(9.0).reshape(1, 3, 3, 1), 2)
    >>> y[0, :, :, 0], cache.argmax[0, :, :, 0]
    (array([[4., 5.],
           [7., 8.]]), array([[4, 5],
           [7, 8]]))
    """
    x, nchw = _layout.pool_input(x, layout)
    x, hw, dx_dt, window = _adaptive_args(x, output_size)
    return _layout.pool_output(*_maxpool_window(x, None, None, hw, dx_dt, window), nchw)


def adaptive_maxpool_backward(dy, cache, *, layout=None):
    """Adaptive max pooling backward pass: each window's gradient goes to its first maximum.

    Parameters
    ----------
    dy : array_like, shape (N, Ho, Wo, C)
    cache : PoolCache
        The second value returned by :func:`adaptive_maxpool_forward`.
    layout : {"NHWC", "NCHW"}, optional
        The forward call's layout, which the cache records (a different one is a ValueError).

    Returns
    -------
    dx : ndarray, shape and dtype of the forward input

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import adaptive_maxpool_forward, adaptive_maxpool_backward
    >>> y, cache = adaptive_maxpool_forward(np.arange(4.0).reshape(1, 2, 2, 1), 1)
    >>> adaptive_maxpool_backward(np.ones_like(y), cache)[0, :, :, 0]
    array([[0., 0.],
           [0., 1.]])
    """
    dy, cache, nchw = _layout.pool_dy(dy, cache, layout)
    if type(cache) is not _CodedWindowCache:
        v.check_pool_cache(cache, "max", _cache.PoolCache)
    v.check_pool_cache_adaptive(cache, True, "adaptive_maxpool_forward")
    return _layout.pool_dx(_max_scatter_backward(_backward_dy(dy, cache), cache), nchw)


def global_avgpool_forward(x, *, layout="NHWC"):
    """Global average pooling, (N, H, W, C) -> (N, 1, 1, C): ``adaptive_avgpool_forward(x, 1)``."""
    return adaptive_avgpool_forward(x, 1, layout=layout)


def global_maxpool_forward(x, *, layout="NHWC"):
    """Global max pooling, (N, H, W, C) -> (N, 1, 1, C): ``adaptive_maxpool_forward(x, 1)``."""
    return adaptive_maxpool_forward(x, 1, layout=layout)


global_avgpool_backward = adaptive_avgpool_backward
global_maxpool_backward = adaptive_maxpool_backward


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
