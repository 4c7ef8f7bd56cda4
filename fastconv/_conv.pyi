import numpy as np
from numpy.typing import NDArray

def _set_blas_thread_functions(set_addr: int, get_addr: int) -> None: ...
def blas_pinning_available() -> bool: ...
def conv2d_forward_gemm_kernel(
    x: NDArray[np.floating], w: NDArray[np.floating], b: NDArray[np.floating], y: NDArray[np.floating],
    work: NDArray[np.floating], MT: int, ph: int, pw: int, sh: int, sw: int, num_threads: int,
) -> None: ...
def conv2d_backward_gemm_kernel(
    x: NDArray[np.floating], w: NDArray[np.floating], dy: NDArray[np.floating], dx: NDArray[np.floating],
    dw_parts: NDArray[np.floating], db_parts: NDArray[np.floating], work: NDArray[np.floating], MT: int,
    ph: int, pw: int, sh: int, sw: int, want_dx: bool, num_threads: int,
) -> None: ...
def conv2d_weight_grad_gemm_kernel(
    x: NDArray[np.floating], dy: NDArray[np.floating], dw: NDArray[np.floating], work: NDArray[np.floating],
    MT: int, KB: int, ph: int, pw: int, sh: int, sw: int, num_threads: int,
) -> None: ...
def correlate2d_valid_kernel(
    image: NDArray[np.floating], kernel: NDArray[np.floating], out: NDArray[np.floating],
    sh: int, sw: int, num_threads: int,
) -> None: ...
