"""fastconv.filter2d vs cv2.filter2D (float32) and scipy.ndimage.correlate (float64) at 2048x2048, calls interleaved.

Run: ``PYTHONPATH=. python bench/filter_interleaved.py [--cpu] [--rounds N] [--kernels laplacian,gaussian5]``.

Each round calls every variant once, in turn (each round starting with the next variant, so that none
always follows the same call), so all of them see the same background load on a shared host; the script prints each variant's median time and interquartile range, and the median over rounds of
the per-round ratio to fastconv's default call. Every result is checked against fastconv's before timing.

Variants (float32):

- ``fastconv``: the default call (a fresh output from the output pool; non-temporal stores where
  ``fastconv.filters._stream`` says so: the separable path on outputs of 8 MiB and more).
- ``fastconv streaming stores`` / ``fastconv ordinary stores``: the same call with non-temporal stores
  forced on / off (same values, checked bit for bit); rows on the fused separable kernel (one channel,
  AVX-512) keep ordinary stores either way.
- ``fastconv output=``: writing into one preallocated array.
- ``cv2``: ``cv2.filter2D(img, -1, k, borderType=cv2.BORDER_CONSTANT)`` as users run it: cv2's default
  thread count and its default use of Intel IPP (``cv2.ipp.useIPP()``).
- ``cv2 no IPP``: the same with ``cv2.ipp.setUseIPP(False)`` (cv2's own SIMD code), switched back on
  right after; it shows how much of cv2's speed is IPP's, which picks its code path by processor.
- ``memcpy``: ``np.copyto`` of the image into a preallocated array (one thread): the memory yardstick
  (16 MiB read, 16 MiB written).

``--cpu`` sets fastconv and cv2 to one thread and measures each call's CPU time
(``time.thread_time``): on a busy shared machine that is the comparison that stays meaningful. Without
it, both run with their default threads (2 on a 2-core host) and wall time is measured, with a short
pause before each call so that one library's spinning threads do not run into the next call.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import cv2
import numpy as np
import scipy.ndimage as ndi

import fastconv
import fastconv.filters as F
from fastconv import KERNELS


def _stats(ts):
    a = np.asarray(ts) * 1e3
    return np.median(a), np.percentile(a, 25), np.percentile(a, 75)


def _time_rounds(fns: dict, rounds: int, clock, pause: float) -> dict:
    times = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:  # each round starts one later
            fn = fns[name]
            if pause:
                time.sleep(pause)
            t0 = clock()
            fn()
            times[name].append(clock() - t0)
    return times


def _report(title: str, times: dict, base: str) -> None:
    print(f"\n{title}")
    b = np.asarray(times[base])
    for name, ts in times.items():
        med, q1, q3 = _stats(ts)
        ratio = np.asarray(ts) / b  # per round: this variant's time over the base's
        print(f"  {name:28s} median {med:7.3f} ms  IQR {q1:7.3f}-{q3:7.3f}  "
              f"time / {base}: median {np.median(ratio):5.2f} (IQR {np.percentile(ratio, 25):.2f}-"
              f"{np.percentile(ratio, 75):.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="one thread each, CPU time (time.thread_time)")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--kernels", default="laplacian,random3,gaussian3,random5,gaussian5")
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--no-f64", action="store_true", help="skip the float64 scipy comparison")
    args = ap.parse_args()

    if args.cpu:
        fastconv.set_num_threads(1)
        cv2.setNumThreads(1)
        clock, pause = time.thread_time, 0.0
    else:
        clock, pause = time.perf_counter, 0.002
    settings = {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "FASTCONV_SIMD")
                if k in os.environ}
    from fastconv import _simd
    print(f"{platform.processor() or platform.machine()}; load average {os.getloadavg()[0]:.1f}; "
          f"fastconv {fastconv.get_num_threads()} threads, SIMD {_simd.simd_level()}; cv2 {cv2.__version__} "
          f"{cv2.getNumThreads()} threads, IPP {cv2.ipp.useIPP()} ({cv2.ipp.getIppVersion()}); "
          f"settings: {settings or 'none'}; {'CPU time, 1 thread' if args.cpu else 'wall time'}")

    rng = np.random.default_rng(0)
    n = args.size
    img = (rng.random((n, n)) * 255).astype(np.float32)
    allk = {"laplacian": KERNELS["laplacian"], "random3": rng.standard_normal((3, 3)),
            "gaussian3": KERNELS["gaussian3"], "random5": rng.standard_normal((5, 5)),
            "gaussian5": KERNELS["gaussian5"]}
    ks = {name: allk[name] for name in args.kernels.split(",")}
    out = np.empty_like(img)
    sink = np.empty_like(img)
    default_stream = F._stream

    def fc(k, stream=None):
        if stream is None:
            return lambda: fastconv.filter2d(img, k)

        def run():
            F._stream = lambda plan, nbytes, fused=False: stream
            try:
                return fastconv.filter2d(img, k)
            finally:
                F._stream = default_stream
        return run

    def cv(k32, ipp=True):
        def run():
            if not ipp:
                cv2.ipp.setUseIPP(False)
            try:
                return cv2.filter2D(img, -1, k32, borderType=cv2.BORDER_CONSTANT)
            finally:
                cv2.ipp.setUseIPP(True)
        return run

    for name, k in ks.items():
        k32 = k.astype(np.float32)
        fns = {"fastconv": fc(k), "fastconv streaming stores": fc(k, True), "fastconv ordinary stores": fc(k, False),
               "fastconv output=": lambda k=k: fastconv.filter2d(img, k, output=out),
               "cv2": cv(k32), "cv2 no IPP": cv(k32, False), "memcpy": lambda: np.copyto(sink, img)}
        want = fns["fastconv"]()
        tol = 1e-4 * 255 * np.abs(k).sum()
        for label in ("fastconv streaming stores", "fastconv ordinary stores", "fastconv output="):
            np.testing.assert_array_equal(fns[label](), want, err_msg=label)  # the same values, bit for bit
        for label in ("cv2", "cv2 no IPP"):
            np.testing.assert_allclose(fns[label](), want, rtol=0, atol=tol, err_msg=label)
        _report(f"float32 {n}x{n} {name} ({k.shape[0]}x{k.shape[1]}, constant border)",
                _time_rounds(fns, args.rounds, clock, pause), "fastconv")

    if args.no_f64:
        return
    img64 = img.astype(np.float64)
    for name in [k for k in ("laplacian", "random5") if k in ks]:
        k = ks[name]
        np.testing.assert_allclose(ndi.correlate(img64, k, mode="constant"), fastconv.filter2d(img64, k),
                                   rtol=0, atol=1e-9 * 255 * np.abs(k).sum())
        fns = {"fastconv": lambda k=k: fastconv.filter2d(img64, k),
               "scipy": lambda k=k: ndi.correlate(img64, k, mode="constant")}
        _report(f"float64 {n}x{n} {name}", _time_rounds(fns, max(4, args.rounds // 5), clock, pause), "fastconv")


if __name__ == "__main__":
    main()
