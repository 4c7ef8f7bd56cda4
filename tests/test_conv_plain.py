"""conv2d_forward/backward's most common small-layer call, checked and run in C
(``_conv_small.forward_plain``/``backward_plain``): the same results and caches as the general
route, and the general route (with its checks and messages) for every other call."""
from __future__ import annotations

import numpy as np
import pytest

import fastconv
from fastconv import _conv_small, conv
from fastconv._cache import ConvCache

from conftest import count_calls

LAYERS = [  # (N, H, W, C), (Kh, Kw, Cout), padding, stride
    ((64, 8, 8, 1), (3, 3, 8), 1, 1),     # the digits layer
    ((3, 9, 7, 2), (3, 3, 5), 1, 2),
    ((2, 6, 6, 3), (2, 2, 16), 0, 1),
    ((1, 5, 5, 1), (5, 5, 1), 4, 1),
    ((4, 11, 13, 4), (1, 1, 64), 0, 3),
    ((2, 3, 3, 8), (2, 2, 7), 1, 1),
]


@pytest.fixture
def plain_calls(monkeypatch):
    """How many forward_plain / backward_plain calls ran (returned a result)."""
    seen = {"fwd": 0, "bwd": 0}
    count_calls(monkeypatch, conv._conv_small, "forward_plain", seen, "fwd", only_results=True)
    count_calls(monkeypatch, conv._conv_small, "backward_plain", seen, "bwd", only_results=True)
    return seen


