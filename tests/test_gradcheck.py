"""Every backward pass of both backends against central differences (fastconv.gradcheck)."""
import numpy as np
import pytest

import fastconv
from fastconv import gradcheck
from fastconv.gradcheck import GradcheckError

RTOL = 1e-6


@pytest.fixture(autouse=True)
def _one_thread():
    """gradcheck makes thousands of tiny calls: one kernel thread keeps them cheap (results do not depend on it)."""
    prev = fastconv.set_num_threads(1)
    yield
    fastconv.set_num_threads(prev)


def _separated(rng, shape, gap=1e-3):
    """Random float64 values whose pairwise distances and distances from 0 all exceed ``gap``."""
    n = int(np.prod(shape))
    vals = (np.arange(n) - n / 2 + 0.5) * 4 * gap + rng.uniform(-gap, gap, size=n) * 0.4
    return rng.permutation(vals).reshape(shape)


CONV_CASES = [
    # (N, H, W, C, Kh, Kw, Cout, padding, stride)
    (2, 5, 5, 2, 3, 3, 3, 1, 1),
    (1, 6, 7, 3, 3, 2, 2, 0, 2),
    (2, 7, 6, 2, 2, 3, 2, (2, 1), (3, 2)),
    (1, 5, 5, 1, 5, 5, 2, 2, 1),
    (2, 4, 5, 2, 1, 1, 3, 0, (1, 3)),
    (1, 8, 7, 2, 4, 3, 1, 3, 4),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
def test_conv2d_backward_gradcheck(impl, rng, case):
    n, h, w_, c, kh, kw, cout, padding, stride = case
    x = rng.normal(size=(n, h, w_, c))
    w = rng.normal(size=(kh, kw, c, cout))
    b = rng.normal(size=cout)
    y, _ = impl.conv2d_forward(x, w, b, padding, stride)
    r = rng.normal(size=y.shape)

    def loss(x, w, b):
        return np.sum(impl.conv2d_forward(x, w, b, padding, stride)[0] * r)

    def grads(x, w, b):
        return impl.conv2d_backward(r, impl.conv2d_forward(x, w, b, padding, stride)[1])

    assert gradcheck(loss, [x, w, b], grads, rtol=RTOL) <= RTOL


@pytest.mark.parametrize(
    "shape,pool,stride",
    [((2, 4, 4, 3), 2, None), ((1, 7, 6, 2), (3, 2), (2, 1)), ((2, 5, 5, 1), 3, 1), ((1, 6, 5, 2), (2, 3), (3, 3))],
)
def test_maxpool_backward_gradcheck(impl, rng, shape, pool, stride):
    x = _separated(rng, shape)
    y, _ = impl.maxpool_forward(x, pool, stride)
    r = rng.normal(size=y.shape)

    def loss(x):
        return np.sum(impl.maxpool_forward(x, pool, stride)[0] * r)

    def grads(x):
        return [impl.maxpool_backward(r, impl.maxpool_forward(x, pool, stride)[1])]

    assert gradcheck(loss, [x], grads, rtol=RTOL, eps=1e-5) <= RTOL


@pytest.mark.parametrize(
    "shape,pool,stride",
    [((2, 4, 4, 3), 2, None), ((1, 7, 6, 2), (3, 2), (2, 1)), ((2, 5, 5, 1), 3, 1), ((1, 6, 5, 2), (2, 3), (3, 3))],
)
def test_avgpool_backward_gradcheck(impl, rng, shape, pool, stride):
    x = rng.normal(size=shape)
    y, _ = impl.avgpool_forward(x, pool, stride)
    r = rng.normal(size=y.shape)

    def loss(x):
        return np.sum(impl.avgpool_forward(x, pool, stride)[0] * r)

    def grads(x):
        return [impl.avgpool_backward(r, impl.avgpool_forward(x, pool, stride)[1])]

    assert gradcheck(loss, [x], grads, rtol=RTOL) <= RTOL


def test_dense_backward_gradcheck(impl, rng):
    x, w, b = rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=3)
    r = rng.normal(size=(4, 3))

    def loss(x, w, b):
        return np.sum(impl.dense_forward(x, w, b)[0] * r)

    def grads(x, w, b):
        return impl.dense_backward(r, impl.dense_forward(x, w, b)[1])

    assert gradcheck(loss, [x, w, b], grads, rtol=RTOL) <= RTOL


def test_softmax_crossentropy_backward_gradcheck(impl, rng):
    logits = rng.normal(size=(5, 4)) * 2
    labels = np.eye(4)[rng.integers(0, 4, size=5)]

    def loss(z):
        return impl.softmax_crossentropy_forward(z, labels)[0]

    def grads(z):
        return [impl.softmax_crossentropy_backward(impl.softmax_crossentropy_forward(z, labels)[1])]

    assert gradcheck(loss, [logits], grads, rtol=RTOL) <= RTOL


def test_relu_backward_gradcheck(impl, rng):
    x = _separated(rng, (3, 4, 2))
    r = rng.normal(size=x.shape)

    def loss(x):
        return np.sum(impl.relu_forward(x)[0] * r)

    def grads(x):
        return [impl.relu_backward(r, impl.relu_forward(x)[1])]

    assert gradcheck(loss, [x], grads, rtol=RTOL) <= RTOL


def test_flatten_backward_gradcheck(impl, rng):
    x = rng.normal(size=(2, 3, 2, 2))
    r = rng.normal(size=(2, 12))

    def loss(x):
        return np.sum(impl.flatten_forward(x)[0] * r)

    def grads(x):
        return [impl.flatten_backward(r, impl.flatten_forward(x)[1])]

    assert gradcheck(loss, [x], grads, rtol=RTOL) <= RTOL


