"""conv2d forward+backward (float32, N8 64x64x64->64 k3 p1) on 1 and on 2 threads, calls interleaved.

Run: ``python bench/threads_interleaved.py [rounds]``. Each 1-thread call is followed by a 2-thread
call, so both see the same background load on a shared host (the pytest-benchmark version in
``bench_perf.py`` times all 1-thread rounds, then all 2-thread rounds). Prints the medians and their
ratio, plus the process CPU time per call (close to 2x the wall time when both threads work).
The two results are checked to be bit-identical first. If torch is installed, its NCHW conv
is measured the same way, as a yardstick for what this host's second core gives.
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv

rng = np.random.default_rng(0)
x = rng.standard_normal((8, 64, 64, 64)).astype(np.float32)
w = (rng.standard_normal((3, 3, 64, 64)) / 24).astype(np.float32)
b = rng.standard_normal(64).astype(np.float32)
dy = rng.standard_normal((8, 64, 64, 64)).astype(np.float32)


def fwd_bwd():
    y, cache = fastconv.conv2d_forward(x, w, b, 1, 1)
    return (y, *fastconv.conv2d_backward(dy, cache))


results = {}
for nt in (1, 2):
    fastconv.set_num_threads(nt)
    results[nt] = fwd_bwd()
for a, c in zip(results[1], results[2]):
    np.testing.assert_array_equal(a, c)  # identical bits for any thread count

def interleaved(set_threads, fn, rounds):
    """Median wall and CPU ms per call on 1 and 2 threads, the calls alternating."""
    wall = {1: [], 2: []}
    cpu = {1: [], 2: []}
    for _ in range(rounds):
        for nt in (1, 2):
            set_threads(nt)
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[nt].append(time.perf_counter() - t0)
            cpu[nt].append(time.process_time() - c0)
    return ({nt: float(np.median(v)) * 1e3 for nt, v in wall.items()},
            {nt: float(np.median(v)) * 1e3 for nt, v in cpu.items()})


def report(name, m, c):
    print(f"{name}: 1 thread {m[1]:.1f} ms (cpu {c[1]:.1f} ms), 2 threads {m[2]:.1f} ms (cpu {c[2]:.1f} ms), "
          f"speed-up {m[1] / m[2]:.2f}x")


rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
report("fastconv", *interleaved(fastconv.set_num_threads, fwd_bwd, rounds))
try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(True)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_(True)
    bt = torch.from_numpy(b.copy()).requires_grad_(True)
    dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))

    def torch_fwd_bwd():
        xt.grad = wt.grad = bt.grad = None
        torch.nn.functional.conv2d(xt, wt, bt, padding=1).backward(dyt)

    torch_fwd_bwd()
    report("torch", *interleaved(torch.set_num_threads, torch_fwd_bwd, rounds))
