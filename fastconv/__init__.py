"""fastconv: fast CPU convolution and pooling for NumPy.

Drop-in replacements for the NumPy loops of a classic CNN tutorial (same names, arguments,
defaults and return structures), computed by Cython kernels that release the GIL and use
OpenMP threads. :mod:`fastconv.reference` holds the pure-NumPy loops with the same API.
"""
try:
    from ._threads import get_num_threads, openmp_enabled, set_num_threads
    from . import gradcheck  # a callable module: gradcheck(...) calls gradcheck.gradcheck(...)
    from .conv import conv2d_backward, conv2d_forward, convolution_2d, convolve2d
    from .filters import KERNELS, filter2d
    from .layers import (
        dense_backward,
        dense_forward,
        flatten_backward,
        flatten_forward,
        relu_backward,
        relu_forward,
        softmax_crossentropy_backward,
        softmax_crossentropy_forward,
    )
    from .pool import avgpool_backward, avgpool_forward, maxpool_backward, maxpool_forward, pooling
    from .pool import (
        adaptive_avgpool_backward,
        adaptive_avgpool_forward,
        adaptive_maxpool_backward,
        adaptive_maxpool_forward,
        global_avgpool_backward,
        global_avgpool_forward,
        global_maxpool_backward,
        global_maxpool_forward,
    )
except ImportError:  # an unbuilt source checkout: say so, and how to fix it
    from ._check_build import raise_if_unbuilt

    raise_if_unbuilt()
    raise
from ._lazy import __getattr__  # fastconv.CNNClassifier: scikit-learn is imported on first use

__version__ = "0.1.0"

__all__ = [
    "convolve2d",
    "convolution_2d",
    "pooling",
    "conv2d_forward",
    "conv2d_backward",
    "maxpool_forward",
    "maxpool_backward",
    "avgpool_forward",
    "avgpool_backward",
    "adaptive_avgpool_forward",
    "adaptive_avgpool_backward",
    "adaptive_maxpool_forward",
    "adaptive_maxpool_backward",
    "global_avgpool_forward",
    "global_avgpool_backward",
    "global_maxpool_forward",
    "global_maxpool_backward",
    "relu_forward",
    "relu_backward",
    "flatten_forward",
    "flatten_backward",
    "dense_forward",
    "dense_backward",
    "softmax_crossentropy_forward",
    "softmax_crossentropy_backward",
    "filter2d",
    "KERNELS",
    "openmp_enabled",
    "get_num_threads",
    "set_num_threads",
    "gradcheck",
    "CNNClassifier",
]

from . import conv_transpose as _conv_transpose, onedim as _onedim  # noqa: E402
from .conv_transpose import conv_transpose2d_backward, conv_transpose2d_forward  # noqa: E402
from .onedim import (  # noqa: E402
    avgpool1d_backward,
    avgpool1d_forward,
    conv1d_backward,
    conv1d_forward,
    maxpool1d_backward,
    maxpool1d_forward,
)

__all__ += _conv_transpose.__all__ + _onedim.__all__
del _conv_transpose, _onedim
