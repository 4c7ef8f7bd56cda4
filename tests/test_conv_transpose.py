"""conv_transpose2d_forward/backward: both backends against torch autograd, each other, gradcheck, bad input."""
import numpy as np
import pytest

import fastconv
import fastconv.reference
from fastconv import gradcheck

from conftest import require_simd, run_python, simd_levels, tol

torch = pytest.importorskip("torch", reason="torch (in the test extra) is the independent check of the semantics")
F = torch.nn.functional

TORCH_TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}


def _torch_conv_transpose(x, w, b, dy, stride, padding, output_padding, groups, dilation):
    """(y, dx, dw, db) of torch's conv_transpose2d in float64, in fastconv's layouts."""
    xt = torch.tensor(np.ascontiguousarray(np.asarray(x, np.float64).transpose(0, 3, 1, 2)), requires_grad=True)
    wt = torch.tensor(np.ascontiguousarray(np.asarray(w, np.float64).transpose(3, 2, 0, 1)), requires_grad=True)
    bt = None if b is None else torch.tensor(np.asarray(b, np.float64), requires_grad=True)
    yt = F.conv_transpose2d(xt, wt, bt, stride, padding, output_padding, groups, dilation)
    yt.backward(torch.tensor(np.ascontiguousarray(np.asarray(dy, np.float64).transpose(0, 3, 1, 2))))
    return (yt.detach().numpy().transpose(0, 2, 3, 1), xt.grad.numpy().transpose(0, 2, 3, 1),
            wt.grad.numpy().transpose(2, 3, 1, 0), None if b is None else bt.grad.numpy())


def _random_case(rng, small=False):
    """Random options of a valid transposed convolution: (x, w, b, stride, padding, output_padding, groups, dilation)."""
    while True:
        g = int(rng.choice([1, 1, 2, 3]))
        cin = g * int(rng.integers(1, 3 if small else 5))
        cout_g = int(rng.integers(1, 3 if small else 6))
        k = tuple(int(i) for i in rng.integers(1, 5, 2))
        s = tuple(int(i) for i in rng.integers(1, 4, 2))
        d = tuple(int(i) for i in rng.integers(1, 3, 2))
        p = tuple(int(i) for i in rng.integers(0, 3, 2))
        op = tuple(int(rng.integers(0, max(si, di))) for si, di in zip(s, d))
        hw = tuple(int(i) for i in rng.integers(1, 4 if small else 7, 2))
        out = [(h - 1) * si - 2 * pi + di * (ki - 1) + oi + 1 for h, si, pi, di, ki, oi in zip(hw, s, p, d, k, op)]
        if min(out) >= 1:
            break
    x = rng.standard_normal((int(rng.integers(1, 3)),) + hw + (cin,))
    w = rng.standard_normal(k + (cout_g, cin))
    b = None if rng.random() < 0.3 else rng.standard_normal(cout_g * g)
    return x, w, b, s, p, op, g, d


@pytest.mark.parametrize("seed", range(40))
def test_conv_transpose2d_matches_torch(impl, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w, b, s, p, op, g, d = _random_case(rng, small=impl is fastconv.reference)
    x, w = x.astype(dtype), w.astype(dtype)
    b = None if b is None else b.astype(dtype)
    y, cache = impl.conv_transpose2d_forward(x, w, b, s, p, op, g, d)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = impl.conv_transpose2d_backward(dy, cache)
    ty, tdx, tdw, tdb = _torch_conv_transpose(x, w, b, dy, s, p, op, g, d)
    atol = TORCH_TOL[dtype]
    assert y.shape == ty.shape and y.dtype == dtype
    np.testing.assert_allclose(y, ty, rtol=atol, atol=atol)
    np.testing.assert_allclose(dx, tdx, rtol=atol, atol=atol)
    np.testing.assert_allclose(dw, tdw, rtol=atol, atol=atol)
    assert dx.dtype == dtype and dw.dtype == dtype
    if b is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, tdb, rtol=atol, atol=atol)
        assert db.dtype == dtype


