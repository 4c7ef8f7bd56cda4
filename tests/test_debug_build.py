"""The bounds-checked build (FASTCONV_DEBUG=1): the switch reaches the compiler and out-of-bounds indexing raises.

These tests run only when FASTCONV_DEBUG=1 is set at test time (``.ci/run`` sets it for its
debug-build stage): in a release build the same calls would read or write out of bounds.
"""
import os
import re

import numpy as np
import pytest

import fastconv
from fastconv import _conv, _pool

DEBUG = os.environ.get("FASTCONV_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
pytestmark = pytest.mark.skipif(not DEBUG, reason="release build: out-of-bounds probes would corrupt memory")


def _producer_opt_levels(path):
    """The -O flags that the compiler recorded (DWARF producer strings) in the extension ``path``."""
    data = open(path, "rb").read()
    producers = re.findall(rb"GNU C[^\x00]{0,2000}", data)
    return [re.findall(rb"(?<!\S)-O(\d|s|fast|g)?", p) for p in producers]


def _built_with_debug_flags(module):
    """True/False from the recorded compiler flags (setup.py appends -O1 -g for FASTCONV_DEBUG=1;
    the last -O wins); None if the extension records no flags."""
    levels = _producer_opt_levels(module.__file__)
    if not levels:
        return None
    return all(lv and lv[-1] == b"1" for lv in levels)


@pytest.mark.parametrize("module", [_conv, _pool], ids=["_conv", "_pool"])
def test_debug_compile_flags_reached_the_extension(module):
    built = _built_with_debug_flags(module)
    if built is None:
        pytest.skip(f"{module.__file__} records no compiler flags (no debug info)")
    assert built, f"{module.__file__} was not compiled with the FASTCONV_DEBUG flags: {_producer_opt_levels(module.__file__)}"


# never probe out of bounds in an extension that is known to be a release build
oob_probe = pytest.mark.skipif(
    not all(_built_with_debug_flags(m) in (True, None) for m in (_conv, _pool)),
    reason="the extensions are a release build (see test_debug_compile_flags_reached_the_extension)",
)


@oob_probe
def test_out_of_bounds_read_raises_in_correlate2d():
    image, kernel = np.ones((5, 5)), np.ones((3, 3))
    out = np.empty((4, 4))  # valid output is 3x3: the last row/column of windows reads past the image
    with pytest.raises(IndexError):
        _conv.correlate2d_valid_kernel(image, kernel, out, 1, 1, 1)


@oob_probe
def test_out_of_bounds_read_raises_in_avgpool_forward():
    x = np.ones((1, 4, 4, 2))
    y = np.empty((1, 3, 3, 2))  # 2x2 windows with stride 2 fit twice, not three times
    with pytest.raises(IndexError):
        _pool.avgpool_forward_kernel(x, y, 2, 2, 2, 2, 1)


@oob_probe
def test_out_of_bounds_write_raises_in_maxpool_backward():
    dy = np.ones((1, 2, 2, 1))
    argmax = np.array([0, 3, 12, 99], dtype=np.int64).reshape(1, 2, 2, 1)  # 99 is outside a 4x4 plane
    dx = np.zeros((1, 16, 1))
    with pytest.raises(IndexError):
        _pool.maxpool_backward_kernel(dy, argmax, dx, 1)


def test_public_api_still_works_in_the_debug_build():
    x = np.arange(32.0).reshape(1, 4, 4, 2)
    y, cache = fastconv.maxpool_forward(x, 2)
    np.testing.assert_array_equal(y[0, :, :, 0], [[10.0, 14.0], [26.0, 30.0]])
    assert fastconv.maxpool_backward(np.ones_like(y), cache).sum() == y.size


@oob_probe
def test_out_of_bounds_window_raises_in_maxpool_forward():
    x = np.ones((2, 5, 5, 3))
    y = np.empty((2, 3, 2, 3))  # 3 window rows of 2 with stride 2 reach row 6 of 5
    argmax = np.empty((2, 3, 2, 3), dtype=np.int64)
    with pytest.raises(IndexError, match="window rows"):
        _pool.maxpool_forward_kernel(x, y, argmax, 2, 2, 2, 2, 1)


@oob_probe
def test_mismatched_batch_raises_in_avgpool_backward_tiled():
    dy = np.ones((3, 2, 2, 1))
    dx = np.empty((2, 4, 4, 1))  # one image short
    with pytest.raises(IndexError, match="batch/channels"):
        _pool.avgpool_backward_tiled_kernel(dy, dx, 2, 2, 1)
