"""Pure-NumPy reference implementations: explicit loops, slow and obvious.

Every public name here has the signature of its fast twin in :mod:`fastconv`. These loops are
the ground truth of the test suite and the baseline of the benchmarks, so they favour
clarity over speed: one output element (or one window) at a time, as a textbook writes it.

Semantics (shared with the fast kernels):

* activations are NHWC, conv weights are (Kh, Kw, Cin, Cout) (``layout="NCHW"`` maps
  (N, C, H, W) and (Cout, Cin, Kh, Kw) onto them in :mod:`fastconv._layout`);
* cross-correlation (the kernel is not flipped), zero padding;
* output size ``(H + 2*p - K) // s + 1``; windows that do not fit are dropped;
* each output is allocated like the input it belongs to (``y`` and ``dx`` like ``x``, ``dw``
  like ``w``, ``db`` like ``b``); integer inputs give float64; sums are formed in the
  promoted dtype of the operands;
* max pooling sends the gradient to the first maximum of each window in row-major order;
  a NaN in a window is its maximum, as in ``np.max``.

Examples
--------
>>> import numpy as np
>>> import fastconv, fastconv.reference
>>> x = np.random.default_rng(0).random((2, 6, 6, 3)); w = np.ones((3, 3, 3, 4)); b = np.zeros(4)
>>> y_ref, _ = fastconv.reference.conv2d_forward(x, w, b)
>>> bool(np.allclose(y_ref, fastconv.conv2d_forward(x, w, b)[0], rtol=1e-12))
True
"""
from __future__ import annotations

import numpy as np

from . import _layout
from . import _validate as v
from ._cache import ConvCache, PoolCache, PoolWindow
from ._filter_spec import MODES
from .layers import flatten_backward, flatten_forward, relu_backward, relu_forward  # one NumPy call each

__all__ = [
    "convolve2d",
    "convolution_2d",
    "pooling",
    "conv2d_forward",
    "conv2d_backward",
    "maxpool_forward",
    "maxpool_backward",
    "avgpool_forward",
    "avgpool_backward",
    "adaptive_avgpool_forward",
    "adaptive_avgpool_backward",
    "adaptive_maxpool_forward",
    "adaptive_maxpool_backward",
    "global_avgpool_forward",
    "global_avgpool_backward",
    "global_maxpool_forward",
    "global_maxpool_backward",
    "relu_forward",
    "relu_backward",
    "flatten_forward",
    "flatten_backward",
    "dense_forward",
    "dense_backward",
    "softmax_crossentropy_forward",
    "softmax_crossentropy_backward",
]


# --------------------------------------------------------------------------- image filters
def _correlate_valid(image, kernel, stride):
    image, kernel, (sh, sw), (ho, wo) = v.image_kernel_args(image, kernel, stride)
    kh, kw = kernel.shape
    ct = v.compute_dtype(image.dtype, kernel.dtype)
    output = np.zeros((ho, wo))
    for i in range(ho):
        for j in range(wo):
            window = image[i * sh : i * sh + kh, j * sw : j * sw + kw].astype(ct)
            output[i, j] = np.sum(window * kernel.astype(ct))
    return output


def convolve2d(image, kernel):
    """Valid 2-D cross-correlation of a 2-D image with a 2-D kernel; float64 (Ho, Wo)."""
    return _correlate_valid(image, kernel, None)


def convolution_2d(input_array, kernel, stride=3):
    """Valid, strided 2-D cross-correlation; float64 (Ho, Wo). ``stride`` is an int or a pair."""
    return _correlate_valid(input_array, kernel, stride)


