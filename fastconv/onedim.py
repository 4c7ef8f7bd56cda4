"""1-D convolution and pooling (torch's ``conv1d``, ``max_pool1d``, ``avg_pool1d``) in the
channels-last layout (N, L, C).

The convolution runs on the conv2d kernels through (N, 1, L, C) views (a row of L pixels: the
kernels' inner loops then run along L), except where 1-D Winograd pays (``_winograd_serves``):
stride-1, undilated, ungrouped layers of 3 to 5 taps and at least _WINOGRAD_MIN_CHANNELS input and
output channels (or 32 to 63 in multiples of 16 on large layers) run their forward pass, dx and dw
on F(9 - K, K) tiles of 8 points (fastconv._conv1d_winograd: 8 / (9 - K) multiplies per output and channel pair instead of K).
The pools have their own kernels (fastconv._pool1d), which take every option (padding, dilation,
ceil_mode, the divisors) as per-window tap ranges.
"""
from __future__ import annotations

import numpy as np

from fractions import Fraction
from functools import lru_cache
from typing import Optional

from . import _conv1d_winograd, _outpool, _pool1d, _winograd
from . import _validate as v
from ._cache import Conv1dCache, ConvCache, Pool1dCache
from ._conv_layer import layer_backward, layer_forward
from ._scratch import scratch
from ._threads import threads_for

__all__ = [
    "conv1d_forward",
    "conv1d_backward",
    "maxpool1d_forward",
    "maxpool1d_backward",
    "avgpool1d_forward",
    "avgpool1d_backward",
]


# 1-D Winograd (fastconv._conv1d_winograd): kernel sizes it serves (F(6,3), F(5,4), F(4,5)) and the
# channels it runs for: at least _WINOGRAD_MIN_CHANNELS input and output channels, or at least
# _WINOGRAD_NARROW_CHANNELS of each, both multiples of _WINOGRAD_CHUNK (the transforms' vector chunk:
# a partial chunk runs scalar), on layers of at least _WINOGRAD_NARROW_MIN_MACS forward multiply-adds.
# Measured (2 threads, fwd+bwd, calls alternating, medians of 15; Winograd / the conv2d kernels;
# python bench/conv1d_winograd_interleaved.py rule 15):
# 64 channels 0.72 at N8 L256 K5 and about 0.6-0.8 on larger layers, 1.04-1.08 on N2-4 L128 (left
# alone); 32 channels 0.75-0.82 at N32 L1024 K5, 0.85-0.97 at K3, 0.87-0.93 at N4 L4096 K3 (50M
# multiply-adds), 0.96-1.06 at N16 L256 K5, N8-16 L512 K3 (12-25M); 32 -> 48 at N32 L1024 K5
# 0.60-0.63; 16 channels 0.92-0.99; 24 channels 2.45-2.63, 40 channels 1.19-1.26 (partial chunks).
_WINOGRAD_TAPS = (3, 4, 5)
_WINOGRAD_MIN_CHANNELS = 64
_WINOGRAD_NARROW_CHANNELS = 32
_WINOGRAD_CHUNK = 16
_WINOGRAD_NARROW_MIN_MACS = 1 << 25
# tiles per block (one block: the input transform, 8 products, the output transform)
_WINOGRAD_TILES = 64
# the weight gradient sums its tiles in at most this many fixed parts (then the parts in order)
_WINOGRAD_DW_PARTS = 16
# the transform points besides infinity (exact in binary; the float32 error is ~1e-6 relative)
_WINOGRAD_POINTS = (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2))
_PARALLEL_MIN_MACS = 1 << 20


def _gmul(cout: int, ct) -> bool:
    """Whether the 1-D Winograd products of a float32 layer run on the register-blocked kernel
    instead of BLAS: where the 2-D family's do (fastconv._winograd.ungrouped_gmul(), by SIMD level:
    AVX2) and Cout is a multiple of its chunk. fwd+bwd time, register-blocked / BLAS, at AVX2 (AMD
    Zen 3, 2 threads, calls alternating, ``python bench/conv1d_winograd_interleaved.py gmul 15``):
    0.75 on N32 L1024 64->64 k5, 0.66-0.69 on the 32-channel layers, 0.84 on N8 L1024 256->256 k3;
    float64 1.13 on the k5 layer, 1.02 on N8 L1024 32->32 k3, so float64 keeps BLAS."""
    return ct == np.float32 and _winograd.gmul_serves(cout)


