"""fastconv.cs231n beside the assignment's own fast layers, and NCHW beside NHWC calls.

Workloads (the implementations of one workload are timed back to back):

* conv forward+backward on the assignment's timing shapes, x (100, 3, 31, 31), w (25, 3, 3, 3),
  stride 2, pad 1, float64: ``fastconv.cs231n`` vs the assignment's im2col-by-strides layers
  (``cs231n_peer``, rebuilt from their published algorithm). Target: >= 10x.
* max pool forward+backward, x (100, 3, 32, 32), 2x2 stride 2, float64: vs the assignment's
  reshape path. Target: >= 5x.
* conv2d forward+backward, float32, on every shape of ``bench_conv``: ``layout="NCHW"`` vs the
  NHWC call. Target: NCHW <= 1.3x NHWC.

Each timed call is first checked against an independent answer. ``python bench/bench_cs231n.py``
times the same calls interleaved in one process and prints medians and ratios.
"""
from __future__ import annotations

import os
import sys
import time
from functools import lru_cache

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cs231n_peer as peer  # noqa: E402
from bench_conv import CASES, IDS, data  # noqa: E402

import fastconv  # noqa: E402
import fastconv.reference as R  # noqa: E402
from fastconv import cs231n  # noqa: E402

CONV_PARAM = {"stride": 2, "pad": 1}
POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}


@lru_cache(maxsize=None)
def conv_data():
    """The assignment's timing inputs (float64, as its randn gives)."""
    rng = np.random.default_rng(231)
    x = rng.standard_normal((100, 3, 31, 31))
    w = rng.standard_normal((25, 3, 3, 3))
    b = rng.standard_normal(25)
    dout = rng.standard_normal((100, 25, 16, 16))
    return x, w, b, dout


@lru_cache(maxsize=None)
def pool_data():
    rng = np.random.default_rng(232)
    return rng.standard_normal((100, 3, 32, 32)), rng.standard_normal((100, 3, 16, 16))


def fastconv_conv():
    x, w, b, dout = conv_data()

    def fn():
        out, cache = cs231n.conv_forward_fast(x, w, b, CONV_PARAM)
        return (out, *cs231n.conv_backward_fast(dout, cache))

    return fn


def peer_conv():
    x, w, b, dout = conv_data()

    def fn():
        out, cache = peer.conv_forward_strides(x, w, b, CONV_PARAM)
        return (out, *peer.conv_backward_strides(dout, cache))

    return fn


def fastconv_pool():
    x, dout = pool_data()

    def fn():
        out, cache = cs231n.max_pool_forward_fast(x, POOL_PARAM)
        return out, cs231n.max_pool_backward_fast(dout, cache)

    return fn


def peer_pool():
    x, dout = pool_data()

    def fn():
        out, cache = peer.max_pool_forward_reshape(x, POOL_PARAM)
        return out, peer.max_pool_backward_reshape(dout, cache)

    return fn


def layout_conv(case, layout):
    """The timed float32 conv2d forward+backward of a ``bench_conv`` case in ``layout``."""
    x, w, b, dy = data(case)
    if layout == "NCHW":
        x, dy = (np.ascontiguousarray(a.transpose(0, 3, 1, 2)) for a in (x, dy))
        w = np.ascontiguousarray(w.transpose(3, 2, 0, 1))

    def fn():
        y, cache = fastconv.conv2d_forward(x, w, b, case.p, case.s, layout=layout)
        return (y, *fastconv.conv2d_backward(dy, cache))

    return fn


def as_nhwc(r):
    """An NCHW conv result (y, dx, dw, db) in NHWC order, to compare with the NHWC call."""
    y, dx, dw, db = r
    return y.transpose(0, 2, 3, 1), dx.transpose(0, 2, 3, 1), dw.transpose(2, 3, 1, 0), db


@lru_cache(maxsize=None)
def answer(name):
    """The answer every implementation of a workload is checked against."""
    return {"conv": peer_conv, "pool": peer_pool}[name]()()


