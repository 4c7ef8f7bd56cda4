"""Pooling with torch's options: padding, dilation, ceil_mode, count_include_pad, divisor_override,
adaptive and global pools, against ``torch.nn.functional`` + autograd and between the two backends.

Random option combinations come from hypothesis (the example count is the active profile's, see
conftest.py). Tolerances relative to the magnitude of the sums: float64 1e-12, float32 1e-5;
max-pool values and indices exactly.
"""
import pickle

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastconv  # noqa: E402
import fastconv.reference as ref  # noqa: E402

IMPLS = [pytest.param(ref, id="reference"), pytest.param(fastconv, id="fastconv")]
FLOATS = [pytest.param(np.dtype(np.float32), id="f32"), pytest.param(np.dtype(np.float64), id="f64")]
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
THREADS = st.sampled_from([1, 1, 1, 2])

# worst error / (rtol * magnitude) seen per check, printed with -s (the closing table of the work)
WORST = {}


@pytest.fixture(scope="module", autouse=True)
def _print_worst():
    yield
    for k, val in sorted(WORST.items()):
        print(f"worst {k}: {val:.3g} of the tolerance")


@pytest.fixture(autouse=True)
def _restore_threads():
    prev = fastconv.set_num_threads(0)
    yield
    fastconv.set_num_threads(prev)


def close(actual, desired, scale, rtol, what):
    """|actual - desired| <= rtol * scale elementwise (scale: the same op on |operands|)."""
    actual, desired = np.asarray(actual, dtype=np.float64), np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, f"{what}: shape {actual.shape} != {desired.shape}"
    if not actual.size:
        return
    err = np.abs(actual - desired)
    bound = rtol * np.asarray(scale, dtype=np.float64) + 1e-300
    WORST[what] = max(WORST.get(what, 0.0), float(np.max(err / bound)))
    bad = err > bound
    assert not bad.any(), f"{what}: {int(bad.sum())} of {err.size} differ; worst {float(np.max(err / bound)):.3g} x tolerance"


def data(seed, shape, dtype, ties=False):
    r = np.random.default_rng(seed)
    if ties:  # few distinct values: many tied maxima
        return r.integers(-2, 3, size=shape).astype(dtype)
    return (r.standard_normal(shape) * r.choice([0.01, 1.0, 100.0])).astype(dtype)


# --------------------------------------------------------------------------- torch
def torch_run(op, x, dy, **kw):
    """torch.nn.functional.<op> on NHWC ``x`` (as NCHW), backward with ``dy``: (y, indices or None, dx) in NHWC."""
    torch = pytest.importorskip("torch", reason="torch is not installed (it is in the test extra)")
    F = torch.nn.functional
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(True)
    fn = getattr(F, op)
    if op in ("max_pool2d", "adaptive_max_pool2d"):
        yt, it = fn(xt, return_indices=True, **kw)
    else:
        yt, it = fn(xt, **kw), None
    yt.backward(torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2))))
    nhwc = lambda t: t.detach().numpy().transpose(0, 2, 3, 1)  # noqa: E731
    return nhwc(yt), (None if it is None else nhwc(it)), nhwc(xt.grad)


def torch_shape_or_error(op, x_shape, dtype, **kw):
    """torch's output shape for these options, or the exception it raises."""
    torch = pytest.importorskip("torch", reason="torch is not installed (it is in the test extra)")
    n, h, w, c = x_shape
    xt = torch.ones((max(n, 1), c, h, w), dtype=getattr(torch, np.dtype(dtype).name))
    try:
        out = getattr(torch.nn.functional, op)(xt, **kw)
    except RuntimeError as exc:
        return exc
    return out


# --------------------------------------------------------------------------- option strategies
pairs = lambda lo, hi: st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))  # noqa: E731


