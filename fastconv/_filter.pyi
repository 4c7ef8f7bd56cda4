"""Type stubs for the image filter kernels (see fastconv/_filter.pyx)."""
import numpy as np
import numpy.typing as npt

def several_rows_runs() -> bool: ...
def separable_fused_serves(dtype: npt.DTypeLike, width: int, channels: int, kernel_width: int) -> bool: ...
def correlate2d_same_kernel(
    image: npt.NDArray[np.floating],
    weights: npt.NDArray[np.floating],
    tap_row: npt.NDArray[np.intp],
    tap_col: npt.NDArray[np.intp],
    Kh: int,
    Kw: int,
    mode: int,
    cval: float,
    out: npt.NDArray[np.floating],
    num_threads: int,
    stream: bool = ...,
    several_rows: bool = ...,
) -> None: ...
def correlate2d_separable_kernel(
    image: npt.NDArray[np.floating],
    u: npt.NDArray[np.floating],
    u_idx: npt.NDArray[np.intp],
    v: npt.NDArray[np.floating],
    v_idx: npt.NDArray[np.intp],
    Kh: int,
    Kw: int,
    mode: int,
    cval: float,
    out: npt.NDArray[np.floating],
    num_threads: int,
    stream: bool = ...,
    fused: bool = ...,
) -> None: ...
