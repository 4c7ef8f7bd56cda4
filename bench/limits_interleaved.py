"""Which speed targets the host allows: each target time beside the host's own floor for that work.

Run: ``python bench/limits_interleaved.py [rounds]`` (default 15; 2 threads everywhere).

A ratio target "fastconv >= R x peer" asks for a time of at most peer / R. Some work has a floor
that no implementation of the same arithmetic goes under on this host:

* a convolution that does all of its multiply-adds (direct, im2col or implicit GEMM; every stride-2
  layer and transposed layer in fastconv, and the peers') needs at least
  ``useful FLOPs / BLAS GFLOP/s`` of the same precision on as many threads (OpenBLAS sgemm/dgemm,
  NumPy 2048^2 matmul, which sets the rate a dense multiply-add kernel reaches here);
* a filter of a large image reads the image and writes the output, so it needs at least the time of
  a copy of the same bytes (``np.copyto``; on 1 thread, and split over 2 threads).

For each row the script times, interleaved in one process with a pause after every peer call
(its spinning threads are then off the next call's timing): the peer, fastconv, and the floor's
yardstick; all results are first checked against each other. It prints the medians, the target
time, the floor and ``target / floor``: below 1.0 the target asks for more than the host's dense
arithmetic or memory copy gives. Layers whose arithmetic a fast algorithm can cut (Winograd for
3x3 stride-1 layers) are left out: the floor does not bind them.
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_conv as BC  # noqa: E402
import bench_conv1d_transpose as BT  # noqa: E402
import bench_cs231n as BS  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import fastconv  # noqa: E402

THREADS = 2
PAUSE = 0.3  # seconds after each peer/BLAS call, as bench/conftest.py's pause between libraries


def close(a, b, tol):
    for u, v in zip(a, b):
        u, v = np.asarray(u), np.asarray(v)
        scale = max(float(np.abs(v).max()), 1.0)
        assert u.shape == v.shape and float(np.abs(u - v).max()) <= tol * scale, (u.shape, v.shape)


def blas_rate(dtype, rounds):
    """Median GFLOP/s of a 2048^2 matmul in ``dtype`` on THREADS threads."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((2048, 2048)).astype(dtype) for _ in range(2))
    ts = []
    np.matmul(a, b)
    for _ in range(rounds):
        t0 = time.perf_counter()
        np.matmul(a, b)
        ts.append(time.perf_counter() - t0)
        time.sleep(PAUSE)
    return 2.0 * 2048 ** 3 / float(np.median(ts)) / 1e9


def timed_rounds(fns, rounds, pause_after=()):
    times = {k: [] for k in fns}
    for r in range(rounds):
        for k in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
            if k in pause_after:
                time.sleep(PAUSE)
    return {k: float(np.median(v)) for k, v in times.items()}, {
        k: (float(np.percentile(v, 25)), float(np.percentile(v, 75))) for k, v in times.items()}