# --------------------------------------------------------------------------- convolution
def conv2d_forward(x, w, b, padding=1, stride=1, dilation=1, groups=1, *, layout="NHWC"):
    """Conv layer forward: x (N,H,W,C), w (Kh,Kw,C/groups,Cout), b (Cout,) or None -> (y, cache).

    ``padding``: int, (h, w), ((top, bottom), (left, right)), 'valid' or 'same'; tap (ki, kj)
    of output (i, j) reads ``x[n, i*sh - top + dil_h*ki, j*sw - left + dil_w*kj]``; output
    channel ``o`` reads the input channels of group ``o // (Cout/groups)``.
    ``layout="NCHW"``: x (N,C,H,W), w (Cout,C/groups,Kh,Kw), y (N,Cout,Ho,Wo).
    """
    groups = v.groups_arg(groups)
    x, w, layout = _layout.conv_inputs(x, w, b, layout, groups)
    x, w, b, (pt, pl), (pb, pr), (sh, sw), (dh, dw), groups, (ho, wo) = v.conv_options(
        x, w, b, padding, stride, dilation, groups
    )
    n_batch, _, _, _ = x.shape
    kh, kw, cg, cout = w.shape
    og = cout // groups  # output channels per group
    ct = v.compute_dtype(x.dtype, w.dtype, *(() if b is None else (b.dtype,)))
    x_pad = np.pad(x.astype(ct), [(0, 0), (pt, pb), (pl, pr), (0, 0)], mode="constant")
    wc = w.astype(ct)
    bc = None if b is None else b.astype(ct)
    y = np.zeros((n_batch, ho, wo, cout), dtype=v.out_dtype(x.dtype))
    for n in range(n_batch):
        for i in range(ho):
            for j in range(wo):
                for g in range(groups):
                    # the window of output (i, j): every dh-th row, every dw-th column, the group's channels
                    patch = x_pad[n, i * sh : i * sh + dh * (kh - 1) + 1 : dh,
                                  j * sw : j * sw + dw * (kw - 1) + 1 : dw, g * cg : (g + 1) * cg]
                    outs = slice(g * og, (g + 1) * og)
                    # one output pixel of one group: sum over the window of patch * w, per output channel
                    acc = np.tensordot(patch, wc[:, :, :, outs], axes=3)
                    y[n, i, j, outs] = acc if bc is None else acc + bc[outs]
    cache = ConvCache(
        x, w, (cout,) if b is None else b.shape, (pt, pl), (sh, sw),
        v.out_dtype(x.dtype), v.out_dtype(w.dtype), v.out_dtype(ct if b is None else b.dtype), y.shape,
        pad_end=(pb, pr), dilation=(dh, dw), groups=groups, has_bias=b is not None,
    )
    return _layout.conv_output(y, cache, layout)


def conv2d_backward(dy, cache, *, compute_dx=True, layout=None):
    """Conv layer backward: (dy, cache) -> (dx, dw, db), shaped and typed like x, w, b (in the cache's
    layout; db None without b).

    ``compute_dx=False`` skips the input gradient and returns None for it.
    """
    v.check_cache(cache, ConvCache, "conv2d_forward")
    compute_dx = v.flag(compute_dx, "compute_dx")
    dy, layout = _layout.conv_dy(dy, cache, layout)
    x, w, b_shape, (pt, pl), (sh, sw), dx_dt, dw_dt, db_dt, y_shape = cache[:9]
    pb, pr = cache.padding if cache.pad_end is None else cache.pad_end
    (dh, dwl), groups = cache.dilation, cache.groups
    dy = v.check_dy(dy, y_shape)
    n_batch, h, wd, _ = x.shape
    kh, kw, cg, cout = w.shape
    og = cout // groups
    _, ho, wo, _ = y_shape
    ct = v.compute_dtype(x.dtype, w.dtype, dy.dtype)
    x_pad = np.pad(x.astype(ct), [(0, 0), (pt, pb), (pl, pr), (0, 0)], mode="constant")
    wc, dyc = w.astype(ct), dy.astype(ct)
    dx_pad = np.zeros(x_pad.shape, dtype=ct)
    dw = np.zeros(w.shape, dtype=ct)
    db = np.zeros(b_shape, dtype=ct)
    for n in range(n_batch):
        for i in range(ho):
            for j in range(wo):
                rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                cols = slice(j * sw, j * sw + dwl * (kw - 1) + 1, dwl)
                for g in range(groups):
                    chans, outs = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
                    patch = x_pad[n, rows, cols, chans]
                    gr = dyc[n, i, j, outs]  # gradient of one output pixel, the group's output channels
                    dw[:, :, :, outs] += patch[:, :, :, None] * gr
                    if compute_dx:
                        dx_pad[n, rows, cols, chans] += wc[:, :, :, outs] @ gr
                db += dyc[n, i, j, :]
    dx = dx_pad[:, pt : pt + h, pl : pl + wd, :]
    db = db.astype(db_dt) if cache.has_bias else None
    return _layout.conv_grads(dx.astype(dx_dt) if compute_dx else None, dw.astype(dw_dt), db, layout)


# --------------------------------------------------------------------------- pooling
def _pool_taps(i, stride, padding, k, dilation, size):
    """Input positions read by output position ``i`` along one axis: the window's taps inside 0..size."""
    start = i * stride - padding
    return [start + t * dilation for t in range(k) if 0 <= start + t * dilation < size]


