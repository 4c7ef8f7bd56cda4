"""Lazy, chunked versions of :func:`fastconv.filter2d` and :func:`fastconv.conv2d_forward` on dask arrays.

For images larger than memory or than one machine: each chunk runs the Cython kernel, and the
result equals the in-memory function on the whole array. Needs the ``dask`` extra
(``pip install 'fastconv[dask]'``); works with any dask scheduler, including ``distributed``.
"""
from __future__ import annotations

import numpy as np

from . import _validate as v
from .conv import conv2d_forward as _conv2d_forward
from .filters import filter2d as _filter2d

try:
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("fastconv.dask needs dask: pip install 'dask[array]' (or: pip install 'fastconv[dask]')") from exc

__all__ = ["filter2d", "conv2d_forward", "DASK_BOUNDARY"]

#: Border mode -> dask ``map_overlap`` boundary. ``"none"`` means the chunk function applies the
#: mode itself at the true image edges: dask has no whole-sample mirror, and its constant
#: boundary pads in the array's dtype (a fractional ``cval`` on an integer image would be cut).
DASK_BOUNDARY = {
    "constant": "none",
    "nearest": "nearest",
    "reflect": "reflect",
    "mirror": "none",
    "wrap": "periodic",
}


def _meta_like(shape, dtype) -> np.ndarray:
    """A zero-strided array with ``shape`` and ``dtype`` (for validation without data)."""
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


def filter2d(array, kernel, mode="constant", cval=0.0, dtype=None):
    """Lazy same-size 2-D cross-correlation of a chunked (H, W) or (H, W, C) image.

    Built with ``dask.array.map_overlap``: every chunk is extended by the kernel's reach
    (``depth = max(K // 2, K - 1 - K // 2)`` per axis), filtered with :func:`fastconv.filter2d`
    and trimmed, so the result equals ``fastconv.filter2d`` on the whole image, across chunk
    borders, for every mode. Channels are never mixed, so the channel axis may be chunked.

    ============  ==========================  ===============================================
    mode          dask boundary               note
    ============  ==========================  ===============================================
    ``constant``  ``"none"``                  the chunk applies ``cval`` at the image edges
    ``nearest``   ``"nearest"``
    ``reflect``   ``"reflect"``               dask's reflect repeats the edge pixel, as here
    ``mirror``    ``"none"``                  the chunk mirrors at the image edges
    ``wrap``      ``"periodic"``
    ============  ==========================  ===============================================

    An axis shorter than the kernel's reach is first merged into one chunk.

    Parameters
    ----------
    array : dask.array.Array or array_like, shape (H, W) or (H, W, C)
        A NumPy array is wrapped with ``dask.array.asarray`` (one chunk unless it is large).
    kernel, mode, cval, dtype
        As in :func:`fastconv.filter2d` (a kernel name from ``fastconv.KERNELS`` is accepted).

    Returns
    -------
    dask.array.Array
        Lazy; same shape and chunks as ``array``, dtype as :func:`fastconv.filter2d` gives.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import fastconv, fastconv.dask
    >>> img = da.from_array(np.arange(64.0).reshape(8, 8), chunks=3)
    >>> lazy = fastconv.dask.filter2d(img, "laplacian", mode="reflect")
    >>> bool(np.allclose(lazy.compute(), fastconv.filter2d(np.arange(64.0).reshape(8, 8), "laplacian", mode="reflect")))
    True
    """
    arr = array if isinstance(array, da.Array) else da.asarray(array)
    img, k, ct, out_dt = v.filter2d_args(_meta_like(arr.shape, arr.dtype), kernel, mode, cval, dtype, name="array")
    out_dtype = out_dt if out_dt is not None else ct
    kh, kw = k.shape
    depth = {0: max(kh // 2, kh - 1 - kh // 2), 1: max(kw // 2, kw - 1 - kw // 2)}
    if arr.ndim == 3:
        depth[2] = 0
    # an axis that the kernel reaches across entirely (or an empty one) is filtered in one piece
    merge = {ax: -1 for ax in (0, 1) if arr.shape[ax] <= depth[ax] or 0 in arr.shape}
    if merge:
        arr = arr.rechunk(merge)
        for ax in merge:
            depth[ax] = 0
    boundary = {ax: (DASK_BOUNDARY[mode] if depth[ax] else "none") for ax in depth}
    kernel_arr = np.array(k)  # a plain copy travels with the graph

    def _chunk(block):
        return _filter2d(block, kernel_arr, mode=mode, cval=cval, dtype=out_dtype)

    return arr.map_overlap(
        _chunk, depth=depth, boundary=boundary, trim=True, dtype=out_dtype,
        meta=np.empty((0,) * arr.ndim, dtype=out_dtype),
    )


def conv2d_forward(x, w, b, padding=1, stride=1):
    """Lazy convolution-layer forward over a dask array chunked along the batch.

    Each batch chunk runs :func:`fastconv.conv2d_forward`; H, W and C are merged into one chunk
    first (a chunk must hold whole images). Only ``y`` is returned: the backward cache of a
    lazy batch is not kept.

    Parameters
    ----------
    x : dask.array.Array or array_like, shape (N, H, W, C)
    w : array_like, shape (Kh, Kw, C, Cout)
        In memory; sent along with every chunk's task.
    b : array_like, shape (Cout,)
    padding, stride : int or (int, int)
        As in :func:`fastconv.conv2d_forward`.

    Returns
    -------
    dask.array.Array, shape (N, Ho, Wo, Cout)
        Lazy; chunked along N like ``x``; dtype as :func:`fastconv.conv2d_forward` gives.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import fastconv.dask
    >>> x = da.ones((10, 6, 6, 1), chunks=(4, 6, 6, 1))
    >>> y = fastconv.dask.conv2d_forward(x, np.ones((3, 3, 1, 2)), np.zeros(2))
    >>> y.shape, y.chunks[0]
    ((10, 6, 6, 2), (4, 4, 2))
    """
    xd = x if isinstance(x, da.Array) else da.asarray(x)
    w = v.as_array(w, "w", 4).copy()
    b = v.as_array(b, "b", 1).copy()
    v.as_array(_meta_like(xd.shape, xd.dtype), "x", 4)
    # validate on an empty batch: same checks and messages as the in-memory function
    y0, _ = _conv2d_forward(np.zeros((0,) + tuple(xd.shape[1:]), dtype=xd.dtype), w, b, padding, stride)
    _, ho, wo, cout = y0.shape
    xd = xd.rechunk({1: -1, 2: -1, 3: -1})

    def _chunk(block):
        return _conv2d_forward(block, w, b, padding, stride)[0]

    return xd.map_blocks(
        _chunk, chunks=(xd.chunks[0], (ho,), (wo,), (cout,)), dtype=y0.dtype, meta=y0[:0],
    )

