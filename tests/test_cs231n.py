"""``fastconv.cs231n``: the assignment's layer signatures, checked against torch autograd, the reference
loops and an assignment-style numeric gradient check, on the assignment's own test shapes."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import fastconv.reference as R
from fastconv import cs231n as L

CONV = {"stride": 2, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="torch is a test-only extra (pip install '.[test]'): torch comparisons skipped")


# --------------------------------------------------------------------------- helpers in the assignment's style
def rel_error(x, y):
    """The assignment's relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def numeric_gradient(f, x, df, h=1e-5):
    """Central differences of sum(f(x) * df) with respect to every element of x (x restored after)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        pos = f(x).copy()
        x[i] = old - h
        neg = f(x).copy()
        x[i] = old
        grad[i] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def torch_conv(torch, x, w, b, conv_param, dout, relu=False, pool=None):
    """(out, dx, dw, db) of the same layer stack by torch autograd, in float64."""
    F = torch.nn.functional
    xt, wt, bt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(xt, wt, bt, stride=conv_param["stride"], padding=conv_param["pad"])
    if relu:
        out = F.relu(out)
    if pool is not None:
        out = F.max_pool2d(out, (pool["pool_height"], pool["pool_width"]), pool["stride"])
    out.backward(torch.tensor(dout, dtype=torch.float64))
    return tuple(t.detach().numpy() for t in (out, xt.grad, wt.grad, bt.grad))


def close(a, b, tol=1e-9):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    assert err <= tol * max(1.0, float(np.max(np.abs(b)))), f"max abs error {err:.3g}"
    return err


# --------------------------------------------------------------------------- the assignment's shapes
def forward_fixture():
    """The assignment's forward test inputs: x (2, 3, 4, 4), w (3, 3, 4, 4), b (3,), stride 2, pad 1."""
    x = np.linspace(-0.1, 0.5, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    return x, w, b


def test_conv_forward_fixture(torch):
    x, w, b = forward_fixture()
    out, _ = L.conv_forward_naive(x, w, b, CONV)
    assert out.shape == (2, 3, 2, 2) and out.dtype == np.float64
    want = torch_conv(torch, x, w, b, CONV, np.ones((2, 3, 2, 2)))[0]
    close(out, want, 1e-12)
    ref, _ = R.conv2d_forward(x, w, b, 1, 2, layout="NCHW")
    close(out, ref, 1e-12)


def test_naive_and_fast_are_the_same_functions():
    assert L.conv_forward_naive is L.conv_forward_fast and L.conv_backward_naive is L.conv_backward_fast
    assert L.max_pool_forward_naive is L.max_pool_forward_fast
    assert L.max_pool_backward_naive is L.max_pool_backward_fast


def _grad_data(seed=231):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 3, 5, 5))
    w = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(2)
    dout = rng.standard_normal((4, 2, 5, 5))
    return x, w, b, dout


def test_conv_backward_against_torch_and_reference(torch):
    x, w, b, dout = _grad_data()
    param = {"stride": 1, "pad": 1}
    out, cache = L.conv_forward_fast(x, w, b, param)
    dx, dw, db = L.conv_backward_fast(dout, cache)
    t_out, t_dx, t_dw, t_db = torch_conv(torch, x, w, b, param, dout)
    for got, want in ((out, t_out), (dx, t_dx), (dw, t_dw), (db, t_db)):
        close(got, want)
    r_out, r_cache = R.conv2d_forward(x, w, b, 1, 1, layout="NCHW")
    for got, want in zip((out, dx, dw, db), (r_out, *R.conv2d_backward(dout, r_cache))):
        close(got, want, 1e-12)


def test_conv_numeric_gradient_check(torch):
    """The assignment's check: x (4, 3, 5, 5), w (2, 3, 3, 3), stride 1 pad 1, central differences."""
    x, w, b, dout = _grad_data()
    param = {"stride": 1, "pad": 1}
    dx_num = numeric_gradient(lambda a: L.conv_forward_naive(a, w, b, param)[0], x.copy(), dout)
    dw_num = numeric_gradient(lambda a: L.conv_forward_naive(x, a, b, param)[0], w.copy(), dout)
    db_num = numeric_gradient(lambda a: L.conv_forward_naive(x, w, a, param)[0], b.copy(), dout)
    _, cache = L.conv_forward_naive(x, w, b, param)
    dx, dw, db = L.conv_backward_naive(dout, cache)
    errors = [rel_error(dx, dx_num), rel_error(dw, dw_num), rel_error(db, db_num)]
    # torch float64 under the same check: the level that float64 and h = 1e-5 reach
    F = torch.nn.functional

    def tfwd(xa, wa, ba):
        return F.conv2d(*(torch.tensor(a) for a in (xa, wa, ba)), stride=1, padding=1).numpy()

    t_dx = numeric_gradient(lambda a: tfwd(a, w, b), x.copy(), dout)
    _, tdx, tdw, tdb = torch_conv(torch, x, w, b, param, dout)
    torch_error = rel_error(tdx, t_dx)
    for e in errors:
        assert e < 1e-7 and e < max(1e-8, 10 * torch_error), (errors, torch_error)


