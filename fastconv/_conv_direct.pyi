"""Type stubs for the direct (implicit-GEMM) conv kernels (see fastconv/_conv_direct.pyx)."""
import numpy as np
from numpy.typing import NDArray

def conv2d_forward_direct_kernel(
    x: NDArray[np.floating], w: NDArray[np.floating], b: NDArray[np.floating], y: NDArray[np.floating],
    ph: int, pw: int, sh: int, sw: int, num_threads: int, dh: int = 1, dw: int = 1, groups: int = 1,
) -> None: ...
def conv2d_backward_direct_kernel(
    x: NDArray[np.floating], w: NDArray[np.floating], dy: NDArray[np.floating], dx: NDArray[np.floating],
    dw: NDArray[np.floating], db: NDArray[np.floating], dw_parts: NDArray[np.floating],
    db_parts: NDArray[np.floating], dy_rows: NDArray[np.floating],
    ph: int, pw: int, sh: int, sw: int, want_dx: bool, num_threads: int,
    dh: int = 1, dil_w: int = 1, groups: int = 1,
) -> None: ...
def dw_width(cout: int, double_precision: bool) -> int: ...