def _winograd_serves(k: int, c: int, cout: int, stride: int, dilation: int, groups: int, macs: int = 0) -> bool:
    """Whether a conv1d layer of ``macs`` forward multiply-adds (N * Lo * K * C * Cout) runs on the
    1-D Winograd kernels (see _WINOGRAD_MIN_CHANNELS)."""
    if (stride, dilation, groups) != (1, 1, 1) or k not in _WINOGRAD_TAPS:
        return False
    if min(c, cout) >= _WINOGRAD_MIN_CHANNELS:
        return True
    return (min(c, cout) >= _WINOGRAD_NARROW_CHANNELS and c % _WINOGRAD_CHUNK == 0 and cout % _WINOGRAD_CHUNK == 0
            and macs >= _WINOGRAD_NARROW_MIN_MACS)


def _inverse(a: list) -> list:
    """The inverse of the square matrix ``a`` of Fractions (Gauss-Jordan, exact)."""
    n = len(a)
    a = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(a)]
    for col in range(n):
        piv = next(r for r in range(col, n) if a[r][col] != 0)
        a[col], a[piv] = a[piv], a[col]
        a[col] = [e / a[col][col] for e in a[col]]
        for r in range(n):
            if r != col and a[r][col] != 0:
                f = a[r][col]
                a[r] = [er - f * ec for er, ec in zip(a[r], a[col])]
    return [row[n:] for row in a]


