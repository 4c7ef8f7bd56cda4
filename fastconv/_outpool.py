"""Settings of the bounded pool that recycles the memory of large arrays (:mod:`fastconv._alloc`):
``filter2d`` outputs, pooling gradients, conv2d outputs and input gradients (all but the small-layer
family's) and the NCHW <-> NHWC copies of ``layout="NCHW"`` calls.

The environment variable ``FASTCONV_OUTPUT_POOL`` is read once, on the pool's first use (the
first such array or :func:`output_pool` call), not at import.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from . import _alloc

_env_read = False


def read_env() -> None:
    """Apply FASTCONV_OUTPUT_POOL (number of blocks kept; 0 = off) once, if it is set."""
    global _env_read
    if _env_read:
        return
    _env_read = True
    val = os.environ.get("FASTCONV_OUTPUT_POOL", "").strip()
    if not val:
        return
    try:
        output_pool(max_blocks=int(val))
    except ValueError:
        warnings.warn(f"FASTCONV_OUTPUT_POOL must be an integer from 0 to {_alloc.MAX_SLOTS}, got {val!r}; "
                      "keeping the default", RuntimeWarning, stacklevel=3)


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array from the pool's allocator (:func:`fastconv._alloc.empty`):
    a large one reuses the pages of a freed array of the same size (a training loop's previous
    output or gradient) instead of faulting fresh pages in, and starts on a 64-byte boundary."""
    read_env()
    return _alloc.empty(shape, dtype)


def output_pool(max_blocks=None, max_bytes=None, min_block=None) -> dict:
    """Inspect or set the bounded pool that recycles the memory of large arrays: :func:`filter2d`
    outputs, pooling gradients, conv2d outputs and input gradients, and the layout copies of
    ``layout="NCHW"`` calls.

    A freed output (or converted input copy) of at least ``min_block`` bytes is kept while the
    pool holds fewer than ``max_blocks`` blocks and at most ``max_bytes`` bytes (the oldest block
    makes room for a newer one), and is handed out again for the next array of exactly the same
    size, so that its pages need not be faulted in afresh. A block is in the pool only while no
    array owns it, so two live arrays never share memory. ``output_pool(max_blocks=0)`` turns the
    pool off and returns its memory at once; the environment variable ``FASTCONV_OUTPUT_POOL=0``
    does the same on the pool's first use (a positive integer sets ``max_blocks``; settings given
    here override it).

    Parameters
    ----------
    max_blocks : int, optional
        Blocks kept at most, 0 to 8 (default 4).
    max_bytes : int, optional
        Bytes kept at most (default 256 MiB).
    min_block : int, optional
        Smallest block that is pooled, in bytes (default 1 MiB); smaller ones go straight to ``free``.

    Returns
    -------
    dict
        ``blocks`` and ``bytes`` held now, ``hits`` and ``misses`` (large allocations served from
        the pool or not, since import), and the limits ``max_blocks``, ``max_bytes``, ``min_block``.

    Examples
    --------
    >>> from fastconv.filters import output_pool
    >>> output_pool(max_blocks=0)["bytes"]  # off: the memory held is returned
    0
    >>> output_pool(max_blocks=2)["max_blocks"]
    2
    """
    read_env()
    cur = _alloc.stats()
    args = {"max_blocks": max_blocks, "max_bytes": max_bytes, "min_block": min_block}
    for name, val in args.items():
        if val is None:
            args[name] = cur[name]
        elif isinstance(val, (bool, np.bool_)) or not isinstance(val, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {val!r}")
    _alloc.configure(int(args["max_blocks"]), int(args["max_bytes"]), int(args["min_block"]))
    return _alloc.stats()
