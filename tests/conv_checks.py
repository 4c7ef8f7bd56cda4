"""Checks shared by the tests of the conv kernel families (fastconv._conv_small, fastconv._conv_direct).

A case is ``(N, H, W, C, Cout, Kh, Kw, padding, stride)``.
"""
import numpy as np

import fastconv
import fastconv.reference as R

from conftest import tol


def assert_winograd_thread_invariant(x, w, b, dy, m, pad=(1, 2)):
    """The Winograd forward, dx and dw of one layer (padding ``pad``, F(m x m, r x r) with r from
    w's shape) give the same bits at 1, 2 and 3 threads."""
    from fastconv import _winograd as wg

    out = []
    for nt in (1, 2, 3):
        y = np.empty(dy.shape, dy.dtype)
        wg.winograd_forward(x, w, b, *pad, y, nt, m)
        dx = np.empty_like(x)
        wg.winograd_backward_input(dy, w, *pad, dx, nt, m)
        dw = np.empty_like(w)
        wg.winograd_backward_weights(x, dy, *pad, dw, nt, m)
        out.append((y, dx, dw))
    for res in out[1:]:
        for a, a0 in zip(res, out[0]):
            np.testing.assert_array_equal(a, a0)


#: max |fast - exact| / max |exact| that the Winograd kernels keep against a float64 computation
WINOGRAD_LIMIT = {np.float32: 1e-4, np.float64: 1e-10}


def rel_err(got, exact):
    """max |got - exact| / max |exact|, in float64."""
    return float(np.max(np.abs(got.astype(np.float64) - exact)) / np.max(np.abs(exact)))


def check_winograd_passes(x, w, b, dy, pad, m, exact):
    """The Winograd forward, dx and dw of one layer (F(m x m, r x r), 2 threads, outputs filled with
    NaN first so that an unwritten element fails) within WINOGRAD_LIMIT of ``exact`` = (y, dx, dw)
    in float64, and x, w, b, dy untouched. Returns y."""
    from fastconv import _winograd as wg

    dtype = x.dtype.type
    saved = [a.copy() for a in (x, w, b, dy)]
    y = np.full(exact[0].shape, np.nan, dtype)
    wg.winograd_forward(x, w, b, *pad, y, 2, m)
    assert rel_err(y, exact[0]) < WINOGRAD_LIMIT[dtype]
    dx = np.full(x.shape, np.nan, dtype)
    wg.winograd_backward_input(dy, w, *pad, dx, 2, m)
    assert rel_err(dx, exact[1]) < WINOGRAD_LIMIT[dtype]
    dw = np.full(w.shape, np.nan, dtype)
    wg.winograd_backward_weights(x, dy, *pad, dw, 2, m)
    assert rel_err(dw, exact[2]) < WINOGRAD_LIMIT[dtype]
    for a, a0 in zip((x, w, b, dy), saved):
        np.testing.assert_array_equal(a, a0)
    return y


def case_id(case):
    """A readable pytest id for a case."""
    return "N{}_{}x{}x{}->{}_k{}x{}_p{}_s{}".format(*case).replace(" ", "")


def case_data(case, dtype, seed=0):
    """(x, w, b, padding, stride) of a case, standard-normal values from ``seed``."""
    n, h, w, c, co, kh, kw, p, s = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = rng.standard_normal((kh, kw, c, co)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    return x, wt, b, p, s


def assert_close(got, want, dtype):
    """Equal to the dtype's rounding (tolerances relative to the largest |want|), same dtype and shape."""
    rtol, atol = tol(dtype)
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale)
    assert got.dtype == want.dtype and got.shape == want.shape


def check_fwd_bwd(x, w, b, p, s, dtype, seed, algorithm="auto"):
    """Forward and backward (dy drawn from ``seed``) through ``algorithm`` equal the reference's."""
    y, cache = fastconv.conv2d_forward(x, w, b, p, s, algorithm=algorithm)
    yr, cr = R.conv2d_forward(x, w, b, p, s)
    assert_close(y, yr, dtype)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    for g, r in zip(fastconv.conv2d_backward(dy, cache), R.conv2d_backward(dy, cr)):
        assert_close(g, r, dtype)


def check_backward_without_dx(x, w, b, p, s, dtype, algorithm="auto"):
    """Skipping dx changes nothing else: dw and db are bit-identical to the full backward's and
    equal the reference's."""
    y, cache = fastconv.conv2d_forward(x, w, b, p, s, algorithm=algorithm)
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    dx_none, dw, db = fastconv.conv2d_backward(dy, cache, compute_dx=False)
    assert dx_none is None
    _, dw_full, db_full = fastconv.conv2d_backward(dy, cache)
    np.testing.assert_array_equal(dw, dw_full)
    np.testing.assert_array_equal(db, db_full)
    _, dwr, dbr = R.conv2d_backward(dy, R.conv2d_forward(x, w, b, p, s)[1])
    assert_close(dw, dwr, dtype)
    assert_close(db, dbr, dtype)


def check_thread_count_invariance(x, w, b, p, s, dtype, threads):
    """Forward, backward and the backward without dx are bit-identical for every thread count."""
    dy = None
    out = []
    prev = fastconv.set_num_threads(1)
    try:
        for nt in threads:
            fastconv.set_num_threads(nt)
            y, cache = fastconv.conv2d_forward(x, w, b, p, s)
            if dy is None:
                dy = np.random.default_rng(3).standard_normal(y.shape).astype(dtype)
            out.append((y,) + fastconv.conv2d_backward(dy, cache)
                       + fastconv.conv2d_backward(dy, cache, compute_dx=False)[1:])
    finally:
        fastconv.set_num_threads(prev)
    for res in out[1:]:
        for a, b_ in zip(out[0], res):
            np.testing.assert_array_equal(a, b_)


def winograd_level_check_code(level, layers):
    """Child-process code: each layer ``(n, h, w, c, co, groups, padding, dilation)`` by
    ``algorithm='winograd'`` (forward, dx, dw, db) against the reference, float32 within 1e-4 and
    float64 within 1e-10 of the largest magnitude, at the forced instruction-set ``level``; prints
    ``ok``."""
    return (
        "import numpy as np, fastconv, fastconv.reference as R\n"
        "from fastconv import _simd\n"
        f"assert _simd.simd_level() == {level!r}\n"
        "rng = np.random.default_rng(0)\n"
        "def err(a, r): return float(np.abs(a - r).max() / np.abs(r).max())\n"
        "for dt, lim in ((np.float32, 1e-4), (np.float64, 1e-10)):\n"
        f"    for (n, h, w_, c, co, g, p, d) in {tuple(layers)!r}:\n"
        "        x = rng.standard_normal((n, h, w_, c)).astype(dt); b = rng.standard_normal(co).astype(dt)\n"
        "        w = (rng.standard_normal((3, 3, c // g, co)) / np.sqrt(9 * c / g)).astype(dt)\n"
        "        y, cache = fastconv.conv2d_forward(x, w, b, p, 1, d, g, algorithm='winograd')\n"
        "        dy = rng.standard_normal(y.shape).astype(dt)\n"
        "        yr, cr = R.conv2d_forward(x, w, b, p, 1, d, g)\n"
        "        for a, r in zip((y,) + fastconv.conv2d_backward(dy, cache), (yr,) + R.conv2d_backward(dy, cr)):\n"
        "            assert err(a, r) < lim, (dt, c, co, g, d, err(a, r))\n"
        "print('ok')\n"
    )
