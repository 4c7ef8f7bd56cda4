"""``layout="NCHW"`` conv2d calls against the NHWC call, with the layout transposes on one thread
and on the library's threads, calls interleaved in one process.

On each ``bench_conv`` shape (float32, forward+backward as ``bench_cs231n.layout_conv`` times it),
every round calls the NHWC layer, then the NCHW layer with ``_layout._TRANSPOSE_MIN_ELEMENTS`` set
so that no transpose runs threaded ("1 thread"), then with the library's threshold ("threaded":
transposes of at least that many elements on ``fastconv.get_num_threads()`` threads), then threaded
with ``_layout._STREAM_MIN_BYTES`` set so that no transpose uses non-temporal stores ("threaded, no
streaming"). Wall time, 2 threads by default; prints the medians and the NCHW/NHWC ratios of the
medians.

    PYTHONPATH=. python bench/layout_threads_interleaved.py [--rounds 15] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_conv import CASES  # noqa: E402
from bench_cs231n import layout_conv  # noqa: E402

import fastconv  # noqa: E402
from fastconv import _layout  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    fastconv.set_num_threads(args.threads)
    threshold, stream_min = _layout._TRANSPOSE_MIN_ELEMENTS, _layout._STREAM_MIN_BYTES
    # (threads threshold, non-temporal stores threshold) of the layout transposes
    settings = {"1 thread": (1 << 62, stream_min), "threaded": (threshold, stream_min),
                "threaded, no streaming": (threshold, 1 << 62)}
    try:
        for case in CASES:
            calls = {"NHWC": (layout_conv(case, "NHWC"), (threshold, stream_min))}
            calls.update({f"NCHW {k}": (layout_conv(case, "NCHW"), v) for k, v in settings.items()})
            times = {k: [] for k in calls}
            for r in range(args.rounds + 2):  # two warm-up rounds
                for k, (fn, (min_elements, min_stream)) in calls.items():
                    _layout._TRANSPOSE_MIN_ELEMENTS = min_elements
                    _layout._STREAM_MIN_BYTES = min_stream
                    t = time.perf_counter()
                    fn()
                    if r >= 2:
                        times[k].append(time.perf_counter() - t)
            med = {k: float(np.median(v)) for k, v in times.items()}
            name = f"N{case.n} {case.h}x{case.w}x{case.cin}->{case.cout} k{case.k} p{case.p} s{case.s}"
            print(f"{name}: " + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in med.items())
                  + f"; NCHW/NHWC {med['NCHW 1 thread'] / med['NHWC']:.2f} (1 thread), "
                  f"{med['NCHW threaded'] / med['NHWC']:.2f} (threaded), "
                  f"{med['NCHW threaded, no streaming'] / med['NHWC']:.2f} (threaded, no streaming)", flush=True)
    finally:
        _layout._TRANSPOSE_MIN_ELEMENTS, _layout._STREAM_MIN_BYTES = threshold, stream_min


if __name__ == "__main__":
    main()
