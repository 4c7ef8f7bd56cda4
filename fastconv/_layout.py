"""``layout="NHWC"|"NCHW"``: the one place that maps an NCHW call onto the NHWC kernels and back.

The kernels (and the reference loops) compute NHWC with weights (Kh, Kw, C/groups, Cout). The
public conv and pool functions call one helper here on entry and one on exit; an NHWC call
passes straight through (one string comparison).

* Convolution transposes. x (N, C, H, W) is handed on as a C-contiguous (N, H, W, C) copy and
  weights (Cout, C/groups, Kh, Kw) as a (Kh, Kw, C/groups, Cout) copy: the very arrays an NHWC
  call would get, so the results are the NHWC results bit for bit (the wrapper does not copy
  them again). y, dx and dw are copied back to C-contiguous NCHW arrays. Activations are
  transposed by the tiled kernel of :mod:`fastconv._transpose` (NumPy's copy of a transposed
  view can be 20x slower than a plain copy), so each conversion costs about one memory copy,
  small next to a convolution's multiply-adds.
  The cache keeps the kernels' NHWC arrays and records ``layout="NCHW"``.
* Pooling is per channel, so an NCHW batch (N, C, H, W) *is* the NHWC batch (N*C, H, W, 1):
  a reshape, no copy, and the flat ``h * W + w`` indices of the argmax are the same numbers.
  The cache the user sees speaks NCHW (``x_shape``, ``y_shape``, ``argmax`` (N, C, Ho, Wo));
  it holds the kernels' (N*C, H, W, 1) cache for the backward.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import _outpool, _transpose
from ._threads import threads_for
from . import _validate as v
from ._cache import PoolCache as _PoolCache

LAYOUTS = ("NHWC", "NCHW")
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# Transposes of at least this many elements run on the library's threads, smaller ones on one:
# waking an OpenMP team costs more than a small copy saves. Measured on a quiet host (2 cores,
# float32 NCHW fwd+bwd calls against the NHWC call, interleaved, bench/bench_conv.py shapes): with
# the transposes on 2 threads, 1.23-1.29x the NHWC time on N32 32x32x16->32, 1.32-1.38x on
# N8 64x64x64->64 and 1.19-1.27x on the stride-2 layer, against 1.48-1.51x, 1.53-1.62x and
# 1.39-1.49x on one thread. (On a host whose other tenants hold the cores, the second thread is
# late and the one-thread copy wins.)
_TRANSPOSE_MIN_ELEMENTS = 1 << 18
# Transposes writing at least this many bytes use non-temporal stores (_transpose.pyx ``stream``):
# they skip reading the output's lines in first. NCHW/NHWC fwd+bwd time, 2 threads, the calls
# interleaved in one process with and without streaming (bench/layout_threads_interleaved.py, two
# runs each): N8 64x64x64->64 (8 MiB copies) 1.13-1.20 against 1.36-1.40, the stride-2 layer N16
# 56x56x64->128 (6.1 and 12.2 MiB) 1.07-1.17 against 1.17-1.29; but N32 32x32x16->32, whose 4 MiB
# copies a training loop keeps in cache, 1.35-1.38 against 1.26-1.32, so 4 MiB copies are not
# streamed. The transposes alone, into an evicted pooled block (1 / 2 threads): 0.31-0.74 /
# 0.43-0.87 of the time at 4 to 12 MiB, 0.76-1.22 / 0.71-1.04 at 2 MiB.
_STREAM_MIN_BYTES = 5 << 20


def check_layout(layout) -> str:
    """``layout`` if it is 'NHWC' or 'NCHW'; a TypeError for a non-string, a ValueError otherwise."""
    if type(layout) is str and layout in LAYOUTS:
        return layout
    if not isinstance(layout, str):
        raise TypeError(f"layout must be 'NHWC' or 'NCHW', got {type(layout).__name__} {layout!r}")
    raise ValueError(f"layout must be 'NHWC' or 'NCHW', got {layout!r}")


def backward_layout(cache, layout) -> str:
    """The layout of a backward call: the cache's; ``layout``, if given, must agree with it."""
    stored = getattr(cache, "layout", "NHWC")
    if layout is None:
        return stored
    if check_layout(layout) != stored:
        raise ValueError(f"layout={layout!r} but the cache comes from a layout={stored!r} forward call")
    return stored


