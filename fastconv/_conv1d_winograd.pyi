"""Type stubs for the 1-D Winograd kernel (see fastconv/_conv1d_winograd.pyx)."""
import numpy as np
from numpy.typing import NDArray

GROUP_CHUNK: int
def simd_level() -> str: ...
def winograd1d_kernel(
    x: NDArray[np.floating], gu: NDArray[np.floating], b: NDArray[np.floating], y: NDArray[np.floating],
    bt: NDArray[np.floating], at: NDArray[np.floating], pl: int, tiles_per_block: int, num_threads: int,
    general: bool = False, gmul: bool = False,
) -> None: ...
def winograd1d_weight_grad_kernel(
    x: NDArray[np.floating], dy: NDArray[np.floating], parts: NDArray[np.floating], bt: NDArray[np.floating],
    a8: NDArray[np.floating], m: int, pl: int, tiles_per_block: int, num_threads: int,
    db_parts: NDArray[np.float64] | None = None, general: bool = False, gmul: bool = False,
) -> None: ...
def compiled_transforms() -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                                   NDArray[np.float64]]: ...