def _adaptive_taps(i, n_out, size):
    """Input positions averaged by adaptive output position ``i``: floor(i*size/n_out) .. ceil((i+1)*size/n_out) - 1."""
    start = (i * size) // n_out
    end = -((-(i + 1) * size) // n_out)
    return list(range(start, end))


def _window_taps(i, j, x_shape, pool, stride, window):
    """(rows, cols) read by output pixel (i, j) of a pooling call; ``window`` None means no options."""
    _, h, wd, _ = x_shape
    if window is not None and window.output_size is not None:
        ho, wo = window.output_size
        return _adaptive_taps(i, ho, h), _adaptive_taps(j, wo, wd)
    (kh, kw), (sh, sw) = pool, stride
    (ph, pw), (dh, dw) = ((0, 0), (1, 1)) if window is None else (window.padding, window.dilation)
    return _pool_taps(i, sh, ph, kh, dh, h), _pool_taps(j, sw, pw, kw, dw, wd)


def _avg_divisor(i, j, rows, cols, x_shape, pool, stride, window):
    """The divisor of average output pixel (i, j): torch's rule."""
    if window is None or window.output_size is not None:
        return len(rows) * len(cols)  # every tap is an input pixel
    if window.divisor_override is not None:
        return window.divisor_override
    if not window.count_include_pad:
        return len(rows) * len(cols)
    # the window's extent clipped to the padded input (padding counts, the region past it does not)
    _, h, wd, _ = x_shape
    (kh, kw), (sh, sw), (ph, pw) = pool, stride, window.padding
    rows_padded = min(i * sh - ph + kh, h + ph) - (i * sh - ph)
    cols_padded = min(j * sw - pw + kw, wd + pw) - (j * sw - pw)
    return rows_padded * cols_padded


def _window(a, n, rows, cols, ch, window):
    """The (rows, cols) taps of channel ``ch`` of image ``n`` of ``a``, as a 2-D view."""
    dh, dw = (1, 1) if window is None else window.dilation
    return a[n, rows[0] : rows[-1] + 1 : dh, cols[0] : cols[-1] + 1 : dw, ch]


def _maxpool_loops(x, pool, stride, ho, wo, window):
    n_batch, _, wd, c = x.shape
    y = np.zeros((n_batch, ho, wo, c), dtype=v.out_dtype(x.dtype))
    argmax = np.zeros((n_batch, ho, wo, c), dtype=np.int64)
    for n in range(n_batch):
        for i in range(ho):
            for j in range(wo):
                rows, cols = _window_taps(i, j, x.shape, pool, stride, window)
                for ch in range(c):
                    win = _window(x, n, rows, cols, ch, window)
                    k = int(np.argmax(win))  # first maximum (or first NaN), row-major
                    di, dj = divmod(k, win.shape[1])
                    y[n, i, j, ch] = win[di, dj]
                    argmax[n, i, j, ch] = rows[di] * wd + cols[dj]
    return y, PoolCache(x.shape, v.out_dtype(x.dtype), argmax, pool, stride, y.shape, window=window)


def maxpool_forward(x, pool_size=2, stride=None, padding=0, dilation=1, ceil_mode=False, *, layout="NHWC"):
    """Max pooling forward on NHWC ``x``, torch's ``max_pool2d`` options -> (y, cache).

    ``stride`` defaults to ``pool_size``; padding is -inf (windows are clipped to the input).
    """
    x, nchw = _layout.pool_input(x, layout)
    x, pool, st, (ho, wo), window, plain = v.pool_window_args(
        x, pool_size, stride, padding, dilation, ceil_mode, True, None, PoolWindow)
    return _layout.pool_output(*_maxpool_loops(x, pool, st, ho, wo, None if plain else window), nchw)


def maxpool_backward(dy, cache, *, layout=None):
    """Max pooling backward: the gradient of each window goes to its first maximum."""
    dy, cache, nchw = _layout.pool_dy(dy, cache, layout)
    v.check_pool_cache(cache, "max", PoolCache)
    v.check_pool_cache_adaptive(cache, False, "maxpool_forward")
    return _layout.pool_dx(_maxpool_scatter(dy, cache), nchw)


def _maxpool_scatter(dy, cache):
    x_shape, dx_dt, argmax, y_shape = cache.x_shape, cache.dx_dtype, cache.argmax, cache.y_shape
    dy = v.check_dy(dy, y_shape)
    n_batch, ho, wo, c = y_shape
    _, h, wd, _ = x_shape
    dx = np.zeros(x_shape, dtype=v.compute_dtype(dx_dt, dy.dtype))
    for n in range(n_batch):
        for i in range(ho):
            for j in range(wo):
                for ch in range(c):
                    xi, xj = divmod(int(argmax[n, i, j, ch]), wd)
                    dx[n, xi, xj, ch] += dy[n, i, j, ch]
    return dx.astype(dx_dt)


def _avgpool_loops(x, pool, stride, ho, wo, window):
    n_batch, _, _, c = x.shape
    ct = v.compute_dtype(x.dtype)
    y = np.zeros((n_batch, ho, wo, c), dtype=v.out_dtype(x.dtype))
    for n in range(n_batch):
        for i in range(ho):
            for j in range(wo):
                rows, cols = _window_taps(i, j, x.shape, pool, stride, window)
                divisor = _avg_divisor(i, j, rows, cols, x.shape, pool, stride, window)
                for ch in range(c):
                    win = _window(x, n, rows, cols, ch, window)
                    y[n, i, j, ch] = np.sum(win.astype(ct)) / divisor
    return y, PoolCache(x.shape, v.out_dtype(x.dtype), None, pool, stride, y.shape, window=window)


def avgpool_forward(x, pool_size=2, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                    divisor_override=None, *, layout="NHWC"):
    """Average pooling forward on NHWC ``x``, torch's ``avg_pool2d`` options -> (y, cache).

    ``stride`` defaults to ``pool_size``; zero padding; the divisor is ``divisor_override``, or
    the window's extent clipped to the padded input (``count_include_pad``), or else the
    number of input pixels in the window.
    """
    x, nchw = _layout.pool_input(x, layout)
    x, pool, st, (ho, wo), window, plain = v.pool_window_args(
        x, pool_size, stride, padding, 1, ceil_mode, count_include_pad, divisor_override, PoolWindow)
    return _layout.pool_output(*_avgpool_loops(x, pool, st, ho, wo, None if plain else window), nchw)


def avgpool_backward(dy, cache, *, layout=None):
    """Average pooling backward: each window's gradient is shared equally by its elements."""
    dy, cache, nchw = _layout.pool_dy(dy, cache, layout)
    v.check_pool_cache(cache, "avg", PoolCache)
    v.check_pool_cache_adaptive(cache, False, "avgpool_forward")
    return _layout.pool_dx(_avgpool_spread(dy, cache), nchw)


def _avgpool_spread(dy, cache):
    x_shape, dx_dt, pool, stride, y_shape, window = (
        cache.x_shape, cache.dx_dtype, cache.pool_size, cache.stride, cache.y_shape, cache.window)
    dy = v.check_dy(dy, y_shape)
    n_batch, ho, wo, c = y_shape
    dx = np.zeros(x_shape, dtype=v.compute_dtype(dx_dt, dy.dtype))
    for n in range(n_batch):
        for i in range(ho):
            for j in range(wo):
                rows, cols = _window_taps(i, j, x_shape, pool, stride, window)
                divisor = _avg_divisor(i, j, rows, cols, x_shape, pool, stride, window)
                for ch in range(c):
                    dx[n, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1, ch] += dy[n, i, j, ch] / divisor
    return dx.astype(dx_dt)


def adaptive_avgpool_forward(x, output_size, *, layout="NHWC"):
    """Adaptive average pooling (torch's ``adaptive_avg_pool2d``) on NHWC ``x`` -> (y, cache)."""
    x, nchw = _layout.pool_input(x, layout)
    x, (ho, wo), window = v.adaptive_pool_args(x, output_size, PoolWindow)
    return _layout.pool_output(*_avgpool_loops(x, None, None, ho, wo, window), nchw)


def adaptive_avgpool_backward(dy, cache, *, layout=None):
    """Adaptive average pooling backward: each window's gradient is shared equally by its elements."""
    dy, cache, nchw = _layout.pool_dy(dy, cache, layout)
    v.check_pool_cache(cache, "avg", PoolCache)
    v.check_pool_cache_adaptive(cache, True, "adaptive_avgpool_forward")
    return _layout.pool_dx(_avgpool_spread(dy, cache), nchw)


def adaptive_maxpool_forward(x, output_size, *, layout="NHWC"):
    """Adaptive max pooling (torch's ``adaptive_max_pool2d``) on NHWC ``x`` -> (y, cache)."""
    x, nchw = _layout.pool_input(x, layout)
    x, (ho, wo), window = v.adaptive_pool_args(x, output_size, PoolWindow)
    return _layout.pool_output(*_maxpool_loops(x, None, None, ho, wo, window), nchw)


def adaptive_maxpool_backward(dy, cache, *, layout=None):
    """Adaptive max pooling backward: the gradient of each window goes to its first maximum."""
    dy, cache, nchw = _layout.pool_dy(dy, cache, layout)
    v.check_pool_cache(cache, "max", PoolCache)
    v.check_pool_cache_adaptive(cache, True, "adaptive_maxpool_forward")
    return _layout.pool_dx(_maxpool_scatter(dy, cache), nchw)


def global_avgpool_forward(x, *, layout="NHWC"):
    """Global average pooling, (N, H, W, C) -> (N, 1, 1, C)."""
    return adaptive_avgpool_forward(x, 1, layout=layout)


def global_maxpool_forward(x, *, layout="NHWC"):
    """Global max pooling, (N, H, W, C) -> (N, 1, 1, C)."""
    return adaptive_maxpool_forward(x, 1, layout=layout)


global_avgpool_backward = adaptive_avgpool_backward
global_maxpool_backward = adaptive_maxpool_backward


def pooling(input_array, pool_size=(2, 2), stride=None, mode="max"):
    """Max or average pooling of a 2-D (H, W) or 4-D NHWC array; float64 result.

    A 4-D input with N == C == 1 comes back 2-D.
    """
    return v.run_pooling(input_array, pool_size, stride, mode, maxpool_forward, avgpool_forward)


# --------------------------------------------------------------------------- simple layers
def dense_forward(x, w, b):
    """Fully connected layer: x (N, Din), w (Din, Dout), b (Dout,) -> (x @ w + b, cache)."""
    x, w, b = v.dense_args(x, w, b)
    y = np.zeros((x.shape[0], w.shape[1]), dtype=np.result_type(x, w, b))
    for n in range(x.shape[0]):
        for o in range(w.shape[1]):
            y[n, o] = np.sum(x[n, :] * w[:, o]) + b[o]
    return y, (x, w, b)


def dense_backward(dy, cache):
    """Fully connected layer backward -> (dx, dw, db)."""
    v.check_tuple_cache(cache, 3, "dense_forward")
    x, w, b = cache
    dy = v.check_dy(dy, (x.shape[0], w.shape[1]))
    dx = np.zeros((x.shape[0], w.shape[0]), dtype=np.result_type(dy, w))
    dw = np.zeros(w.shape, dtype=np.result_type(x, dy))
    for n in range(x.shape[0]):
        dx[n, :] = w @ dy[n, :]
        dw += np.outer(x[n, :], dy[n, :])
    db = dy.sum(axis=0)
    return dx, dw, db


def softmax_crossentropy_forward(logits, labels):
    """Mean softmax cross-entropy of ``logits`` (N, K) against one-hot ``labels`` (N, K)."""
    logits, labels = v.softmax_args(logits, labels)
    n = logits.shape[0]
    proba = np.zeros(logits.shape, dtype=np.result_type(logits.dtype, np.float32))
    for i in range(n):
        e = np.exp(logits[i] - logits[i].max())
        proba[i] = e / e.sum()
    loss = -np.sum(labels * np.log(proba + 1e-12)) / n
    return loss, (proba, labels, n)


def softmax_crossentropy_backward(cache):
    """Gradient of the mean softmax cross-entropy with respect to the logits."""
    v.check_tuple_cache(cache, 3, "softmax_crossentropy_forward")
    proba, labels, n = cache
    return (proba - labels) / n


# --------------------------------------------------------------------------- same-size image filter
def filter2d(image, kernel, mode="constant", cval=0.0, dtype=None):
    """Same-size 2-D cross-correlation with a border mode: ``numpy.pad``, then one window at a time.

    Same arguments, anchor (``Kh // 2``, ``Kw // 2``), dtype rules and errors as
    :func:`fastconv.filter2d`; the border mode is done by ``numpy.pad`` with the mode that
    ``fastconv.filters.MODES`` maps it to. Every tap is multiplied, zero weights included.
    """
    img, k, ct, out_dt = v.filter2d_args(image, kernel, mode, cval, dtype)
    img3 = (img if img.ndim == 3 else img[:, :, None]).astype(ct)
    kh, kw = k.shape
    k = np.asarray(k, dtype=ct)
    h, w = img3.shape[:2]
    pads = ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2), (0, 0))
    np_mode = MODES[mode][1]
    if h == 0 or w == 0:
        padded = img3
    elif np_mode == "constant":
        padded = np.pad(img3, pads, mode="constant", constant_values=ct.type(cval))
    else:
        padded = np.pad(img3, pads, mode=np_mode)
    out = np.zeros(img3.shape, dtype=ct)
    for i in range(h):
        for j in range(w):
            window = padded[i : i + kh, j : j + kw, :]
            out[i, j, :] = np.sum(window * k[:, :, None], axis=(0, 1))
    return v.cast_result(out[:, :, 0] if img.ndim == 2 else out, out_dt)