def test_small_cnn_end_to_end_gradcheck(impl, rng):
    """conv -> relu -> maxpool -> flatten -> dense -> softmax CE, chained backward."""
    x = rng.normal(size=(2, 6, 6, 1))
    w1, b1 = rng.normal(size=(3, 3, 1, 2)) * 0.5, rng.normal(size=2) * 0.1
    w2, b2 = rng.normal(size=(18, 3)) * 0.5, rng.normal(size=3) * 0.1
    labels = np.eye(3)[[0, 2]]

    def forward(x, w1, b1, w2, b2):
        h1, c1 = impl.conv2d_forward(x, w1, b1, 1, 1)
        a1, cr = impl.relu_forward(h1)
        p1, cp = impl.maxpool_forward(a1, 2)
        f, cf = impl.flatten_forward(p1)
        z, cd = impl.dense_forward(f, w2, b2)
        loss, cs = impl.softmax_crossentropy_forward(z, labels)
        return loss, (c1, cr, cp, cf, cd, cs)

    def grads(x, w1, b1, w2, b2):
        _, (c1, cr, cp, cf, cd, cs) = forward(x, w1, b1, w2, b2)
        dz = impl.softmax_crossentropy_backward(cs)
        df, dw2, db2 = impl.dense_backward(dz, cd)
        dp = impl.flatten_backward(df, cf)
        da = impl.maxpool_backward(dp, cp)
        dh = impl.relu_backward(da, cr)
        dx, dw1, db1 = impl.conv2d_backward(dh, c1)
        return dx, dw1, db1, dw2, db2

    # the seed keeps every ReLU input and max-pool tie far from its kink (checked below)
    _, (c1, *_rest) = forward(x, w1, b1, w2, b2)
    h1 = impl.conv2d_forward(x, w1, b1, 1, 1)[0]
    assert np.min(np.abs(h1)) > 1e-4
    err = gradcheck(lambda *a: forward(*a)[0], [x, w1, b1, w2, b2], grads, rtol=RTOL)
    assert err <= RTOL


# ------------------------------------------------------------------ gradcheck itself
def test_gradcheck_detects_wrong_gradient(rng):
    x, w, b = rng.normal(size=(1, 5, 5, 2)), rng.normal(size=(3, 3, 2, 2)), rng.normal(size=2)
    r = rng.normal(size=(1, 5, 5, 2))

    def loss(x, w, b):
        return np.sum(fastconv.conv2d_forward(x, w, b)[0] * r)

    def wrong(x, w, b):
        dx, dw, db = fastconv.conv2d_backward(r, fastconv.conv2d_forward(x, w, b)[1])
        dw = dw.copy()
        dw[1, 2, 0, 1] *= 1.001  # one element off by 0.1 %
        return dx, dw, db

    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(3, 3, 2, 2\)\).*index \(1, 2, 0, 1\)"):
        gradcheck(loss, [x, w, b], wrong)
    err = gradcheck(loss, [x, w, b], wrong, raise_exception=False)
    assert 1e-5 < err < 1e-2


def test_gradcheck_detects_transposed_and_missing_terms(rng):
    x = rng.normal(size=(3, 3))
    a = rng.normal(size=(3, 3))

    def loss(x):
        return np.sum(a * (x @ x))

    with pytest.raises(GradcheckError):
        gradcheck(loss, [x], [a @ x.T])  # misses the second term
    ok = gradcheck(loss, [x], [a @ x.T + x.T @ a])
    assert ok <= RTOL


def test_gradcheck_does_not_modify_inputs_and_checks_subsets(rng):
    x = rng.normal(size=(2, 3)).astype(np.float32)
    y = rng.normal(size=(3,))
    x0, y0 = x.copy(), y.copy()
    err = gradcheck(lambda x, y: float(np.sum(x @ y)), [x, y], [np.tile(y0, (2, 1))], wrt=[0])
    assert err <= RTOL
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        (dict(analytic=[np.zeros((2, 2))]), r"analytic gradient 0 has shape \(2, 2\) but input 0 has shape \(3,\)"),
        (dict(analytic=[np.zeros(3), np.zeros(3)]), r"analytic has 2 gradients but 1 inputs"),
        (dict(analytic=[np.zeros(3)], wrt=[3]), r"wrt index 3 is out of range"),
        (dict(analytic=[np.zeros(3)], eps=0.0), r"eps must be positive"),
    ],
)
def test_gradcheck_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        gradcheck(lambda x: float(np.sum(x)), [np.ones(3)], **kwargs)


def test_gradcheck_needs_scalar_loss():
    with pytest.raises(ValueError, match=r"scalar loss.*shape \(3,\)"):
        gradcheck(lambda x: x * 2, [np.ones(3)], [np.ones(3)])


def test_gradcheck_module_and_function():
    # ``import fastconv.gradcheck`` gives the module; calling it (as ``from fastconv import
    # gradcheck`` code does) calls its gradcheck function
    import importlib
    import inspect
    import types

    import fastconv
    import fastconv.gradcheck as mod

    assert isinstance(mod, types.ModuleType) and mod is importlib.import_module("fastconv.gradcheck")
    assert fastconv.gradcheck is mod and mod.GradcheckError is GradcheckError
    loss, grads = (lambda x: float(np.sum(x * x))), (lambda x: [2 * x])
    x = np.arange(3.0)
    assert mod(loss, [x], grads) == mod.gradcheck(loss, [x], grads) <= 1e-6
    assert inspect.signature(mod) == inspect.signature(mod.gradcheck)
    with pytest.raises(GradcheckError):
        mod(loss, [x], [3 * x])
