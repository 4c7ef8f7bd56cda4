"""filter2d against OpenCV (float32), scipy.ndimage (float64) and the NumPy reference loop.

Run: ``python -m pytest bench/bench_filter.py --benchmark-only --benchmark-group-by=group``

One group per workload (dtype, image size, kernel); one benchmark per implementation, each first
checking that its result equals fastconv's to float rounding. The laplacian and the random
kernels take the general path; the Gaussians are rank 1 and take the separable path, except
gaussian3 on outputs of 8 MiB and more (memory-bound: see ``fastconv.filters._MEMORY_BOUND_BYTES``).

cv2 runs with its defaults (its own thread pool, Intel IPP where it uses it; the thread count is set
to fastconv's, which equals cv2's default on a 2-core host), with the same border (``BORDER_CONSTANT``,
0 outside: fastconv's ``mode="constant"``) and the same float32 output (``ddepth=-1``). The memcpy
rows beside the 2048x2048 float32 laplacian and gaussian5 groups are the memory-bound floor.

The default call allocates a new output every round in every library (fastconv's large outputs
come from its bounded pool of recycled blocks, see ``fastconv.filters.output_pool``). The
``output=`` groups time both fastconv and scipy writing into one preallocated array instead.
"""
import os
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np
import pytest

import fastconv
import fastconv.reference
from fastconv import KERNELS

_RNG = np.random.default_rng(2024)
_KERNELS = {
    "laplacian": KERNELS["laplacian"],                   # 3x3, general path (5 non-zero taps)
    "random3": _RNG.standard_normal((3, 3)),             # 3x3, general path (9 taps)
    "gaussian3": KERNELS["gaussian3"],                   # 3x3, separable path
    "random5": _RNG.standard_normal((5, 5)),             # 5x5, general path (25 taps)
    "gaussian5": KERNELS["gaussian5"],                   # 5x5 rank 1: separable (general on large float32 outputs)
}
_IMAGES = {}
_PAUSE = float(os.environ.get("FASTCONV_BENCH_PAUSE", "0.3"))  # seconds, as bench/conftest.py PAUSE_SECONDS


def _image(size, dtype):
    key = (size, np.dtype(dtype).name)
    if key not in _IMAGES:
        _IMAGES[key] = (np.random.default_rng(size).random((size, size)) * 255).astype(dtype)
    return _IMAGES[key]


def _group(dtype, size, kname, suffix=""):
    k = _KERNELS[kname]
    return f"filter2d {np.dtype(dtype).name} {size}x{size} k{k.shape[0]} {kname} constant{suffix}"


def _run(benchmark, impl, func, want, dtype, size, kname, rounds=None, suffix=""):
    benchmark.group = _group(dtype, size, kname, suffix)
    benchmark.extra_info["impl"] = impl
    got = func()
    tol = 1e-4 if np.dtype(dtype) == np.float32 else 1e-9
    scale = np.abs(_KERNELS[kname]).sum() * 255
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale)
    time.sleep(_PAUSE)  # as conftest's ``timed``: one library's spinning threads off the next one's timing
    if rounds is None:
        benchmark(func)
    else:
        benchmark.pedantic(func, rounds=rounds, iterations=1)


CASES_F32 = [(size, k) for size in (2048, 512) for k in _KERNELS]
CASES_F64 = [(size, k) for size in (2048, 512) for k in ("laplacian", "gaussian3", "random5", "gaussian5")]
CASES_OUT = [(2048, k) for k in ("laplacian", "gaussian3", "random5", "gaussian5")]

# ``impl`` is the first parametrize decorator, so it varies fastest: the implementations of one
# group are timed one right after the other and see the same background load on a shared machine.


def _f32_call(impl, img, k):
    """A fresh-output call of ``impl`` on a float32 image."""
    if impl == "fastconv":
        return lambda: fastconv.filter2d(img, k)
    cv2 = pytest.importorskip("cv2", reason="OpenCV is the float32 peer")
    cv2.setNumThreads(fastconv.get_num_threads())  # the same thread budget as fastconv
    k32 = k.astype(np.float32)
    return lambda: cv2.filter2D(img, -1, k32, borderType=cv2.BORDER_CONSTANT)


def _f64_call(impl, img, k, out=None):
    """A call of ``impl`` on a float64 image: a fresh output, or filling ``out``."""
    if impl == "fastconv":
        if out is None:
            return lambda: fastconv.filter2d(img, k)
        return lambda: fastconv.filter2d(img, k, output=out)
    ndi = pytest.importorskip("scipy.ndimage", reason="scipy is the float64 peer")
    if out is None:
        return lambda: ndi.correlate(img, k, mode="constant", cval=0.0)

    def run():
        ndi.correlate(img, k, output=out, mode="constant", cval=0.0)
        return out

    return run


@pytest.mark.parametrize("impl", ["fastconv", "cv2"])
@pytest.mark.parametrize("size, kname", CASES_F32, ids=[f"{s}-{k}" for s, k in CASES_F32])
def bench_filter2d_f32(benchmark, impl, size, kname):
    img, k = _image(size, np.float32), _KERNELS[kname]
    _run(benchmark, impl, _f32_call(impl, img, k), fastconv.filter2d(img, k), np.float32, size, kname)


@pytest.mark.parametrize("kname", ["laplacian", "gaussian5"])
def bench_filter2d_f32_memcpy(benchmark, kname):
    """The memory-bound floor beside the 2048x2048 float32 groups: a copy of the image into a
    preallocated array (16 MiB read, 16 MiB written; NumPy's copy runs on one thread). A filter
    reads and writes as much, so no filter of a large image is much faster than this."""
    img = _image(2048, np.float32)
    out = np.empty_like(img)
    benchmark.group = _group(np.float32, 2048, kname)
    benchmark.extra_info["impl"] = "memcpy"
    np.copyto(out, img)
    np.testing.assert_array_equal(out, img)
    time.sleep(_PAUSE)
    benchmark(np.copyto, out, img)


@pytest.mark.parametrize("impl", ["fastconv", "scipy"])
@pytest.mark.parametrize("size, kname", CASES_F64, ids=[f"{s}-{k}" for s, k in CASES_F64])
def bench_filter2d_f64(benchmark, impl, size, kname):
    img, k = _image(size, np.float64), _KERNELS[kname]
    _run(benchmark, impl, _f64_call(impl, img, k), fastconv.filter2d(img, k), np.float64, size, kname)


@pytest.mark.parametrize("kname", ["laplacian", "gaussian5"])
def bench_filter2d_f64_reference(benchmark, kname):
    img, k = _image(512, np.float64), _KERNELS[kname]
    want = fastconv.filter2d(img, k)
    _run(benchmark, "reference", lambda: fastconv.reference.filter2d(img, k), want, np.float64, 512, kname, rounds=1)


@pytest.mark.parametrize("impl", ["fastconv", "scipy"])
@pytest.mark.parametrize("size, kname", CASES_OUT, ids=[f"{s}-{k}" for s, k in CASES_OUT])
def bench_filter2d_f64_output(benchmark, impl, size, kname):
    img, k = _image(size, np.float64), _KERNELS[kname]
    out = np.empty_like(img)
    _run(benchmark, impl, _f64_call(impl, img, k, out), fastconv.filter2d(img, k), np.float64, size, kname,
         suffix=" output=")
