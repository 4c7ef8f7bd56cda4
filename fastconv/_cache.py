"""The caches that a forward call returns and only the matching backward reads."""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple

import numpy as np


class ConvCache(NamedTuple):
    """What ``conv2d_backward`` needs from ``conv2d_forward``."""

    x: np.ndarray  # input (N, H, W, C), as the kernel read it
    w: np.ndarray  # weights (Kh, Kw, C, Cout), as the kernel read them
    b_shape: Tuple[int, ...]
    padding: Tuple[int, int]
    stride: Tuple[int, int]
    dx_dtype: np.dtype  # dx is allocated like x, dw like w, db like b
    dw_dtype: np.dtype
    db_dtype: np.dtype
    y_shape: Tuple[int, ...]
    algorithm: str = "auto"  # conv2d_forward's algorithm=: the backward chooses its kernels by it too
    layout: str = "NHWC"  # the caller's layout; the arrays and shapes above are NHWC either way
    # the options beyond symmetric padding (``padding`` is then the (top, left) padding)
    pad_end: Optional[Tuple[int, int]] = None  # (bottom, right); None: as ``padding``
    dilation: Tuple[int, int] = (1, 1)
    groups: int = 1
    has_bias: bool = True  # False: the forward had b=None and the backward returns db=None
    # the kernel family the forward chose (by ``algorithm``); None: not recorded, the backward chooses
    family: Optional[str] = None


class PoolWindow(NamedTuple):
    """The torch options of a pooling call whose windows are not the plain unpadded floor-mode ones."""

    padding: Tuple[int, int]
    dilation: Tuple[int, int]
    ceil_mode: bool
    count_include_pad: bool
    divisor_override: Optional[int]
    output_size: Optional[Tuple[int, int]]  # adaptive pools: (Ho, Wo); None otherwise


class PoolCache(NamedTuple):
    """What ``maxpool_backward``/``avgpool_backward`` need from the forward call.

    ``argmax`` (max pooling only) is an int64 (N, Ho, Wo, C) array of flat indices
    ``h * W + w`` into each input plane: the first maximum of each window in row-major order.
    With ``layout="NCHW"`` the shapes and ``argmax`` (N, C, Ho, Wo) are NCHW.
    Adaptive pools have ``pool_size`` and ``stride`` None and ``window.output_size`` set.
    """

    x_shape: Tuple[int, ...]
    dx_dtype: np.dtype
    argmax: Optional[np.ndarray]
    pool_size: Tuple[int, int]
    stride: Tuple[int, int]
    y_shape: Tuple[int, ...]
    window: Optional[PoolWindow] = None  # padding, dilation, ceil_mode, ... (None: plain windows)
    layout: str = "NHWC"


class ConvTransposeCache(NamedTuple):
    """What ``conv_transpose2d_backward`` needs from ``conv_transpose2d_forward``."""

    x: np.ndarray  # input (N, H, W, Cin)
    w: np.ndarray  # weights (Kh, Kw, Cout/groups, Cin)
    b_shape: Optional[Tuple[int, ...]]  # None: the forward had b=None and the backward returns db=None
    stride: Tuple[int, int]
    padding: Tuple[int, int]
    output_padding: Tuple[int, int]
    groups: int
    dilation: Tuple[int, int]
    dx_dtype: np.dtype  # dx is allocated like x, dw like w, db like b
    dw_dtype: np.dtype
    db_dtype: Optional[np.dtype]
    y_shape: Tuple[int, ...]


class Conv1dCache(NamedTuple):
    """What ``conv1d_backward`` needs from ``conv1d_forward``."""

    x: np.ndarray  # input (N, L, C)
    w: np.ndarray  # weights (K, C/groups, Cout)
    b_shape: Optional[Tuple[int, ...]]  # None: no bias, db is None
    padding: Tuple[int, int]  # (left, right)
    stride: int
    dilation: int
    groups: int
    dx_dtype: np.dtype
    dw_dtype: np.dtype
    db_dtype: Optional[np.dtype]
    y_shape: Tuple[int, ...]
    plan: object = None  # the fast path's 2-D layer state (None in the reference)


class Pool1dCache(NamedTuple):
    """What ``maxpool1d_backward``/``avgpool1d_backward`` need from the forward call.

    ``argmax`` (max pooling only) is an int64 (N, Lo, C) array of indices into each input row:
    the first maximum of each window.
    """

    x_shape: Tuple[int, ...]
    dx_dtype: np.dtype
    argmax: Optional[np.ndarray]
    pool_size: int
    stride: int
    padding: int
    dilation: int
    ceil_mode: bool
    count_include_pad: bool
    divisor_override: Optional[int]
    y_shape: Tuple[int, ...]
    plan: Any = None  # fast max pooling: the kernel's window taps and starts (None otherwise)
