"""Type stubs for the compiled digits training step (see fastconv/_digits.pyx)."""
from typing import Dict, Tuple

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

NUM_CLASSES: int

@disjoint_base  # a compiled (cdef) class: no subclass can also derive from another such class
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
    def step(
        self, x: npt.NDArray[np.floating], y: npt.NDArray[np.int64], lr: float, idx: npt.NDArray[np.int64] | None = None
    ) -> float: ...
    def logits(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]: ...