def _contiguous(a: np.ndarray, axes) -> np.ndarray:
    """A C-contiguous copy of ``a.transpose(axes)`` (small arrays: weights and their gradients)."""
    return np.ascontiguousarray(a.transpose(axes))


def _swap(a: np.ndarray, axes, r: int, c: int) -> np.ndarray:
    """A C-contiguous copy of ``a.transpose(axes)``, where that is the (N, r, c) -> (N, c, r) transpose
    of ``a``'s data read as N matrices r x c."""
    n = a.shape[0]
    if r == 1 or c == 1:  # nothing moves: a reshape (and a copy only if a is not C-contiguous)
        return np.ascontiguousarray(a).reshape([a.shape[k] for k in axes])
    if a.dtype not in _FLOATS or not a.flags.c_contiguous:
        return np.ascontiguousarray(a.transpose(axes))
    out = _outpool.empty([a.shape[k] for k in axes], a.dtype)  # large: recycled memory, no fresh page faults
    _transpose.transpose_batch_kernel(
        a.reshape(n, r, c), out.reshape(n, c, r), threads_for(a.size, _TRANSPOSE_MIN_ELEMENTS),
        out.nbytes >= _STREAM_MIN_BYTES)
    return out


def _to_nchw(a) -> np.ndarray:
    """(N, H, W, C) -> a C-contiguous (N, C, H, W) copy."""
    _, h, w, c = a.shape
    return _swap(a, (0, 3, 1, 2), h * w, c)


def _to_nhwc(a) -> np.ndarray:
    """(N, C, H, W) -> a C-contiguous (N, H, W, C) copy."""
    _, c, h, w = a.shape
    return _swap(a, (0, 2, 3, 1), c, h * w)


# --------------------------------------------------------------------------- convolution
def conv_inputs(x, w, b, layout, groups: int = 1):
    """(x, w, layout) on entry to a conv forward: NCHW x and (Cout, C/groups, Kh, Kw) w as NHWC views.

    Channel and bias counts are checked here for NCHW, so that their messages show the caller's
    shapes; everything else is checked by the NHWC code the views go to.
    """
    if type(layout) is str and layout == "NHWC":
        return x, w, layout
    layout = check_layout(layout)
    if layout == "NHWC":
        return x, w, layout
    x = v.as_array(x, "x", 4)
    w = v.as_array(w, "w", 4)
    b = None if b is None else v.as_array(b, "b", 1)
    if w.shape[1] * groups != x.shape[1]:
        raise ValueError(
            f"w has {w.shape[1] * groups} input channels but x has {x.shape[1]} "
            f"(x shape {x.shape} is (N, C, H, W), w shape {w.shape} is (Cout, C, Kh, Kw))"
        )
    if b is not None and b.shape[0] != w.shape[0]:
        raise ValueError(f"b has length {b.shape[0]} but w has {w.shape[0]} output channels (w shape {w.shape})")
    return (*conv_inputs_plain(x, w), layout)


def conv_inputs_plain(x: np.ndarray, w: np.ndarray):
    """(x, w) as NHWC arrays, without checks: the copies :func:`conv_inputs` makes, and all that a
    forward call whose NCHW arguments passed conv2d's plain-call check (``_plain_forward_args``) needs."""
    return _to_nhwc(x), _contiguous(w, (2, 3, 1, 0))


def conv_dy_plain(dy: np.ndarray, cache) -> Optional[np.ndarray]:
    """dy (an ndarray) as the NHWC copy :func:`conv_dy` makes, if it has the NCHW shape of the
    forward output of ``cache`` (an NCHW ConvCache); None otherwise (the caller then takes the
    checked path, whose errors name the shapes)."""
    n, ho, wo, cout = cache.y_shape
    if dy.shape != (n, cout, ho, wo):
        return None
    return _to_nhwc(dy)


def conv_output(y: np.ndarray, cache, layout: str):
    """(y, cache) on exit from a conv forward: y as C-contiguous NCHW, the cache marked NCHW."""
    if layout == "NHWC":
        return y, cache
    return _to_nchw(y), cache._replace(layout=layout)


def conv_dy(dy, cache, layout) -> Tuple[np.ndarray, str]:
    """(dy, layout) on entry to a conv backward: NCHW dy checked and handed on as a C-contiguous NHWC copy."""
    layout = backward_layout(cache, layout)
    if layout == "NHWC":
        return dy, layout
    n, ho, wo, cout = cache.y_shape
    dy = v.check_dy(dy, (n, cout, ho, wo))
    return _to_nhwc(dy), layout


