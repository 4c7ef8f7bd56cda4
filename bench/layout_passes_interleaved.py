"""Per-pass cost of ``layout="NCHW"`` conv2d calls beside the NHWC call, interleaved in one process.

On each ``bench_conv`` shape (float32, forward+backward as ``bench_cs231n.layout_conv`` times it):
the NHWC call, the NCHW call, and the four NCHW <-> NHWC transposes alone (x and dy in, y and dx
out), with the output pool (``fastconv.filters.output_pool``) keeping ``--blocks`` blocks (default
"2 4": each setting in turn within every round, a warm-up call after each switch). CPU time of the
calling thread on one thread (``time.thread_time``: robust to other processes on a busy machine),
so the kernels' own parallel speed-up is not in these figures; minor page faults per call from
``getrusage``. Prints medians, quartiles of the per-round NCHW/NHWC ratios, and faults per call.

    PYTHONPATH=. python bench/layout_passes_interleaved.py [--rounds 12] [--blocks 2 4] [case indices]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_conv import CASES, data  # noqa: E402
from bench_cs231n import layout_conv  # noqa: E402

import fastconv  # noqa: E402
from fastconv import _layout, _outpool  # noqa: E402


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def passes(case):
    """The timed callables of one shape: the two fwd+bwd calls and the four transposes alone."""
    x, w, b, dy = data(case)
    xn, dyn = (np.ascontiguousarray(a.transpose(0, 3, 1, 2)) for a in (x, dy))
    y, cache = fastconv.conv2d_forward(x, w, b, case.p, case.s)
    dx = fastconv.conv2d_backward(dy, cache)[0]
    return {
        "NHWC": layout_conv(case, "NHWC"), "NCHW": layout_conv(case, "NCHW"),
        "x in": lambda: _layout._to_nhwc(xn), "y out": lambda: _layout._to_nchw(y),
        "dy in": lambda: _layout._to_nhwc(dyn), "dx out": lambda: _layout._to_nchw(dx),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", type=int, help="indices into bench_conv.CASES (default: all)")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--blocks", type=int, nargs="+", default=[2, 4], help="output pool max_blocks settings")
    args = ap.parse_args(argv)
    fastconv.set_num_threads(1)
    saved = _outpool.output_pool()
    try:
        for i in args.cases or range(len(CASES)):
            case = CASES[i]
            fns = passes(case)
            t = {(m, k): [] for m in args.blocks for k in fns}
            flt = {(m, k): [] for m in args.blocks for k in ("NHWC", "NCHW")}
            rounds = args.rounds * (10 if case.n * case.h * case.w * case.cin < 1 << 16 else 1)
            for r in range(rounds):
                for m in (args.blocks if r % 2 == 0 else args.blocks[::-1]):
                    _outpool.output_pool(max_blocks=m)
                    fns["NCHW"]()  # warm-up after the switch (it may have dropped blocks)
                    for k in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
                        f0, t0 = _faults(), time.thread_time()
                        fns[k]()
                        dt, df = time.thread_time() - t0, _faults() - f0
                        t[m, k].append(dt)
                        if k in ("NHWC", "NCHW"):
                            flt[m, k].append(df)
            print(case.label)
            for m in args.blocks:
                med = {k: np.median(t[m, k]) * 1e3 for k in fns}
                ratio = np.array(t[m, "NCHW"]) / np.array(t[m, "NHWC"])
                q1, q2, q3 = np.percentile(ratio, [25, 50, 75])
                print(f"  pool {m} blocks: " + "  ".join(f"{k} {v:.3f}" for k, v in med.items())
                      + f" ms | NCHW-NHWC {med['NCHW'] - med['NHWC']:.3f} ms, transposes {sum(med[k] for k in list(fns)[2:]):.3f} ms"
                      + f" | NCHW/NHWC {q2:.2f} [{q1:.2f}..{q3:.2f}] | faults/call NHWC {np.median(flt[m, 'NHWC']):.0f}"
                      + f" NCHW {np.median(flt[m, 'NCHW']):.0f}  (n={len(ratio)})", flush=True)
    finally:
        _outpool.output_pool(max_blocks=saved["max_blocks"])


if __name__ == "__main__":
    main()
