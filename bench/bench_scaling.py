"""How the cost of conv2d forward+backward (float32, 3x3, 16->32 channels) grows with the work.

Two series: batch size N at 32x32 images, and image side H = W at N4. The work is proportional
to N and to H*W, so on a log-log plot an implementation that scales well runs parallel to the
"proportional to work" line. Each point is its own pytest-benchmark group; ``extra_info`` carries
``series`` (the series name), ``x`` (the point) and ``work`` (relative work), which ``report.py``
uses to draw the scaling plot. Every timed call is first checked against fastconv's result and a
float64 NumPy im2col answer (see ``bench_conv.py``).
"""
from __future__ import annotations

import pytest

from bench_conv import Case, answers, fastconv_fwd_bwd, torch_fwd_bwd

BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64]
IMAGE_SIDES = [8, 16, 32, 64, 128]
CIN, COUT = 16, 32

SERIES = {
    "batch": (f"conv2d fwd+bwd f32 Nx32x32x{CIN}->{COUT} k3 p1, vs batch size N",
              [Case(n, 32, 32, CIN, COUT, 3, 1, 1) for n in BATCH_SIZES]),
    "image": (f"conv2d fwd+bwd f32 N4 HxHx{CIN}->{COUT} k3 p1, vs image side H",
              [Case(4, h, h, CIN, COUT, 3, 1, 1) for h in IMAGE_SIDES]),
}
POINTS = [(name, case) for name, (_, cases) in SERIES.items() for case in cases]
IDS = [f"{name}-{case.label.replace(' ', '_')}" for name, case in POINTS]


def _tag(benchmark, name, case):
    series, cases = SERIES[name]
    benchmark.extra_info["series"] = series
    benchmark.extra_info["x"] = case.n if name == "batch" else case.h
    benchmark.extra_info["work"] = case.n * case.h * case.w / (cases[0].n * cases[0].h * cases[0].w)
    return f"scaling {name}: conv2d fwd+bwd f32 {case.label}"


# ``impl`` varies fastest: fastconv and torch are timed back to back at each point
@pytest.mark.parametrize("impl", ["fastconv", "torch"])
@pytest.mark.parametrize(("name", "case"), POINTS, ids=IDS)
def bench_scaling(benchmark, timed, name, case, impl):
    if impl == "fastconv":
        timed(_tag(benchmark, name, case), impl, fastconv_fwd_bwd(case), answers(case, with_fastconv=False))
    else:
        fn, convert = torch_fwd_bwd(case)
        timed(_tag(benchmark, name, case), impl, fn, answers(case), convert)
