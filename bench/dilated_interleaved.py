"""Dilated 3x3 stride-1 layers: Winograd over the polyphase components against the direct
kernels and torch, forward+backward, float32, 1 thread, interleaved, in CPU time.

Run: ``PYTHONPATH=. python bench/dilated_interleaved.py [rounds]``. For each layer one round
calls, in a rotating order, fastconv with ``algorithm="direct"`` (the kernels dilated layers used
before), with ``algorithm="auto"`` (the polyphase Winograd path where the "auto" rule takes it),
torch (NCHW) and torch in channels-last. Each call is a forward and a full backward (dx, dw, db),
timed with ``time.thread_time()`` (one thread everywhere, so a busy machine's other processes do
not count). Results are checked against torch in float64 first. Prints the median and the
p25-p75 spread (ms) and each peer's median over fastconv's "auto" one.
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv

LAYERS = [  # (label, N, H, W, C, Cout, padding, dilation, groups)
    ("d2 same N8 64x64x64->64", 8, 64, 64, 64, 64, "same", 2, 1),
    ("d2 same N8 64x64x64->64 g4", 8, 64, 64, 64, 64, "same", 2, 4),
    ("d3 same N8 64x64x64->64", 8, 64, 64, 64, 64, "same", 3, 1),
    ("d4 same N8 64x64x64->64", 8, 64, 64, 64, 64, "same", 4, 1),
    ("d2 p1 N8 63x61x64->64", 8, 63, 61, 64, 64, 1, 2, 1),
    ("d2 same N32 28x28x32->32", 32, 28, 28, 32, 32, "same", 2, 1),
]


def calls(label, n, h, w_, c, co, padding, dil, groups):
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w_, c)).astype(np.float32)
    w = (rng.standard_normal((3, 3, c // groups, co)) / np.sqrt(9 * c / groups)).astype(np.float32)
    b = rng.standard_normal(co).astype(np.float32)
    y, _ = fastconv.conv2d_forward(x, w, b, padding, 1, dil, groups)
    dy = rng.standard_normal(y.shape).astype(np.float32)

    def fc(algorithm):
        def f():
            y, cache = fastconv.conv2d_forward(x, w, b, padding, 1, dil, groups, algorithm=algorithm)
            return (y,) + fastconv.conv2d_backward(dy, cache)
        return f

    def tc(channels_last, dt=torch.float32):
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(dt).contiguous(memory_format=fmt).requires_grad_()
        wt = torch.from_numpy(w.transpose(3, 2, 0, 1).copy()).to(dt).contiguous(memory_format=fmt).requires_grad_()
        bt = torch.from_numpy(b.copy()).to(dt).requires_grad_()
        dyt = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy()).to(dt).contiguous(memory_format=fmt)

        def f():
            xt.grad = wt.grad = bt.grad = None
            yt = torch.nn.functional.conv2d(xt, wt, bt, padding=padding, dilation=dil, groups=groups)
            yt.backward(dyt)
            return (yt.detach().numpy().transpose(0, 2, 3, 1), xt.grad.numpy().transpose(0, 2, 3, 1),
                    wt.grad.numpy().transpose(2, 3, 1, 0), bt.grad.numpy())
        return f

    fns = {"direct": fc("direct"), "auto": fc("auto"), "torch": tc(False), "torch-cl": tc(True)}
    exact = tc(False, torch.float64)()
    for name, f in fns.items():
        for got, ref in zip(f(), exact):
            e = float(np.abs(got - ref).max() / np.abs(ref).max())
            assert e < 1e-4, (label, name, e)
    return fns


def main():
    import torch

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    fastconv.set_num_threads(1)
    torch.set_num_threads(1)
    print(f"fwd+bwd float32, 1 thread, CPU ms: median [p25-p75] over {rounds} rounds; ratios = peer / auto")
    for layer in LAYERS:
        fns = calls(*layer)
        names = list(fns)
        times = {k: [] for k in names}
        for r in range(rounds):
            for k in names[r % len(names):] + names[:r % len(names)]:
                t0 = time.thread_time()
                fns[k]()
                times[k].append(time.thread_time() - t0)
        q = {k: np.percentile(np.array(v) * 1e3, [25, 50, 75]) for k, v in times.items()}
        auto = q["auto"][1]
        print(f"{layer[0]:28s} " + " | ".join(
            f"{k} {v[1]:.1f} [{v[0]:.1f}-{v[2]:.1f}]" + ("" if k == "auto" else f" = {v[1] / auto:.2f}x")
            for k, v in q.items()), flush=True)
    fastconv.set_num_threads(None)


if __name__ == "__main__":
    main()