def as_pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@st.composite
def window_cases(draw, dilated):
    """(x shape, kwargs in our names, kwargs in torch's names, seed) for max (dilated) or avg pooling."""
    k = draw(pairs(1, 5))
    kh, kw = as_pair(k)
    stride = draw(st.one_of(st.none(), pairs(1, 4)))
    padding = draw(st.one_of(st.just(0), st.tuples(st.integers(0, kh // 2), st.integers(0, kw // 2)),
                             st.just(min(kh, kw) // 2)))
    ceil = draw(st.booleans())
    h, w = draw(st.integers(1, 11)), draw(st.integers(1, 11))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    ours = dict(pool_size=k, stride=stride, padding=padding, ceil_mode=ceil)
    theirs = dict(kernel_size=as_pair(k), stride=as_pair(k) if stride is None else as_pair(stride),
                  padding=as_pair(padding), ceil_mode=ceil)
    if dilated:
        d = draw(pairs(1, 3))
        ours["dilation"] = theirs["dilation"] = d
    else:
        incl = draw(st.booleans())
        div = draw(st.one_of(st.none(), st.none(), st.integers(-4, 9).filter(lambda v: v != 0)))
        ours.update(count_include_pad=incl, divisor_override=div)
        theirs.update(count_include_pad=incl, divisor_override=div)
    return (n, h, w, c), ours, theirs, draw(st.integers(0, 2**32 - 1))


def our_call_or_error(fn, x, kw):
    try:
        return fn(x, **kw)
    except ValueError as exc:
        return exc


# --------------------------------------------------------------------------- max pool vs torch
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", FLOATS)
@given(case=window_cases(dilated=True), ties=st.booleans(), nt=THREADS)
def test_maxpool_options_match_torch(impl, dtype, case, ties, nt):
    fastconv.set_num_threads(nt)
    shape, ours, theirs, seed = case
    x = data(seed, shape, dtype, ties)
    got = our_call_or_error(impl.maxpool_forward, x, ours)
    want = torch_shape_or_error("max_pool2d", shape, dtype, **theirs)
    if isinstance(want, Exception):
        assert isinstance(got, ValueError), f"torch rejects {theirs} ({want}), we returned a result"
        return
    if isinstance(got, ValueError):
        # the one case where we are stricter than torch: a window entirely in the padding, for
        # which torch returns -inf (and an index outside the plane)
        assert "entirely in the padding" in str(got) and np.isneginf(want.numpy()).any(), str(got)
        return
    y, cache = got
    dy = data(seed + 1, y.shape, dtype)
    yt, it, dxt = torch_run("max_pool2d", x, dy, **theirs)
    assert y.dtype == dtype and y.shape == yt.shape
    np.testing.assert_array_equal(y, yt)
    np.testing.assert_array_equal(cache.argmax, it)
    dx = impl.maxpool_backward(dy, cache)
    assert dx.dtype == dtype
    scale = ref.maxpool_backward(np.abs(dy.astype(np.float64)), cache)
    close(dx, dxt, scale, RTOL[dtype], f"maxpool dx {dtype.name}")


# --------------------------------------------------------------------------- avg pool vs torch
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", FLOATS)
@given(case=window_cases(dilated=False), nt=THREADS)
def test_avgpool_options_match_torch(impl, dtype, case, nt):
    fastconv.set_num_threads(nt)
    shape, ours, theirs, seed = case
    x = data(seed, shape, dtype)
    got = our_call_or_error(impl.avgpool_forward, x, ours)
    want = torch_shape_or_error("avg_pool2d", shape, dtype, **theirs)
    if isinstance(want, Exception):
        assert isinstance(got, ValueError), f"torch rejects {theirs} ({want}), we returned a result"
        return
    assert not isinstance(got, ValueError), f"torch accepts {theirs}, we raised {got}"
    y, cache = got
    dy = data(seed + 1, y.shape, dtype)
    yt, _, dxt = torch_run("avg_pool2d", x, dy, **theirs)
    assert y.dtype == dtype and y.shape == yt.shape
    d = abs(ours["divisor_override"] or 1)
    ys, cs = fastconv.avgpool_forward(np.abs(x.astype(np.float64)), **ours)
    close(y, yt, np.abs(ys) + 1e-30 / d, RTOL[dtype], f"avgpool y {dtype.name}")
    dx = impl.avgpool_backward(dy, cache)
    assert dx.dtype == dtype
    dxs = np.abs(fastconv.avgpool_backward(np.abs(dy.astype(np.float64)), cs))
    close(dx, dxt, dxs, RTOL[dtype], f"avgpool dx {dtype.name}")


# --------------------------------------------------------------------------- adaptive pools vs torch
@st.composite
def adaptive_cases(draw):
    h, w = draw(st.integers(1, 11)), draw(st.integers(1, 11))
    one = st.integers(1, 14)  # larger than the input too
    out = draw(st.one_of(one, st.tuples(one, one), st.tuples(st.none(), one), st.tuples(one, st.none())))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    return (n, h, w, c), out, draw(st.integers(0, 2**32 - 1))


def torch_output_size(out, h, w):
    """torch's spelling of ``output_size`` (it too keeps the input size where the pair says None)."""
    return out if isinstance(out, int) else tuple(out)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", FLOATS)
@given(case=adaptive_cases(), ties=st.booleans(), nt=THREADS)
def test_adaptive_pools_match_torch(impl, dtype, case, ties, nt):
    fastconv.set_num_threads(nt)
    shape, out, seed = case
    x = data(seed, shape, dtype, ties)
    size = torch_output_size(out, shape[1], shape[2])
    y, cache = impl.adaptive_maxpool_forward(x, out)
    dy = data(seed + 1, y.shape, dtype)
    yt, it, dxt = torch_run("adaptive_max_pool2d", x, dy, output_size=size)
    assert y.dtype == dtype and y.shape == yt.shape
    np.testing.assert_array_equal(y, yt)
    np.testing.assert_array_equal(cache.argmax, it)
    dx = impl.adaptive_maxpool_backward(dy, cache)
    scale = ref.adaptive_maxpool_backward(np.abs(dy.astype(np.float64)), cache)
    close(dx, dxt, scale, RTOL[dtype], f"adaptive max dx {dtype.name}")

    x = data(seed, shape, dtype)
    y, cache = impl.adaptive_avgpool_forward(x, out)
    yt, _, dxt = torch_run("adaptive_avg_pool2d", x, dy, output_size=size)
    assert y.dtype == dtype and y.shape == yt.shape
    ys, cs = fastconv.adaptive_avgpool_forward(np.abs(x.astype(np.float64)), out)
    close(y, yt, ys, RTOL[dtype], f"adaptive avg y {dtype.name}")
    dx = impl.adaptive_avgpool_backward(dy, cache)
    assert dx.dtype == dtype
    dxs = fastconv.adaptive_avgpool_backward(np.abs(dy.astype(np.float64)), cs)
    close(dx, dxt, dxs, RTOL[dtype], f"adaptive avg dx {dtype.name}")


# --------------------------------------------------------------------------- edge cases, spelled out
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "h,k,s,p,d,ceil,ho",
    [
        (33, 2, 2, 0, 1, True, 17),   # the last window holds one input row
        (33, 2, 2, 0, 1, False, 16),
        (5, 3, 2, 1, 1, True, 3),     # ceil would add a 4th window starting at row 5 (the right padding): dropped
        (6, 3, 2, 1, 1, True, 4),     # ... here the 4th starts at row 5, inside the input: kept
        (4, 2, 3, 1, 1, True, 2),
        (7, 3, 3, 1, 2, True, 3),
        (3, 4, 2, 0, 1, True, 1),     # ceil_mode keeps a window larger than the input (torch does too)
    ],
)
def test_output_size_rule(impl, h, k, s, p, d, ceil, ho):
    x = np.random.default_rng(0).standard_normal((1, h, h, 2))
    y, _ = impl.maxpool_forward(x, k, s, padding=p, dilation=d, ceil_mode=ceil)
    assert y.shape == (1, ho, ho, 2)
    if d == 1:
        y, _ = impl.avgpool_forward(x, k, s, padding=p, ceil_mode=ceil)
        assert y.shape == (1, ho, ho, 2)


@pytest.mark.parametrize("impl", IMPLS)
def test_ceil_mode_divisors(impl):
    """33 columns, 2x2 stride 2 ceil_mode: the last window column holds one input column; with padding 1 it
    reaches into the padding; count_include_pad counts the padding but not the region past it."""
    x = np.ones((1, 3, 33, 1))
    y, _ = impl.avgpool_forward(x, 2, 2, ceil_mode=True)
    assert y.shape == (1, 2, 17, 1)
    np.testing.assert_array_equal(y[0, 0, :, 0], 1.0)  # the mean of ones is one, whatever the window holds
    np.testing.assert_array_equal(y[0, 1, :, 0], 1.0)
    y, _ = impl.avgpool_forward(x, 3, 2, padding=1, ceil_mode=True)  # rows -1..1, 1..3 (3 is padding-free past)
    # row windows: [-1, 2) -> 3 padded rows, one of them padding; [1, 4) clipped to the padded end 4 -> 3
    # column windows: first [-1, 2) holds a padding column; the last [31, 34) holds 33 (padding)
    assert y.shape == (1, 2, 17, 1)
    np.testing.assert_allclose(y[0, 0, 0, 0], 4 / 9)
    np.testing.assert_allclose(y[0, 0, 5, 0], 6 / 9)
    np.testing.assert_allclose(y[0, 1, 16, 0], 4 / 9)
    y, _ = impl.avgpool_forward(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_array_equal(y, 1.0)
    y, _ = impl.avgpool_forward(x, 3, 2, padding=1, ceil_mode=True, divisor_override=2)
    np.testing.assert_allclose(y[0, 0, 0, 0], 2.0)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_max_padding_is_minus_infinity_and_argmax_is_unpadded(impl, dtype):
    x = -np.arange(1, 17, dtype=dtype).reshape(1, 4, 4, 1)  # all negative: padding must never win
    y, cache = impl.maxpool_forward(x, 3, 2, padding=1)
    # windows start at rows/columns -1 and 1: their top-left input pixels hold the maxima
    np.testing.assert_array_equal(y[0, :, :, 0], [[-1, -2], [-5, -6]])
    np.testing.assert_array_equal(cache.argmax[0, :, :, 0], [[0, 1], [4, 5]])  # h * W + w, unpadded
    x = np.full((1, 3, 3, 1), -np.inf, dtype=dtype)  # all -inf: the first input pixel of the window
    y, cache = impl.maxpool_forward(x, 3, 2, padding=1, ceil_mode=True)
    np.testing.assert_array_equal(cache.argmax[0, :, :, 0], [[0, 1], [3, 4]])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_max_ties_and_nan_with_options(impl, dtype):
    x = np.zeros((1, 5, 5, 2), dtype=dtype)
    y, cache = impl.maxpool_forward(x, 3, 2, padding=1, dilation=1)
    np.testing.assert_array_equal(cache.argmax[0, :, :, 0], [[0, 1, 3], [5, 6, 8], [15, 16, 18]])
    x[0, 1, 1, 1] = np.nan
    x[0, 1, 2, 1] = np.nan
    y, cache = impl.maxpool_forward(x, 3, 1, padding=1, dilation=1)
    assert np.isnan(y[0, 0, 0, 1]) and cache.argmax[0, 0, 0, 1] == 6  # the first NaN, as np.argmax
    assert np.isnan(y[0, 2, 3, 1]) and cache.argmax[0, 2, 3, 1] == 7
    assert y[0, 4, 4, 1] == 0
    y, cache = impl.adaptive_maxpool_forward(x, 2)
    assert np.isnan(y[0, 0, 0, 1]) and cache.argmax[0, 0, 0, 1] == 6


@pytest.mark.parametrize("impl", IMPLS)
def test_global_pools(impl, rng):
    x = rng.standard_normal((3, 5, 4, 6))
    y, cache = impl.global_avgpool_forward(x)
    assert y.shape == (3, 1, 1, 6)
    np.testing.assert_allclose(y[:, 0, 0], x.mean(axis=(1, 2)), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(impl.global_avgpool_backward(dy, cache), np.broadcast_to(dy / 20, x.shape), rtol=1e-12)
    y, cache = impl.global_maxpool_forward(x)
    np.testing.assert_array_equal(y[:, 0, 0], x.max(axis=(1, 2)))
    np.testing.assert_array_equal(cache.argmax[:, 0, 0], x.reshape(3, 20, 6).argmax(axis=1))
    dx = impl.global_maxpool_backward(dy, cache)
    assert dx.sum() == pytest.approx(dy.sum()) and np.count_nonzero(dx) == 18


@pytest.mark.parametrize("impl", IMPLS)
def test_default_options_keep_the_plain_path(impl, rng):
    """Options equal to the defaults (or giving the same windows) give the plain call's results and cache."""
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    for fwd, extra in ((impl.maxpool_forward, dict(dilation=1)), (impl.avgpool_forward, dict(count_include_pad=False))):
        y0, c0 = fwd(x, 2)
        y1, c1 = fwd(x, 2, None, padding=(0, 0), ceil_mode=True, **extra)  # 8 = 4 * 2: ceil adds nothing
        np.testing.assert_array_equal(y0, y1)
        assert c1.window is None and c0.window is None
    y, cache = impl.maxpool_forward(x, 2, padding=1)
    assert cache.window is not None and cache.window.padding == (1, 1)


@pytest.mark.parametrize("impl", IMPLS)
def test_empty_batch_and_integer_input(impl):
    y, cache = impl.maxpool_forward(np.zeros((0, 5, 5, 2)), 3, 2, padding=1)
    assert y.shape == (0, 3, 3, 2) and impl.maxpool_backward(y, cache).shape == (0, 5, 5, 2)
    y, cache = impl.adaptive_avgpool_forward(np.zeros((0, 5, 5, 2), dtype=np.float32), (2, None))
    assert y.shape == (0, 2, 5, 2) and y.dtype == np.float32
    assert impl.adaptive_avgpool_backward(y, cache).shape == (0, 5, 5, 2)
    a = np.arange(2 * 5 * 5 * 2).reshape(2, 5, 5, 2)
    y, cache = impl.avgpool_forward(a, 3, 2, padding=1, count_include_pad=False)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, fastconv.reference.avgpool_forward(a.astype(float), 3, 2, 1, False, False)[0])


def test_caches_are_not_interchangeable():
    x = np.ones((1, 4, 4, 1))
    for m in (fastconv, ref):
        ya, ca = m.adaptive_avgpool_forward(x, 2)
        ym, cm = m.adaptive_maxpool_forward(x, 2)
        yp, cp = m.avgpool_forward(x, 2, padding=1)
        yq, cq = m.maxpool_forward(x, 2, padding=1)
        with pytest.raises(TypeError, match="avgpool_forward"):
            m.avgpool_backward(ya, ca)
        with pytest.raises(TypeError, match="maxpool_forward"):
            m.maxpool_backward(ym, cm)
        with pytest.raises(TypeError, match="adaptive_avgpool_forward"):
            m.adaptive_avgpool_backward(yp, cp)
        with pytest.raises(TypeError, match="adaptive_maxpool_forward"):
            m.adaptive_maxpool_backward(yq, cq)
        with pytest.raises(TypeError, match="avgpool_forward"):
            m.adaptive_avgpool_backward(ym, cm)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda m, x: m.maxpool_forward(x, 3, padding=2), ValueError, r"padding must be at most half the pool window"),
        (lambda m, x: m.avgpool_forward(x, (4, 2), padding=(2, 2)), ValueError, r"padding .*\(axis w: 2 > 2 // 2\)"),
        (lambda m, x: m.maxpool_forward(x, 2, padding=-1), ValueError, r"padding must be non-negative"),
        (lambda m, x: m.maxpool_forward(x, 2, padding=1.5), TypeError, r"padding must be an int"),
        (lambda m, x: m.maxpool_forward(x, 2, dilation=0), ValueError, r"dilation must be >= 1"),
        (lambda m, x: m.maxpool_forward(x, 2, dilation=(1, 2, 3)), ValueError, r"dilation must be an int or an \(h, w\) pair"),
        (lambda m, x: m.maxpool_forward(x, 2, ceil_mode=1), TypeError, r"ceil_mode must be True or False"),
        (lambda m, x: m.avgpool_forward(x, 2, count_include_pad="yes"), TypeError, r"count_include_pad must be True or False"),
        (lambda m, x: m.avgpool_forward(x, 2, divisor_override=0), ValueError, r"divisor_override must be a non-zero int, got 0"),
        (lambda m, x: m.avgpool_forward(x, 2, divisor_override=2.0), TypeError, r"divisor_override must be None or a non-zero int"),
        (lambda m, x: m.avgpool_forward(x, 2, divisor_override=True), TypeError, r"divisor_override must be None"),
        (lambda m, x: m.maxpool_forward(x, 3, 1, padding=1, dilation=4), ValueError, r"dilated pool window .* is larger than the padded input"),
        (lambda m, x: m.maxpool_forward(np.ones((1, 1, 3, 1)), 2, 1, padding=1, dilation=2), ValueError,
         r"entirely in the padding"),
        (lambda m, x: m.maxpool_forward(x, 6), ValueError, r"pool window 6x6 is larger than the padded input 5x5"),
        (lambda m, x: m.adaptive_avgpool_forward(x, 0), ValueError, r"output_size must be >= 1, got 0 \(x has shape \(1, 5, 5, 2\)\)"),
        (lambda m, x: m.adaptive_maxpool_forward(x, (2, -1)), ValueError, r"output_size must be >= 1"),
        (lambda m, x: m.adaptive_maxpool_forward(x, 2.5), TypeError, r"output_size must be an int or an \(h, w\) pair"),
        (lambda m, x: m.adaptive_avgpool_forward(x, None), TypeError, r"output_size must be an int"),
        (lambda m, x: m.adaptive_avgpool_forward(x, (1, 2, 3)), ValueError, r"output_size must be an int or an \(h, w\) pair"),
        (lambda m, x: m.adaptive_avgpool_forward(np.ones((1, 0, 3, 1)), 2), ValueError, r"x must have non-empty planes"),
        (lambda m, x: m.adaptive_avgpool_forward(np.ones((5, 5)), 2), ValueError, r"x must be 4-D, got shape \(5, 5\)"),
        (lambda m, x: m.global_maxpool_forward(np.array([["a"]])), TypeError, r"x must have a real numeric dtype"),
        (lambda m, x: m.adaptive_avgpool_backward(np.ones((1, 3, 3, 2)), m.adaptive_avgpool_forward(x, 2)[1]),
         ValueError, r"dy has shape \(1, 3, 3, 2\) but the forward output had shape \(1, 2, 2, 2\)"),
    ],
)
def test_bad_options_name_the_argument(impl, call, exc, match):
    x = np.ones((1, 5, 5, 2))
    before = x.copy()
    with pytest.raises(exc, match=match):
        call(impl, x)
    np.testing.assert_array_equal(x, before)


# --------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize(
    "forward,backward,kw",
    [
        ("maxpool_forward", "maxpool_backward", dict(pool_size=3, stride=2, padding=1, ceil_mode=True)),
        ("maxpool_forward", "maxpool_backward", dict(pool_size=(2, 3), stride=1, padding=(1, 1), dilation=(2, 1))),
        ("avgpool_forward", "avgpool_backward", dict(pool_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
        ("avgpool_forward", "avgpool_backward", dict(pool_size=(3, 2), stride=(1, 2), padding=(1, 1), divisor_override=5)),
        ("adaptive_avgpool_forward", "adaptive_avgpool_backward", dict(output_size=(3, 7))),
        ("adaptive_maxpool_forward", "adaptive_maxpool_backward", dict(output_size=(4, 2))),
    ],
)
@pytest.mark.parametrize("impl", IMPLS)
def test_gradcheck(impl, forward, backward, kw):
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 5 * 6 * 2).reshape(2, 5, 6, 2) * 0.1  # distinct values: no ties near the maxima
    fwd, bwd = getattr(impl, forward), getattr(impl, backward)
    r = rng.standard_normal(fwd(x, **kw)[0].shape)
    err = fastconv.gradcheck(lambda a: np.sum(fwd(a, **kw)[0] * r), [x], lambda a: [bwd(r, fwd(a, **kw)[1])],
                             eps=1e-4, rtol=1e-7)
    assert err <= 1e-7


# --------------------------------------------------------------------------- reference vs fast
@pytest.mark.parametrize("dtype", FLOATS)
@given(case=window_cases(dilated=True), kind=st.sampled_from(["normal", "ties", "nan"]), nt=THREADS)
def test_maxpool_options_parity(dtype, case, kind, nt):
    fastconv.set_num_threads(nt)
    shape, ours, _, seed = case
    x = data(seed, shape, dtype, kind == "ties")
    if kind == "nan":
        x.reshape(-1)[np.random.default_rng(seed).integers(0, x.size, size=max(1, x.size // 5))] = np.nan
    got, want = our_call_or_error(fastconv.maxpool_forward, x, ours), our_call_or_error(ref.maxpool_forward, x, ours)
    if isinstance(want, ValueError):
        assert isinstance(got, ValueError) and str(got) == str(want)
        return
    (y, c), (yr, cr) = got, want
    np.testing.assert_array_equal(y, yr)
    np.testing.assert_array_equal(c.argmax, cr.argmax)
    assert c.window == cr.window
    dy = data(seed + 1, y.shape, dtype)
    scale = ref.maxpool_backward(np.abs(dy.astype(np.float64)), cr)
    close(fastconv.maxpool_backward(dy, c), ref.maxpool_backward(dy, cr), scale, RTOL[dtype], f"parity maxpool dx {dtype.name}")


@pytest.mark.parametrize("dtype", FLOATS)
@given(case=window_cases(dilated=False), nt=THREADS)
def test_avgpool_options_parity(dtype, case, nt):
    fastconv.set_num_threads(nt)
    shape, ours, _, seed = case
    x = data(seed, shape, dtype)
    got, want = our_call_or_error(fastconv.avgpool_forward, x, ours), our_call_or_error(ref.avgpool_forward, x, ours)
    if isinstance(want, ValueError):
        assert isinstance(got, ValueError) and str(got) == str(want)
        return
    (y, c), (yr, cr) = got, want
    ys = np.abs(fastconv.avgpool_forward(np.abs(x.astype(np.float64)), **ours)[0])
    close(y, yr, ys, RTOL[dtype], f"parity avgpool y {dtype.name}")
    dy = data(seed + 1, y.shape, dtype)
    dxs = np.abs(ref.avgpool_backward(np.abs(dy.astype(np.float64)), cr))
    close(fastconv.avgpool_backward(dy, c), ref.avgpool_backward(dy, cr), dxs, RTOL[dtype], f"parity avgpool dx {dtype.name}")


@given(case=adaptive_cases(), dts=st.tuples(*[st.sampled_from([np.float32, np.float64, np.int64, np.uint8])] * 2),
       nt=THREADS)
def test_adaptive_parity_mixed_dtypes(case, dts, nt):
    fastconv.set_num_threads(nt)
    shape, out, seed = case
    x = data(seed, shape, dts[0], ties=np.dtype(dts[0]).kind in "iu")
    rt = RTOL[np.dtype(np.float32)] if np.float32 in dts else RTOL[np.dtype(np.float64)]
    for kind in ("max", "avg"):
        fwd, bwd = f"adaptive_{kind}pool_forward", f"adaptive_{kind}pool_backward"
        (y, c), (yr, cr) = getattr(fastconv, fwd)(x, out), getattr(ref, fwd)(x, out)
        assert y.dtype == yr.dtype and y.shape == yr.shape
        ys = getattr(fastconv, fwd)(np.abs(x.astype(np.float64)), out)[0]
        close(y, yr, ys, rt, f"parity adaptive {kind} y mixed")
        dy = data(seed + 1, y.shape, dts[1])
        dx, dxr = getattr(fastconv, bwd)(dy, c), getattr(ref, bwd)(dy, cr)
        assert dx.dtype == dxr.dtype == y.dtype
        dxs = getattr(ref, bwd)(np.abs(dy.astype(np.float64)), cr)
        close(dx, dxr, dxs, rt, f"parity adaptive {kind} dx mixed")


def test_thread_count_does_not_change_results():
    from fastconv import pool

    saved = pool._PARALLEL_MIN_ELEMS
    pool._PARALLEL_MIN_ELEMS = 0
    x = np.random.default_rng(9).standard_normal((5, 13, 11, 7)).astype(np.float32)
    try:
        results = []
        for nt in (1, 2):
            fastconv.set_num_threads(nt)
            y1, c1 = fastconv.maxpool_forward(x, 3, 2, padding=1, dilation=(1, 2), ceil_mode=True)
            y2, c2 = fastconv.avgpool_forward(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False)
            y3, c3 = fastconv.adaptive_avgpool_forward(x, (5, 4))
            results.append((y1, c1.argmax, fastconv.maxpool_backward(y1, c1), y2, fastconv.avgpool_backward(y2, c2),
                            y3, fastconv.adaptive_avgpool_backward(y3, c3)))
        for a, b in zip(*results):
            np.testing.assert_array_equal(a, b)
    finally:
        pool._PARALLEL_MIN_ELEMS = saved


@pytest.mark.parametrize("impl", IMPLS)
def test_options_in_nchw_layout(impl, rng):
    """layout="NCHW" with options: the NHWC answer transposed (values, argmax, gradients)."""
    x = rng.standard_normal((2, 7, 6, 3))
    xn = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    t = lambda a: a.transpose(0, 3, 1, 2)  # noqa: E731
    calls = [
        ("maxpool", dict(pool_size=3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)),
        ("avgpool", dict(pool_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
        ("adaptive_avgpool", dict(output_size=(4, None))),
        ("adaptive_maxpool", dict(output_size=5)),
    ]
    for name, kw in calls:
        fwd, bwd = getattr(impl, f"{name}_forward"), getattr(impl, f"{name}_backward")
        y, c = fwd(x, **kw)
        yn, cn = fwd(xn, **kw, layout="NCHW")
        np.testing.assert_array_equal(yn, t(y))
        if c.argmax is not None:
            np.testing.assert_array_equal(cn.argmax, t(c.argmax))
        dy = rng.standard_normal(y.shape)
        np.testing.assert_allclose(bwd(np.ascontiguousarray(t(dy)), cn), t(bwd(dy, c)), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- wide channel axes
# The fast window max kernels run over vectors of channels (blocks of several vectors, single
# vectors, then a scalar tail): channel counts that reach every one of those paths.
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("c", [7, 8, 37, 70, 128])
@pytest.mark.parametrize(
    "forward,kw",
    [
        ("maxpool_forward", dict(pool_size=3, stride=2, padding=1)),
        ("maxpool_forward", dict(pool_size=2, stride=2, ceil_mode=True)),
        ("maxpool_forward", dict(pool_size=(3, 2), stride=1, padding=(1, 1), dilation=(2, 3))),
        ("adaptive_maxpool_forward", dict(output_size=(3, 4))),
    ],
)
def test_window_max_wide_channels(dtype, c, forward, kw):
    rng = np.random.default_rng(c)
    x = rng.integers(-3, 4, size=(2, 7, 9, c)).astype(dtype)  # many ties
    x.reshape(-1)[rng.integers(0, x.size, size=x.size // 9)] = np.nan
    (y, cache), (yr, cr) = getattr(fastconv, forward)(x, **kw), getattr(ref, forward)(x, **kw)
    np.testing.assert_array_equal(y, yr)
    np.testing.assert_array_equal(cache.argmax, cr.argmax)
    dy = rng.standard_normal(y.shape).astype(dtype)
    backward = forward.replace("forward", "backward")
    dx = getattr(fastconv, backward)(dy, cache)
    close(dx, getattr(ref, backward)(dy, cr), getattr(ref, backward)(np.abs(dy.astype(np.float64)), cr),
          RTOL[np.dtype(dtype)], f"wide-channel {forward} dx")
    # the same sums in the same order as the backward from the int64 indices (an unpickled cache)
    np.testing.assert_array_equal(dx, getattr(fastconv, backward)(dy, pickle.loads(pickle.dumps(cache))))


def test_adaptive_max_large_windows():
    """Windows of more than 256 taps (beyond one-byte codes) keep exact indices and gradients."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 40, 30, 3))
    (y, cache), (yr, cr) = fastconv.adaptive_maxpool_forward(x, (2, 1)), ref.adaptive_maxpool_forward(x, (2, 1))
    np.testing.assert_array_equal(y, yr)
    np.testing.assert_array_equal(cache.argmax, cr.argmax)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(fastconv.adaptive_maxpool_backward(dy, cache), ref.adaptive_maxpool_backward(dy, cr))