def _data(layer, dtype, seed=0):
    (n, h, w, c), (kh, kw, cout), p, s = layer
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = rng.standard_normal((kh, kw, c, cout)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    return x, wt, b, p, s


def _assert_same_cache(a: ConvCache, b: ConvCache):
    for name, u, v in zip(ConvCache._fields, a, b):
        if isinstance(u, np.ndarray):
            np.testing.assert_array_equal(u, v, err_msg=name)
            assert u.dtype == v.dtype, name
        else:
            assert u == v and type(u) is type(v), (name, u, v)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("layer", LAYERS, ids=str)
def test_plain_call_equals_the_general_route(layer, with_bias, threads, dtype, plain_calls, monkeypatch):
    """algorithm="auto" runs the C path; algorithm="small" the general route on the same kernels:
    the same bits for y, dx, dw, db (with and without dx) and an equal cache."""
    monkeypatch.setattr(conv, "_SMALL_PARALLEL_MIN_MACS", 0 if threads > 1 else 1 << 62)
    prev = fastconv.set_num_threads(threads)
    try:
        x, w, b, p, s = _data(layer, dtype)
        b = b if with_bias else None
        x0, w0 = x.copy(), w.copy()
        y, cache = fastconv.conv2d_forward(x, w, b, p, s)
        assert plain_calls == {"fwd": 1, "bwd": 0}
        y_ref, cache_ref = fastconv.conv2d_forward(x, w, b, p, s, algorithm="small")
        assert plain_calls["fwd"] == 1  # (forced: the general route)
        np.testing.assert_array_equal(y, y_ref)
        assert y.dtype == dtype and y.flags.c_contiguous
        _assert_same_cache(cache._replace(algorithm="small"), cache_ref)
        dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
        got = fastconv.conv2d_backward(dy, cache)
        assert plain_calls["bwd"] == 1
        want = conv._backward(dy, cache, True)  # the general route's backward for the same cache
        for g, r in zip(got, want):
            if r is None:
                assert g is None
            else:
                np.testing.assert_array_equal(g, r)
                assert g.dtype == r.dtype and g.shape == r.shape
        nodx = fastconv.conv2d_backward(dy, cache, compute_dx=False)
        assert nodx[0] is None
        np.testing.assert_array_equal(nodx[1], got[1])
        if with_bias:
            np.testing.assert_array_equal(nodx[2], got[2])
        else:
            assert got[2] is None and nodx[2] is None
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(w, w0)
    finally:
        fastconv.set_num_threads(prev)


def _misaligned(a):
    """A copy of ``a`` whose data is not aligned to its item size."""
    buf = np.empty(a.nbytes + 1, np.uint8)
    out = buf[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out


class _Sub(np.ndarray):
    pass


FALLBACKS = {  # name -> (x, w, b, padding, stride, kwargs) changes of the digits layer's call
    "x not contiguous": lambda x, w, b: (np.asfortranarray(x), w, b, 1, 1, {}),
    "w not contiguous": lambda x, w, b: (x, np.asfortranarray(w), b, 1, 1, {}),
    "x misaligned": lambda x, w, b: (_misaligned(x), w, b, 1, 1, {}),
    "x big-endian": lambda x, w, b: (x.astype(x.dtype.newbyteorder(">")), w, b, 1, 1, {}),
    "x subclass": lambda x, w, b: (x.view(_Sub), w, b, 1, 1, {}),
    "x integer": lambda x, w, b: ((x * 10).astype(np.int32), w, b, 1, 1, {}),
    "w other float": lambda x, w, b: (x, w.astype(np.float64 if w.dtype == np.float32 else np.float32), b, 1, 1, {}),
    "b other float": lambda x, w, b: (x, w, b.astype(np.float64 if b.dtype == np.float32 else np.float32), 1, 1, {}),
    "b as a list": lambda x, w, b: (x, w, list(b), 1, 1, {}),
    "padding np.int64": lambda x, w, b: (x, w, b, np.int64(1), 1, {}),
    "padding a pair": lambda x, w, b: (x, w, b, (1, 1), 1, {}),
    "padding same": lambda x, w, b: (x, w, b, "same", 1, {}),
    "stride a pair": lambda x, w, b: (x, w, b, 1, (1, 1), {}),
    "dilation 2": lambda x, w, b: (x, w, b, 1, 1, {"dilation": 2}),
    "algorithm small": lambda x, w, b: (x, w, b, 1, 1, {"algorithm": "small"}),
    "layout NCHW": lambda x, w, b: (x.transpose(0, 3, 1, 2).copy(), w.transpose(3, 2, 0, 1).copy(), b, 1, 1,
                                    {"layout": "NCHW"}),
}


@pytest.mark.parametrize("name", list(FALLBACKS))
def test_other_calls_take_the_general_route(name, dtype, plain_calls):
    """Each call that is not the plain one leaves forward_plain without a result and gets the
    general route's answer (against the reference, in float64)."""
    import fastconv.reference

    x, w, b, _, _ = _data(LAYERS[0], dtype)
    xx, ww, bb, p, s, kw = FALLBACKS[name](x, w, b)
    y, cache = fastconv.conv2d_forward(xx, ww, bb, p, s, **kw)
    assert plain_calls["fwd"] == 0, name
    want, _ = fastconv.reference.conv2d_forward(np.asarray(xx, np.float64), np.asarray(ww, np.float64),
                                                np.asarray(bb, np.float64), p, s, kw.get("dilation", 1),
                                                layout=kw.get("layout", "NHWC"))
    scale = np.abs(want).max()
    np.testing.assert_allclose(y, want, rtol=0, atol=(2e-6 if y.dtype.itemsize == 4 else 1e-12) * scale * 10)


def test_other_small_layers_take_the_general_route(plain_calls, monkeypatch):
    """Bounds of the small family and empty inputs: no plain run, the route's answer."""
    x, w, b, _, _ = _data(LAYERS[0], np.float32)
    monkeypatch.setattr(conv, "_SMALL_TAPS", 0)  # the small kernels switched off
    y, cache = fastconv.conv2d_forward(x, w, b, 1, 1)
    assert plain_calls["fwd"] == 0 and cache.family != "small"
    monkeypatch.undo()
    _, cache = fastconv.conv2d_forward(x[:0], w, b, 1, 1)  # empty batch
    assert cache.family == "small" and plain_calls["fwd"] == 0
    y, cache = fastconv.conv2d_forward(x, w, b, 3, 1)  # padding as large as the kernel
    assert plain_calls["fwd"] == 0 and cache.family != "small" and y.shape == (64, 12, 12, 8)


def test_backward_other_calls_take_the_general_route(dtype, plain_calls):
    """dy not the plain one: the general route, its conversions and its errors."""
    x, w, b, p, s = _data(LAYERS[0], dtype)
    y, cache = fastconv.conv2d_forward(x, w, b, p, s)
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    want = fastconv.conv2d_backward(dy, cache)
    assert plain_calls["bwd"] == 1
    other = np.float64 if dtype == np.float32 else np.float32
    for variant in (np.asfortranarray(dy), dy.astype(other), _misaligned(dy), dy.tolist()):
        got = fastconv.conv2d_backward(variant, cache)
        assert plain_calls["bwd"] == 1
        for g, r in zip(got, want):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5 * np.abs(r).max())
    got = fastconv.conv2d_backward(dy, cache, compute_dx=np.bool_(True))  # not a bool: the route's check
    assert plain_calls["bwd"] == 1 and got[0] is not None
    with pytest.raises(ValueError, match="dy"):
        fastconv.conv2d_backward(dy[:, :-1], cache)
    assert plain_calls["bwd"] == 1


@pytest.mark.parametrize("padding, stride", [(10**30, 1), (-1, 1), (1, 0), (1, -2), (1, 10**30)])
def test_out_of_range_options_get_the_general_routes_errors(padding, stride, plain_calls):
    x, w, b, _, _ = _data(LAYERS[0], np.float32)
    with pytest.raises(ValueError):
        fastconv.conv2d_forward(x, w, b, padding, stride)
    assert plain_calls["fwd"] == 0


def test_plain_runs_exactly_where_auto_picks_the_small_kernels():
    """Over a grid of plain calls, forward_plain gives a result exactly where conv2d_forward's
    "auto" rule (conv._choose) picks "small": the C checks and the Python rule agree."""
    rng = np.random.default_rng(4)
    for kh, kw, c, cout, p, s, h in [(kh, kw, c, cout, p, s, h) for kh in (1, 2, 3, 5) for kw in (1, 3, 4)
                                     for c in (1, 3, 4) for cout in (1, 8, 64, 65) for p in (0, 1, 2, 4)
                                     for s in (1, 2) for h in (4, 7)]:
        if kh > h + 2 * p or kw > h + 2 * p:
            continue
        x = rng.standard_normal((2, h, h, c)).astype(np.float32)
        w = rng.standard_normal((kh, kw, c, cout)).astype(np.float32)
        y = _conv_small.forward_plain(x, w, None, p, s, 1, 1, "auto", "NHWC", fastconv._validate.MAX_EXTENT,
                                      conv._SMALL_TAPS, conv._SMALL_COUT, conv._SMALL_PARALLEL_MIN_MACS)
        ho, wo = (h + 2 * p - kh) // s + 1, (h + 2 * p - kw) // s + 1
        small = conv._choose("auto", w.shape, (p, p), False, "conv2d_forward", conv._PLAIN, (s, s), 2 * ho * wo)
        assert (y is not None) == (small == "small"), (kh, kw, c, cout, p, s, h)
