"""What ``filter2d`` accepts by name: the tutorial's ten kernels and the border modes.

Pure data, shared by the fast wrapper (:mod:`fastconv.filters`), the reference loops and the
argument checks (:mod:`fastconv._validate`).
"""
from __future__ import annotations

import types
from typing import Mapping

import numpy as np


def _frozen(rows, scale=1.0) -> np.ndarray:
    """A read-only float64 kernel."""
    a = np.array(rows, dtype=np.float64) / scale
    a.flags.writeable = False
    return a


#: The tutorial's ten kernels, in its order. A read-only mapping of read-only float64 arrays.
KERNELS: Mapping[str, np.ndarray] = types.MappingProxyType(
    {
        "horizontal_edge": _frozen([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
        "vertical_edge": _frozen([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
        "sobel_x": _frozen([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
        "sobel_y": _frozen([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
        "laplacian": _frozen([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
        "sharpen": _frozen([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        "gaussian3": _frozen([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 16),
        "gaussian5": _frozen(
            [[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6], [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]], 256
        ),
        "edge_enhance": _frozen([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]]),
        "mean": _frozen([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 9),
    }
)

#: Border modes (scipy.ndimage names) -> (kernel code, numpy.pad mode, OpenCV border name).
MODES: Mapping[str, tuple] = types.MappingProxyType(
    {
        "constant": (0, "constant", "BORDER_CONSTANT"),
        "nearest": (1, "edge", "BORDER_REPLICATE"),
        "reflect": (2, "symmetric", "BORDER_REFLECT"),
        "mirror": (3, "reflect", "BORDER_REFLECT_101"),
        "wrap": (4, "wrap", "BORDER_WRAP"),
    }
)