# --------------------------------------------------------------------------- transposed and 1-D layers
from ._cache import ConvTransposeCache, Conv1dCache, Pool1dCache  # noqa: E402

__all__ += [
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "conv1d_forward",
    "conv1d_backward",
    "maxpool1d_forward",
    "maxpool1d_backward",
    "avgpool1d_forward",
    "avgpool1d_backward",
]


def conv_transpose2d_forward(x, w, b, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed conv forward: x (N,H,W,Cin), w (Kh,Kw,Cout/groups,Cin), b (Cout,) or None -> (y, cache).

    Each input pixel scatters ``x[n, i, j, :] @ w`` into the output window at ``(i*s, j*s)``
    (taps ``d`` apart); the first ``padding`` rows/columns of each side are cut off, and
    ``output_padding`` extra ones are kept at the bottom/right.
    """
    x, w, b, (sh, sw), (ph, pw), op, g, (dh, dw_), (ho, wo) = v.conv_transpose2d_args(
        x, w, b, stride, padding, output_padding, groups, dilation)
    n_batch, h, wd, cin = x.shape
    kh, kw, cout_g, _ = w.shape
    cin_g = cin // g
    ct = v.compute_dtype(x.dtype, w.dtype, *(() if b is None else (b.dtype,)))
    xc, wc = x.astype(ct), w.astype(ct)
    # the full (uncropped) output, with room for output_padding beyond it
    y_full = np.zeros((n_batch, ph + ho + ph, pw + wo + pw, cout_g * g), dtype=ct)
    for n in range(n_batch):
        for i in range(h):
            for j in range(wd):
                for grp in range(g):
                    cin_s = slice(grp * cin_g, (grp + 1) * cin_g)
                    cout_s = slice(grp * cout_g, (grp + 1) * cout_g)
                    # what one input pixel adds to each tap of its output window: (Kh, Kw, Cout/groups)
                    contrib = wc[:, :, :, cin_s] @ xc[n, i, j, cin_s]
                    rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(j * sw, j * sw + dw_ * (kw - 1) + 1, dw_)
                    y_full[n, rows, cols, cout_s] += contrib
    y = y_full[:, ph : ph + ho, pw : pw + wo, :]
    if b is not None:
        y = y + b.astype(ct)
    cache = ConvTransposeCache(
        x, w, None if b is None else b.shape, (sh, sw), (ph, pw), op, g, (dh, dw_),
        v.out_dtype(x.dtype), v.out_dtype(w.dtype), None if b is None else v.out_dtype(b.dtype), y.shape,
    )
    return y.astype(v.out_dtype(x.dtype)), cache


def conv_transpose2d_backward(dy, cache):
    """Transposed conv backward: (dy, cache) -> (dx, dw, db), shaped and typed like x, w, b (db None without b)."""
    v.check_cache(cache, ConvTransposeCache, "conv_transpose2d_forward")
    x, w, b_shape, (sh, sw), (ph, pw), op, g, (dh, dw_), dx_dt, dw_dt, db_dt, y_shape = cache[:12]
    dy = v.check_dy(dy, y_shape)
    n_batch, h, wd, cin = x.shape
    kh, kw, cout_g, _ = w.shape
    cin_g = cin // g
    _, ho, wo, _ = y_shape
    ct = v.compute_dtype(x.dtype, w.dtype, dy.dtype)
    xc, wc = x.astype(ct), w.astype(ct)
    dy_full = np.zeros((n_batch, ph + ho + ph, pw + wo + pw, cout_g * g), dtype=ct)
    dy_full[:, ph : ph + ho, pw : pw + wo, :] = dy  # the cropped-off rows had no effect: zero gradient
    dx = np.zeros(x.shape, dtype=ct)
    dw = np.zeros(w.shape, dtype=ct)
    for n in range(n_batch):
        for i in range(h):
            for j in range(wd):
                for grp in range(g):
                    cin_s = slice(grp * cin_g, (grp + 1) * cin_g)
                    cout_s = slice(grp * cout_g, (grp + 1) * cout_g)
                    rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(j * sw, j * sw + dw_ * (kw - 1) + 1, dw_)
                    window = dy_full[n, rows, cols, cout_s]  # (Kh, Kw, Cout/groups)
                    dx[n, i, j, cin_s] = np.tensordot(window, wc[:, :, :, cin_s], axes=3)
                    dw[:, :, :, cin_s] += window[:, :, :, None] * xc[n, i, j, cin_s]
    db = None if b_shape is None else dy.astype(ct).sum(axis=(0, 1, 2)).astype(db_dt)
    return dx.astype(dx_dt), dw.astype(dw_dt), db


def conv1d_forward(x, w, b, padding=0, stride=1, dilation=1, groups=1):
    """1-D conv forward: x (N,L,C), w (K,C/groups,Cout), b (Cout,) or None -> (y, cache).

    ``padding`` is an int, a ``(left, right)`` pair, ``'same'`` or ``'valid'``.
    """
    x, w, b, (pl, pr), s, d, g, lo = v.conv1d_args(x, w, b, padding, stride, dilation, groups)
    n_batch, _, c = x.shape
    k, c_g, cout = w.shape
    cout_g = cout // g
    ct = v.compute_dtype(x.dtype, w.dtype, *(() if b is None else (b.dtype,)))
    x_pad = np.pad(x.astype(ct), [(0, 0), (pl, pr), (0, 0)], mode="constant")
    wc = w.astype(ct)
    y = np.zeros((n_batch, lo, cout), dtype=ct)
    for n in range(n_batch):
        for i in range(lo):
            for grp in range(g):
                patch = x_pad[n, i * s : i * s + d * (k - 1) + 1 : d, grp * c_g : (grp + 1) * c_g]  # (K, C/groups)
                y[n, i, grp * cout_g : (grp + 1) * cout_g] = np.tensordot(
                    patch, wc[:, :, grp * cout_g : (grp + 1) * cout_g], axes=2)
    if b is not None:
        y += b.astype(ct)
    cache = Conv1dCache(
        x, w, None if b is None else b.shape, (pl, pr), s, d, g,
        v.out_dtype(x.dtype), v.out_dtype(w.dtype), None if b is None else v.out_dtype(b.dtype), y.shape,
    )
    return y.astype(v.out_dtype(x.dtype)), cache


def conv1d_backward(dy, cache):
    """1-D conv backward: (dy, cache) -> (dx, dw, db), shaped and typed like x, w, b (db None without b)."""
    v.check_cache(cache, Conv1dCache, "conv1d_forward")
    x, w, b_shape, (pl, pr), s, d, g, dx_dt, dw_dt, db_dt, y_shape = cache[:11]
    dy = v.check_dy(dy, y_shape)
    n_batch, length, _ = x.shape
    k, c_g, cout = w.shape
    cout_g = cout // g
    ct = v.compute_dtype(x.dtype, w.dtype, dy.dtype)
    x_pad = np.pad(x.astype(ct), [(0, 0), (pl, pr), (0, 0)], mode="constant")
    wc, dyc = w.astype(ct), dy.astype(ct)
    dx_pad = np.zeros(x_pad.shape, dtype=ct)
    dw = np.zeros(w.shape, dtype=ct)
    for n in range(n_batch):
        for i in range(y_shape[1]):
            for grp in range(g):
                taps = slice(i * s, i * s + d * (k - 1) + 1, d)
                chans = slice(grp * c_g, (grp + 1) * c_g)
                outs = slice(grp * cout_g, (grp + 1) * cout_g)
                gy = dyc[n, i, outs]
                dw[:, :, outs] += x_pad[n, taps, chans][:, :, None] * gy
                dx_pad[n, taps, chans] += wc[:, :, outs] @ gy
    dx = dx_pad[:, pl : pl + length, :]
    db = None if b_shape is None else dyc.sum(axis=(0, 1)).astype(db_dt)
    return dx.astype(dx_dt), dw.astype(dw_dt), db


def _pool1d_taps(i, a):
    """Input positions of window ``i`` (inside the row) and its torch average divisor."""
    start = i * a.stride - a.padding
    taps = [start + t * a.dilation for t in range(a.pool)]
    inside = [t for t in taps if 0 <= t < a.x.shape[1]]
    end = min(start + a.pool, a.x.shape[1] + a.padding)  # the window's extent clipped to the padded row
    divisor = a.divisor_override or ((end - start) if a.count_include_pad else len(inside))
    return inside, divisor


def maxpool1d_forward(x, pool_size=2, stride=None, padding=0, dilation=1, ceil_mode=False):
    """1-D max pooling forward on (N, L, C) ``x``; ``stride`` defaults to ``pool_size``. -> (y, cache).

    Padding is -inf; ``cache.argmax`` holds the input position of each window's first maximum.
    """
    a = v.pool1d_args(x, pool_size, stride, padding, dilation, ceil_mode)
    x = a.x
    n_batch, _, c = x.shape
    y = np.zeros((n_batch, a.out_len, c), dtype=v.out_dtype(x.dtype))
    argmax = np.zeros((n_batch, a.out_len, c), dtype=np.int64)
    for n in range(n_batch):
        for i in range(a.out_len):
            taps, _ = _pool1d_taps(i, a)
            for ch in range(c):
                values = x[n, taps, ch]
                k = int(np.argmax(values))  # first maximum (or first NaN)
                y[n, i, ch] = values[k]
                argmax[n, i, ch] = taps[k]
    cache = Pool1dCache(x.shape, v.out_dtype(x.dtype), argmax, a.pool, a.stride, a.padding, a.dilation,
                        a.ceil_mode, True, None, y.shape)
    return y, cache


def maxpool1d_backward(dy, cache):
    """1-D max pooling backward: the gradient of each window goes to its first maximum."""
    if not isinstance(cache, Pool1dCache) or cache.argmax is None:
        raise TypeError(f"cache must be the cache returned by maxpool1d_forward, got {v.public_type_name(cache)}")
    dy = v.check_dy(dy, cache.y_shape)
    n_batch, lo, c = cache.y_shape
    dx = np.zeros(cache.x_shape, dtype=v.compute_dtype(cache.dx_dtype, dy.dtype))
    for n in range(n_batch):
        for i in range(lo):
            for ch in range(c):
                dx[n, int(cache.argmax[n, i, ch]), ch] += dy[n, i, ch]
    return dx.astype(cache.dx_dtype)


def avgpool1d_forward(x, pool_size=2, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                      divisor_override=None):
    """1-D average pooling forward on (N, L, C) ``x``, with torch's divisor rules. -> (y, cache)."""
    a = v.pool1d_args(x, pool_size, stride, padding, 1, ceil_mode, count_include_pad, divisor_override)
    x = a.x
    n_batch, _, c = x.shape
    ct = v.compute_dtype(x.dtype)
    y = np.zeros((n_batch, a.out_len, c), dtype=v.out_dtype(x.dtype))
    for n in range(n_batch):
        for i in range(a.out_len):
            taps, divisor = _pool1d_taps(i, a)
            for ch in range(c):
                y[n, i, ch] = np.sum(x[n, taps, ch].astype(ct)) / divisor
    cache = Pool1dCache(x.shape, v.out_dtype(x.dtype), None, a.pool, a.stride, a.padding, 1, a.ceil_mode,
                        a.count_include_pad, a.divisor_override, y.shape)
    return y, cache


def avgpool1d_backward(dy, cache):
    """1-D average pooling backward: each window's gradient is shared by its taps (divided as in the forward)."""
    if not isinstance(cache, Pool1dCache) or cache.argmax is not None:
        raise TypeError(f"cache must be the cache returned by avgpool1d_forward, got {v.public_type_name(cache)}")
    dy = v.check_dy(dy, cache.y_shape)
    n_batch, lo, c = cache.y_shape
    a = v.Pool1dArgs(np.empty(cache.x_shape[:2] + (0,)), cache.pool_size, cache.stride, cache.padding, 1,
                     cache.ceil_mode, cache.count_include_pad, cache.divisor_override, lo)
    dx = np.zeros(cache.x_shape, dtype=v.compute_dtype(cache.dx_dtype, dy.dtype))
    for n in range(n_batch):
        for i in range(lo):
            taps, divisor = _pool1d_taps(i, a)
            for ch in range(c):
                for t in taps:
                    dx[n, t, ch] += dy[n, i, ch] / divisor
    return dx.astype(cache.dx_dtype)
