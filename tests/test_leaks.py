"""Memory: 10,000 calls of each op grow the resident set by less than 5 MB (in one of two windows)."""
import ctypes
import gc
import os
from pathlib import Path

import numpy as np
import pytest

import fastconv

CALLS = 10_000
LIMIT_BYTES = 5 * 2**20
STATM = Path("/proc/self/statm")
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

pytestmark = pytest.mark.skipif(not STATM.exists(), reason="needs /proc/self/statm")


def rss_bytes():
    """Resident set size of this process, from /proc/self/statm (second field, in pages)."""
    return int(STATM.read_text().split()[1]) * PAGE


try:  # glibc: hand the heap's free pages back to the system
    _MALLOC_TRIM = ctypes.CDLL(None).malloc_trim
except (OSError, AttributeError):
    _MALLOC_TRIM = None


def settled_rss_bytes():
    """rss_bytes() after a collection and, with glibc, malloc_trim(0): memory that earlier tests freed
    but the allocator kept resident is returned first, so growth from here on is new memory (without
    this, a heap holding more free pages than a leak's size hides the leak)."""
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    return rss_bytes()


def _ops(dtype):
    r = np.random.default_rng(0)
    x = r.normal(size=(2, 6, 6, 2)).astype(dtype)
    w = r.normal(size=(3, 3, 2, 3)).astype(dtype)
    b = r.normal(size=3).astype(dtype)
    x_f = np.asfortranarray(x)  # forces the wrapper's copy path
    x_i = (x * 10).astype(np.int32)  # forces the integer -> float64 path
    dy_c = r.normal(size=(2, 3, 6, 3)).astype(dtype)
    dy_p = r.normal(size=(2, 3, 3, 2)).astype(dtype)
    img, ker = r.normal(size=(9, 8)).astype(dtype), r.normal(size=(3, 2)).astype(dtype)
    _, cc = fastconv.conv2d_forward(x, w, b, 1, (2, 1))
    _, cm = fastconv.maxpool_forward(x, 2)
    _, ca = fastconv.avgpool_forward(x, 2)
    return {
        "conv2d_forward": lambda: fastconv.conv2d_forward(x, w, b, 1, (2, 1)),
        "conv2d_forward(fortran, int)": lambda: (fastconv.conv2d_forward(x_f, w, b), fastconv.conv2d_forward(x_i, w, b)),
        "conv2d_backward": lambda: fastconv.conv2d_backward(dy_c, cc),
        "maxpool_forward": lambda: fastconv.maxpool_forward(x, 2),
        "maxpool_backward": lambda: fastconv.maxpool_backward(dy_p, cm),
        "avgpool_forward": lambda: fastconv.avgpool_forward(x, 2),
        "avgpool_backward": lambda: fastconv.avgpool_backward(dy_p, ca),
        "convolve2d": lambda: fastconv.convolve2d(img, ker),
        "convolution_2d": lambda: fastconv.convolution_2d(img, ker, 2),
        "pooling": lambda: fastconv.pooling(img, 2, None, "avg"),
        "bad call (error path)": lambda: _swallow(lambda: fastconv.conv2d_forward(x, w[:, :, :1], b)),
    }


def _swallow(f):
    try:
        f()
    except ValueError:
        pass


@pytest.fixture(autouse=True)
def _one_thread():
    prev = fastconv.set_num_threads(1)  # the leak is per call; threads only add scheduling noise
    yield
    fastconv.set_num_threads(prev)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_ten_thousand_calls_do_not_grow_rss(dtype):
    growth = {}
    for name, op in _ops(dtype).items():
        # earlier tests' free heap pages go back to the system first (settled_rss_bytes), then the
        # warm-up runs: the pages the op's own allocations come to reuse are touched before the
        # baseline, so the growth counts only memory the calls keep (a leak still faults new pages)
        settled_rss_bytes()
        for _ in range(500):  # warm up: allocator pools, lazy imports, caches
            op()
        # two windows of CALLS calls each: a leak grows the resident set in both; a one-off jump from
        # outside the calls (the kernel collapsing some other region of the process into huge pages
        # in the background, 2 MiB at a time) lands in one window only
        windows = []
        for _ in range(2):
            gc.collect()
            before = rss_bytes()
            for _ in range(CALLS):
                op()
            gc.collect()
            windows.append(rss_bytes() - before)
        growth[name] = min(windows)
    too_much = {k: f"{v / 2**20:.2f} MB" for k, v in growth.items() if v >= LIMIT_BYTES}
    assert not too_much, f"RSS grew by >= 5 MB over {CALLS} calls: {too_much}"


def test_rss_measurement_sees_a_real_leak():
    """The probe itself works: keeping 10,000 small arrays alive shows up as growth above the limit.

    8 KiB each (80 MB in all), measured from settled_rss_bytes(), so that heap memory freed by
    earlier tests and kept by the allocator does not absorb the growth.
    """
    before = settled_rss_bytes()
    kept = [np.ones(1024) for _ in range(CALLS)]
    grown = rss_bytes() - before
    assert grown >= LIMIT_BYTES, grown
    del kept
