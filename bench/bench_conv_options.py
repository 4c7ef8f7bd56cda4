"""conv2d with torch's options (depthwise, grouped, dilated, 'same'), forward+backward, float32:
fastconv beside torch in NCHW and in channels-last, in the same run.

Every implementation's result (y, dx, dw, db) is first checked against torch's float64 answer
(itself the semantics fastconv copies), so a fast wrong answer is never timed. Layouts are each
library's native ones, prepared outside the timed region: NHWC arrays for fastconv, NCHW tensors
for torch ("torch"), and the same tensors in ``torch.channels_last`` memory format
("torch-cl", fastconv's own memory layout).

As a script (``PYTHONPATH=. python bench/bench_conv_options.py [rounds]``) the implementations of
each workload are timed interleaved, round after round, and the medians and ratios are printed:
the comparison to use on a busy machine.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple, Tuple, Union

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np
import pytest

import fastconv

Padding = Union[int, str]


class Case(NamedTuple):
    label: str
    n: int
    h: int
    w: int
    cin: int
    cout: int
    k: int
    padding: Padding
    stride: int
    dilation: int
    groups: int


CASES = [
    Case("depthwise 3x3 p1 N32 56x56x64", 32, 56, 56, 64, 64, 3, 1, 1, 1, 64),
    Case("depthwise 3x3 s2 p1 N32 56x56x64", 32, 56, 56, 64, 64, 3, 1, 2, 1, 64),
    Case("grouped 3x3 p1 N8 64x64x64->64 g4", 8, 64, 64, 64, 64, 3, 1, 1, 1, 4),
    Case("dilated 3x3 d2 same N8 64x64x64->64", 8, 64, 64, 64, 64, 3, "same", 1, 2, 1),
    Case("3x3 same N8 64x64x64->64", 8, 64, 64, 64, 64, 3, "same", 1, 1, 1),
    Case("3x3 p1 N8 64x64x64->64", 8, 64, 64, 64, 64, 3, 1, 1, 1, 1),  # the explicit twin of 'same'
]
IDS = [c.label.replace(" ", "_") for c in CASES]
IMPLS = ["fastconv", "torch", "torch-cl"]


@lru_cache(maxsize=None)
def data(case: Case):
    """float32 x, w, b, dy of the case (NHWC, (Kh, Kw, C/groups, Cout))."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case.n, case.h, case.w, case.cin)).astype(np.float32)
    w = (rng.standard_normal((case.k, case.k, case.cin // case.groups, case.cout)) * 0.2).astype(np.float32)
    b = rng.standard_normal(case.cout).astype(np.float32)
    y, _ = fastconv.conv2d_forward(x, w, b, case.padding, case.stride, case.dilation, case.groups)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    return x, w, b, dy


def fastconv_fn(case: Case):
    """(fn, convert): the timed fastconv call (forward, backward) and its result as (y, dx, dw, db)."""
    x, w, b, dy = data(case)

    def fn():
        y, cache = fastconv.conv2d_forward(x, w, b, case.padding, case.stride, case.dilation, case.groups)
        return (y,) + fastconv.conv2d_backward(dy, cache)

    return fn, lambda r: r


def torch_fn(case: Case, channels_last: bool, dtype=np.float32):
    """(fn, convert): the timed torch call (forward, backward of dy into fresh grads) and its NHWC view."""
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install '.[bench]')")
    x, w, b, dy = (a.astype(dtype) for a in data(case))
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def tensor(a, perm):
        t = torch.from_numpy(np.ascontiguousarray(a.transpose(perm)))
        return t.contiguous(memory_format=fmt) if t.ndim == 4 else t

    xt = tensor(x, (0, 3, 1, 2)).requires_grad_(True)
    wt = tensor(w, (3, 2, 0, 1)).requires_grad_(True)
    bt = torch.from_numpy(b.copy()).requires_grad_(True)
    dyt = tensor(dy, (0, 3, 1, 2))
    F = torch.nn.functional

    def fn():
        xt.grad = wt.grad = bt.grad = None
        y = F.conv2d(xt, wt, bt, stride=case.stride, padding=case.padding, dilation=case.dilation,
                     groups=case.groups)
        y.backward(dyt)
        return y, xt.grad, wt.grad, bt.grad

    def convert(r):
        y, dx, dw, db = (t.detach().numpy() for t in r)
        return (y.transpose(0, 2, 3, 1), dx.transpose(0, 2, 3, 1), dw.transpose(2, 3, 1, 0), db)

    return fn, convert


def make(case: Case, impl: str):
    if impl == "fastconv":
        return fastconv_fn(case)
    return torch_fn(case, channels_last=impl == "torch-cl")


@lru_cache(maxsize=None)
def answer(case: Case):
    """torch's float64 (y, dx, dw, db) of the case: the answer every implementation is checked against."""
    fn, convert = torch_fn(case, channels_last=False, dtype=np.float64)
    return convert(fn())


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def bench_conv_options_fwd_bwd(timed, case, impl):
    fn, convert = make(case, impl)
    timed(f"conv options fwd+bwd f32: {case.label}", impl, fn, {"torch float64": answer(case)}, convert)


def _interleaved(rounds: int) -> None:
    """Time the implementations of each case in turn, ``rounds`` times; print medians and ratios."""
    import time

    from conftest import assert_matches  # bench/conftest.py: thread count; peers keep their defaults

    print(f"{'workload':40s} {'fastconv ms':>12s} {'torch ms':>10s} {'torch-cl ms':>12s} {'vs NCHW':>8s} {'vs CL':>6s}")
    for case in CASES:
        fns = {}
        for impl in IMPLS:
            fn, convert = make(case, impl)
            assert_matches(convert(fn()), {"torch float64": answer(case)})
            fn()
            fns[impl] = fn
        times = {impl: [] for impl in IMPLS}
        for _ in range(rounds):
            for impl, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                times[impl].append(time.perf_counter() - t0)
        med = {impl: float(np.median(t)) * 1e3 for impl, t in times.items()}
        spread = {impl: (min(t) * 1e3, max(t) * 1e3) for impl, t in times.items()}
        print(f"{case.label:40s} {med['fastconv']:12.2f} {med['torch']:10.2f} {med['torch-cl']:12.2f} "
              f"{med['torch'] / med['fastconv']:8.2f} {med['torch-cl'] / med['fastconv']:6.2f}   "
              + " ".join(f"{impl} [{lo:.1f}, {hi:.1f}]" for impl, (lo, hi) in spread.items()))
    # 'same' against its explicit twin, the two fastconv calls alternated (they run the same kernels)
    same, explicit = CASES[-2], CASES[-1]
    fa, fb = fastconv_fn(same)[0], fastconv_fn(explicit)[0]
    assert all(np.array_equal(p, q) for p, q in zip(fa(), fb()))
    ta, tb = [], []
    for r in range(3 * rounds):
        for fn, t in ((fa, ta), (fb, tb)) if r % 2 == 0 else ((fb, tb), (fa, ta)):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    print(f"'same' / explicit padding, {same.label}: {np.median(ta) / np.median(tb):.2f} "
          f"(medians of {3 * rounds} alternated calls, bit-identical results)")


if __name__ == "__main__":
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _interleaved(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
