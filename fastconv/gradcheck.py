"""Numerical gradient checking by central differences in float64.

``import fastconv.gradcheck`` gives this module, and the module is callable as its main
function, so ``from fastconv import gradcheck; gradcheck(fn, inputs, analytic)`` and
``fastconv.gradcheck.gradcheck(...)`` both work (``fastconv.gradcheck.GradcheckError`` too).
"""
from __future__ import annotations

import inspect
import sys
import types
from typing import Callable, Optional, Sequence, Union

import numpy as np

__all__ = ["gradcheck", "GradcheckError"]

ArrayList = Sequence[np.ndarray]


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when an analytic gradient disagrees with the numerical one."""


def _loss_value(fn, arrays) -> float:
    """Call ``fn`` and return its value as a Python float (it must be a scalar)."""
    out = fn(*arrays)
    arr = np.asarray(out)
    if arr.size != 1:
        raise ValueError(f"fn must return a scalar loss, got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def gradcheck(
    fn: Callable[..., float],
    inputs: Sequence,
    analytic: Union[ArrayList, Callable[..., ArrayList]],
    *,
    wrt: Optional[Sequence[int]] = None,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    raise_exception: bool = True,
) -> float:
    """Compare analytic gradients with central differences of a scalar loss, in float64.

    Each element of each checked input is moved by ``+eps`` and ``-eps`` and the derivative
    is estimated as ``(fn(x + eps) - fn(x - eps)) / (2 * eps)``. The inputs are copied to
    float64 first and never modified.

    Parameters
    ----------
    fn : callable
        ``fn(*inputs) -> float``: the scalar loss. It receives float64 copies of ``inputs``.
        To check a forward/backward pair, make ``fn`` the forward pass followed by a fixed
        linear read-out, e.g. ``lambda x, w, b: np.sum(conv2d_forward(x, w, b)[0] * r)``,
        whose analytic gradient is the backward pass applied to ``dy = r``.
    inputs : sequence of array_like
        The point at which the gradient is checked.
    analytic : sequence of array_like, or callable
        The analytic gradients, one per checked input (same shapes), or a callable
        ``analytic(*inputs)`` returning them; it is called once with the float64 copies.
        An entry may be ``None`` to skip that input.
    wrt : sequence of int, optional
        Indices of the inputs to check, in the order ``analytic`` lists them. Defaults to all
        inputs.
    eps : float, default 1e-6
        Finite-difference step.
    rtol : float, default 1e-6
        Largest accepted relative error.
    raise_exception : bool, default True
        Raise :class:`GradcheckError` when the error exceeds ``rtol``; otherwise just return it.

    Returns
    -------
    float
        The largest relative error over the checked inputs (see Notes).

    Raises
    ------
    GradcheckError
        If the relative error exceeds ``rtol`` (and ``raise_exception``), with the input index,
        its shape, the worst element and both values in the message.
    ValueError
        If ``analytic`` does not match ``inputs`` in number or shapes, or ``fn`` is not scalar.

    Notes
    -----
    The relative error of one input is the largest absolute difference between the numerical
    and analytic gradients divided by the larger of their largest magnitudes (or by 1 when
    both are smaller than 1, so that an all-zero gradient is compared in absolute terms).
    Inputs must be away from kinks (ReLU at 0, ties in max pooling) by more than ``eps``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import gradcheck, dense_forward, dense_backward
    >>> rng = np.random.default_rng(0)
    >>> x, w, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=2)
    >>> r = rng.normal(size=(3, 2))
    >>> loss = lambda x, w, b: np.sum(dense_forward(x, w, b)[0] * r)
    >>> grads = lambda x, w, b: dense_backward(r, dense_forward(x, w, b)[1])
    >>> gradcheck(loss, [x, w, b], grads) < 1e-6
    True
    """
    arrays = [np.array(a, dtype=np.float64, copy=True) for a in inputs]
    wrt = list(range(len(arrays))) if wrt is None else [int(i) for i in wrt]
    for i in wrt:
        if not -len(arrays) <= i < len(arrays):
            raise ValueError(f"wrt index {i} is out of range for {len(arrays)} inputs")
    grads = analytic(*[a.copy() for a in arrays]) if callable(analytic) else analytic
    grads = list(grads)
    if len(grads) != len(wrt):
        raise ValueError(f"analytic has {len(grads)} gradients but {len(wrt)} inputs are checked (wrt={wrt})")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")

    worst = 0.0
    for k, (i, g) in enumerate(zip(wrt, grads)):
        if g is None:
            continue
        g = np.asarray(g, dtype=np.float64)
        x = arrays[i]
        if g.shape != x.shape:
            raise ValueError(f"analytic gradient {k} has shape {g.shape} but input {i} has shape {x.shape}")
        num = np.zeros_like(x)
        flat = x.reshape(-1)  # a view: perturbs arrays[i] in place
        nflat = num.reshape(-1)
        for e in range(flat.size):
            orig = flat[e]
            flat[e] = orig + eps
            up = _loss_value(fn, arrays)
            flat[e] = orig - eps
            down = _loss_value(fn, arrays)
            flat[e] = orig
            nflat[e] = (up - down) / (2.0 * eps)
        if x.size == 0:
            continue
        diff = np.abs(num - g)
        scale = max(float(np.max(np.abs(num))), float(np.max(np.abs(g))), 1.0)
        err = float(np.max(diff)) / scale
        if not np.isfinite(err):
            err = float("inf")
        if err > worst:
            worst = err
        if raise_exception and err > rtol:
            at = np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))), x.shape)
            raise GradcheckError(
                f"gradient of input {i} (shape {x.shape}) is wrong: relative error {err:.3e} > rtol {rtol:.1e}; "
                f"worst at index {tuple(int(t) for t in at)}: analytic {float(g[at])!r}, numerical {float(num[at])!r}"
            )
    return worst


class _CallableModule(types.ModuleType):
    """This module's type: calling the module calls :func:`gradcheck`."""

    def __call__(self, *args, **kwargs) -> float:
        return gradcheck(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
__signature__ = inspect.signature(gradcheck)  # inspect.signature(fastconv.gradcheck) is the function's
