import numpy as np
from numpy.typing import NDArray

def maxpool_window_forward_kernel(
    x: NDArray[np.floating], y: NDArray[np.floating], argmax: NDArray[np.int64],
    r0: NDArray[np.intp], r1: NDArray[np.intp], dh: int,
    c0: NDArray[np.intp], c1: NDArray[np.intp], dw: int, num_threads: int,
) -> None: ...
def avgpool_window_forward_kernel(
    x: NDArray[np.floating], y: NDArray[np.floating], scratch: NDArray[np.floating],
    r0: NDArray[np.intp], r1: NDArray[np.intp], c0: NDArray[np.intp], c1: NDArray[np.intp],
    rdiv: NDArray[np.floating], cdiv: NDArray[np.floating], num_threads: int,
) -> None: ...
def avgpool_window_backward_kernel(
    dy: NDArray[np.floating], scratch: NDArray[np.floating], dx: NDArray[np.floating],
    ia: NDArray[np.intp], ib: NDArray[np.intp], ja: NDArray[np.intp], jb: NDArray[np.intp],
    rdiv: NDArray[np.floating], cdiv: NDArray[np.floating], num_threads: int,
) -> None: ...
def maxpool_scatter_backward_kernel(
    dy: NDArray[np.floating], argmax: NDArray[np.int64], dx: NDArray[np.floating], num_threads: int
) -> None: ...
def maxpool_window_codes_forward_kernel(
    x: NDArray[np.floating], y: NDArray[np.floating], code: NDArray[np.uint8],
    r0: NDArray[np.intp], r1: NDArray[np.intp], dh: int,
    c0: NDArray[np.intp], c1: NDArray[np.intp], dw: int, KW: int, num_threads: int,
) -> None: ...
def maxpool_window_codes_backward_kernel(
    dy: NDArray[np.floating], code: NDArray[np.uint8], dx: NDArray[np.floating],
    r0: NDArray[np.intp], r1: NDArray[np.intp], dh: int,
    c0: NDArray[np.intp], c1: NDArray[np.intp], dw: int, KW: int, num_threads: int,
) -> None: ...
def global_avgpool_forward_kernel(
    x: NDArray[np.floating], y: NDArray[np.floating], scratch: NDArray[np.floating], num_threads: int
) -> None: ...
def global_avgpool_backward_kernel(
    dy: NDArray[np.floating], dx: NDArray[np.floating], scratch: NDArray[np.floating], stream: bool, num_threads: int
) -> None: ...
