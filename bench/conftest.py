"""Shared benchmark helpers: thread setup, the equality check, the timing call, the session header.

Every ``bench_*`` function times one implementation (``benchmark.extra_info["impl"]``) of one
workload (its pytest-benchmark ``group``). Before anything is timed, the result of the call is
checked against an independent answer, so a fast wrong answer can never be reported.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

import _host  # noqa: E402  (first: the benchmarks run without the host's OpenBLAS settings)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: Threads given to every implementation that can use several (fastconv, torch, BLAS).
THREADS = 2
#: Seconds of timing per benchmark (after the warm-up); FASTCONV_BENCH_TIME overrides it.
TARGET_SECONDS = float(os.environ.get("FASTCONV_BENCH_TIME", "1.0"))
MIN_ROUNDS, MAX_ROUNDS = 3, 200

#: Seconds of sleep before each benchmark (FASTCONV_BENCH_PAUSE overrides it). Every peer runs
#: under its default settings (no OMP_WAIT_POLICY or the like is set here): OpenMP thread pools
#: spin for a while after a parallel region, so the pause keeps one library's spinning threads
#: off the next one's timing. The implementations of a workload still run back to back.
PAUSE_SECONDS = float(os.environ.get("FASTCONV_BENCH_PAUSE", "0.3"))
#: Environment variables that change how a library runs; the report names any that are set.
#: glibc's malloc settings are among them: torch's large temporaries pay page faults or not
#: depending on them (docs/performance.md, "Phase views; the 3x3 transposed layer's target").
SETTINGS = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OMP_PROC_BIND", "OMP_PLACES", "GOMP_SPINCOUNT",
            "KMP_BLOCKTIME", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
            "OPENBLAS_L2_SIZE", "FASTCONV_SIMD", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
            "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX", "GLIBC_TUNABLES")
#: The yardstick: a float32 N x N x N matmul by NumPy's BLAS (2*N**3 FLOPs per call).
SGEMM_N = 2048

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
    ``convert`` happen outside the timed region. ``flops``: useful floating-point operations
    of one call, recorded in ``extra_info`` for the report's GFLOP/s. Before the timing the
    benchmark sleeps ``PAUSE_SECONDS`` (see there).
    """

    def run(group, impl, fn, expected, convert=None, flops=None):
        benchmark.group = group
        benchmark.extra_info["impl"] = impl
        if flops:
            benchmark.extra_info["flops"] = flops
        result = fn()
        assert_matches(convert(result) if convert else result, expected)
        time.sleep(PAUSE_SECONDS)
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
        "settings": {k: os.environ[k] for k in SETTINGS if k in os.environ},
        "unset_for_run": _host.UNSET,
        "pause_seconds": PAUSE_SECONDS,
        "sgemm": sgemm_yardstick(),
        "fastconv_threads": fastconv.get_num_threads(),
        "fastconv_openmp": bool(fastconv.openmp_enabled()),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "blas": blas,
        "versions": versions,
        "platform": platform.platform(),
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


_SGEMM_CHILD = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

n, threads, rounds = int(sys.argv[1]), [int(t) for t in sys.argv[2].split(",")], int(sys.argv[3])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
exact = a.astype(np.float64) @ b.astype(np.float64)
err = float(np.max(np.abs(a @ b - exact)) / np.max(np.abs(exact)))
if not err < 1e-5:
    raise SystemExit(f"sgemm result off by {err:.2e} of its range")
numpy_blas = [i for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i.get("filepath", "")]
info = (numpy_blas or [i for i in threadpool_info() if i["user_api"] == "blas"] or [{}])[0]
times = {t: [] for t in threads}
for _ in range(rounds):  # the thread counts alternate, so both see the same background load
    for t in threads:
        with threadpool_limits(t, user_api="blas"):
            t0 = time.perf_counter()
            a @ b
            times[t].append(time.perf_counter() - t0)
gflops = {str(t): 2 * n ** 3 / sorted(v)[len(v) // 2] / 1e9 for t, v in times.items()}
spread = {str(t): [2 * n ** 3 / max(v) / 1e9, 2 * n ** 3 / min(v) / 1e9] for t, v in times.items()}
print(json.dumps({"n": n, "gflops": gflops, "range": spread, "rounds": rounds, "max_rel_error": err,
                  "blas": info.get("internal_api"), "kernel": info.get("architecture"),
                  "blas_version": info.get("version")}))
"""
_sgemm_result = None


def sgemm_yardstick():
    """sgemm GFLOP/s (NumPy float32 ``SGEMM_N``-square matmul), 1 and ``THREADS`` threads, measured once per run.

    Runs in a child process with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` removed from its
    environment (set on some hosts for older OpenBLAS builds, they slow a current one); the
    result names the OpenBLAS kernel that ran (threadpoolctl) and the variables it left out.
    The product is checked against a float64 one before it is timed. None if it fails.
    """
    global _sgemm_result
    if _sgemm_result is None:
        env = dict(os.environ)
        removed = {k: env.pop(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in env}
        threads = ",".join(str(t) for t in sorted({1, THREADS}))
        try:
            out = subprocess.run([sys.executable, "-c", _SGEMM_CHILD, str(SGEMM_N), threads, "7"], env=env,
                                 capture_output=True, text=True, check=True, timeout=600)
            _sgemm_result = json.loads(out.stdout)
        except (subprocess.SubprocessError, ValueError, OSError) as exc:
            _sgemm_result = {"error": str(exc)[:200]}
        _sgemm_result["unset_for_sgemm"] = removed
    return _sgemm_result if "gflops" in _sgemm_result else None


def pytest_sessionstart(session):
    """Measure the yardstick at the start of the run, before the benchmarks load the machine's caches."""
    if any("bench" in str(a) for a in session.config.args):
        sgemm_yardstick()


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["fastconv_env"] = environment()