def conv_grads(dx, dw, db, layout: str, dx_nchw: bool = False):
    """(dx, dw, db) on exit from a conv backward: dx C-contiguous NCHW (as it is if ``dx_nchw``: a
    kernel wrote it so), dw (Cout, C/groups, Kh, Kw)."""
    if layout == "NHWC":
        return dx, dw, db
    return dx if dx is None or dx_nchw else _to_nchw(dx), _contiguous(dw, (3, 2, 0, 1)), db


# --------------------------------------------------------------------------- pooling
class _NCHWPoolCache(_PoolCache):
    """An NCHW pool cache: ``x_shape``, ``y_shape`` and ``argmax`` (N, C, Ho, Wo) in NCHW.

    It holds the kernels' cache of the (N*C, H, W, 1) batch (``_inner``), which the backward
    uses; ``argmax`` is a view of that cache's indices. Indexing, iteration and pickling see
    the NCHW fields (an unpickled cache is a plain ``PoolCache`` with ``layout='NCHW'``, which
    the backward accepts too).
    """

    _inner: _PoolCache

    def __new__(cls, inner, x_shape):
        n, c = x_shape[:2]
        fields = {f: getattr(inner, f) for f in _PoolCache._fields if f != "argmax"}
        fields.update(x_shape=tuple(x_shape), y_shape=(n, c) + tuple(inner.y_shape[1:3]), argmax=None, layout="NCHW")
        self = super().__new__(cls, **fields)
        self._inner = inner
        return self

    @property
    def argmax(self) -> Optional[np.ndarray]:
        """int64 (N, C, Ho, Wo) flat indices ``h * W + w`` into each input plane (None for average pooling)."""
        a = self._inner.argmax
        return None if a is None else a.reshape(self.y_shape)

    def __iter__(self):
        return iter([getattr(self, f) for f in self._fields])

    def __getitem__(self, k):
        return tuple(self)[k]

    def __reduce__(self):
        return (_PoolCache, tuple(self))

    def __repr__(self):
        return repr(_PoolCache(*self))


def pool_input(x, layout) -> Tuple[object, Optional[Tuple[int, ...]]]:
    """(x, nchw) on entry to a pool forward: NCHW x as the (N*C, H, W, 1) batch, and its shape (None for NHWC)."""
    if type(layout) is str and layout == "NHWC":
        return x, None
    if check_layout(layout) == "NHWC":
        return x, None
    x = v.as_array(x, "x", 4)
    n, c, h, w = x.shape
    return x.reshape(n * c, h, w, 1), x.shape


def pool_output(y: np.ndarray, cache, nchw):
    """(y, cache) on exit from a pool forward: y (N, C, Ho, Wo) and an NCHW cache."""
    if nchw is None:
        return y, cache
    return y.reshape((nchw[0], nchw[1]) + y.shape[1:3]), _NCHWPoolCache(cache, nchw)


def pool_dy(dy, cache, layout):
    """(dy, cache, nchw) on entry to a pool backward (after its cache check): for an NCHW cache,
    dy as the (N*C, Ho, Wo, 1) batch and the kernels' cache. Runs before the op's cache check:
    anything but an NCHW pool cache passes through to it."""
    if not isinstance(cache, _PoolCache) or backward_layout(cache, layout) == "NHWC":
        return dy, cache, None
    x_shape, y_shape = tuple(cache.x_shape), tuple(cache.y_shape)
    (n, c, h, w), (_, _, ho, wo) = x_shape, y_shape
    inner = getattr(cache, "_inner", None)
    if inner is None:  # e.g. an unpickled cache: the (N*C, H, W, 1) one from its NCHW fields
        argmax = cache.argmax
        inner = cache._replace(
            x_shape=(n * c, h, w, 1), y_shape=(n * c, ho, wo, 1), layout="NHWC",
            argmax=None if argmax is None else np.asarray(argmax).reshape(n * c, ho, wo, 1),
        )
    dy = v.check_dy(dy, y_shape)
    return dy.reshape(n * c, ho, wo, 1), inner, x_shape


def pool_dx(dx: np.ndarray, nchw):
    """dx on exit from a pool backward: (N, C, H, W) for an NCHW cache."""
    return dx if nchw is None else dx.reshape(nchw)
