"""Argument checks, dtype rules and output-size arithmetic shared by every public function.

Both the reference loops and the fast wrappers call these, so the two backends accept and
reject exactly the same inputs with the same messages.
"""
from __future__ import annotations

import operator
from typing import NamedTuple, Tuple

import numpy as np

from ._filter_spec import KERNELS, MODES

Pair = Tuple[int, int]
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)

# Largest padding, stride or window extent accepted: far beyond any image, and small enough that
# the output-size arithmetic stays within the kernels' Py_ssize_t.
MAX_EXTENT = 2**31 - 1


def as_array(a, name: str, ndim=None) -> np.ndarray:
    """``np.asarray(a)`` that rejects non-numeric dtypes and, if given, the wrong ``ndim``."""
    if type(a) is np.ndarray and (a.dtype is _F32 or a.dtype is _F64) and (ndim is None or a.ndim == ndim):
        return a  # the common case, cheaply
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as exc:  # ragged nested sequences and the like
        raise ValueError(f"{name} must be an array of numbers, got {type(a).__name__} that NumPy cannot convert ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must have a real numeric dtype, got {arr.dtype} (shape {arr.shape})")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    return arr


def pair(value, name: str, minimum: int) -> Pair:
    """Turn an int or an (h, w) pair into a pair of Python ints, each ``>= minimum``."""
    if type(value) is int and minimum <= value <= MAX_EXTENT:  # the common case, cheaply
        return value, value
    if isinstance(value, (tuple, list, np.ndarray)):
        items = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)
        if len(items) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
    else:
        items = [value, value]
    out = []
    for v in items:
        if isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{name} must be an int or an (h, w) pair of ints, got {value!r}")
        try:
            iv = operator.index(v)
        except TypeError:
            raise TypeError(
                f"{name} must be an int or an (h, w) pair of ints, got {value!r}"
            ) from None
        if iv < minimum:
            kind = "non-negative" if minimum == 0 else f">= {minimum}"
            raise ValueError(f"{name} must be {kind}, got {value!r}")
        if iv > MAX_EXTENT:
            raise ValueError(f"{name} must be at most {MAX_EXTENT}, got {value!r}")
        out.append(iv)
    return out[0], out[1]


def out_dtype(dtype) -> np.dtype:
    """Dtype of an output allocated "like" an input of ``dtype``: floats keep theirs, others -> float64."""
    if dtype is _F32 or dtype is _F64:
        return dtype
    dtype = np.dtype(dtype)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def compute_dtype(*dtypes) -> np.dtype:
    """The kernel dtype for inputs of ``dtypes``: NumPy's promotion, then float32 or float64."""
    first = dtypes[0]
    if first is _F32 or first is _F64:  # the common case, cheaply
        for d in dtypes:
            if d is not first:
                break
        else:
            return first
    promoted = np.result_type(*[np.dtype(d) for d in dtypes])
    if promoted.kind == "f" and promoted.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def out_size(size: int, window: int, pad: int, stride: int) -> int:
    """Number of window positions along one axis: ``(size + 2*pad - window) // stride + 1``."""
    return (size + 2 * pad - window) // stride + 1


def window_output(
    name: str, shape: Tuple[int, ...], hw: Pair, window: Pair, padding: Pair, stride: Pair, what: str
) -> Pair:
    """Output (Ho, Wo) for ``window`` sliding with ``stride`` over the padded (H, W) of ``name``.

    Raises a ValueError naming ``name`` and the shapes when the window does not fit.
    """
    (h, w), (kh, kw), (ph, pw), (sh, sw) = hw, window, padding, stride
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(
            f"{what} {kh}x{kw} is larger than the padded input {h + 2 * ph}x{w + 2 * pw} "
            f"({name} has shape {shape}, padding ({ph}, {pw}))"
        )
    return out_size(h, kh, ph, sh), out_size(w, kw, pw, sw)


def check_dy(dy, expected: Tuple[int, ...]) -> np.ndarray:
    """``dy`` as an array of exactly the forward output's shape."""
    dy = as_array(dy, "dy")
    if dy.shape != tuple(expected):
        raise ValueError(f"dy has shape {dy.shape} but the forward output had shape {tuple(expected)}")
    return dy


