"""Type stubs for the small-channel convolution kernels (see fastconv/_conv_smallc.pyx)."""
from typing import Tuple

import numpy as np
import numpy.typing as npt

SMALLC_PARTS: int

def lanes(itemsize: int) -> int: ...
def smallc_forward(x: npt.NDArray[np.floating], w: npt.NDArray[np.floating], b: npt.NDArray[np.floating],
                   y: npt.NDArray[np.floating], ph: int, pw: int, sh: int, sw: int, x_nchw: bool, y_nchw: bool,
                   num_threads: int) -> None: ...
def smallc_backward(x: npt.NDArray[np.floating], w: npt.NDArray[np.floating], dy: npt.NDArray[np.floating],
                    dx: npt.NDArray[np.floating], ph: int, pw: int, sh: int, sw: int, x_nchw: bool, y_nchw: bool,
                    compute_dx: bool, num_threads: int) -> Tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]: ...
