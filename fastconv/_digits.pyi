"""Type stubs for the compiled digits training step (see fastconv/_digits.pyx)."""
from typing import Dict, Tuple

import numpy as np
import numpy.typing as npt

NUM_CLASSES: int

class Stepper:
    def __init__(
        self,
        params: Dict[str, npt.NDArray[np.floating]],
        image_shape: Tuple[int, int],
        padding: int,
        stride: int,
        pool_size: int,
        max_pool: bool,
        batch_size: int,
    ) -> None: ...
    def step(self, x: npt.NDArray[np.floating], y: npt.NDArray[np.int64], lr: float) -> float: ...
    def logits(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]: ...

