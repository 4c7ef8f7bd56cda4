"""Shared benchmark helpers: thread setup, the equality check, the timing call, the session header.

Every ``bench_*`` function times one implementation (``benchmark.extra_info["impl"]``) of one
workload (its pytest-benchmark ``group``). Before anything is timed, the result of the call is
checked against an independent answer, so a fast wrong answer can never be reported.
"""
from __future__ import annotations

import os
import platform
import time

import numpy as np
import pytest

#: Threads given to every implementation that can use several (fastconv, torch, BLAS).
THREADS = 2
#: Seconds of timing per benchmark (after the warm-up); FASTCONV_BENCH_TIME overrides it.
TARGET_SECONDS = float(os.environ.get("FASTCONV_BENCH_TIME", "1.0"))
MIN_ROUNDS, MAX_ROUNDS = 3, 200

# Idle OpenMP threads sleep instead of spinning. On a machine with more runnable threads than
# cores, spinning threads steal the cores that a parallel region is waiting for, and a 0.1 ms call
# can take 50 ms. Applies to fastconv and torch alike; set OMP_WAIT_POLICY to override it.
# (Set before anything loads an OpenMP runtime: libgomp reads it once, when it is loaded.)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import fastconv  # noqa: E402

fastconv.set_num_threads(THREADS)
try:
    import torch

    torch.set_num_threads(THREADS)
except ImportError:  # torch is in the bench extra; its benchmarks importorskip it
    torch = None


def assert_close(actual, expected, name="result"):
    """Assert equality to float rounding: rtol and atol relative to the largest |expected| (float32: 1e-4)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{name}: shape {actual.shape} != expected {expected.shape}")
    single = np.float32 in (actual.dtype, expected.dtype)
    tol = 1e-4 if single else 1e-10
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=name)


def assert_matches(result, expected):
    """Check ``result`` (an array or tuple of arrays) against each answer in ``expected`` ({label: answer})."""
    result = result if isinstance(result, tuple) else (result,)
    for label, answer in expected.items():
        answer = answer if isinstance(answer, tuple) else (answer,)
        assert len(result) == len(answer), f"{len(result)} outputs but {len(answer)} in the {label} answer"
        for k, (a, e) in enumerate(zip(result, answer)):
            assert_close(a, e, f"output {k} against the {label} answer")


@pytest.fixture
def timed(benchmark):
    """``timed(group, impl, fn, expected, convert=None)``: check one call of ``fn``, then time ``fn``.

    ``convert(fn())`` (default: ``fn()``) must equal every answer in ``expected`` ({label: array or
    tuple of arrays}) to float rounding. A second, warm call sets the number of rounds (about
    ``TARGET_SECONDS`` of timing, at least ``MIN_ROUNDS``); one more warm-up round precedes the timing. Only ``fn()`` is timed: data preparation and
    ``convert`` happen outside the timed region.
    """

    def run(group, impl, fn, expected, convert=None):
        benchmark.group = group
        benchmark.extra_info["impl"] = impl
        result = fn()
        assert_matches(convert(result) if convert else result, expected)
        t0 = time.perf_counter()
        fn()  # a warm call, to size the rounds
        elapsed = max(time.perf_counter() - t0, 1e-7)
        iterations = max(1, int(1e-3 / elapsed))  # rounds of at least ~1 ms
        rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, TARGET_SECONDS / (elapsed * iterations))))
        return benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=1)

    return run


def _cpu_model():
    """The CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment():
    """Machine, threads and library versions, recorded in the JSON as ``machine_info["fastconv_env"]``."""
    versions = {"numpy": np.__version__, "fastconv": fastconv.__version__}
    for mod in ("torch", "scipy", "cv2", "pytest_benchmark"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    try:
        from threadpoolctl import threadpool_info

        blas = sorted({f"{i['internal_api']} ({i['num_threads']} threads)" for i in threadpool_info()
                       if i["user_api"] == "blas"})
    except ImportError:
        blas = []
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "threads": THREADS,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "fastconv_threads": fastconv.get_num_threads(),
        "fastconv_openmp": bool(fastconv.openmp_enabled()),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "blas": blas,
        "versions": versions,
        "platform": platform.platform(),
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["fastconv_env"] = environment()

