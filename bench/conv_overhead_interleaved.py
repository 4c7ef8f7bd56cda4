"""Per-call CPU time of conv2d_forward / conv2d_backward on small layers: the public calls beside
their kernel calls alone (the difference is the Python work around the kernel) and torch, interleaved.

Everything runs on one thread (``fastconv.set_num_threads(1)``, ``torch.set_num_threads(1)``),
round-robin in one process; each figure is the median per-call ``time.process_time()`` over
``--rounds`` rounds of ``--reps`` calls, with its quartiles, in microseconds.

* ``fwd``: ``conv2d_forward(x, w, b, 1, 1)``; ``bwd``: ``conv2d_backward(dy, cache)`` (dx too);
  ``bwd nodx``: ``compute_dx=False`` (the digits network's first layer).
* ``kernel fwd`` / ``kernel bwd``: the small-reduction kernels of fastconv._conv_small on
  preallocated outputs (what the public calls run for these layers).
* ``torch fwd`` / ``torch fwd+bwd``: ``torch.nn.functional.conv2d`` on NCHW tensors, then
  ``y.backward(dy)``.

Run: ``PYTHONPATH=. python bench/conv_overhead_interleaved.py [--rounds 21] [--reps 200]``
"""
from __future__ import annotations

import argparse
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
from fastconv import _conv_small


def cases(dtypes):
    for dt in dtypes:
        yield f"{dt} N64 8x8x1->8 k3 p1", 64, 8, 1, 8, 3, dt


def fns(n, h, c, cout, k, dt):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, h, c)).astype(dt)
    w = rng.standard_normal((k, k, c, cout)).astype(dt)
    b = rng.standard_normal(cout).astype(dt)
    dy = rng.standard_normal((n, h, h, cout)).astype(dt)
    y, cache = fastconv.conv2d_forward(x, w, b, 1, 1)
    yk, dx, dw, db = np.empty_like(y), np.empty_like(x), np.empty_like(w), np.empty_like(b)
    out = {
        "fwd": lambda: fastconv.conv2d_forward(x, w, b, 1, 1),
        "bwd": lambda: fastconv.conv2d_backward(dy, cache),
        "bwd nodx": lambda: fastconv.conv2d_backward(dy, cache, compute_dx=False),
        "kernel fwd": lambda: _conv_small.conv2d_forward_small_kernel(x, w, b, yk, 1, 1, 1, 1, 1),
        "kernel bwd": lambda: _conv_small.conv2d_backward_small_kernel(x, w, dy, dx, dw, db, 1, 1, 1, 1, True, 1),
    }
    try:
        import torch
    except ImportError:
        return out
    torch.set_num_threads(1)
    F = torch.nn.functional
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(True)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_(True)
    bt = torch.from_numpy(b.copy()).requires_grad_(True)
    dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))

    def torch_fwd():
        with torch.no_grad():
            return F.conv2d(xt, wt, bt, padding=1)

    def torch_fwd_bwd():
        xt.grad = wt.grad = bt.grad = None
        F.conv2d(xt, wt, bt, padding=1).backward(dyt)

    out["torch fwd"] = torch_fwd
    out["torch fwd+bwd"] = torch_fwd_bwd
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--dtypes", default="float32,float64")
    a = ap.parse_args()
    fastconv.set_num_threads(1)
    print(f"us per call (process CPU time), median [q1, q3] of {a.rounds} rounds x {a.reps} calls, 1 thread")
    for label, n, h, c, cout, k, dt in cases(a.dtypes.split(",")):
        f = fns(n, h, c, cout, k, dt)
        times = {name: [] for name in f}
        for _ in range(a.rounds):
            for name, fn in f.items():
                fn()
                t0 = time.process_time()
                for _ in range(a.reps):
                    fn()
                times[name].append((time.process_time() - t0) / a.reps * 1e6)
        med = {name: float(np.median(t)) for name, t in times.items()}
        for name, t in times.items():
            q1, m, q3 = np.percentile(t, [25, 50, 75])
            print(f"{label}  {name:14s} {m:8.1f} [{q1:7.1f}, {q3:7.1f}]", flush=True)
        print(f"{label}  overhead fwd {med['fwd'] - med['kernel fwd']:.1f}, bwd {med['bwd'] - med['kernel bwd']:.1f}"
              + (f"; torch fwd+bwd / (fwd+bwd) {med['torch fwd+bwd'] / (med['fwd'] + med['bwd']):.1f}x"
                 if "torch fwd+bwd" in med else ""), flush=True)


if __name__ == "__main__":
    main()
