"""Per-thread scratch buffers kept between calls, for kernels' temporaries that never leave a call.

A kernel's workspace (the Winograd family's per-thread tile buffers, its weight-gradient parts and
float64 weight transforms, the phase planes of a stride-2 transposed convolution) is allocated,
filled and dropped in every call. When a call's arrays add up to several MiB, the C allocator hands
their pages back to the system at the end of the call and the next call faults them in again.
Measured: the 4x4 stride-2 transposed convolution N8 32x32x64 -> 64x64x32 by Winograd phases took
about 3,100 page faults per forward+backward with fresh arrays; the float64 weight transform of a
3x3 64->128 layer took 2.9 ms in fresh arrays, 0.2 ms in kept ones. :func:`scratch` instead keeps
one buffer per (thread, slot), grown to the largest request, so the pages stay mapped.

Rules for callers: the array returned must not outlive the call that asked for it (it is the same
memory next time), and two arrays live at once must come from different slots. Each thread has its
own buffers, so concurrent calls from several threads never share memory. Requests above
``MAX_BYTES`` get fresh memory and are not kept.

The buffers are anonymous memory maps of their own, not blocks of the C heap: a long-lived block in
the middle of the heap would keep the allocator from returning the free memory above it, and every
later allocation that lands in that free memory would fault its pages in again.
"""
from __future__ import annotations

import mmap
import threading

import numpy as np

#: Larger requests are not kept (a fresh mapping each time, unmapped with its last array).
MAX_BYTES = 64 << 20

_local = threading.local()


def _aligned(nbytes: int) -> np.ndarray:
    """A fresh writeable uint8 array of ``nbytes`` on its own anonymous mapping (page aligned);
    the mapping is released when no array uses it any more."""
    return np.frombuffer(mmap.mmap(-1, max(nbytes, 1)), dtype=np.uint8, count=nbytes)


def scratch(slot: str, shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` on a 64-byte boundary, from
    the calling thread's buffer named ``slot`` (grown if it is too small)."""
    dt = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    nbytes = dt.itemsize
    for s in shape:
        nbytes *= s
    if nbytes > MAX_BYTES:
        return _aligned(nbytes).view(dt).reshape(shape)
    bufs = getattr(_local, "bufs", None)
    if bufs is None:
        bufs = _local.bufs = {}
    buf = bufs.get(slot)
    if buf is None or buf.size < nbytes:
        buf = bufs[slot] = _aligned(nbytes)
    return buf[:nbytes].view(dt).reshape(shape)


def release() -> None:
    """Drop the calling thread's buffers (their memory goes back once no array uses it)."""
    _local.bufs = {}
