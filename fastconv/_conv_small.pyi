"""Type stubs for the direct small-reduction conv kernels (see fastconv/_conv_small.pyx)."""
import numpy as np
import numpy.typing as npt

SMALL_PARTS: int

def layer_level(
    dtype: npt.DTypeLike, image_shape: tuple[int, int, int], cout: int, padding: tuple[int, int] = (0, 0), level: int = -1
) -> str: ...

def one_channel_serves(
    dtype: npt.DTypeLike, image_shape: tuple[int, int, int], cout: int, kernel: tuple[int, int] = (3, 3),
    stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (1, 1), level: int = -1
) -> bool: ...

def conv2d_forward_small_kernel(
    x: npt.NDArray[np.floating],
    w: npt.NDArray[np.floating],
    b: npt.NDArray[np.floating],
    y: npt.NDArray[np.floating],
    ph: int,
    pw: int,
    sh: int,
    sw: int,
    num_threads: int,
    level: int = -1,
    y_nchw: bool = False,
) -> None: ...
def conv2d_backward_small_kernel(
    x: npt.NDArray[np.floating],
    w: npt.NDArray[np.floating],
    dy: npt.NDArray[np.floating],
    dx: npt.NDArray[np.floating],
    dw: npt.NDArray[np.floating],
    db: npt.NDArray[np.floating],
    ph: int,
    pw: int,
    sh: int,
    sw: int,
    want_dx: bool,
    num_threads: int,
    level: int = -1,
    dy_nchw: bool = False,
) -> None: ...
def forward_plain(
    x: object, w: object, b: object, padding: object, stride: object, dilation: object, groups: object,
    algorithm: object, layout: object, max_extent: int, max_taps: int, max_cout: int, min_parallel_macs: int,
) -> npt.NDArray[np.floating] | None: ...
def backward_plain(
    dy: object, cache: tuple, compute_dx: object, min_parallel_macs: int,
) -> tuple[npt.NDArray[np.floating] | None, npt.NDArray[np.floating], npt.NDArray[np.floating] | None] | None: ...