# --------------------------------------------------------------------------- the peers are right
def test_peer_conv_matches_reference():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 2, 9, 8)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    for param in ({"stride": 2, "pad": 1}, {"stride": 1, "pad": 0}, {"stride": 3, "pad": 2}):
        out, cache = peer.conv_forward_strides(x, w, b, param)
        ref, rcache = R.conv2d_forward(x, w, b, param["pad"], param["stride"], layout="NCHW")
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
        dout = rng.standard_normal(out.shape)
        for got, want in zip(peer.conv_backward_strides(dout, cache), R.conv2d_backward(dout, rcache)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_peer_pool_matches_reference():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8, 6))
    out, cache = peer.max_pool_forward_reshape(x, POOL_PARAM)
    ref, rcache = R.maxpool_forward(x, 2, 2, layout="NCHW")
    np.testing.assert_array_equal(out, ref)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(peer.max_pool_backward_reshape(dout, cache), R.maxpool_backward(dout, rcache))


# --------------------------------------------------------------------------- benchmarks
@pytest.mark.parametrize("impl", ["fastconv", "cs231n im2col"])
def bench_cs231n_conv(timed, impl):
    group = "cs231n conv fwd+bwd f64 x(100,3,31,31) w(25,3,3,3) s2 p1"
    if impl == "fastconv":
        timed(group, impl, fastconv_conv(), {"cs231n im2col": answer("conv")})
    else:
        timed(group, impl, peer_conv(), {"fastconv": fastconv_conv()()})


@pytest.mark.parametrize("impl", ["fastconv", "cs231n reshape"])
def bench_cs231n_max_pool(timed, impl):
    group = "cs231n max pool fwd+bwd f64 x(100,3,32,32) 2x2 s2"
    if impl == "fastconv":
        timed(group, impl, fastconv_pool(), {"cs231n reshape": answer("pool")})
    else:
        timed(group, impl, peer_pool(), {"fastconv": fastconv_pool()()})


@pytest.mark.parametrize("impl", ["NHWC", "NCHW"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def bench_conv2d_layout(timed, case, impl):
    group = f"conv2d fwd+bwd f32 layout {case.label}"
    other = "NCHW" if impl == "NHWC" else "NHWC"
    want = layout_conv(case, other)()
    want = as_nhwc(want) if other == "NCHW" else want
    timed(group, impl, layout_conv(case, impl), {other: want}, as_nhwc if impl == "NCHW" else None)


# --------------------------------------------------------------------------- interleaved timing
def _interleaved(fns, rounds, seconds=None):
    """Per-implementation lists of call times, the implementations alternating in each round."""
    times = {k: [] for k in fns}
    t_end = None if seconds is None else time.perf_counter() + seconds
    for r in range(rounds):
        order = list(fns) if r % 2 == 0 else list(fns)[::-1]
        for k in order:
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
        if t_end is not None and time.perf_counter() > t_end and r >= 4:
            break
    return times


def _report(label, times, base, other):
    """One line: medians of both, and the median and quartiles of the per-round ratios other/base."""
    a, b = np.array(times[base]), np.array(times[other])
    ratio = b / a
    q1, med, q3 = np.percentile(ratio, [25, 50, 75])
    print(f"{label:58s} {base} {np.median(a) * 1e3:9.3f} ms  {other} {np.median(b) * 1e3:9.3f} ms  "
          f"{other}/{base} {med:6.2f} [{q1:.2f}..{q3:.2f}]  n={len(a)}")


def main():
    fastconv.set_num_threads(2)
    from conftest import assert_matches

    assert_matches(fastconv_conv()(), {"cs231n im2col": answer("conv")})
    assert_matches(fastconv_pool()(), {"cs231n reshape": answer("pool")})
    t = _interleaved({"fastconv": fastconv_conv(), "im2col": peer_conv()}, 40, 20)
    _report("cs231n conv fwd+bwd x(100,3,31,31) w(25,3,3,3) s2 p1", t, "fastconv", "im2col")
    t = _interleaved({"fastconv": fastconv_pool(), "reshape": peer_pool()}, 60, 20)
    _report("cs231n max pool fwd+bwd x(100,3,32,32) 2x2 s2", t, "fastconv", "reshape")
    for case in CASES:
        nhwc, nchw = layout_conv(case, "NHWC"), layout_conv(case, "NCHW")
        assert_matches(as_nhwc(nchw()), {"NHWC": nhwc()})
        t = _interleaved({"NHWC": nhwc, "NCHW": nchw}, 40, 30)
        _report(f"conv2d fwd+bwd f32 {case.label}", t, "NHWC", "NCHW")


if __name__ == "__main__":
    main()
