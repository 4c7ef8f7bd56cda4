"""The direct family's backward on wide layers: the fused kernel against the wide route, and torch.

Run: ``python bench/wide_interleaved.py [rounds] [N,H,C,Cout[,stride] ...]`` (default 11 rounds;
3x3 padding-1 float32 layers of ResNet's later stages and the boundary of the rule).

For each layer (the data of ``bench_conv.py``'s cases) the script calls, in turn, round after
round in one process: fastconv's conv2d forward+backward with the wide route off
(``conv._WIDE_DW_BYTES`` raised past the layer: the fused direct backward), with it on, and torch
(NCHW, as users run it; a 50 ms pause after each torch call keeps its spinning threads off the
next call). The layers run ``algorithm="direct"`` (what "auto"
picks for them, but for the 28x28 128->128 boundary row, which "auto" sends to Winograd). All three
results are checked against each other first (float32 rounding). Prints medians in ms, the
wide/fused time ratio, whether the rule takes the layer, and torch/wide.
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
from fastconv import conv

LAYERS = [(8, 7, 512, 512), (32, 7, 512, 512), (8, 14, 256, 256), (8, 14, 192, 256), (8, 28, 128, 256),
          (8, 28, 128, 128), (8, 14, 256, 512, 2), (8, 28, 128, 256, 2)]


def main():
    import torch

    from bench_conv import Case, data, torch_fwd_bwd
    from conftest import THREADS, assert_close

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    layers = [tuple(map(int, a.split(","))) for a in sys.argv[2:]] or LAYERS
    fastconv.set_num_threads(THREADS)
    torch.set_num_threads(THREADS)
    wide_bytes = conv._WIDE_DW_BYTES
    for n, h, c, co, *st in layers:
        case = Case(n, h, h, c, co, 3, 1, st[0] if st else 1)
        x, w, b, dy = data(case)
        tor, convert = torch_fwd_bwd(case)  # torch NCHW, as users run it

        def run(impl):
            if impl == "torch":
                return tor()
            conv._WIDE_DW_BYTES = wide_bytes if impl == "wide" else 1 << 60
            try:
                y, cache = fastconv.conv2d_forward(x, w, b, case.p, case.s, algorithm="direct")
                return (y, *fastconv.conv2d_backward(dy, cache))
            finally:
                conv._WIDE_DW_BYTES = wide_bytes

        impls = ("fused", "wide", "torch")
        first = {impl: run(impl) for impl in impls}
        first["torch"] = convert(first["torch"])
        for impl in ("wide", "torch"):
            for k, (a, e) in enumerate(zip(first[impl], first["fused"])):
                assert_close(a, e, f"{impl} output {k} against the fused backward")
        times = {impl: [] for impl in impls}
        for _ in range(rounds):
            for impl in impls:
                t0 = time.perf_counter()
                run(impl)
                times[impl].append(time.perf_counter() - t0)
                if impl == "torch":
                    time.sleep(0.05)
        m = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
        taken = conv._wide_serves(w.shape, np.dtype(np.float32), (1, 1), 1)
        print(f"N{n} {h}x{h} {c}->{co} s{case.s} (dw {9 * c * co * 4 / 2 ** 20:.2f} MiB, rule: "
              f"{'wide' if taken else 'fused'}): fused {m['fused']:.2f}  wide {m['wide']:.2f} ms (wide/fused "
              f"{m['wide'] / m['fused']:.2f})  torch {m['torch']:.2f} ms (torch/wide {m['torch'] / m['wide']:.2f})",
              flush=True)


if __name__ == "__main__":
    main()
