"""The Winograd passes of two builds, one thread, in alternating processes.

Run: ``python bench/winograd_passes_builds.py OLD_TREE NEW_TREE [pairs]`` (default 5 pairs), each
tree a checkout built in place (``git worktree add ../old <commit>``, ``python setup.py build_ext
--inplace`` in both). Each pair runs one child process per tree, old first; a child times, on 1
thread, float32, F(4x4, 3x3), 15 calls each (the minimum of ``time.thread_time``, which counts the
process's own CPU time only):

* ``fwd``: ``_winograd.winograd_forward`` with the register-blocked products where the level takes
  them (``set_ungrouped_gmul(True)``, both trees);
* ``dx``: ``_winograd.winograd_backward_input``, likewise;
* ``dw-blas``: ``_winograd.winograd_backward_weights`` with BLAS products (``set_ungrouped_gmul(False)``),
  so that only the transforms differ between trees that differ in them;

on the medium (N32 32x32 16->32) and large (N8 64x64 64->64) layers. Prints each child's figures (ms).
"""
import os
import subprocess
import sys

CHILD = r"""
import sys, time
tree = sys.argv[1]
sys.path.insert(0, sys.argv[2])
import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
sys.path.insert(0, tree)
import numpy as np, fastconv
from fastconv import _winograd as wg
assert fastconv.__file__.startswith(tree), fastconv.__file__
out = []
for n, h, c, co in [(32, 32, 16, 32), (8, 64, 64, 64)]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, h, c)).astype(np.float32)
    w = (rng.standard_normal((3, 3, c, co)) / np.sqrt(9 * c)).astype(np.float32)
    dy = rng.standard_normal((n, h, h, co)).astype(np.float32)
    y, dx, dw = np.empty((n, h, h, co), np.float32), np.empty_like(x), np.empty_like(w)

    def fwd():
        wg.set_ungrouped_gmul(True)
        wg.winograd_forward(x, w, None, 1, 1, y, 1, 4)

    def dxp():
        wg.set_ungrouped_gmul(True)
        wg.winograd_backward_input(dy, w, 1, 1, dx, 1, 4)

    def dwb():
        wg.set_ungrouped_gmul(False)
        wg.winograd_backward_weights(x, dy, 1, 1, dw, 1, 4)

    for name, fn in (("fwd", fwd), ("dx", dxp), ("dw-blas", dwb)):
        ts = []
        for _ in range(15):
            t = time.thread_time()
            fn()
            ts.append(time.thread_time() - t)
        out.append(f"{c}->{co} {name} {min(ts) * 1e3:.3f}")
print(" | ".join(out))
"""


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    old, new = (os.path.abspath(t) for t in argv[:2])
    pairs = int(argv[2]) if len(argv) > 2 else 5
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    here = os.path.dirname(os.path.abspath(__file__))
    for _ in range(pairs):
        for label, tree in (("old", old), ("new", new)):
            res = subprocess.run([sys.executable, "-c", CHILD, tree, here], env=env, capture_output=True, text=True,
                                 check=True, cwd="/")
            print(f"{label}: {res.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
