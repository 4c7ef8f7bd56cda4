"""Type stubs for the output memory pool (see fastconv/_alloc.pyx)."""
from typing import Any

import numpy as np
import numpy.typing as npt

handler: Any  # the "mem_handler" PyCapsule of the pool's NumPy memory handler
MAX_SLOTS: int

def empty(shape: int | tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]: ...
def configure(max_blocks: int, max_bytes: int, min_block: int) -> None: ...
def stats() -> dict[str, int]: ...