class ConvArgs(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    padding: Pair
    stride: Pair
    out_hw: Pair


def conv_args(x, w, b, padding, stride) -> ConvArgs:
    """Check the arguments of ``conv2d_forward`` and compute its output size."""
    x = as_array(x, "x", 4)
    w = as_array(w, "w", 4)
    b = as_array(b, "b", 1)
    if w.shape[2] != x.shape[3]:
        raise ValueError(
            f"w has {w.shape[2]} input channels but x has {x.shape[3]} "
            f"(x shape {x.shape} is (N, H, W, C), w shape {w.shape} is (Kh, Kw, C, Cout))"
        )
    if b.shape[0] != w.shape[3]:
        raise ValueError(f"b has length {b.shape[0]} but w has {w.shape[3]} output channels (w shape {w.shape})")
    if w.shape[0] == 0 or w.shape[1] == 0:
        raise ValueError(f"w must have a non-empty kernel, got shape {w.shape}")
    pad = pair(padding, "padding", 0)
    st = pair(stride, "stride", 1)
    hw = window_output("x", x.shape, x.shape[1:3], w.shape[:2], pad, st, "kernel")
    return ConvArgs(x, w, b, pad, st, hw)


class PoolArgs(NamedTuple):
    x: np.ndarray
    pool: Pair
    stride: Pair
    out_hw: Pair


def pool_args(x, pool_size, stride) -> PoolArgs:
    """Check the arguments of a 4-D pooling forward and compute its output size."""
    x = as_array(x, "x", 4)
    pool = pair(pool_size, "pool_size", 1)
    st = pool if stride is None else pair(stride, "stride", 1)
    hw = window_output("x", x.shape, x.shape[1:3], pool, (0, 0), st, "pool window")
    return PoolArgs(x, pool, st, hw)


def pooling_input(input_array, mode) -> np.ndarray:
    """The 4-D NHWC view of ``pooling``'s 2-D or 4-D input; checks ``mode``."""
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    arr = as_array(input_array, "input_array", (2, 4))
    return arr.reshape(1, arr.shape[0], arr.shape[1], 1) if arr.ndim == 2 else arr


def run_pooling(input_array, pool_size, stride, mode, maxpool_forward, avgpool_forward) -> np.ndarray:
    """The tutorial's ``pooling`` on top of a backend's 4-D max/avg forward functions.

    2-D input is pooled as one (1, H, W, 1) image; the float64 result comes back 2-D when
    N == C == 1, as in the tutorial.
    """
    x4 = pooling_input(input_array, mode)
    forward = maxpool_forward if mode == "max" else avgpool_forward
    y, _ = forward(x4.astype(np.float64, copy=False), pool_size, stride)
    if y.shape[0] == 1 and y.shape[3] == 1:
        return y[0, :, :, 0]
    return y


def image_kernel_args(image, kernel, stride) -> Tuple[np.ndarray, np.ndarray, Pair, Pair]:
    """Check a 2-D image and 2-D kernel for a valid (unpadded) strided correlation."""
    image = as_array(image, "image" if stride is None else "input_array", 2)
    kernel = as_array(kernel, "kernel", 2)
    if kernel.size == 0:
        raise ValueError(f"kernel must be non-empty, got shape {kernel.shape}")
    st = (1, 1) if stride is None else pair(stride, "stride", 1)
    name = "image" if stride is None else "input_array"
    hw = window_output(name, image.shape, image.shape, kernel.shape, (0, 0), st, "kernel")
    return image, kernel, st, hw


def dense_args(x, w, b) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check x (N, Din), w (Din, Dout), b (Dout,) for a dense layer."""
    x = as_array(x, "x", 2)
    w = as_array(w, "w", 2)
    b = as_array(b, "b", 1)
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w has {w.shape[0]} input features but x has {x.shape[1]} (x shape {x.shape}, w shape {w.shape})")
    if b.shape[0] != w.shape[1]:
        raise ValueError(f"b has length {b.shape[0]} but w has {w.shape[1]} outputs (w shape {w.shape})")
    return x, w, b


def softmax_args(logits, labels) -> Tuple[np.ndarray, np.ndarray]:
    """Check (N, K) logits against (N, K) one-hot labels."""
    logits = as_array(logits, "logits", 2)
    labels = as_array(labels, "labels", 2)
    if labels.shape != logits.shape:
        raise ValueError(
            f"labels has shape {labels.shape} but logits has shape {logits.shape}; labels must be one-hot (N, K)"
        )
    return logits, labels


def check_cache(cache, cls, producer: str):
    """Raise a TypeError unless ``cache`` is an instance of ``cls`` (the forward's cache type)."""
    if not isinstance(cache, cls):
        raise TypeError(f"cache must be the cache returned by {producer}, got {public_type_name(cache)}")
    return cache


def check_tuple_cache(cache, length: int, producer: str) -> tuple:
    """Raise a TypeError unless ``cache`` is a tuple of ``length`` items, as ``producer`` returns."""
    if not isinstance(cache, tuple) or len(cache) != length:
        raise TypeError(
            f"cache must be the cache returned by {producer} (a tuple of {length}), got {type(cache).__name__}"
            + (f" of length {len(cache)}" if isinstance(cache, (tuple, list)) else "")
        )
    return cache


def check_pool_cache(cache, kind: str, cls):
    """Raise a TypeError unless ``cache`` came from ``{kind}pool_forward`` (``kind`` is 'max' or 'avg')."""
    if not isinstance(cache, cls) or (cache.argmax is None) != (kind == "avg"):
        raise TypeError(f"cache must be the cache returned by {kind}pool_forward, got {public_type_name(cache)}")
    return cache


def filter_kernel(kernel, image: np.ndarray, name: str = "image") -> np.ndarray:
    """``kernel`` as a non-empty 2-D real array (a name from KERNELS is looked up) for ``image``."""
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be an array or one of {', '.join(KERNELS)}; got {kernel!r}")
        return KERNELS[kernel]
    k = as_array(kernel, "kernel")
    if k.ndim > image.ndim:
        raise ValueError(
            f"kernel has more dimensions than the {name}: kernel shape {k.shape}, {name} shape {image.shape}"
        )
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D (Kh, Kw), got shape {k.shape} ({name} shape {image.shape})")
    if k.size == 0:
        raise ValueError(f"kernel must be non-empty, got shape {k.shape}")
    return k


def filter2d_args(image, kernel, mode, cval, dtype, name: str = "image"):
    """Check filter2d's arguments (``image`` is called ``name`` in messages).

    Returns (image, kernel, computing dtype, requested output dtype or None).
    """
    img = as_array(image, name)
    if img.ndim not in (2, 3):
        raise ValueError(f"{name} must be 2-D (H, W) or 3-D (H, W, C), got shape {img.shape}")
    k = filter_kernel(kernel, img, name)
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if isinstance(cval, (bool, np.bool_)) or not isinstance(cval, (int, float, np.integer, np.floating)):
        raise TypeError(f"cval must be a real number, got {cval!r}")
    out_dt = None if dtype is None else np.dtype(dtype)
    if out_dt is not None and out_dt.kind not in "biuf":
        raise TypeError(f"dtype must be a real numeric dtype, got {out_dt}")
    src = out_dt if out_dt is not None and out_dt.kind == "f" else img.dtype
    ct = _F32 if src.kind == "f" and src.itemsize <= 4 else _F64
    return img, k, ct, out_dt


def cast_result(out: np.ndarray, out_dt):
    """Cast a result to the requested dtype (None: keep it); integer dtypes are clipped to their range first."""
    if out_dt is None or out_dt == out.dtype:
        return out
    if out_dt.kind in "iu":
        info = np.iinfo(out_dt)
        out = np.clip(out, info.min, info.max)
    return out.astype(out_dt)


def flag(value, name: str) -> bool:
    """``value`` as a bool; a TypeError naming ``name`` unless it is True or False (NumPy bools too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def public_type_name(obj) -> str:
    """The name of the first public class in ``obj``'s type hierarchy (a private subclass reads as its base)."""
    for cls in type(obj).__mro__:
        if not cls.__name__.startswith("_"):
            return cls.__name__
    return type(obj).__name__


# --------------------------------------------------------------------------- pooling options


def pool_out_size(size: int, window: int, pad: int, stride: int, dilation: int, ceil_mode: bool) -> int:
    """Pool output positions along one axis, torch's rule.

    ``(size + 2*pad - dilation*(window-1) - 1 [+ stride-1 with ceil_mode]) // stride + 1``, minus
    one when ceil_mode would start the last window in the right padding (at or past ``size + pad``).
    """
    o = (size + 2 * pad - dilation * (window - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and o > 0 and (o - 1) * stride >= size + pad:
        o -= 1
    return o


class PoolWindowArgs(NamedTuple):
    x: np.ndarray
    pool: Pair
    stride: Pair
    out_hw: Pair
    window: object  # a _cache.PoolWindow with every option of the call
    plain: bool  # the windows and divisors are those of the unpadded, undilated floor-mode pool


def _divisor_override(divisor_override):
    """Check ``divisor_override``: None or a non-zero int (not a bool); return it as an int or None."""
    if divisor_override is not None:
        if isinstance(divisor_override, (bool, np.bool_)):
            raise TypeError(f"divisor_override must be None or a non-zero int, got {divisor_override!r}")
        try:
            divisor_override = operator.index(divisor_override)
        except TypeError:
            raise TypeError(f"divisor_override must be None or a non-zero int, got {divisor_override!r}") from None
        if divisor_override == 0:
            raise ValueError("divisor_override must be a non-zero int, got 0")
    return divisor_override


def pool_window_args(x, pool_size, stride, padding, dilation, ceil_mode, count_include_pad=True,
                     divisor_override=None, window_cls=None) -> PoolWindowArgs:
    """Check a max/avg pooling forward with torch's options; output size and the window record.

    ``window`` is ``window_cls(padding, dilation, ceil_mode, count_include_pad, divisor_override,
    None)``; ``plain`` says that the call's windows and divisors are those of the unpadded,
    undilated floor-mode pool, so that the plain kernels and caches serve it.
    """
    x = as_array(x, "x", 4)
    pool = pair(pool_size, "pool_size", 1)
    st = pool if stride is None else pair(stride, "stride", 1)
    pad = pair(padding, "padding", 0)
    dil = pair(dilation, "dilation", 1)
    ceil = flag(ceil_mode, "ceil_mode")
    incl = flag(count_include_pad, "count_include_pad")
    divisor_override = _divisor_override(divisor_override)
    for axis, k, p in (("h", pool[0], pad[0]), ("w", pool[1], pad[1])):
        if p > k // 2:
            raise ValueError(
                f"padding must be at most half the pool window (pool_size // 2), got padding {pad} "
                f"for pool_size {pool} (axis {axis}: {p} > {k} // 2)"
            )
    (h, w), out = x.shape[1:3], []
    if not ceil and dil == (1, 1):
        window_output("x", x.shape, (h, w), pool, pad, st, "pool window")  # the plain pools' message
    for size, k, p, s, d in zip((h, w), pool, pad, st, dil):
        eff = d * (k - 1) + 1
        if eff > size + 2 * p and not ceil:
            what = "pool window" if d == 1 else f"dilated pool window ({k} taps, dilation {d})"
            raise ValueError(
                f"{what} {pool[0]}x{pool[1]} is larger than the padded input {h + 2 * pad[0]}x{w + 2 * pad[1]} "
                f"(x has shape {x.shape}, padding {pad}, dilation {dil})"
            )
        o = pool_out_size(size, k, p, s, d, ceil)
        if o < 1:
            raise ValueError(
                f"pool window {pool[0]}x{pool[1]} with dilation {dil} and padding {pad} leaves no output "
                f"for x of shape {x.shape}"
            )
        out.append(o)
    hw = (out[0], out[1])
    # windows entirely in the padding (possible only with dilation): torch would read outside the plane
    for size, k, p, s, d, o, axis in zip((h, w), pool, pad, st, dil, hw, ("rows", "columns")):
        for i in range(o if d > 1 else 0):
            start = i * s - p
            if not any(0 <= start + t * d < size for t in range(k)):
                raise ValueError(
                    f"pool window {i} along the {axis} (input {axis} {start}..{start + d * (k - 1)} "
                    f"with dilation {d}) lies entirely in the padding (x has shape {x.shape}, "
                    f"pool_size {pool}, stride {st}, padding {pad}, dilation {dil})"
                )
    plain = (
        pad == (0, 0) and dil == (1, 1) and divisor_override is None
        and hw == (out_size(h, pool[0], 0, st[0]), out_size(w, pool[1], 0, st[1]))
    )
    window = window_cls(pad, dil, ceil, incl, divisor_override, None)
    return PoolWindowArgs(x, pool, st, hw, window, plain)


def adaptive_output_size(x_shape: Tuple[int, ...], output_size) -> Pair:
    """``output_size`` (an int, or an (h, w) pair whose ``None`` keeps that input size) as a pair of ints >= 1."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"output_size must be an int or an (h, w) pair, got {output_size!r}")
        items = [x_shape[1 + k] if o is None else o for k, o in enumerate(output_size)]
    elif output_size is None:
        raise TypeError("output_size must be an int or an (h, w) pair of ints (None only inside the pair), got None")
    else:
        items = [output_size, output_size]
    out = []
    for o in items:
        if isinstance(o, (bool, np.bool_)):
            raise TypeError(f"output_size must be an int or an (h, w) pair of ints, got {output_size!r}")
        try:
            o = operator.index(o)
        except TypeError:
            raise TypeError(f"output_size must be an int or an (h, w) pair of ints, got {output_size!r}") from None
        if o < 1:
            raise ValueError(f"output_size must be >= 1, got {output_size!r} (x has shape {tuple(x_shape)})")
        if o > MAX_EXTENT:
            raise ValueError(f"output_size must be at most {MAX_EXTENT}, got {output_size!r}")
        out.append(o)
    return out[0], out[1]


def adaptive_pool_args(x, output_size, window_cls) -> Tuple[np.ndarray, Pair, object]:
    """Check an adaptive pooling forward: (x, (Ho, Wo), window record with ``output_size`` set)."""
    x = as_array(x, "x", 4)
    hw = adaptive_output_size(x.shape, output_size)
    if (x.shape[1] == 0 or x.shape[2] == 0):
        raise ValueError(f"x must have non-empty planes for adaptive pooling, got shape {x.shape}")
    return x, hw, window_cls((0, 0), (1, 1), False, True, None, hw)


def check_pool_cache_adaptive(cache, adaptive: bool, producer: str):
    """Raise a TypeError unless ``cache`` is (``adaptive``) or is not (``not adaptive``) an adaptive pool's cache."""
    window = getattr(cache, "window", None)
    if (window is not None and window.output_size is not None) != adaptive:
        raise TypeError(f"cache must be the cache returned by {producer}, got the cache of another pooling op")
    return cache


class ConvOptions(NamedTuple):
    """Checked arguments of a convolution with the torch-style options (see :func:`conv_options`)."""

    x: np.ndarray
    w: np.ndarray
    b: "np.ndarray | None"  # None: no bias
    pad_begin: Pair  # (top, left)
    pad_end: Pair  # (bottom, right)
    stride: Pair
    dilation: Pair
    groups: int
    out_hw: Pair


def _padding_sides(padding, kernel: Pair, dilation: Pair, stride: Pair) -> Tuple[Pair, Pair]:
    """((top, left), (bottom, right)) zero padding from an int, an (h, w) pair, per-side
    ``((top, bottom), (left, right))``, ``'valid'`` or ``'same'``."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"padding must be an int, a pair, ((top, bottom), (left, right)), 'same' or 'valid', got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"padding='same' needs stride 1, got stride {stride}")
        # torch's split of the dilated kernel's extent: the smaller half before, the larger after
        th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return (th // 2, tw // 2), (th - th // 2, tw - tw // 2)
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(
        isinstance(p, (tuple, list, np.ndarray)) for p in padding
    ):
        top, bottom = pair(padding[0], "padding", 0)
        left, right = pair(padding[1], "padding", 0)
        return (top, left), (bottom, right)
    p = pair(padding, "padding", 0)
    return p, p


def groups_arg(groups) -> int:
    """``groups`` as a Python int >= 1."""
    if isinstance(groups, (bool, np.bool_)):
        raise TypeError(f"groups must be a positive int, got {groups!r}")
    try:
        g = operator.index(groups)
    except TypeError:
        raise TypeError(f"groups must be a positive int, got {groups!r}") from None
    if g < 1:
        raise ValueError(f"groups must be >= 1, got {g}")
    return g


def conv_options(x, w, b, padding, stride, dilation, groups) -> ConvOptions:
    """Check the arguments of ``conv2d_forward`` with every option and compute its output size.

    With the default options (symmetric padding, dilation 1, groups 1, a bias) the checks and
    messages are those of :func:`conv_args`.
    """
    x = as_array(x, "x", 4)
    w = as_array(w, "w", 4)
    b = None if b is None else as_array(b, "b", 1)
    g = groups_arg(groups)
    if g == 1:
        if w.shape[2] != x.shape[3]:
            raise ValueError(
                f"w has {w.shape[2]} input channels but x has {x.shape[3]} "
                f"(x shape {x.shape} is (N, H, W, C), w shape {w.shape} is (Kh, Kw, C, Cout))"
            )
    else:
        if x.shape[3] % g:
            raise ValueError(f"groups={g} does not divide the {x.shape[3]} input channels of x (x shape {x.shape})")
        if w.shape[3] % g:
            raise ValueError(f"groups={g} does not divide the {w.shape[3]} output channels of w (w shape {w.shape})")
        if w.shape[2] != x.shape[3] // g:
            raise ValueError(
                f"w has {w.shape[2]} input channels per group but x has {x.shape[3]} channels in {g} groups "
                f"of {x.shape[3] // g} (x shape {x.shape} is (N, H, W, C), w shape {w.shape} is (Kh, Kw, C/groups, Cout))"
            )
    if b is not None and b.shape[0] != w.shape[3]:
        raise ValueError(f"b has length {b.shape[0]} but w has {w.shape[3]} output channels (w shape {w.shape})")
    if w.shape[0] == 0 or w.shape[1] == 0:
        raise ValueError(f"w must have a non-empty kernel, got shape {w.shape}")
    st = pair(stride, "stride", 1)
    dil = pair(dilation, "dilation", 1)
    begin, end = _padding_sides(padding, w.shape[:2], dil, st)
    if begin == end and dil == (1, 1):
        hw = window_output("x", x.shape, x.shape[1:3], w.shape[:2], begin, st, "kernel")
    else:
        ext = (dil[0] * (w.shape[0] - 1) + 1, dil[1] * (w.shape[1] - 1) + 1)
        padded = (x.shape[1] + begin[0] + end[0], x.shape[2] + begin[1] + end[1])
        if ext[0] > padded[0] or ext[1] > padded[1]:
            raise ValueError(
                f"kernel {w.shape[0]}x{w.shape[1]} with dilation {dil} spans {ext[0]}x{ext[1]}, more than the "
                f"padded input {padded[0]}x{padded[1]} (x has shape {x.shape}, padding (top, left) {begin}, "
                f"(bottom, right) {end})"
            )
        hw = ((padded[0] - ext[0]) // st[0] + 1, (padded[1] - ext[1]) // st[1] + 1)
    return ConvOptions(x, w, b, begin, end, st, dil, g, hw)


# --------------------------------------------------------------------------- transposed and 1-D layers
def single(value, name: str, minimum: int) -> int:
    """An int (or a 1-element tuple/list of one) as a Python int ``>= minimum``, for the 1-D layers."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{name} must be an int (or a 1-tuple), got {value!r}")
        value = value[0]
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    try:
        iv = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r}") from None
    if iv < minimum:
        kind = "non-negative" if minimum == 0 else f">= {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    if iv > MAX_EXTENT:
        raise ValueError(f"{name} must be at most {MAX_EXTENT}, got {value!r}")
    return iv


def groups_dividing(groups, cin: int, cout: int, x_shape, w_shape) -> int:
    """``groups`` as an int >= 1 that divides both channel counts (messages name the shapes)."""
    g = groups_arg(groups)
    if cin % g or cout % g:
        raise ValueError(
            f"groups={g} must divide the input channels ({cin}) and the output channels ({cout}) "
            f"(x shape {tuple(x_shape)}, w shape {tuple(w_shape)})"
        )
    return g


def bias_arg(b, cout: int, w_shape):
    """``b`` as a (Cout,) array, or None."""
    if b is None:
        return None
    b = as_array(b, "b", 1)
    if b.shape[0] != cout:
        raise ValueError(f"b has length {b.shape[0]} but the layer has {cout} output channels (w shape {tuple(w_shape)})")
    return b


class ConvTransposeArgs(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    b: object  # ndarray or None
    stride: Pair
    padding: Pair
    output_padding: Pair
    groups: int
    dilation: Pair
    out_hw: Pair


def conv_transpose2d_args(x, w, b, stride, padding, output_padding, groups, dilation) -> ConvTransposeArgs:
    """Check ``conv_transpose2d_forward``'s arguments and compute its output size.

    ``Ho = (H - 1)*s - 2p + d*(K - 1) + output_padding + 1`` per axis; ``output_padding`` must be
    smaller than the stride or the dilation of its axis, and the output must be non-empty.
    """
    x = as_array(x, "x", 4)
    w = as_array(w, "w", 4)
    if w.shape[0] == 0 or w.shape[1] == 0:
        raise ValueError(f"w must have a non-empty kernel, got shape {w.shape}")
    if w.shape[3] != x.shape[3]:
        raise ValueError(
            f"w has {w.shape[3]} input channels but x has {x.shape[3]} "
            f"(x shape {x.shape} is (N, H, W, Cin), w shape {w.shape} is (Kh, Kw, Cout/groups, Cin))"
        )
    g = groups_arg(groups)
    if x.shape[3] % g:
        raise ValueError(f"groups={g} must divide the input channels ({x.shape[3]}) (x shape {x.shape})")
    b = bias_arg(b, w.shape[2] * g, w.shape)
    st = pair(stride, "stride", 1)
    pad = pair(padding, "padding", 0)
    op = pair(output_padding, "output_padding", 0)
    dil = pair(dilation, "dilation", 1)
    for axis, o, s, d in (("h", op[0], st[0], dil[0]), ("w", op[1], st[1], dil[1])):
        if o >= s and o >= d:
            raise ValueError(
                f"output_padding must be smaller than the stride or the dilation, got output_padding {op} "
                f"with stride {st} and dilation {dil} (axis {axis})"
            )
    out = []
    for size, k, p, s, d, o in zip(x.shape[1:3], w.shape[:2], pad, st, dil, op):
        out.append((size - 1) * s - 2 * p + d * (k - 1) + o + 1)
    if (out[0] < 1 or out[1] < 1) and x.shape[1] and x.shape[2]:
        raise ValueError(
            f"the output would be {out[0]}x{out[1]}: padding {pad} is too large for x of shape {x.shape}, "
            f"w of shape {w.shape}, stride {st}, dilation {dil}, output_padding {op}"
        )
    if not (x.shape[1] and x.shape[2]):
        raise ValueError(f"x must have non-empty planes, got shape {x.shape}")
    return ConvTransposeArgs(x, w, b, st, pad, op, g, dil, (out[0], out[1]))


class Conv1dArgs(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    b: object  # ndarray or None
    padding: Pair  # (left, right)
    stride: int
    dilation: int
    groups: int
    out_len: int


def conv1d_args(x, w, b, padding, stride, dilation, groups) -> Conv1dArgs:
    """Check ``conv1d_forward``'s arguments; padding as (left, right) and the output length.

    ``padding`` is an int, a ``(left, right)`` pair, ``'valid'`` (none) or ``'same'`` (stride 1
    only; the output has the input's length, an odd total padding puts the extra one on the right).
    """
    x = as_array(x, "x", 3)
    w = as_array(w, "w", 3)
    if w.shape[0] == 0:
        raise ValueError(f"w must have a non-empty kernel, got shape {w.shape}")
    cin, cout = x.shape[2], w.shape[2]
    g = groups_dividing(groups, cin, cout, x.shape, w.shape)
    if w.shape[1] * g != cin:
        raise ValueError(
            f"w has {w.shape[1]} input channels per group but x has {cin} channels in {g} group(s) "
            f"(x shape {x.shape} is (N, L, C), w shape {w.shape} is (K, C/groups, Cout))"
        )
    b = bias_arg(b, cout, w.shape)
    st = single(stride, "stride", 1)
    dil = single(dilation, "dilation", 1)
    eff = dil * (w.shape[0] - 1) + 1
    if isinstance(padding, str):
        if padding == "valid":
            pad = (0, 0)
        elif padding == "same":
            if st != 1:
                raise ValueError(f"padding='same' needs stride 1, got stride {st}")
            total = eff - 1
            pad = (total // 2, total - total // 2)
        else:
            raise ValueError(f"padding must be an int, a (left, right) pair, 'same' or 'valid'; got {padding!r}")
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        pad = (single(padding[0], "padding", 0), single(padding[1], "padding", 0))
    else:
        p = single(padding, "padding", 0)
        pad = (p, p)
    length = x.shape[1] + pad[0] + pad[1]
    if eff > length:
        what = "kernel" if dil == 1 else f"dilated kernel ({w.shape[0]} taps, dilation {dil})"
        raise ValueError(
            f"{what} of extent {eff} is larger than the padded input length {length} "
            f"(x has shape {x.shape}, padding {pad})"
        )
    return Conv1dArgs(x, w, b, pad, st, dil, g, (length - eff) // st + 1)


class Pool1dArgs(NamedTuple):
    x: np.ndarray
    pool: int
    stride: int
    padding: int
    dilation: int
    ceil_mode: bool
    count_include_pad: bool
    divisor_override: object  # int or None
    out_len: int


def pool1d_args(x, pool_size, stride, padding, dilation, ceil_mode, count_include_pad=True,
                divisor_override=None) -> Pool1dArgs:
    """Check a 1-D max/avg pooling forward with torch's options and compute its output length."""
    x = as_array(x, "x", 3)
    k = single(pool_size, "pool_size", 1)
    st = k if stride is None else single(stride, "stride", 1)
    p = single(padding, "padding", 0)
    d = single(dilation, "dilation", 1)
    ceil = flag(ceil_mode, "ceil_mode")
    incl = flag(count_include_pad, "count_include_pad")
    divisor_override = _divisor_override(divisor_override)
    if p > k // 2:
        raise ValueError(f"padding must be at most half the pool window (pool_size // 2), got padding {p} "
                         f"for pool_size {k}")
    size = x.shape[1]
    eff = d * (k - 1) + 1
    if eff > size + 2 * p and not ceil:
        what = "pool window" if d == 1 else f"dilated pool window ({k} taps, dilation {d})"
        raise ValueError(f"{what} of extent {eff} is larger than the padded input length {size + 2 * p} "
                         f"(x has shape {x.shape}, padding {p})")
    o = pool_out_size(size, k, p, st, d, ceil)
    if o < 1:
        raise ValueError(f"pool window {k} with dilation {d} and padding {p} leaves no output for x of shape {x.shape}")
    for i in range(o if d > 1 else 0):
        start = i * st - p
        if not any(0 <= start + t * d < size for t in range(k)):
            raise ValueError(
                f"pool window {i} (input positions {start}..{start + d * (k - 1)} with dilation {d}) lies "
                f"entirely in the padding (x has shape {x.shape}, pool_size {k}, stride {st}, padding {p})"
            )
    return Pool1dArgs(x, k, st, p, d, ceil, incl, divisor_override, o)
