"""conv2d_forward's cheap checks for the common call and the kernel family the cache carries to the backward.

A forward call with NHWC NumPy arrays of one float dtype, int padding and stride, dilation 1 and
groups 1 is checked without the general argument parsing; these tests hold it to the general
path (the same call spelled so that it takes that path) bit for bit, cache included, and to
``fastconv.reference``.
"""
import itertools
import pickle

import numpy as np
import pytest

import fastconv
import fastconv.reference as R
from fastconv import conv
from fastconv._cache import ConvCache

# (x shape, w shape, padding, stride): the small, direct, winograd and gemm families, and empty batches
LAYERS = [
    ((4, 8, 8, 1), (3, 3, 1, 8), 1, 1),
    ((3, 7, 9, 2), (3, 3, 2, 5), 1, 2),
    ((2, 9, 9, 16), (3, 3, 16, 32), 1, 1),
    ((2, 40, 36, 16), (3, 3, 16, 32), 1, 1),  # 180 output tiles: Winograd
    ((2, 6, 7, 8), (2, 3, 8, 12), 0, 1),
    ((2, 6, 6, 3), (3, 3, 3, 4), 2, 1),
    ((2, 5, 5, 40), (1, 1, 40, 3), 0, 1),
    ((0, 5, 5, 2), (3, 3, 2, 4), 1, 1),
]


def _data(xs, ws, dtype, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[3]).astype(dtype) if bias else None
    return x, w, b


def _same(a, b):
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.flags.c_contiguous == b.flags.c_contiguous
        assert np.array_equal(a, b, equal_nan=True)
    elif isinstance(a, tuple):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v)
    else:
        assert a == b


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: f"{c[0]}-{c[1]}-p{c[2]}-s{c[3]}")
def test_common_call_equals_the_general_path(layer, dtype, bias):
    """padding=p, stride=s (the cheap checks) and padding=(p, p), stride=(s, s), dilation=(1, 1)
    (the general ones) give the same y, cache, gradients, to the bit, and the reference's values."""
    xs, ws, p, s = layer
    x, w, b = _data(xs, ws, dtype, bias)
    y1, c1 = fastconv.conv2d_forward(x, w, b, p, s)
    y2, c2 = fastconv.conv2d_forward(x, w, b, (p, p), (s, s), dilation=(1, 1), groups=np.int64(1))
    _same(y1, y2)
    _same(tuple(c1), tuple(c2))
    assert c1.family == conv._choose("auto", w.shape, (p, p), False, "t", stride=(s, s),
                                     pixels=conv._output_pixels(y1.shape))
    dy = np.random.default_rng(1).standard_normal(y1.shape).astype(dtype)
    for compute_dx in (True, False):
        g1 = fastconv.conv2d_backward(dy, c1, compute_dx=compute_dx)
        g2 = fastconv.conv2d_backward(dy, c2, compute_dx=np.bool_(compute_dx), layout="NHWC")
        _same(g1, g2)
    yr, cr = R.conv2d_forward(x, w, b, p, s)
    rtol = 2e-4 if dtype == np.float32 else 1e-10
    for got, want in zip((y1,) + fastconv.conv2d_backward(dy, c1), (yr,) + R.conv2d_backward(dy, cr)):
        if want is None:
            assert got is None
            continue
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, float(np.abs(want).max(initial=0))))


def test_common_call_keeps_inputs_and_copies_noncontiguous_ones(dtype):
    """Non-contiguous and read-only inputs take the cheap checks too; they are read, never written."""
    x, w, b = _data((3, 10, 10, 2), (3, 3, 2, 6), dtype)
    xv, wv = x[:, ::2, ::2], np.asfortranarray(w)
    for a in (xv, wv, b):
        a.flags.writeable = False
    before = [a.copy() for a in (xv, wv, b)]
    y, cache = fastconv.conv2d_forward(xv, wv, b, 1, 1)
    y2, _ = fastconv.conv2d_forward(np.ascontiguousarray(xv), np.ascontiguousarray(wv), b.copy(), 1, 1)
    _same(y, y2)
    assert cache.x.flags.c_contiguous and cache.w.flags.c_contiguous
    fastconv.conv2d_backward(np.ones_like(y), cache)
    for a, a0 in zip((xv, wv, b), before):
        assert np.array_equal(a, a0)


