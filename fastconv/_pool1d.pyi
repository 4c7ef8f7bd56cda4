"""Type stubs for the 1-D pooling kernels (see fastconv/_pool1d.pyx)."""
import numpy as np
from numpy.typing import NDArray

def maxpool1d_forward_kernel(
    x: NDArray[np.floating], y: NDArray[np.floating], code: NDArray[np.uint8] | NDArray[np.int64],
    start: NDArray[np.intp], t0: NDArray[np.intp], t1: NDArray[np.intp], d: int, taps: NDArray[np.floating],
    num_threads: int,
) -> None: ...
def maxpool1d_backward_kernel(
    dy: NDArray[np.floating], code: NDArray[np.uint8] | NDArray[np.int64], dx: NDArray[np.floating],
    start: NDArray[np.intp], d: int, num_threads: int,
) -> None: ...
def maxpool1d_forward_k3s2_kernel(
    x: NDArray[np.floating], y: NDArray[np.floating], code: NDArray[np.uint8], stream: bool, num_threads: int,
) -> None: ...
def maxpool1d_backward_k3s2_kernel(
    dy: NDArray[np.floating], code: NDArray[np.uint8], dx: NDArray[np.floating], stream: bool, num_threads: int,
) -> None: ...
def avgpool1d_forward_kernel(
    x: NDArray[np.floating], y: NDArray[np.floating], lo: NDArray[np.intp], hi: NDArray[np.intp],
    divisor: NDArray[np.floating], num_threads: int,
) -> None: ...
def avgpool1d_backward_kernel(
    dy: NDArray[np.floating], dx: NDArray[np.floating], lo: NDArray[np.intp], hi: NDArray[np.intp],
    divisor: NDArray[np.floating], num_threads: int,
) -> None: ...
