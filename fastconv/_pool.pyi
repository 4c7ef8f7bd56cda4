import numpy as np
from numpy.typing import NDArray

def maxpool_forward_kernel(
    x: NDArray[np.floating], y: NDArray[np.floating], argmax: NDArray[np.int64],
    ph: int, pw: int, sh: int, sw: int, num_threads: int,
) -> None: ...
def maxpool_backward_kernel(
    dy: NDArray[np.floating], argmax: NDArray[np.int64], dx: NDArray[np.floating], num_threads: int
) -> None: ...
def maxpool_backward_tiled_kernel(
    dy: NDArray[np.floating], argmax: NDArray[np.int64], dx: NDArray[np.floating], ph: int, pw: int, num_threads: int
) -> None: ...
def avgpool_forward_kernel(
    x: NDArray[np.floating], y: NDArray[np.floating], ph: int, pw: int, sh: int, sw: int, num_threads: int
) -> None: ...
def avgpool_backward_kernel(
    dy: NDArray[np.floating], dx: NDArray[np.floating], ph: int, pw: int, sh: int, sw: int, num_threads: int
) -> None: ...
def avgpool_backward_tiled_kernel(
    dy: NDArray[np.floating], dx: NDArray[np.floating], ph: int, pw: int, num_threads: int
) -> None: ...
def maxpool_forward_codes_kernel(
    x: NDArray[np.floating], y: NDArray[np.floating], code: NDArray[np.uint8],
    ph: int, pw: int, sh: int, sw: int, num_threads: int,
) -> None: ...
def maxpool_backward_codes_tiled_kernel(
    dy: NDArray[np.floating], code: NDArray[np.uint8], dx: NDArray[np.floating], ph: int, pw: int, num_threads: int
) -> None: ...
def codes_to_argmax_kernel(
    code: NDArray[np.uint8], rowbase: NDArray[np.int64], colbase: NDArray[np.int64], offset: NDArray[np.int64],
    argmax: NDArray[np.int64], num_threads: int,
) -> None: ...
