# cython: language_level=3
"""A bounded pool that recycles the memory of large fastconv outputs (NumPy's NEP 49 handler API).

A fresh large NumPy array is served by ``mmap`` (glibc maps every block of 32 MiB or more afresh),
so the first write to each of its pages takes a page fault and the kernel zeroes the page: for a
32 MiB float64 2048x2048 output that is about as long as filtering it. The arrays this module
creates carry their own memory handler (a ``"mem_handler"`` capsule, see
``numpy.core.multiarray.get_handler_name``); its ``free`` keeps up to ``max_blocks`` blocks of at
least ``min_block`` bytes (``max_bytes`` in all) instead of returning them to the system, and its
``malloc`` hands such a block out again for a request of exactly the same size. A block is in the
pool only while no array owns it, so two live arrays never share memory. Everything else goes to
``malloc``/``calloc``/``realloc``/``free`` unchanged; ``calloc`` never takes a pooled block.

The returned arrays are ordinary ndarrays that own their data. The pool is guarded by a lock, so
arrays may be created and freed from any thread.
"""
from cpython.pycapsule cimport PyCapsule_New
import numpy as np
cimport numpy as cnp

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    object PyDataMem_SetHandler(object handler)

from ._alloc_pool cimport PyDataMem_Handler, FC_POOL_SLOTS, fc_handler, fc_pool_configure, fc_pool_init, fc_pool_stats

if fc_pool_init() != 0:
    raise MemoryError("cannot allocate the output pool's lock")

#: The handler capsule; arrays created by :func:`empty` hold a reference to it.
handler = PyCapsule_New(<void*>&fc_handler, "mem_handler", NULL)

MAX_SLOTS = FC_POOL_SLOTS


def empty(shape, dtype):
    """``numpy.empty(shape, dtype)`` whose memory comes from (and returns to) the pool."""
    old = PyDataMem_SetHandler(handler)
    try:
        return np.empty(shape, dtype=dtype)
    finally:
        PyDataMem_SetHandler(old)


def configure(int max_blocks, Py_ssize_t max_bytes, Py_ssize_t min_block):
    """Set the pool's limits and release the blocks that no longer fit (all of them for 0)."""
    if not 0 <= max_blocks <= FC_POOL_SLOTS:
        raise ValueError(f"max_blocks must be in [0, {FC_POOL_SLOTS}], got {max_blocks}")
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    if min_block < 1:
        raise ValueError(f"min_block must be >= 1, got {min_block}")
    fc_pool_configure(max_blocks, <size_t>max_bytes, <size_t>min_block)


def stats():
    """The pool's state and limits, as a dict."""
    cdef int count, max_blocks
    cdef size_t nbytes, max_bytes, min_block
    cdef unsigned long long hits, misses
    fc_pool_stats(&count, &nbytes, &hits, &misses, &max_blocks, &max_bytes, &min_block)
    return {"blocks": count, "bytes": nbytes, "hits": hits, "misses": misses,
            "max_blocks": max_blocks, "max_bytes": max_bytes, "min_block": min_block}
