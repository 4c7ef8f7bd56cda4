"""The tutorial's simple layers: ReLU, flatten, dense and softmax cross-entropy.

These are single vectorized NumPy expressions already (a compiled kernel would not beat a
BLAS ``dot``), so they are written once, here, with argument checks. ``fastconv.reference``
keeps explicit-loop versions of ``dense`` and ``softmax`` as ground truth.
"""
from __future__ import annotations

import numpy as np

from . import _validate as v

__all__ = [
    "relu_forward",
    "relu_backward",
    "flatten_forward",
    "flatten_backward",
    "dense_forward",
    "dense_backward",
    "softmax_crossentropy_forward",
    "softmax_crossentropy_backward",
]


def relu_forward(x):
    """ReLU forward.

    Parameters
    ----------
    x : array_like
        Any shape.

    Returns
    -------
    y : ndarray
        ``np.maximum(0, x)``, same dtype as ``x``.
    cache : ndarray
        ``x`` itself, for :func:`relu_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import relu_forward
    >>> relu_forward(np.array([-1.0, 2.0]))[0]
    array([0., 2.])
    """
    x = v.as_array(x, "x")
    return np.maximum(0, x), x


def relu_backward(dy, cache):
    """ReLU backward: ``dy * (x > 0)`` where ``x`` is the forward input held in ``cache``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import relu_backward, relu_forward
    >>> y, cache = relu_forward(np.array([-1.0, 2.0]))
    >>> relu_backward(np.array([5.0, 5.0]), cache)
    array([0., 5.])
    """
    x = v.check_cache(cache, np.ndarray, "relu_forward")
    dy = v.check_dy(dy, x.shape)
    return dy * (x > 0)


def flatten_forward(x):
    """Flatten (N, ...) to (N, D). Returns ``(y, x.shape)``; ``y`` is a view when possible.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import flatten_forward
    >>> y, shape = flatten_forward(np.zeros((2, 3, 4, 5)))
    >>> y.shape, shape
    ((2, 60), (2, 3, 4, 5))
    """
    x = v.as_array(x, "x")
    if x.ndim < 1:
        raise ValueError(f"x must have a batch axis, got shape {x.shape}")
    return x.reshape(x.shape[0], int(np.prod(x.shape[1:]))), x.shape  # -1 fails for N == 0


def flatten_backward(dy, cache):
    """Reshape the gradient ``dy`` back to the shape saved by :func:`flatten_forward`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import flatten_backward, flatten_forward
    >>> y, cache = flatten_forward(np.zeros((2, 3, 4, 5)))
    >>> flatten_backward(np.ones_like(y), cache).shape
    (2, 3, 4, 5)
    """
    v.check_cache(cache, tuple, "flatten_forward")
    dy = v.as_array(dy, "dy")
    if dy.size != int(np.prod(cache)):
        raise ValueError(f"dy has shape {dy.shape}, which does not reshape to the input shape {tuple(cache)}")
    return dy.reshape(cache)


def dense_forward(x, w, b):
    """Fully connected layer.

    Parameters
    ----------
    x : array_like, shape (N, Din)
    w : array_like, shape (Din, Dout)
    b : array_like, shape (Dout,)

    Returns
    -------
    y : ndarray, shape (N, Dout)
        ``x @ w + b`` in NumPy's promoted dtype.
    cache : tuple
        ``(x, w, b)`` for :func:`dense_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import dense_forward
    >>> y, cache = dense_forward(np.ones((2, 3)), np.ones((3, 4)), np.arange(4.0))
    >>> y
    array([[3., 4., 5., 6.],
           [3., 4., 5., 6.]])
    """
    x, w, b = v.dense_args(x, w, b)
    return x.dot(w) + b, (x, w, b)


def dense_backward(dy, cache):
    """Fully connected layer backward: returns ``(dy @ w.T, x.T @ dy, dy.sum(0))``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import dense_backward, dense_forward
    >>> y, cache = dense_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4))
    >>> dx, dw, db = dense_backward(np.ones((2, 4)), cache)
    >>> dx.shape, dw.shape, db
    ((2, 3), (3, 4), array([2., 2., 2., 2.]))
    """
    x, w, _ = v.check_tuple_cache(cache, 3, "dense_forward")
    dy = v.check_dy(dy, (x.shape[0], w.shape[1]))
    return dy.dot(w.T), x.T.dot(dy), dy.sum(axis=0)


def softmax_crossentropy_forward(logits, labels):
    """Mean softmax cross-entropy.

    Parameters
    ----------
    logits : array_like, shape (N, K)
    labels : array_like, shape (N, K)
        One-hot targets.

    Returns
    -------
    loss : float
        ``-sum(labels * log(softmax(logits) + 1e-12)) / N``.
    cache : tuple
        ``(proba, labels, N)`` for :func:`softmax_crossentropy_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import softmax_crossentropy_forward
    >>> loss, cache = softmax_crossentropy_forward(np.zeros((2, 4)), np.eye(4)[[0, 3]])
    >>> round(float(loss), 6) == round(float(np.log(4)), 6)
    True
    """
    logits, labels = v.softmax_args(logits, labels)
    ex = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba = ex / ex.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    loss = -np.sum(labels * np.log(proba + 1e-12)) / n
    return loss, (proba, labels, n)


def softmax_crossentropy_backward(cache):
    """Gradient of the mean softmax cross-entropy with respect to the logits: ``(proba - labels) / N``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import softmax_crossentropy_backward, softmax_crossentropy_forward
    >>> loss, cache = softmax_crossentropy_forward(np.zeros((1, 2)), np.array([[1.0, 0.0]]))
    >>> softmax_crossentropy_backward(cache)
    array([[-0.5,  0.5]])
    """
    proba, labels, n = v.check_tuple_cache(cache, 3, "softmax_crossentropy_forward")
    return (proba - labels) / n
