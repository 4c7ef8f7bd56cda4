"""Two builds of fastconv, timed in alternating processes on the same calls.

Run: ``python bench/builds_interleaved.py OLD_TREE NEW_TREE [pairs] [rounds]`` where each tree is a
checkout built in place (``python setup.py build_ext --inplace``), e.g. ``git worktree add ../old
<commit>`` beside the current one. Each pair runs one child process per tree, old first in odd pairs
and new first in even ones (the second process of a pair measured up to 10 % slower, whichever tree
it ran: use an even number of pairs), each with
its tree first on ``sys.path``; a child times, back to back, ``rounds`` calls (medians printed, the
first 3 calls dropped) of:

* ``medium`` / ``large`` / ``w112`` / ``w128``: conv2d forward+backward, N32 32x32x16->32, N8
  64x64x64->64, N8 32x32x112->112 and N8 28x28x128->128, k3 p1 (Winograd);
* ``s2_fwd`` / ``s2_bwd``: conv2d forward, and backward alone, N16 56x56x64->128 k3 p1 s2 (direct);
* ``direct128``: conv2d forward+backward, N8 28x28x128->128 k3 p1 with ``algorithm="direct"``;
* ``tconv4x4``: conv_transpose2d forward+backward, N8 32x32x64 -> 64x64x32, k4 s2 p1;
* ``tconv3x3``: conv_transpose2d forward+backward, N16 28x28x128 -> 56x56x64, k3 s2 p1 output_padding 1;
* ``conv1d_k5``: conv1d forward+backward, N32 L1024 C64 -> 64, k5 'same' (1-D Winograd);
* ``digits``: conv2d forward+backward of the digits layer, N64 8x8x1 -> 8, k3 p1;
* ``dw7x7x64`` / ``dw8x8x16`` / ``dw56x56x16``: depthwise 3x3 p1 conv2d forward+backward, N32
  7x7x64, N64 8x8x16 and N32 56x56x16 (rows narrower than a register block; one vector of channels).

Every result is saved by the child and compared between the two trees at the end, bit for bit: the
names listed are the results a change moved (``name_i``: the i-th of y, dx, dw, db), to be expected
only where it reorders a sum. Alternating processes is the fair way to
compare two builds on a shared host: a build's calls never all fall into one busy minute.
"""
import os
import subprocess
import sys
import tempfile

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

CHILD = r'''
import sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import fastconv
assert fastconv.__file__.startswith(sys.argv[1]), fastconv.__file__
rounds, out = int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
calls, results = {}, {}
def layer(name, op, x_shape, w_shape, cout, scale, *args, **kw):
    """calls[name]: forward + backward of fastconv's ``op`` on random float32 data of these shapes."""
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = (rng.standard_normal(w_shape) * scale).astype(np.float32)
    b = rng.standard_normal(cout, dtype=np.float32)
    fwd, bwd = getattr(fastconv, op + "_forward"), getattr(fastconv, op + "_backward")
    dy = rng.standard_normal(fwd(x, w, b, *args, **kw)[0].shape, dtype=np.float32)
    def call():
        y, cache = fwd(x, w, b, *args, **kw)
        return (y, *bwd(dy, cache))
    calls[name] = call
    return x, w, b, dy, fwd, bwd
for name, (n, h, w_, c, co) in {"medium": (32, 32, 32, 16, 32), "large": (8, 64, 64, 64, 64),
                                "w112": (8, 32, 32, 112, 112), "w128": (8, 28, 28, 128, 128)}.items():
    layer(name, "conv2d", (n, h, w_, c), (3, 3, c, co), co, 1 / (3 * c ** 0.5), 1, 1)
x2, w2, b2, dy2, fwd2, bwd2 = layer("s2", "conv2d", (16, 56, 56, 64), (3, 3, 64, 128), 128, 1 / 24, 1, 2)
del calls["s2"]
cache2 = fwd2(x2, w2, b2, 1, 2)[1]
calls["s2_fwd"] = lambda: fwd2(x2, w2, b2, 1, 2)[:1]
calls["s2_bwd"] = lambda: bwd2(dy2, cache2)
layer("direct128", "conv2d", (8, 28, 28, 128), (3, 3, 128, 128), 128, 1 / 34, 1, 1, algorithm="direct")
layer("tconv4x4", "conv_transpose2d", (8, 32, 32, 64), (4, 4, 32, 64), 32, 1 / 16, 2, 1)
layer("tconv3x3", "conv_transpose2d", (16, 28, 28, 128), (3, 3, 64, 128), 64, 1 / 34, 2, 1, 1)
layer("conv1d_k5", "conv1d", (32, 1024, 64), (5, 64, 64), 64, 1 / 18, padding="same")
layer("digits", "conv2d", (64, 8, 8, 1), (3, 3, 1, 8), 8, 1.0, 1, 1)
for name, (n, h, c, s) in {"dw7x7x64": (32, 7, 64, 1), "dw8x8x16": (64, 8, 16, 1),
                           "dw56x56x16": (32, 56, 16, 1)}.items():
    xd = rng.standard_normal((n, h, h, c)).astype(np.float32)
    wd = rng.standard_normal((3, 3, 1, c)).astype(np.float32)
    bd = rng.standard_normal(c).astype(np.float32)
    dyd = rng.standard_normal((n, (h - 1) // s + 1, (h - 1) // s + 1, c)).astype(np.float32)
    def depthwise(x=xd, w=wd, b=bd, dy=dyd, s=s, c=c):
        y, cache = fastconv.conv2d_forward(x, w, b, 1, s, groups=c)
        return (y, *fastconv.conv2d_backward(dy, cache))
    calls[name] = depthwise
times = {k: [] for k in calls}
for r in range(rounds):
    for k, fn in calls.items():
        t = time.perf_counter()
        fn()
        times[k].append(time.perf_counter() - t)
for k, fn in calls.items():
    for i, a in enumerate(fn()):
        if a is not None:
            results[f"{k}_{i}"] = np.array(a)
np.savez(out, **results)
print(" ".join(f"{k} {np.median(v[3:]) * 1e3:.4f}" for k, v in times.items()))
'''


def main():
    old, new = (os.path.abspath(p) for p in sys.argv[1:3])
    pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 30
    meds = {old: [], new: []}
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(pairs):
            for tree in ((old, new) if pair % 2 == 0 else (new, old)):  # ABBA: the second of two runs
                out = os.path.join(tmp, f"{'old' if tree == old else 'new'}.npz")
                line = subprocess.run([sys.executable, "-c", CHILD, tree, str(rounds), out], check=True,
                                      capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""}).stdout
                f = line.split()
                meds[tree].append(dict(zip(f[::2], map(float, f[1::2]))))
                print(f"pair {pair + 1} {'old' if tree == old else 'new'}: {line.strip()} (ms)", flush=True)
        a, b = np.load(os.path.join(tmp, "old.npz")), np.load(os.path.join(tmp, "new.npz"))
        differ = [k for k in a.files if not np.array_equal(a[k], b[k])]
    print("results differing bit for bit between the builds:", differ or "none")
    for k in meds[old][0]:
        lo = [m[k] for m in meds[old]]
        hi = [m[k] for m in meds[new]]
        print(f"{k:10s} old {min(lo):.4f}-{max(lo):.4f} ms   new {min(hi):.4f}-{max(hi):.4f} ms (medians per process)")


if __name__ == "__main__":
    main()