@lru_cache(maxsize=None)
def winograd_transforms(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(BT, AT, G)`` in float64 of the correlation F(m, k), ``m = 9 - k``, on 8 points (Toom-Cook):
    ``y = AT @ ((G @ u) * (BT @ d))`` for the ``m`` outputs of a tile of 8 inputs ``d``.

    With ``V(n)`` the (8, n) evaluation of polynomials of degree below ``n`` at the points and
    infinity: ``AT = V(m).T``, ``G = V(k)``, ``BT = V(8)^-T`` (computed exactly in fractions).
    """
    m = 9 - k

    def vander(n):
        return [[Fraction(p) ** j for j in range(n)] for p in _WINOGRAD_POINTS] + [[Fraction(0)] * (n - 1) + [Fraction(1)]]

    inv = _inverse(vander(8))
    bt = np.array([[float(inv[j][i]) for j in range(8)] for i in range(8)])
    at = np.array([[float(e) for e in col] for col in zip(*vander(m))])
    g = np.array([[float(e) for e in row] for row in vander(k)])
    return bt, at, g


def _winograd_conv(x: np.ndarray, w: np.ndarray, b, pl: int, lo: int) -> np.ndarray:
    """y (N, lo, Cout) = the stride-1 correlation of x (N, L, C) with w (K, C, Cout), ``pl`` zeros
    before x (zeros after it as needed), plus b (or nothing), on the 1-D Winograd kernel; x, w, b
    in the compute dtype."""
    ct = x.dtype
    bt, at, g = winograd_transforms(w.shape[0])
    y = _outpool.empty((x.shape[0], lo, w.shape[2]), ct)  # recycled pages: no fresh faults per step
    macs = y.size * w.shape[0] * w.shape[1]
    # G @ w by _winograd's small products, without BLAS (whose threads would spin on the cores of
    # the kernel's OpenMP region)
    k, c, cout = w.shape
    gu = _winograd._left_matmul(g, np.ascontiguousarray(w, dtype=np.float64).reshape(k, c * cout),
                                scratch("winograd1d.gu", (8, c * cout), np.float64),
                                threads_for(macs, _PARALLEL_MIN_MACS))
    gu = gu.astype(ct).reshape(8, c, cout)
    _conv1d_winograd.winograd1d_kernel(
        x, gu, np.zeros(0, ct) if b is None else b, y, bt.astype(ct), at.astype(ct), pl, _WINOGRAD_TILES,
        threads_for(macs, _PARALLEL_MIN_MACS), gmul=_gmul(cout, ct))
    return y


def _winograd_weight_grad(x: np.ndarray, dy: np.ndarray, k: int, pl: int) -> tuple[np.ndarray, np.ndarray]:
    """(dw, db): dw (K, C, Cout) of the stride-1 correlation of x (N, L, C), ``pl`` zeros before it,
    with output gradient dy (N, Lo, Cout), on the 1-D Winograd kernel: ``G^T`` applied to the sum
    over tiles of ``(BT d)^T (A dy)`` per point, summed in float64 over _WINOGRAD_DW_PARTS fixed
    parts; db (Cout,) float64, the sum of dy, from the same pass (each tile's ``A dy`` at the point
    1 is its sum), its parts added in order."""
    ct = x.dtype
    bt, at, g = winograd_transforms(k)
    m = 9 - k
    a8 = np.zeros((8, 8))
    a8[:, :m] = at.T
    ntiles = x.shape[0] * -(-dy.shape[1] // m)
    nparts = max(1, min(_WINOGRAD_DW_PARTS, -(-ntiles // _WINOGRAD_TILES)))
    # the temporaries in kept buffers (fresh pages would be faulted in on every call: on small layers
    # that cost more than the arithmetic)
    parts = scratch("winograd1d.parts", (nparts, 8, x.shape[2], dy.shape[2]), ct)
    db_parts = np.empty((nparts, dy.shape[2]))
    nt = threads_for(dy.size * k * x.shape[2], _PARALLEL_MIN_MACS)
    _conv1d_winograd.winograd1d_weight_grad_kernel(
        x, dy, parts, bt.astype(ct), a8.astype(ct), m, pl, _WINOGRAD_TILES, nt, db_parts, gmul=_gmul(dy.shape[2], ct))
    db = _winograd.sum_parts(db_parts, np.empty(dy.shape[2]))
    acc = _winograd.sum_parts(parts, scratch("winograd1d.acc", parts.shape[1:], np.float64), nt)
    c, cout = x.shape[2], dy.shape[2]
    dw = _winograd._left_matmul(g.T, acc.reshape(8, c * cout),
                                scratch("winograd1d.gtacc", (k, c * cout), np.float64), nt)
    return dw.astype(ct).reshape(k, c, cout), db


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
    array([1., 3., 6., 9., 7.])
    """
    x, w, b, pad, s, d, g, lo = v.conv1d_args(x, w, b, padding, stride, dilation, groups)
    ct = v.compute_dtype(x.dtype, w.dtype, *(() if b is None else (b.dtype,)))
    n, length, c = x.shape
    x4 = np.ascontiguousarray(x, dtype=ct).reshape(n, 1, length, c)
    w4 = np.ascontiguousarray(w, dtype=ct)[None]
    if x.size and lo and _winograd_serves(w.shape[0], c, w.shape[2], s, d, g, n * lo * w.shape[0] * c * w.shape[2]):
        y = _winograd_conv(x4[:, 0], w4[0], None if b is None else np.ascontiguousarray(b, dtype=ct), pad[0], lo)
        # the layer as conv2d sees it (the backward runs the Winograd kernels on its arrays)
        state = ConvCache(x4, w4, (w.shape[2],), (0, pad[0]), (1, 1), ct, ct, ct, (n, 1, lo, w.shape[2]),
                          pad_end=(0, pad[1]), family="winograd1d")
    else:
        y4, state = layer_forward(x4, w4, b, ((0, 0), pad), (1, s), (1, d), g, ct)
        y = y4.reshape(n, lo, w.shape[2])
    dx_dt = v.out_dtype(x.dtype)
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
    if state.family == "winograd1d":
        # dx: the correlation of dy with the flipped, transposed kernel, K - 1 - left zeros before dy
        ct = v.compute_dtype(x.dtype, w.dtype, dy.dtype)
        dyc = np.ascontiguousarray(dy, dtype=ct)
        k, pl = w.shape[0], state.padding[1]
        wt = np.ascontiguousarray(w[::-1].transpose(0, 2, 1), dtype=ct)
        dx = _winograd_conv(dyc, wt, None, k - 1 - pl, x.shape[1])
        dw, db = _winograd_weight_grad(np.ascontiguousarray(x, dtype=ct), dyc, k, pl)
        dw4 = dw[None]
    else:
        dx4, dw4, db = layer_backward(dy.reshape(n, 1, lo, cout), state, True)
        dx = dx4.reshape(x.shape)
    db = None if b_shape is None else db.astype(db_dt, copy=False).reshape(b_shape)
    return dx.astype(dx_dt, copy=False), dw4[0].astype(dw_dt, copy=False), db


# Below this many elements touched a pooling call runs on one thread.
_PARALLEL_MIN_ELEMS = 1 << 18
_U8_MAX_TAPS = 256  # windows of at most this many taps keep the first maximum's tap in one byte
# Outputs of at least this many bytes are written with non-temporal stores (they would not stay
# cached; streaming saves the read-for-ownership of every line).
_STREAM_MIN_BYTES = 1 << 22


def _k3s2_serves(pool: int, stride: int, dilation: int, padding: int, length: int, out_len: int) -> bool:
    """The dedicated kernels (``maxpool1d_*_k3s2_kernel``) serve 3-tap, stride-2 windows with
    dilation 1 that all lie inside the row (no padding; no partial last window)."""
    return (pool, stride, dilation, padding) == (3, 2, 1, 0) and 0 < out_len and 2 * out_len < length


class _MaxPool1dCache(Pool1dCache):
    """A max-pool :class:`~fastconv._cache.Pool1dCache` holding the tap of each window's first
    maximum (``plan``: the kernel's code array and the windows' start positions); ``argmax`` is
    built from it on first access and kept."""

    _argmax: Optional[np.ndarray]

    def __new__(cls, x_shape, dx_dtype, *rest):
        self = super().__new__(cls, x_shape, dx_dtype, None, *rest)
        self._argmax = None
        return self

    @property
    def argmax(self) -> np.ndarray:
        """int64 (N, Lo, C) input positions of each window's first maximum."""
        if self._argmax is None:
            code, start = self.plan
            argmax = start[:, None] + code.astype(np.int64) * self.dilation
            argmax.flags.writeable = False  # the backward pass reads the codes, not this array
            self._argmax = argmax
        return self._argmax

    def __iter__(self):
        return iter([self.argmax if f == "argmax" else getattr(self, f) for f in self._fields])

    def __getitem__(self, k):
        return tuple(self)[k]

    def __reduce__(self):
        return (Pool1dCache, tuple(self)[:-1] + (None,))

    def __repr__(self):
        return repr(Pool1dCache(*tuple(self)[:-1]))


def _is_max_cache(cache) -> bool:
    """Whether ``cache`` came from a 1-D max pool (without building a lazy argmax to find out)."""
    return isinstance(cache, _MaxPool1dCache) or tuple.__getitem__(cache, 2) is not None


def _grad_args(dy, cache, is_max: bool) -> tuple[np.ndarray, np.ndarray]:
    """The start of both pools' backward passes: ``cache`` checked to come from a max (``is_max``)
    or an average pool's forward, then ``dy`` checked against it, contiguous in the dtype the
    gradient is computed in, and an uninitialised ``dx`` of the input's shape in that dtype."""
    if not isinstance(cache, Pool1dCache) or _is_max_cache(cache) != is_max:
        producer = "maxpool1d_forward" if is_max else "avgpool1d_forward"
        raise TypeError(f"cache must be the cache returned by {producer}, got {v.public_type_name(cache)}")
    dy = v.check_dy(dy, cache.y_shape)
    ct = v.compute_dtype(cache.dx_dtype, dy.dtype)
    return np.ascontiguousarray(dy, dtype=ct), _outpool.empty(cache.x_shape, ct)


def _starts(out_len: int, stride: int, padding: int) -> np.ndarray:
    """Input position of tap 0 of each window (negative in the left padding)."""
    return np.arange(out_len, dtype=np.intp) * stride - padding


def _avg_windows(length, out_len, k, s, p, count_include_pad, divisor_override, dtype):
    """(lo, hi, divisor) of each average-pooling window: its inputs ``lo:hi`` and torch's divisor."""
    start = _starts(out_len, s, p)
    first, stop = np.maximum(start, 0), np.minimum(start + k, length)
    if divisor_override is not None:
        divisor = np.full(out_len, divisor_override, dtype=dtype)
    elif count_include_pad:
        divisor = (np.minimum(start + k, length + p) - start).astype(dtype)
    else:
        divisor = (stop - first).astype(dtype)
    return first, stop, divisor


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
    dt = v.out_dtype(a.x.dtype)
    xc = np.ascontiguousarray(a.x, dtype=dt)
    n, length, c = xc.shape
    start = _starts(a.out_len, a.stride, a.padding)
    d = a.dilation
    t0 = np.where(start < 0, (-start + d - 1) // d, 0)  # first tap inside the row
    t1 = np.minimum(a.pool, (length - 1 - start) // d + 1)  # one past the last
    y = np.empty((n, a.out_len, c), dtype=dt)
    code = np.empty(y.shape, dtype=np.uint8 if a.pool <= _U8_MAX_TAPS else np.int64)
    nt = min(n, threads_for(xc.size, _PARALLEL_MIN_ELEMS)) or 1
    if _k3s2_serves(a.pool, a.stride, d, a.padding, length, a.out_len):
        _pool1d.maxpool1d_forward_k3s2_kernel(xc, y, code, y.nbytes >= _STREAM_MIN_BYTES, nt)
    else:
        _pool1d.maxpool1d_forward_kernel(xc, y, code, start, t0, t1, d, np.empty((nt, c), dtype=dt), nt)
    cache = _MaxPool1dCache(xc.shape, dt, a.pool, a.stride, a.padding, d, a.ceil_mode, True, None, y.shape,
                            (code, start))
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
    dyc, dx = _grad_args(dy, cache, True)
    if cache.plan is None:  # a cache of fastconv.reference's forward: its argmax as the taps
        start = np.zeros(cache.y_shape[1], dtype=np.intp)
        code, d = np.ascontiguousarray(cache.argmax, dtype=np.int64), 1
    else:
        (code, start), d = cache.plan, cache.dilation
    nt = threads_for(dx.size, _PARALLEL_MIN_ELEMS)
    if cache.plan is not None and code.dtype == np.uint8 and _k3s2_serves(
            cache.pool_size, cache.stride, d, cache.padding, cache.x_shape[1], cache.y_shape[1]):
        _pool1d.maxpool1d_backward_k3s2_kernel(dyc, code, dx, dx.nbytes >= _STREAM_MIN_BYTES, nt)
    else:
        _pool1d.maxpool1d_backward_kernel(dyc, code, dx, start, d, nt)
    return dx.astype(cache.dx_dtype, copy=False)


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
    dx_dt = v.out_dtype(a.x.dtype)
    ct = v.compute_dtype(a.x.dtype)
    xc = np.ascontiguousarray(a.x, dtype=ct)
    n, length, c = xc.shape
    lo, hi, divisor = _avg_windows(length, a.out_len, a.pool, a.stride, a.padding, a.count_include_pad,
                                   a.divisor_override, ct)
    y = np.empty((n, a.out_len, c), dtype=ct)
    _pool1d.avgpool1d_forward_kernel(xc, y, lo, hi, divisor, threads_for(xc.size, _PARALLEL_MIN_ELEMS))
    cache = Pool1dCache(xc.shape, dx_dt, None, a.pool, a.stride, a.padding, 1, a.ceil_mode,
                        a.count_include_pad, a.divisor_override, y.shape)
    return y.astype(dx_dt, copy=False), cache


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
    dyc, dx = _grad_args(dy, cache, False)
    lo, hi, divisor = _avg_windows(cache.x_shape[1], cache.y_shape[1], cache.pool_size, cache.stride,
                                   cache.padding, cache.count_include_pad, cache.divisor_override, dx.dtype)
    _pool1d.avgpool1d_backward_kernel(dyc, dx, lo, hi, divisor, threads_for(dx.size, _PARALLEL_MIN_ELEMS))
    return dx.astype(cache.dx_dtype, copy=False)