def row(label, peer, ratio, med, iqr, floor_s, floor_what):
    target = med[peer] / ratio
    print(f"{label}\n  {peer} {med[peer] * 1e3:.2f} ms [IQR {iqr[peer][0] * 1e3:.2f}-{iqr[peer][1] * 1e3:.2f}]"
          f"; fastconv {med['fastconv'] * 1e3:.2f} ms [IQR {iqr['fastconv'][0] * 1e3:.2f}-"
          f"{iqr['fastconv'][1] * 1e3:.2f}] = {med[peer] / med['fastconv']:.2f}x\n"
          f"  target >= {ratio}x -> <= {target * 1e3:.2f} ms; floor ({floor_what}) {floor_s * 1e3:.2f} ms; "
          f"target / floor {target / floor_s:.2f}", flush=True)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    threadpool_limits(THREADS)  # BLAS (numpy's and the peers') on THREADS threads from here on
    fastconv.set_num_threads(THREADS)
    import torch

    torch.set_num_threads(THREADS)
    sg, dg = blas_rate(np.float32, 7), blas_rate(np.float64, 7)
    print(f"load average {os.getloadavg()[0]:.2f}; sgemm {sg:.0f} GFLOP/s, dgemm {dg:.0f} GFLOP/s "
          f"on {THREADS} threads", flush=True)

    # conv layers that do all their multiply-adds (stride 2; transposed) against torch
    s2 = BC.CASES[3]
    fc, (tf, conv) = BC.fastconv_fwd_bwd(s2), BC.torch_fwd_bwd(s2)
    close(fc(), conv(tf()), 1e-4)
    med, iqr = timed_rounds({"fastconv": fc, "torch": tf}, rounds, pause_after={"torch"})
    row(f"#13 s2 {s2.label} fwd+bwd f32", "torch", 1.5, med, iqr, s2.flops() / (sg * 1e9), f"sgemm {sg:.0f}")
    for name in ("tconv4x4s2p1_N8_32x32x64_to_64", "tconv3x3s2p1op1_N16_28x28x128_to_64"):
        args = BT.data(name)
        fc = BT.fastconv_fn(name, *args)
        tf, conv = BT.torch_fn(name, *args, "torch")
        close(fc(), conv(tf()), 1e-4)
        n, h, wd, cin = BT.WORKLOADS[name][1]
        kh, kw, cout, _ = BT.WORKLOADS[name][2]
        flops = 3 * 2.0 * n * h * wd * cin * cout * kh * kw
        med, iqr = timed_rounds({"fastconv": fc, "torch": tf}, rounds, pause_after={"torch"})
        row(f"#17 {name} fwd+bwd f32", "torch", 1.5, med, iqr, flops / (sg * 1e9), f"sgemm {sg:.0f}")

    # the cs231n assignment's timing layer, float64, against its im2col-by-strides layers
    fc, pc = BS.fastconv_conv(), BS.peer_conv()
    close(fc(), pc(), 1e-9)
    x, w = BS.conv_data()[:2]
    flops = 3 * 2.0 * x.shape[0] * 16 * 16 * w.size * 1.0
    # the layer's own product shape, (N*H'*W', C*HH*WW) @ (C*HH*WW, F): what BLAS makes of it
    rng = np.random.default_rng(1)
    cols, wm = rng.standard_normal((x.shape[0] * 16 * 16, w[0].size)), rng.standard_normal((w[0].size, w.shape[0]))

    def product():
        return cols @ wm  # (BLAS on THREADS threads: set in main)

    med, iqr = timed_rounds({"fastconv": fc, "cs231n im2col": pc, "dgemm of its shape": product}, rounds,
                            pause_after={"cs231n im2col", "dgemm of its shape"})
    row("#16 cs231n conv x(100,3,31,31) w(25,3,3,3) s2 p1 fwd+bwd f64", "cs231n im2col", 10, med, iqr,
        flops / (dg * 1e9), f"dgemm {dg:.0f}")
    print(f"  BLAS on the layer's own product shape {cols.shape} @ {wm.shape}: "
          f"{flops / 3 / med['dgemm of its shape'] / 1e9:.0f} GFLOP/s ({med['dgemm of its shape'] * 1e3:.2f} ms per "
          f"pass; three passes {3 * med['dgemm of its shape'] * 1e3:.2f} ms)", flush=True)

    # filter2d of a 2048^2 float32 image against cv2, and a copy of the same bytes
    import cv2

    cv2.setNumThreads(THREADS)
    img = (np.random.default_rng(2048).random((2048, 2048)) * 255).astype(np.float32)
    sink = np.empty_like(img)
    pool = ThreadPoolExecutor(THREADS)
    halves = [(sink[:1024], img[:1024]), (sink[1024:], img[1024:])]

    def copy2():
        for f in [pool.submit(np.copyto, d, s) for d, s in halves]:
            f.result()

    for kname in ("laplacian", "gaussian5"):
        k = fastconv.KERNELS[kname]
        k32 = k.astype(np.float32)
        fns = {"fastconv": lambda k=k: fastconv.filter2d(img, k),
               "cv2": lambda: cv2.filter2D(img, -1, k32, borderType=cv2.BORDER_CONSTANT),
               "copy 1 thread": lambda: np.copyto(sink, img), "copy 2 threads": copy2}
        close([fns["fastconv"]()], [fns["cv2"]()], 1e-5)
        copy2()
        assert np.array_equal(sink, img)
        med, iqr = timed_rounds(fns, rounds, pause_after={"cv2"})
        floor = min(med["copy 1 thread"], med["copy 2 threads"])
        row(f"#13 filter2d f32 2048^2 {kname}", "cv2", 3, med, iqr, floor,
            f"copy: 1 thread {med['copy 1 thread'] * 1e3:.2f}, 2 threads {med['copy 2 threads'] * 1e3:.2f}")


if __name__ == "__main__":
    main()