@pytest.mark.parametrize("call, exc, match", [
    (lambda x, w, b: fastconv.conv2d_forward(x, w[:, :, :1], b), ValueError, r"w has 1 input channels but x has 2"),
    (lambda x, w, b: fastconv.conv2d_forward(x, w, b[:3]), ValueError, r"b has length 3 but w has 4 output channels"),
    (lambda x, w, b: fastconv.conv2d_forward(x, w[:0], b), ValueError, r"w must have a non-empty kernel"),
    (lambda x, w, b: fastconv.conv2d_forward(x, w, b, -1), ValueError, r"padding must be non-negative, got -1"),
    (lambda x, w, b: fastconv.conv2d_forward(x, w, b, 1, 0), ValueError, r"stride must be >= 1, got 0"),
    (lambda x, w, b: fastconv.conv2d_forward(x, w, b, 2**31), ValueError, r"padding must be at most"),
    (lambda x, w, b: fastconv.conv2d_forward(x[:, :1, :1], w, b, 0), ValueError,
     r"kernel 3x3 is larger than the padded input 1x1"),
    (lambda x, w, b: fastconv.conv2d_forward(x, w, b, True), TypeError, r"padding must be an int"),
    (lambda x, w, b: fastconv.conv2d_forward(x, w, b, algorithm="fast"), ValueError, r"algorithm must be one of"),
    (lambda x, w, b: fastconv.conv2d_forward(x, w, b, layout="nhwc"), ValueError, r"layout must be 'NHWC' or 'NCHW'"),
    (lambda x, w, b: fastconv.conv2d_forward(x, w, b, algorithm="winograd", stride=2), ValueError,
     r"conv2d_forward cannot use algorithm='winograd': the winograd kernels take stride 1 only"),
    (lambda x, w, b: fastconv.conv2d_forward(x, np.ones((6, 6, 2, 4), x.dtype), b, algorithm="small"), ValueError,
     r"conv2d_forward cannot use algorithm='small': the small kernels take at most 32 taps Kh\*Kw\*C, "
     r"w of shape \(6, 6, 2, 4\) has 72"),
    (lambda x, w, b: fastconv.conv2d_forward(x, w, b, algorithm="direct"), ValueError,
     r"conv2d_forward cannot use algorithm='direct': the direct kernels take layers with at least 8 output "
     r"channels, w of shape \(3, 3, 2, 4\) has 4"),
])
def test_common_call_errors_are_the_general_ones(call, exc, match, dtype):
    x, w, b = _data((2, 6, 6, 2), (3, 3, 2, 4), dtype)
    with pytest.raises(exc, match=match):
        call(x, w, b)


def test_backward_direct_dx_message_unchanged():
    x, w, b = _data((2, 6, 6, 2), (3, 3, 2, 8), np.float64)
    y, cache = fastconv.conv2d_forward(x, w, b, algorithm="direct")
    assert cache.family == "direct"
    with pytest.raises(ValueError, match=r"conv2d_backward cannot use algorithm='direct': the direct kernels compute "
                                         r"dx only for layers with at least 8 input channels, w of shape "
                                         r"\(3, 3, 2, 8\) has 2"):
        fastconv.conv2d_backward(np.ones_like(y), cache)


def test_choice_depends_on_compute_dx_only_for_direct():
    """The backward reuses the forward's family (chosen without dx) unless it is "direct": every other
    choice of _choose is the same with and without dx, for every algorithm, shape and option."""
    opts_list = [conv._PLAIN, conv._Options((2, 1), (1, 1), 1), conv._Options(None, (2, 1), 1),
                 conv._Options(None, (1, 1), 2), conv._Options(None, (1, 1), 8)]
    checked = 0
    for algorithm, kh, c, cout, p, s, opts in itertools.product(
        conv.ALGORITHMS, (1, 2, 3, 5), (1, 3, 8, 16, 64), (1, 8, 16, 32, 64, 65, 128), (0, 1, 2, 3), (1, 2), opts_list
    ):
        w_shape = (kh, kh, c, cout)
        try:
            fwd = conv._choose(algorithm, w_shape, (p, p), False, "t", opts, (s, s))
        except ValueError:
            continue
        if fwd == "direct":
            continue
        assert conv._choose(algorithm, w_shape, (p, p), True, "t", opts, (s, s)) == fwd, (algorithm, w_shape, p, s, opts)
        checked += 1
    assert checked > 1000


def test_backward_uses_the_cached_family_and_old_caches_still_work(rng):
    """A cache without a family (an older pickle, or one built by hand) makes the backward choose again."""
    x, w, b = _data((2, 8, 8, 3), (3, 3, 3, 8), np.float32)
    y, cache = fastconv.conv2d_forward(x, w, b)
    assert cache.family == "small"
    dy = rng.standard_normal(y.shape).astype(np.float32)
    want = fastconv.conv2d_backward(dy, cache)
    old = cache._replace(family=None)
    _same(fastconv.conv2d_backward(dy, old), want)
    _same(fastconv.conv2d_backward(dy, pickle.loads(pickle.dumps(cache))), want)
    # a pickle of a cache from before the field existed: 15 fields
    legacy = ConvCache(*tuple(cache)[:15])
    assert legacy.family is None
    _same(fastconv.conv2d_backward(dy, legacy), want)


def test_unfit_reason_is_formatted_when_read():
    fit = conv._small_serves((6, 6, 2, 4), (1, 1))
    assert not fit and fit.ok is False
    assert fit.why == "the small kernels take at most 32 taps Kh*Kw*C, w of shape (6, 6, 2, 4) has 72"
    assert "has 72" in repr(fit)
    assert conv._depthwise_serves((3, 3, 2, 4), conv._PLAIN).why == (
        "the depthwise kernels need groups == C == Cout > 1, got groups 1"
    )
    assert conv._depthwise_serves((3, 3, 2, 8), conv._Options(None, (1, 1), 2)).why == (
        "the depthwise kernels need groups == C == Cout, got groups 2 and w of shape (3, 3, 2, 8)"
    )
