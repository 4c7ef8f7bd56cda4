"""Threads: concurrent callers get the serial results; the OpenMP thread count is honoured; no oversubscription."""
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from conftest import subprocess_env

import fastconv

ROOT = Path(__file__).resolve().parents[1]
needs_openmp = pytest.mark.skipif(not fastconv.openmp_enabled(), reason="kernels built without OpenMP")


@pytest.fixture(autouse=True)
def _restore_threads():
    prev = fastconv.set_num_threads(0)
    yield
    fastconv.set_num_threads(prev)


def _workload(seed):
    """Inputs for every kernel, sized so that one call takes long enough for calls to overlap."""
    r = np.random.default_rng(seed)
    return dict(
        x=r.normal(size=(6, 14, 13, 4)),
        w=r.normal(size=(3, 3, 4, 5)),
        b=r.normal(size=5),
        dy_conv=r.normal(size=(6, 7, 13, 5)),
        dy_pool=r.normal(size=(6, 12, 11, 4)),
        img=r.normal(size=(40, 37)),
        ker=r.normal(size=(4, 3)),
    )


def _run_all(d, dtype):
    """Every kernel once; returns the list of outputs."""
    x, w, b = (d[k].astype(dtype) for k in ("x", "w", "b"))
    y, cache = fastconv.conv2d_forward(x, w, b, 1, (2, 1))
    out = [y, *fastconv.conv2d_backward(d["dy_conv"].astype(dtype), cache)]
    ym, cm = fastconv.maxpool_forward(x, 3, 1)
    out += [ym, cm.argmax, fastconv.maxpool_backward(d["dy_pool"].astype(dtype), cm)]
    ya, ca = fastconv.avgpool_forward(x, 3, 1)
    out += [ya, fastconv.avgpool_backward(d["dy_pool"].astype(dtype), ca)]
    out += [fastconv.convolve2d(d["img"].astype(dtype), d["ker"].astype(dtype)),
            fastconv.convolution_2d(d["img"].astype(dtype), d["ker"].astype(dtype), (2, 3))]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kernel_threads", [1, 2])
def test_eight_python_threads_get_the_serial_results(dtype, kernel_threads):
    fastconv.set_num_threads(kernel_threads)
    workloads = [_workload(s) for s in range(4)]
    serial = [_run_all(d, dtype) for d in workloads]
    n_threads, rounds = 8, 6
    start = threading.Barrier(n_threads)

    def worker(t):
        start.wait()  # all eight enter the kernels together
        mismatches = []
        for k in range(rounds):
            i = (t + k) % len(workloads)  # threads share inputs and also work on different ones
            for j, (got, want) in enumerate(zip(_run_all(workloads[i], dtype), serial[i])):
                if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want):
                    mismatches.append((t, k, i, j))
        return mismatches

    with ThreadPoolExecutor(n_threads) as pool:
        results = list(pool.map(worker, range(n_threads)))
    assert [m for r in results for m in r] == []


@needs_openmp
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_results_do_not_depend_on_the_thread_count(dtype):
    d = _workload(9)
    fastconv.set_num_threads(1)
    one = _run_all(d, dtype)
    for n in (2, 3, 4, 7):
        fastconv.set_num_threads(n)
        for j, (got, want) in enumerate(zip(_run_all(d, dtype), one)):
            np.testing.assert_array_equal(got, want, err_msg=f"output {j} with {n} threads")


def test_set_and_get_num_threads():
    default = fastconv.get_num_threads()
    assert default >= 1
    assert fastconv.set_num_threads(3) == 0
    assert fastconv.get_num_threads() == (3 if fastconv.openmp_enabled() else 1)
    assert fastconv.set_num_threads(None) == 3
    assert fastconv.get_num_threads() == default


@needs_openmp
def test_default_thread_count_does_not_exceed_the_cpus():
    if "OMP_NUM_THREADS" in os.environ:
        pytest.skip("OMP_NUM_THREADS is set")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert fastconv.get_num_threads() <= cpus


@needs_openmp
def test_threadpool_limits_openmp_is_honoured():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    info = threadpoolctl.threadpool_info()
    assert any(i["user_api"] == "openmp" for i in info), info
    before = fastconv.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastconv.get_num_threads() == 1
    assert fastconv.get_num_threads() == before
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):  # BLAS limits leave the kernels alone
        assert fastconv.get_num_threads() == before


# A child process that counts its OS threads (/proc/self/task) while the kernels run.
_PROBE = textwrap.dedent(
    """
    import json, os, sys, threading, time
    import numpy as np
    import fastconv

    def ntasks(leave_out=None):
        return len([tid for tid in os.listdir("/proc/self/task") if int(tid) != leave_out])

    mode = sys.argv[1]
    if mode.startswith("set"):
        fastconv.set_num_threads(int(mode[3:]))
    limiter = None
    if mode == "threadpoolctl1":
        import threadpoolctl
        limiter = threadpoolctl.threadpool_limits(limits=1, user_api="openmp")
    x = np.random.default_rng(0).normal(size=(16, 24, 24, 8))
    w = np.random.default_rng(1).normal(size=(3, 3, 8, 8))
    b = np.zeros(8)
    base = ntasks()  # main thread + the BLAS pool (started when NumPy loads it); no kernel has run yet
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], ntasks() - 1)  # minus this sampling thread
            time.sleep(0.0002)

    t = threading.Thread(target=sample)
    t.start()
    for _ in range(5):
        y, c = fastconv.conv2d_forward(x, w, b)
        fastconv.conv2d_backward(y, c)
        fastconv.maxpool_forward(x, 2)
        x @ x.reshape(16, -1).T[: x.shape[-1]]  # a BLAS call in between
    stop.set()
    t.join()
    try:
        from threadpoolctl import threadpool_info
        blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    except ImportError:
        blas = []
    # the joined sampler's OS thread may still be listed for a moment after join(): leave it out
    print(json.dumps({"threads": fastconv.get_num_threads(), "base": base, "peak": peak[0],
                      "after": ntasks(leave_out=t.native_id), "blas": blas}))
    """
)


def _probe(mode, **env):
    full_env = subprocess_env(**env)
    if "OMP_NUM_THREADS" not in env:
        full_env.pop("OMP_NUM_THREADS", None)
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], env=full_env, cwd=tempfile.gettempdir(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@needs_openmp
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize(
    "mode,env,expected",
    [
        ("default", {"OMP_NUM_THREADS": "1"}, 1),
        ("default", {"OMP_NUM_THREADS": "3"}, 3),
        ("set2", {"OMP_NUM_THREADS": "1"}, 2),
        ("threadpoolctl1", {"OMP_NUM_THREADS": "3"}, 1),
    ],
    ids=["OMP_NUM_THREADS=1", "OMP_NUM_THREADS=3", "set_num_threads(2)", "threadpool_limits(1)"],
)
def test_thread_count_is_honoured_and_nothing_oversubscribes(mode, env, expected):
    r = _probe(mode, **env)
    assert r["threads"] == expected, r
    # the kernels add exactly their OpenMP workers (the main thread is the OpenMP master) and
    # nothing else: no nested pools, no BLAS threads started from inside the kernels
    assert r["peak"] - r["base"] == expected - 1, r
    assert r["after"] - r["base"] == expected - 1, r