@pytest.mark.parametrize("seed", range(25))
def test_conv_transpose2d_fast_matches_reference(dtype, seed):
    rng = np.random.default_rng(1000 + seed)
    x, w, b, s, p, op, g, d = _random_case(rng, small=True)
    x, w = x.astype(dtype), w.astype(dtype)
    yr, cr = fastconv.reference.conv_transpose2d_forward(x, w, b, s, p, op, g, d)
    yf, cf = fastconv.conv_transpose2d_forward(x, w, b, s, p, op, g, d)
    rtol, atol = tol(dtype)
    np.testing.assert_allclose(yf, yr, rtol=rtol, atol=atol)
    assert yf.dtype == yr.dtype
    dy = rng.standard_normal(yr.shape).astype(dtype)
    for got, want in zip(fastconv.conv_transpose2d_backward(dy, cf), fastconv.reference.conv_transpose2d_backward(dy, cr)):
        if want is None:
            assert got is None
        else:
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    # each backend's backward takes the other's cache
    for got, want in zip(fastconv.conv_transpose2d_backward(dy, cr), fastconv.reference.conv_transpose2d_backward(dy, cf)):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("algorithm_case", [
    # (Cin, Cout, kernel, stride, padding, output_padding): layers that the small, direct and gemm families serve
    (2, 3, 3, 2, 1, 1), (16, 16, 4, 2, 1, 0), (8, 4, 3, 1, 1, 0), (40, 70, 3, 2, 1, 1), (3, 9, 5, 3, 2, 2),
])
def test_conv_transpose2d_kernel_families(algorithm_case, dtype):
    cin, cout, k, s, p, op = algorithm_case
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 5, 6, cin)).astype(dtype)
    w = rng.standard_normal((k, k, cout, cin)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    y, cache = fastconv.conv_transpose2d_forward(x, w, b, s, p, op)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = fastconv.conv_transpose2d_backward(dy, cache)
    ty, tdx, tdw, tdb = _torch_conv_transpose(x, w, b, dy, s, p, op, 1, 1)
    atol = TORCH_TOL[dtype] * (10 if dtype == np.float32 else 1)  # sums over up to 70 channels x 9 taps
    for got, want in ((y, ty), (dx, tdx), (dw, tdw), (db, tdb)):
        np.testing.assert_allclose(got, want, rtol=atol, atol=atol)


def test_conv_transpose2d_gradcheck(impl):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 3, 2, 4))
    w = rng.standard_normal((3, 2, 3, 4))
    b = rng.standard_normal(6)
    opts = dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2))
    y, cache = impl.conv_transpose2d_forward(x, w, b, **opts)
    r = rng.standard_normal(y.shape)
    err = gradcheck(lambda x, w, b: float(np.sum(impl.conv_transpose2d_forward(x, w, b, **opts)[0] * r)),
                    [x, w, b], impl.conv_transpose2d_backward(r, cache))
    assert err < 1e-6


