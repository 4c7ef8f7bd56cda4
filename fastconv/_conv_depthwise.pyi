"""Type stubs for the depthwise conv kernels (see fastconv/_conv_depthwise.pyx)."""
import numpy as np
from numpy.typing import DTypeLike, NDArray

def depthwise_level(dtype: DTypeLike, channels: int, level: int = -1) -> str: ...

def depthwise_forward_kernel(
    x: NDArray[np.floating], w: NDArray[np.floating], b: NDArray[np.floating], y: NDArray[np.floating],
    ph: int, pw: int, sh: int, sw: int, dh: int, dw: int, num_threads: int, level: int = -1,
    stream: bool = False,
) -> None: ...
def depthwise_backward_kernel(
    x: NDArray[np.floating], w: NDArray[np.floating], dy: NDArray[np.floating], dx: NDArray[np.floating],
    dw: NDArray[np.floating], db: NDArray[np.floating], dw_parts: NDArray[np.floating],
    db_parts: NDArray[np.floating], ph: int, pw: int, sh: int, sw: int, dh: int, dil_w: int,
    want_dx: bool, num_threads: int, level: int = -1, stream: bool = False,
) -> None: ...
