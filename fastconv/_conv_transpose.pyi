"""Type stubs for the transposed-convolution kernel (see fastconv/_conv_transpose.pyx)."""
import numpy as np
from numpy.typing import NDArray

def conv_transpose2d_forward_direct_kernel(
    x: NDArray[np.floating], w: NDArray[np.floating], b: NDArray[np.floating], y: NDArray[np.floating],
    ph: int, pw: int, sh: int, sw: int, num_threads: int, dh: int = 1, dil_w: int = 1, groups: int = 1,
) -> None: ...