def test_conv_transpose2d_dtypes_layouts_and_inputs_untouched(impl):
    rng = np.random.default_rng(5)
    x = np.asfortranarray(rng.standard_normal((2, 4, 3, 4)).astype(np.float32))
    w = rng.standard_normal((3, 3, 2, 4))  # float64 weights: sums in float64, y float32
    b = rng.standard_normal(4).astype(np.float32)
    x.flags.writeable = False
    x_copy, w_copy = x.copy(), w.copy()
    y, cache = impl.conv_transpose2d_forward(x, w[:, :, :, :], b, 2, 1, 1, 2)
    assert y.dtype == np.float32 and y.shape == (2, 8, 6, 4)
    dx, dw, db = impl.conv_transpose2d_backward(np.ones(y.shape), cache)
    assert (dx.dtype, dw.dtype, db.dtype) == (np.float32, np.float64, np.float32)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(w, w_copy)
    y64, _ = fastconv.reference.conv_transpose2d_forward(x.astype(np.float64), w, b, 2, 1, 1, 2)
    np.testing.assert_allclose(y, y64, rtol=1e-6, atol=1e-6)
    # integer input computes in float64
    yi, _ = impl.conv_transpose2d_forward(np.ones((1, 2, 2, 1), np.int32), np.ones((2, 2, 1, 1), np.int64), None)
    assert yi.dtype == np.float64
    np.testing.assert_array_equal(yi[0, :, :, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_conv_transpose2d_empty_batch(impl):
    y, cache = impl.conv_transpose2d_forward(np.zeros((0, 3, 3, 2)), np.ones((2, 2, 3, 2)), np.ones(3), 2)
    assert y.shape == (0, 6, 6, 3)
    dx, dw, db = impl.conv_transpose2d_backward(y, cache)
    assert dx.shape == (0, 3, 3, 2)
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)


def test_conv_transpose2d_large_padding_crops_inside(impl):
    # padding larger than the kernel: only the middle of the full output is kept
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal((1, 6, 6, 2)), rng.standard_normal((2, 2, 3, 2)), rng.standard_normal(3)
    y, cache = impl.conv_transpose2d_forward(x, w, b, stride=1, padding=3)
    dy = rng.standard_normal(y.shape)
    for got, want in zip((y,) + impl.conv_transpose2d_backward(dy, cache), _torch_conv_transpose(x, w, b, dy, 1, 3, 0, 1, 1)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


BAD = [
    (dict(output_padding=2), ValueError, "output_padding must be smaller than the stride or the dilation"),
    (dict(output_padding=(0, 2), stride=2), ValueError, "output_padding"),
    (dict(output_padding=-1), ValueError, "output_padding must be non-negative"),
    (dict(groups=3), ValueError, "groups=3 must divide the input channels"),
    (dict(groups=0), ValueError, "groups must be >= 1"),
    (dict(groups=1.5), TypeError, "groups must be a positive int"),
    (dict(stride=0), ValueError, "stride must be >= 1"),
    (dict(dilation=0), ValueError, "dilation must be >= 1"),
    (dict(padding=5), ValueError, "padding"),
    (dict(padding="same"), TypeError, "padding"),
    (dict(b=np.ones(5)), ValueError, "b has length 5"),
    (dict(w=np.ones((3, 3, 2, 3))), ValueError, "w has 3 input channels but x has 4"),
    (dict(w=np.ones((0, 3, 2, 4))), ValueError, "non-empty kernel"),
    (dict(x=np.ones((4, 4, 4))), ValueError, "x must be 4-D"),
    (dict(x=np.array([["a"]])), TypeError, "x must have a real numeric dtype"),
]


@pytest.mark.parametrize("change,exc,match", BAD, ids=[m for _, _, m in BAD])
def test_conv_transpose2d_bad_input(impl, change, exc, match):
    args = dict(x=np.ones((1, 3, 3, 4)), w=np.ones((3, 3, 2, 4)), b=np.ones(4), stride=1, padding=0,
                output_padding=0, groups=2, dilation=1)
    args.update(change)
    with pytest.raises(exc, match=match):
        impl.conv_transpose2d_forward(**args)


def test_conv_transpose2d_backward_bad_input(impl):
    y, cache = impl.conv_transpose2d_forward(np.ones((1, 3, 3, 2)), np.ones((2, 2, 1, 2)), None, 2)
    with pytest.raises(ValueError, match=r"dy has shape \(1, 6, 6, 2\) but the forward output had shape \(1, 6, 6, 1\)"):
        impl.conv_transpose2d_backward(np.ones((1, 6, 6, 2)), cache)
    _, conv_cache = impl.conv2d_forward(np.ones((1, 3, 3, 2)), np.ones((2, 2, 2, 1)), np.ones(1))
    with pytest.raises(TypeError, match="cache must be the cache returned by conv_transpose2d_forward, got ConvCache"):
        impl.conv_transpose2d_backward(y, conv_cache)
    dx, dw, db = impl.conv_transpose2d_backward(y, cache)
    assert db is None


@pytest.mark.parametrize("stride,dilation,output_padding,padding", [
    (1, 2, 1, 0), (1, 3, 2, 2), ((2, 1), (1, 3), (1, 2), (0, 1)), (2, 3, 2, 1),
])
def test_conv_transpose2d_output_padding_beyond_the_stride(impl, stride, dilation, output_padding, padding):
    # output_padding >= stride is allowed when below the dilation: rows that no tap reaches get only the bias
    rng = np.random.default_rng(12)
    x, w, b = rng.standard_normal((2, 4, 5, 3)), rng.standard_normal((3, 2, 2, 3)), rng.standard_normal(2)
    y, cache = impl.conv_transpose2d_forward(x, w, b, stride, padding, output_padding, 1, dilation)
    dy = rng.standard_normal(y.shape)
    want = _torch_conv_transpose(x, w, b, dy, stride, padding, output_padding, 1, dilation)
    for got, ref in zip((y,) + impl.conv_transpose2d_backward(dy, cache), want):
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


# (N, H, W, Cin, Cout/groups, Kh, Kw, stride, padding, output_padding, groups, dilation): wide enough for
# whole and partial vector panels, strided, grouped and dilated rows of the forward kernel
FORWARD_KERNEL_CASES = [
    (2, 5, 6, 16, 32, 4, 4, (2, 2), (1, 1), (0, 0), 1, (1, 1)),
    (1, 4, 5, 12, 19, 3, 3, (2, 2), (1, 1), (1, 1), 1, (1, 1)),
    (2, 3, 4, 6, 5, 3, 2, (3, 2), (2, 0), (2, 1), 3, (1, 2)),
    (1, 6, 3, 9, 33, 1, 3, (1, 1), (0, 1), (0, 0), 1, (2, 1)),
]


@pytest.mark.parametrize("level", simd_levels())
def test_each_simd_level_forward_agrees_with_reference(level, tmp_path):
    """The forward kernel (the direct input-gradient rows) at each instruction-set level this CPU
    runs, forced in a fresh process, agrees with the reference, with and without a bias."""
    require_simd(level, tmp_path)
    code = (
        "import numpy as np, fastconv, fastconv.reference as R\n"
        "from fastconv import _simd\n"
        f"assert _simd.simd_level() == {level!r}, _simd.simd_level()\n"
        "rng = np.random.default_rng(0)\n"
        "for dt, rtol in ((np.float32, 1e-5), (np.float64, 1e-12)):\n"
        f"    for (n, h, w_, ci, co, kh, kw, s, p, op, g, d) in {FORWARD_KERNEL_CASES!r}:\n"
        "        x = rng.standard_normal((n, h, w_, ci)).astype(dt)\n"
        "        w = rng.standard_normal((kh, kw, co, ci)).astype(dt)\n"
        "        for b in (None, rng.standard_normal(co * g).astype(dt)):\n"
        "            y, c = fastconv.conv_transpose2d_forward(x, w, b, s, p, op, g, d)\n"
        "            yr, cr = R.conv_transpose2d_forward(x, w, b, s, p, op, g, d)\n"
        "            dy = rng.standard_normal(y.shape).astype(dt)\n"
        "            got = (y,) + fastconv.conv_transpose2d_backward(dy, c)\n"
        "            for a, r in zip(got, (yr,) + R.conv_transpose2d_backward(dy, cr)):\n"
        "                if r is None:\n"
        "                    assert a is None\n"
        "                    continue\n"
        "                sc = max(1.0, float(np.abs(r).max()))\n"
        "                np.testing.assert_allclose(a, r, rtol=rtol, atol=rtol * sc)\n"
        "print('ok')\n"
    )
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"


def _on_threads(x, w, b, *options, seed=12):
    """[(y, dx, dw, db) on 1 thread, the same on 2 threads] of one layer, dy drawn from ``seed``."""
    old = fastconv.get_num_threads()
    try:
        runs = []
        for nt in (1, 2):
            fastconv.set_num_threads(nt)
            y, cache = fastconv.conv_transpose2d_forward(x, w, b, *options)
            dy = np.random.default_rng(seed).standard_normal(y.shape, dtype=np.float32)
            runs.append((y,) + fastconv.conv_transpose2d_backward(dy, cache))
    finally:
        fastconv.set_num_threads(old)
    for a, c in zip(*runs):
        np.testing.assert_array_equal(a, c)
    return runs, dy


def test_conv_transpose2d_results_do_not_depend_on_the_thread_count():
    """Forward and every gradient bit-identical on 1 and 2 threads, on a layer large enough to run
    the forward rows and the bias-gradient parts in parallel; db matches float64 sums."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, 17, 19, 24), dtype=np.float32)
    w = rng.standard_normal((3, 3, 40, 24), dtype=np.float32)
    b = rng.standard_normal(40, dtype=np.float32)
    runs, dy = _on_threads(x, w, b, 2, 1, 1)
    assert dy.size >= 1 << 18
    np.testing.assert_allclose(runs[0][3], dy.sum(axis=(0, 1, 2), dtype=np.float64), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("x_shape, w_shape", [((2, 3, 3, 0), (3, 3, 4, 0)), ((2, 3, 3, 2), (3, 3, 0, 2))])
def test_conv_transpose2d_no_channels(impl, x_shape, w_shape):
    """No input channels: every output is the bias; no output channels: empty outputs and db."""
    b = np.arange(w_shape[2], dtype=np.float64)
    y, cache = impl.conv_transpose2d_forward(np.ones(x_shape), np.ones(w_shape), b, 2, 1)
    assert y.shape == (2, 5, 5, w_shape[2])
    np.testing.assert_array_equal(y, np.broadcast_to(b, y.shape))
    dx, dw, db = impl.conv_transpose2d_backward(np.ones(y.shape), cache)
    assert dx.shape == x_shape and dw.shape == w_shape and not dx.any() and not dw.any()
    np.testing.assert_array_equal(db, np.full(w_shape[2], 50.0))


# --------------------------------------------------------------------------- the 4x4 stride-2 phase route
def _force_route(monkeypatch, on):
    """Make every eligible 4x4 stride-2 layer take the phase route (on) or the direct kernels (off)."""
    import fastconv.conv_transpose as ct

    monkeypatch.setattr(ct, "_PHASE_MIN_MACS", 0 if on else 1 << 62)
    monkeypatch.setattr(ct, "_PHASE_MIN_CIN", 1)
    monkeypatch.setattr(ct, "_PHASE_MIN_COUT", 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding, output_padding, shape", [
    (1, 0, (2, 7, 9, 5, 3)),          # the U-Net/DCGAN layer: output 2H x 2W
    (0, 0, (1, 4, 3, 17, 9)),         # the full output: 2H + 2
    (2, 1, (3, 5, 5, 4, 6)),          # crops two rows, keeps one of output padding
    (1, 1, (2, 6, 3, 3, 2)),
    ((1, 0), (0, 0), (1, 3, 8, 2, 33)),
    (1, 0, (1, 1, 1, 2, 2)),          # one input pixel
])
def test_phase_route_matches_torch_and_the_direct_kernels(monkeypatch, dtype, padding, output_padding, shape):
    """The phase route (Winograd F(m, 2x2) on the four output phases) against torch in float64 and
    against the direct kernels, forward and every gradient, with and without bias; inputs untouched."""
    import fastconv.conv_transpose as ct

    n, h, w_, cin, cout = shape
    rng = np.random.default_rng(h * 7 + cin)
    x = rng.standard_normal((n, h, w_, cin)).astype(dtype)
    w = (rng.standard_normal((4, 4, cout, cin)) / 4).astype(dtype)
    for b in (rng.standard_normal(cout).astype(dtype), None):
        x0, w0 = x.copy(), w.copy()
        p2 = padding if isinstance(padding, tuple) else (padding, padding)
        op2 = output_padding if isinstance(output_padding, tuple) else (output_padding, output_padding)
        res = {}
        for on in (True, False):
            _force_route(monkeypatch, on)
            assert ct._phase_route(x.shape, w.shape, (2, 2), p2, op2, 1, (1, 1)) is on
            y, cache = fastconv.conv_transpose2d_forward(x, w, b, 2, padding, output_padding)
            dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
            res[on] = (y,) + fastconv.conv_transpose2d_backward(dy, cache)
        exact = _torch_conv_transpose(x, w, b, dy, 2, padding, output_padding, 1, 1)
        for got, direct, want in zip(res[True], res[False], exact):
            if want is None:
                assert got is None and direct is None
                continue
            assert got.dtype == dtype and got.shape == want.shape
            assert _rel(got, want) <= TORCH_TOL[np.dtype(dtype)]
            assert _rel(got, direct) <= TORCH_TOL[np.dtype(dtype)]
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(w, w0)


def _rel(got, want):
    want = np.asarray(want, np.float64)
    return float(np.max(np.abs(np.asarray(got, np.float64) - want)) / max(np.max(np.abs(want)), 1e-300))


def test_phase_route_is_taken_by_the_benchmarked_layer_only_when_eligible():
    """The default rule: the U-Net layer (N8 32x32x64 -> 64x64x32) takes the phase route; dilation,
    groups, another stride or kernel, output padding beyond the padding, or a small layer do not."""
    import fastconv.conv_transpose as ct

    big = ((8, 32, 32, 64), (4, 4, 32, 64))
    assert ct._phase_route(*big, (2, 2), (1, 1), (0, 0), 1, (1, 1))
    assert not ct._phase_route(*big, (2, 2), (1, 1), (0, 0), 1, (2, 2))
    assert not ct._phase_route(*big, (2, 2), (1, 1), (0, 0), 2, (1, 1))
    assert not ct._phase_route(*big, (2, 1), (1, 1), (0, 0), 1, (1, 1))
    assert not ct._phase_route(big[0], (3, 3, 32, 64), (2, 2), (1, 1), (0, 0), 1, (1, 1))
    assert not ct._phase_route(*big, (2, 2), (0, 1), (1, 0), 1, (1, 1))
    assert not ct._phase_route((1, 8, 8, 64), (4, 4, 32, 64), (2, 2), (1, 1), (0, 0), 1, (1, 1))


def test_phase_route_results_do_not_depend_on_the_thread_count(monkeypatch):
    """Bit-identical forward and gradients on 1 and 2 threads; the outputs of one call are not
    overwritten by the next (they own their memory: only temporaries come from scratch)."""
    _force_route(monkeypatch, True)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 13, 11, 24), dtype=np.float32)
    w = rng.standard_normal((4, 4, 20, 24), dtype=np.float32)
    b = rng.standard_normal(20, dtype=np.float32)
    runs, _ = _on_threads(x, w, b, 2, 1, seed=6)
    kept = [a.copy() for a in runs[0]]
    fastconv.conv_transpose2d_forward(-x, w, b, 2, 1)  # another call of the same shapes
    for a, k in zip(runs[0], kept):
        np.testing.assert_array_equal(a, k)


def _phase_scatter(z, y, offs):
    """numpy's phase view: y[n, 2t + dr_q, 2u + ds_q] = z[n, t, u, block q] where inside y."""
    cq = y.shape[3]
    for q, (dr, ds) in enumerate(offs):
        for t in range(z.shape[1]):
            for u in range(z.shape[2]):
                i, j = 2 * t + dr, 2 * u + ds
                if 0 <= i < y.shape[1] and 0 <= j < y.shape[2]:
                    y[:, i, j] = z[:, t, u, q * cq:(q + 1) * cq]


def _phase_gather(y, hz, wz, offs):
    """The adjoint of _phase_scatter: the (N, hz, wz, P * Cq) planes, 0 where a pixel is outside y."""
    cq = y.shape[3]
    z = np.zeros((y.shape[0], hz, wz, len(offs) * cq), y.dtype)
    for q, (dr, ds) in enumerate(offs):
        for t in range(hz):
            for u in range(wz):
                i, j = 2 * t + dr, 2 * u + ds
                if 0 <= i < y.shape[1] and 0 <= j < y.shape[2]:
                    z[:, t, u, q * cq:(q + 1) * cq] = y[:, i, j]
    return z


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [3, 5])
@pytest.mark.parametrize("offs, out_hw", [
    (((-1, -1), (-1, 0), (0, -1), (0, 0)), (12, 10)),  # the 4x4 layer at padding 1
    (((0, 0), (0, 1), (1, 0), (1, 1)), (13, 11)),      # padding 0, output cut one short
    (((-1, -1), (-1, 0), (0, -1)), (11, 12)),           # three phases: the fourth's pixels untouched
])
def test_winograd_phase_views_match_the_stored_phase_planes(dtype, m, offs, out_hw):
    """Every Winograd pass through a phase view gives the bits of the same pass over the phase
    planes stored apart (scattered into y / gathered from dy by numpy), the bias gradient too."""
    from fastconv import _winograd

    rng = np.random.default_rng(m + len(offs) + out_hw[0])
    n, h, w_, c, cq = 2, 5, 4, 6, 16
    x = rng.standard_normal((n, h, w_, c)).astype(dtype)
    wk = rng.standard_normal((2, 2, c, len(offs) * cq)).astype(dtype)
    b = rng.standard_normal(len(offs) * cq).astype(dtype)
    view = (h + 1, w_ + 1, offs)
    z = np.empty((n, h + 1, w_ + 1, len(offs) * cq), dtype)
    _winograd.winograd_forward(x, wk, b, 1, 1, z, 2, m)
    want = np.full((n,) + out_hw + (cq,), -7.0, dtype)
    _phase_scatter(z, want, offs)
    y = np.full_like(want, -7.0)
    _winograd.winograd_forward(x, wk, b, 1, 1, y, 2, m, y_phases=view)
    np.testing.assert_array_equal(y, want)
    if len(offs) == 3:
        assert (y[:, ::2, ::2] == -7.0).all()  # the phase of offsets (0, 0)

    dy = rng.standard_normal(want.shape).astype(dtype)
    dz = _phase_gather(dy, h + 1, w_ + 1, offs)
    dx_want, dx = np.empty_like(x), np.empty_like(x)
    _winograd.winograd_backward_input(dz, wk, 1, 1, dx_want, 2, m)
    _winograd.winograd_backward_input(dy, wk, 1, 1, dx, 1, m, dy_phases=view)
    np.testing.assert_array_equal(dx, dx_want)
    dw_want, dw = np.empty_like(wk), np.empty_like(wk)
    db_want, db = np.empty(wk.shape[3]), np.empty(wk.shape[3])
    _winograd.winograd_backward_weights(x, dz, 1, 1, dw_want, 2, m, db=db_want)
    _winograd.winograd_backward_weights(x, dy, 1, 1, dw, 1, m, db=db, dy_phases=view)
    np.testing.assert_array_equal(dw, dw_want)
    np.testing.assert_array_equal(db, db_want)


def test_winograd_phase_views_refuse_inconsistent_shapes():
    from fastconv import _winograd

    x = np.zeros((2, 5, 4, 6), np.float32)
    wk = np.zeros((2, 2, 6, 32), np.float32)
    offs = ((0, 0), (1, 1))
    y = np.zeros((2, 12, 10, 16), np.float32)
    with pytest.raises(ValueError, match="y must have shape"):  # the view's size is not the output's
        _winograd.winograd_forward(x, wk, None, 1, 1, y, 1, 3, y_phases=(5, 5, offs))
    with pytest.raises(ValueError, match="y must have shape"):  # 3 phases of 16 channels, not 32
        _winograd.winograd_forward(x, wk, None, 1, 1, y, 1, 3, y_phases=(6, 5, offs + ((0, 1),)))
    with pytest.raises(ValueError, match="offset pairs"):
        _winograd.winograd_forward(x, wk, None, 1, 1, y, 1, 3, y_phases=(6, 5, ()))
    with pytest.raises(ValueError, match="differ modulo 2"):  # two phases writing the same pixels
        _winograd.winograd_forward(x, wk, None, 1, 1, y, 1, 3, y_phases=(6, 5, ((0, 0), (2, 0))))
    with pytest.raises(ValueError, match="NHWC"):
        _winograd.winograd_forward(x, wk, None, 1, 1, np.zeros((2, 16, 12, 10), np.float32), 1, 3,
                                   y_nchw=True, y_phases=(6, 5, offs))
    with pytest.raises(ValueError, match="dy must have shape"):
        _winograd.winograd_backward_weights(x, y, 1, 1, np.zeros_like(wk), 1, 3, dy_phases=(6, 4, offs))
    with pytest.raises(ValueError, match="must have shape"):  # dx is not the view's input
        _winograd.winograd_backward_input(y, wk, 1, 1, np.zeros_like(x), 1, 3, dy_phases=(7, 5, offs))
