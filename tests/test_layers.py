"""ReLU, flatten, dense and softmax cross-entropy on both backends."""
import numpy as np
import pytest


def test_relu(impl, dtype):
    x = np.array([[-1.5, 0.0, 2.0]], dtype=dtype)
    y, cache = impl.relu_forward(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, [[0, 0, 2]])
    dx = impl.relu_backward(np.array([[3.0, 4.0, 5.0]], dtype=dtype), cache)
    np.testing.assert_array_equal(dx, [[0, 0, 5]])  # no gradient at x == 0


def test_flatten_roundtrip(impl, rng):
    x = rng.standard_normal((3, 4, 4, 2))
    y, cache = impl.flatten_forward(x)
    assert y.shape == (3, 32)
    np.testing.assert_array_equal(y[1], x[1].ravel())
    np.testing.assert_array_equal(impl.flatten_backward(y, cache), x)
    with pytest.raises(ValueError, match=r"dy has shape \(3, 31\)"):
        impl.flatten_backward(np.ones((3, 31)), cache)


def test_dense(impl, dtype, rng):
    x = rng.standard_normal((5, 7)).astype(dtype)
    w = rng.standard_normal((7, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    y, cache = impl.dense_forward(x, w, b)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, x.astype(np.float64) @ w + b, rtol=rtol, atol=rtol)
    dy = rng.standard_normal((5, 3)).astype(dtype)
    dx, dw, db = impl.dense_backward(dy, cache)
    np.testing.assert_allclose(dx, dy.astype(np.float64) @ w.T, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(dw, x.astype(np.float64).T @ dy, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(db, dy.sum(0), rtol=rtol, atol=rtol)
    with pytest.raises(ValueError, match=r"w has 7 input features but x has 6"):
        impl.dense_forward(np.ones((2, 6)), w, b)


def test_softmax_crossentropy(impl, rng):
    logits = rng.standard_normal((4, 10)) * 5
    labels = np.eye(10)[[1, 3, 3, 9]]
    loss, cache = impl.softmax_crossentropy_forward(logits, labels)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(loss, -np.mean(np.log(p[np.arange(4), [1, 3, 3, 9]] + 1e-12)), rtol=1e-12)
    np.testing.assert_allclose(impl.softmax_crossentropy_backward(cache), (p - labels) / 4, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match=r"labels has shape \(4, 9\) but logits has shape \(4, 10\)"):
        impl.softmax_crossentropy_forward(logits, labels[:, :9])


def test_large_logits_are_stable(impl):
    loss, _ = impl.softmax_crossentropy_forward(np.array([[1000.0, 0.0]]), np.array([[1.0, 0.0]]))
    assert np.isfinite(loss) and loss < 1e-6


def test_public_names_match_reference():
    import fastconv
    import fastconv.reference as ref
    import inspect

    fast_only = {"algorithm"}  # chooses among the fast path's kernels; the reference has one implementation
    for name in ref.__all__:
        assert name in fastconv.__all__, name
        sig = inspect.signature(getattr(fastconv, name))
        sig = sig.replace(parameters=[p for p in sig.parameters.values() if p.name not in fast_only])
        assert sig == inspect.signature(getattr(ref, name)), name