def test_max_pool_against_torch_and_numeric(torch):
    """The assignment's pooling shapes: x (3, 2, 8, 8), 2x2 windows, stride 2."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 8, 8))
    dout = rng.standard_normal((3, 2, 4, 4))
    out, cache = L.max_pool_forward_naive(x, POOL)
    assert out.shape == (3, 2, 4, 4)
    dx = L.max_pool_backward_naive(dout, cache)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, 2, 2)
    yt.backward(torch.tensor(dout))
    close(out, yt.detach().numpy(), 0)
    close(dx, xt.grad.numpy())
    dx_num = numeric_gradient(lambda a: L.max_pool_forward_naive(a, POOL)[0], x.copy(), dout)
    assert rel_error(dx, dx_num) < 1e-8
    r_out, r_cache = R.maxpool_forward(x, 2, 2, layout="NCHW")
    close(out, r_out, 0)
    close(dx, R.maxpool_backward(dout, r_cache), 0)


@pytest.mark.parametrize("stack", ["conv_relu", "conv_relu_pool"])
def test_sandwich_layers(torch, stack):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 16, 16))
    w = rng.standard_normal((3, 3, 3, 3))
    b = rng.standard_normal(3)
    param = {"stride": 1, "pad": 1}
    if stack == "conv_relu":
        fwd = lambda xa, wa, ba: L.conv_relu_forward(xa, wa, ba, param)  # noqa: E731
        bwd, pool, shape = L.conv_relu_backward, None, (2, 3, 16, 16)
    else:
        fwd = lambda xa, wa, ba: L.conv_relu_pool_forward(xa, wa, ba, param, POOL)  # noqa: E731
        bwd, pool, shape = L.conv_relu_pool_backward, POOL, (2, 3, 8, 8)
    dout = rng.standard_normal(shape)
    out, cache = fwd(x, w, b)
    dx, dw, db = bwd(dout, cache)
    t_out, t_dx, t_dw, t_db = torch_conv(torch, x, w, b, param, dout, relu=True, pool=pool)
    for got, want in ((out, t_out), (dx, t_dx), (dw, t_dw), (db, t_db)):
        close(got, want)
    dx_num = numeric_gradient(lambda a: fwd(a, w, b)[0], x.copy(), dout)
    dw_num = numeric_gradient(lambda a: fwd(x, a, b)[0], w.copy(), dout)
    db_num = numeric_gradient(lambda a: fwd(x, w, a)[0], b.copy(), dout)
    assert max(rel_error(dx, dx_num), rel_error(dw, dw_num), rel_error(db, db_num)) < 1e-7


@pytest.mark.parametrize(
    "xshape, wshape, param",
    [
        ((2, 3, 7, 7), (4, 3, 3, 3), {"stride": 2, "pad": 0}),
        ((2, 3, 7, 8), (4, 3, 3, 3), {"stride": 3, "pad": 1}),
        ((1, 2, 31, 31), (5, 2, 3, 3), {"stride": 2, "pad": 1}),
        ((2, 2, 6, 9), (3, 2, 4, 2), {"stride": 4, "pad": 2}),
    ],
)
def test_uneven_strides_follow_floor(torch, xshape, wshape, param):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(xshape), rng.standard_normal(wshape), rng.standard_normal(wshape[0])
    out, cache = L.conv_forward_fast(x, w, b, param)
    s, p = param["stride"], param["pad"]
    assert out.shape[2:] == (1 + (xshape[2] + 2 * p - wshape[2]) // s, 1 + (xshape[3] + 2 * p - wshape[3]) // s)
    dout = rng.standard_normal(out.shape)
    got = (out, *L.conv_backward_fast(dout, cache))
    for g, want in zip(got, torch_conv(torch, x, w, b, param, dout)):
        close(g, want)


@pytest.mark.parametrize("pool", [{"pool_height": 2, "pool_width": 2, "stride": 2}, {"pool_height": 3, "pool_width": 2, "stride": 2},
                                  {"pool_height": 3, "pool_width": 3, "stride": 1}])
def test_pool_uneven_follows_floor(torch, pool):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 9))
    out, cache = L.max_pool_forward_fast(x, pool)
    ph, pw, s = pool["pool_height"], pool["pool_width"], pool["stride"]
    assert out.shape == (2, 3, 1 + (7 - ph) // s, 1 + (9 - pw) // s)
    dout = rng.standard_normal(out.shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, (ph, pw), s)
    yt.backward(torch.tensor(dout))
    close(out, yt.detach().numpy(), 0)
    close(L.max_pool_backward_fast(dout, cache), xt.grad.numpy())


def test_dtypes_float32_stays_float32():
    x, w, b, dout = (a.astype(np.float32) for a in _grad_data())
    out, cache = L.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    dx, dw, db = L.conv_backward_fast(dout, cache)
    assert {a.dtype for a in (out, dx, dw, db)} == {np.dtype(np.float32)}
    out64, cache64 = L.conv_forward_fast(*(a.astype(np.float64) for a in (x, w, b)), {"stride": 1, "pad": 1})
    np.testing.assert_allclose(out, out64, rtol=1e-5, atol=1e-5)
    for g32, g64 in zip((dx, dw, db), L.conv_backward_fast(dout.astype(np.float64), cache64)):
        assert g64.dtype == np.float64
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4)
    p, pc = L.max_pool_forward_fast(out, POOL)
    assert p.dtype == np.float32 and L.max_pool_backward_fast(np.ones_like(p), pc).dtype == np.float32
    o, c = L.conv_relu_pool_forward(x, w, b, {"stride": 1, "pad": 1}, POOL)
    assert o.dtype == np.float32 and all(g.dtype == np.float32 for g in L.conv_relu_pool_backward(np.ones_like(o), c))


def test_outputs_are_c_contiguous():
    x, w, b, dout = _grad_data()
    out, cache = L.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    assert all(a.flags.c_contiguous for a in (out, *L.conv_backward_fast(dout, cache)))


def test_tied_maxima_go_to_the_first():
    """The documented tie rule: the whole gradient goes to the first maximum in row-major order
    (the assignment's reshape path would give each of the four tied elements a quarter)."""
    x = np.zeros((1, 1, 2, 2))
    out, cache = L.max_pool_forward_fast(x, POOL)
    dx = L.max_pool_backward_fast(np.full((1, 1, 1, 1), 4.0), cache)
    np.testing.assert_array_equal(dx[0, 0], [[4.0, 0.0], [0.0, 0.0]])


def test_inputs_and_dicts_not_modified():
    x, w, b, dout = _grad_data()
    param, pool = {"stride": 1, "pad": 1}, dict(POOL)
    saved = [a.copy() for a in (x, w, b, dout)]
    params0 = (copy.deepcopy(param), copy.deepcopy(pool))
    out, cache = L.conv_relu_pool_forward(x, w, b, param, pool)
    L.conv_relu_pool_backward(np.ones_like(out), cache)
    out, cache = L.conv_forward_fast(x, w, b, param)
    L.conv_backward_fast(dout, cache)
    for a, a0 in zip((x, w, b, dout), saved):
        np.testing.assert_array_equal(a, a0)
    assert (param, pool) == params0 and list(param) == ["stride", "pad"]


# --------------------------------------------------------------------------- bad input
x0, w0, b0 = np.ones((1, 3, 6, 6)), np.ones((2, 3, 3, 3)), np.zeros(2)


@pytest.mark.parametrize(
    "param, exc, match",
    [
        ({"pad": 1}, ValueError, r"conv_param is missing the key 'stride'"),
        ({"stride": 1}, ValueError, r"conv_param is missing the key 'pad'"),
        ({"stride": 1.5, "pad": 1}, TypeError, r"conv_param\['stride'\] must be an int, got float 1.5"),
        ({"stride": 2.0, "pad": 1}, TypeError, r"conv_param\['stride'\] must be an int"),
        ({"stride": "2", "pad": 1}, TypeError, r"conv_param\['stride'\] must be an int"),
        ({"stride": True, "pad": 1}, TypeError, r"conv_param\['stride'\] must be an int"),
        ({"stride": 1, "pad": None}, TypeError, r"conv_param\['pad'\] must be an int"),
        ({"stride": 0, "pad": 1}, ValueError, r"conv_param\['stride'\] must be >= 1, got 0"),
        ({"stride": 1, "pad": -1}, ValueError, r"conv_param\['pad'\] must be >= 0, got -1"),
        ([("stride", 1), ("pad", 1)], TypeError, r"conv_param must be a dict with keys 'stride', 'pad', got list"),
    ],
)
def test_bad_conv_param(param, exc, match):
    with pytest.raises(exc, match=match):
        L.conv_forward_fast(x0, w0, b0, param)
    with pytest.raises(exc, match=match):
        L.conv_relu_forward(x0, w0, b0, param)


@pytest.mark.parametrize(
    "param, exc, match",
    [
        ({"pool_width": 2, "stride": 2}, ValueError, r"pool_param is missing the key 'pool_height'"),
        ({"pool_height": 2, "stride": 2}, ValueError, r"pool_param is missing the key 'pool_width'"),
        ({"pool_height": 2, "pool_width": 2}, ValueError, r"pool_param is missing the key 'stride'"),
        ({"pool_height": 2.0, "pool_width": 2, "stride": 2}, TypeError, r"pool_param\['pool_height'\] must be an int"),
        ({"pool_height": 2, "pool_width": 0, "stride": 2}, ValueError, r"pool_param\['pool_width'\] must be >= 1"),
        (None, TypeError, r"pool_param must be a dict"),
    ],
)
def test_bad_pool_param(param, exc, match):
    with pytest.raises(exc, match=match):
        L.max_pool_forward_fast(x0, param)
    with pytest.raises(exc, match=match):
        L.conv_relu_pool_forward(x0, w0, b0, {"stride": 1, "pad": 1}, param)


def test_numpy_integers_accepted():
    a, _ = L.conv_forward_fast(x0, w0, b0, {"stride": np.int64(1), "pad": np.int32(1)})
    b, _ = L.conv_forward_fast(x0, w0, b0, {"stride": 1, "pad": 1, "extra": "ignored"})
    np.testing.assert_array_equal(a, b)


def test_bad_shapes_and_caches():
    with pytest.raises(ValueError, match=r"w has 4 input channels but x has 3"):
        L.conv_forward_fast(x0, np.ones((2, 4, 3, 3)), b0, {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=r"pool window 7x7 is larger"):
        L.max_pool_forward_fast(x0, {"pool_height": 7, "pool_width": 7, "stride": 1})
    out, cache = L.conv_forward_fast(x0, w0, b0, {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=r"dy has shape \(1, 2, 5, 5\) but the forward output had shape \(1, 2, 6, 6\)"):
        L.conv_backward_fast(np.ones((1, 2, 5, 5)), cache)
    _, pcache = L.max_pool_forward_fast(x0, POOL)
    with pytest.raises(TypeError, match="cache must be the cache returned by conv_forward_fast"):
        L.conv_backward_fast(out, pcache)
    with pytest.raises(TypeError, match="cache must be the cache returned by max_pool_forward_fast"):
        L.max_pool_backward_fast(out, cache)
    with pytest.raises(TypeError, match="cache must be the cache returned by conv_relu_forward"):
        L.conv_relu_backward(out, cache)
    with pytest.raises(TypeError, match="cache must be the cache returned by conv_relu_pool_forward"):
        L.conv_relu_pool_backward(out, (cache,))


def test_max_pool_backward_accepts_max_caches_only_and_reads_the_window_codes():
    import pickle

    import fastconv

    x = np.random.default_rng(5).standard_normal((2, 3, 6, 6))
    out, cache = L.max_pool_forward_fast(x, POOL)
    dx = L.max_pool_backward_fast(np.ones_like(out), cache)
    # the backward reads the one-byte codes: the int64 argmax was not built for it
    assert cache._inner._argmax is None
    expected = R.maxpool_backward(np.ones((2, 3, 3, 3)), R.maxpool_forward(x.transpose(0, 2, 3, 1), 2, 2)[1])
    np.testing.assert_array_equal(dx, expected.transpose(0, 3, 1, 2))
    # an unpickled cache (a plain PoolCache holding argmax) still works, and gives the same dx
    np.testing.assert_array_equal(L.max_pool_backward_fast(np.ones_like(out), pickle.loads(pickle.dumps(cache))), dx)
    _, acache = fastconv.avgpool_forward(x, 2, layout="NCHW")
    with pytest.raises(TypeError, match="cache must be the cache returned by max_pool_forward_fast"):
        L.max_pool_backward_fast(np.ones_like(out), acache)
