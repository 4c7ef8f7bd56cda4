"""Type stubs for the batched transpose kernel (see fastconv/_transpose.pyx)."""
import numpy as np
import numpy.typing as npt

def transpose_batch_kernel(a: npt.NDArray[np.floating], out: npt.NDArray[np.floating], num_threads: int,
                           stream: bool = ...) -> None: ...
