"""conv1d's 1-D Winograd path (fastconv._conv1d_winograd: forward, dx and dw on F(9 - K, K) tiles):
against the reference and torch, the routing rule, the transforms, thread invariance, every SIMD level."""
import numpy as np
import pytest

import fastconv
import fastconv.reference
from fastconv import _conv1d_winograd, onedim

from conftest import require_simd, run_python, simd_levels

torch = pytest.importorskip("torch", reason="torch (in the test extra) is the independent check of the semantics")
F = torch.nn.functional

# the error bounds of the Winograd path (measured worst ~2e-6 in float32, ~3e-15 in float64, relative to the
# largest magnitude of the result)
WINO_TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}

# (N, L, C, Cout, K, padding, bias): every served kernel size, 'same', ints, (left, right) pairs, padding
# beyond the kernel (dx then starts inside dy), lengths that are not a multiple of the tile
CASES = [
    (2, 13, 64, 64, 5, "same", True),
    (1, 9, 72, 64, 3, 1, False),
    (2, 7, 64, 80, 4, (3, 0), True),
    (1, 11, 64, 64, 5, (0, 3), True),
    (2, 5, 65, 67, 3, 4, True),
    (1, 6, 64, 64, 5, "valid", False),
]


def _case(n, length, c, cout, k, bias, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, length, c)).astype(dtype)
    w = (rng.standard_normal((k, c, cout)) / np.sqrt(k * c)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if bias else None
    return x, w, b


def _rel(a, r):
    return float(np.abs(np.asarray(a, np.float64) - r).max() / max(1.0, float(np.abs(r).max())))


@pytest.fixture(params=[False, True], ids=["blas", "gmul"])
def gmul(request):
    """The per-position products by BLAS, then by the register-blocked kernel (where Cout is a
    multiple of its chunk; the level's default is fastconv._winograd.ungrouped_gmul())."""
    from fastconv import _winograd

    prev = _winograd.set_ungrouped_gmul(request.param)
    yield request.param
    _winograd.set_ungrouped_gmul(prev)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_conv1d_matches_reference_and_torch(case, dtype, gmul):
    n, length, c, cout, k, padding, bias = case
    assert onedim._gmul(cout, np.dtype(dtype)) is (gmul and cout % 16 == 0 and dtype == np.float32)
    x, w, b = _case(n, length, c, cout, k, bias, dtype)
    x0, w0 = x.copy(), w.copy()
    y, cache = fastconv.conv1d_forward(x, w, b, padding=padding)
    assert cache.plan.family == "winograd1d"  # the layer ran on the Winograd path
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    got = (y,) + fastconv.conv1d_backward(dy, cache)
    yr, cr = fastconv.reference.conv1d_forward(x, w, b, padding=padding)
    ref = (yr,) + fastconv.reference.conv1d_backward(dy, cr)
    # torch, float64
    xt = torch.tensor(x.astype(np.float64).transpose(0, 2, 1), requires_grad=True)
    wt = torch.tensor(w.astype(np.float64).transpose(2, 1, 0), requires_grad=True)
    bt = None if b is None else torch.tensor(b.astype(np.float64), requires_grad=True)
    xin, pad = (F.pad(xt, padding), 0) if isinstance(padding, tuple) else (xt, padding)
    yt = F.conv1d(xin, wt, bt, 1, pad)
    yt.backward(torch.tensor(dy.astype(np.float64).transpose(0, 2, 1)))
    tor = (yt.detach().numpy().transpose(0, 2, 1), xt.grad.numpy().transpose(0, 2, 1),
           wt.grad.numpy().transpose(2, 1, 0), None if b is None else bt.grad.numpy())
    bound = WINO_TOL[np.dtype(dtype)]
    for a, r, t in zip(got, ref, tor):
        if r is None:
            assert a is None and t is None
            continue
        assert a.shape == r.shape and a.dtype == dtype
        assert _rel(a, r) <= bound
        assert _rel(a, t) <= bound
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_winograd_routing_rule():
    """Stride 1, dilation 1, one group, 3 to 5 taps, at least _WINOGRAD_MIN_CHANNELS channels on
    each side, or 32 to 63 in multiples of 16 from _WINOGRAD_NARROW_MIN_MACS multiply-adds on;
    everything else stays on the conv2d kernels."""
    least = onedim._WINOGRAD_MIN_CHANNELS
    serves = onedim._winograd_serves
    assert serves(5, least, least, 1, 1, 1) and serves(3, 64, 64, 1, 1, 1) and serves(4, 64, 128, 1, 1, 1)
    assert not serves(5, least - 1, 64, 1, 1, 1) and not serves(5, 64, least - 1, 1, 1, 1)
    assert not serves(2, 64, 64, 1, 1, 1) and not serves(6, 64, 64, 1, 1, 1)
    assert not serves(5, 64, 64, 2, 1, 1) and not serves(5, 64, 64, 1, 2, 1) and not serves(5, 64, 64, 1, 1, 2)
    big = onedim._WINOGRAD_NARROW_MIN_MACS
    assert serves(5, 32, 32, 1, 1, 1, big) and serves(3, 48, 32, 1, 1, 1, big) and serves(4, 32, 64, 1, 1, 1, big)
    assert not serves(5, 32, 32, 1, 1, 1, big - 1) and not serves(5, 40, 40, 1, 1, 1, big)
    assert not serves(5, 16, 64, 1, 1, 1, big) and not serves(5, 32, 32, 2, 1, 1, big)
    xn = np.zeros((32, 1024, 32), np.float32)  # 32 * 1024 * 5 * 32 * 32 multiply-adds
    wn = np.zeros((5, 32, 32), np.float32)
    assert fastconv.conv1d_forward(xn, wn, None, padding="same")[1].plan.family == "winograd1d"
    assert fastconv.conv1d_forward(xn[:4], wn, None, padding="same")[1].plan.family != "winograd1d"
    x, w, b = _case(1, 8, least, least, 5, True, np.float32)
    assert fastconv.conv1d_forward(x, w, b, padding=2)[1].plan.family == "winograd1d"
    assert fastconv.conv1d_forward(x, w, b, padding=2, dilation=2)[1].plan.family != "winograd1d"
    assert fastconv.conv1d_forward(x[..., :16], w[:, :16], b, padding=2)[1].plan.family != "winograd1d"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_narrow_layers_match_the_reference(monkeypatch, dtype):
    """32 to 63 channels in multiples of 16 (the narrow rule, its size floor lifted): forward and
    every gradient within the Winograd bounds of the reference."""
    monkeypatch.setattr(onedim, "_WINOGRAD_NARROW_MIN_MACS", 0)
    for n, length, c, cout, k, padding in ((2, 13, 32, 48, 5, "same"), (1, 20, 48, 32, 3, (2, 1))):
        x, w, b = _case(n, length, c, cout, k, True, dtype, seed=3)
        y, cache = fastconv.conv1d_forward(x, w, b, padding=padding)
        assert cache.plan.family == "winograd1d"
        dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
        yr, cr = fastconv.reference.conv1d_forward(x, w, b, padding=padding)
        for a, r in zip((y,) + fastconv.conv1d_backward(dy, cache), (yr,) + fastconv.reference.conv1d_backward(dy, cr)):
            assert a.dtype == dtype and _rel(a, r) <= WINO_TOL[np.dtype(dtype)]


@pytest.mark.parametrize("k", onedim._WINOGRAD_TAPS)
def test_winograd_transforms_compute_the_correlation(k):
    """AT @ ((G @ u) * (BT @ d)) is the correlation of the 8 inputs d with the k taps u (float64)."""
    bt, at, g = onedim.winograd_transforms(k)
    m = 9 - k
    assert bt.shape == (8, 8) and at.shape == (m, 8) and g.shape == (8, k)
    rng = np.random.default_rng(k)
    d, u = rng.standard_normal(8), rng.standard_normal(k)
    expect = np.array([d[i:i + k] @ u for i in range(m)])
    np.testing.assert_allclose(at @ ((g @ u) * (bt @ d)), expect, rtol=1e-12, atol=1e-12)


def test_winograd_mixed_dtypes_compute_in_the_promoted_dtype():
    """float32 x and w with a float64 dy: dx in x's dtype, computed in float64 (as the conv2d path does)."""
    x, w, b = _case(1, 10, 64, 64, 3, True, np.float32)
    y, cache = fastconv.conv1d_forward(x, w, b, padding="same")
    dy = np.random.default_rng(2).standard_normal(y.shape)
    dx, dw, db = fastconv.conv1d_backward(dy, cache)
    _, cr = fastconv.reference.conv1d_forward(x, w, b, padding="same")
    dxr, dwr, dbr = fastconv.reference.conv1d_backward(dy, cr)
    assert dx.dtype == np.float32 and dw.dtype == np.float32
    assert _rel(dx, dxr) <= 1e-6 and _rel(dw, dwr) <= 1e-6


def test_winograd_conv1d_results_do_not_depend_on_the_thread_count():
    """Forward and every gradient bit-identical on 1 and 2 threads, on a layer of several tile blocks."""
    x, w, b = _case(3, 300, 64, 72, 5, True, np.float32, seed=5)
    dy = np.random.default_rng(6).standard_normal((3, 300, 72)).astype(np.float32)
    old = fastconv.get_num_threads()
    try:
        runs = []
        for nt in (1, 2):
            fastconv.set_num_threads(nt)
            y, cache = fastconv.conv1d_forward(x, w, b, padding="same")
            assert cache.plan.family == "winograd1d"
            runs.append((y,) + fastconv.conv1d_backward(dy, cache))
    finally:
        fastconv.set_num_threads(old)
    assert 3 * 75 > 2 * onedim._WINOGRAD_TILES  # several blocks of tiles
    for a, c in zip(*runs):
        np.testing.assert_array_equal(a, c)


# The compiled transforms against the general ones on the same matrices: forward (BT) and weight
# gradient (BT and A8 for m = 4, 5, 6) agree to rounding (the same sums in the same order, but the
# compiler fuses a multiply and an add into one rounding in one and not the other in places, so
# not bit for bit); 67 channels leave a partial chunk.
COMPILED_CHECK = (
    "import numpy as np\n"
    "from fastconv import _conv1d_winograd as cw, onedim\n"
    "rng = np.random.default_rng(4)\n"
    "for dt in (np.float32, np.float64):\n"
    "    for k in (3, 4, 5):\n"
    "        m = 9 - k\n"
    "        bt, at, g = onedim.winograd_transforms(k)\n"
    "        a8 = np.zeros((8, 8)); a8[:, :m] = at.T\n"
    "        bt, at, a8 = (a.astype(dt) for a in (bt, at, a8))\n"
    "        x = rng.standard_normal((2, 37, 67)).astype(dt)\n"
    "        dy = rng.standard_normal((2, 37, 67)).astype(dt)\n"
    "        gu = rng.standard_normal((8, 67, 67)).astype(dt)\n"
    "        b = rng.standard_normal(67).astype(dt)\n"
    "        out = []\n"
    "        for general in (False, True):\n"
    "            y = np.empty((2, 37, 67), dt)\n"
    "            cw.winograd1d_kernel(x, gu, b, y, bt, at, k // 2, 4, 2, general)\n"
    "            parts, dbp = np.empty((3, 8, 67, 67), dt), np.empty((3, 67))\n"
    "            cw.winograd1d_weight_grad_kernel(x, dy, parts, bt, a8, m, k // 2, 4, 2, dbp, general)\n"
    "            out.append((y, parts, dbp))\n"
    "        for a, c in zip(*out):\n"
    "            err = np.abs(a - c).max() / np.abs(c).max()\n"
    "            assert err <= (1e-6 if dt == np.float32 else 1e-14), (dt, k, err)\n"
)


def test_winograd_compiled_transforms_are_the_wrappers_and_agree_with_the_general_ones():
    """The transforms compiled into the kernels are onedim.winograd_transforms' BT and A8 (so the
    layers run them), and they agree with the general transforms on those matrices to rounding."""
    compiled = _conv1d_winograd.compiled_transforms()
    for k in onedim._WINOGRAD_TAPS:
        bt, at, _ = onedim.winograd_transforms(k)
        m = 9 - k
        a8 = np.zeros((8, 8))
        a8[:, :m] = at.T
        np.testing.assert_array_equal(compiled[0], bt)
        np.testing.assert_array_equal(compiled[m - 3], a8)
    exec(COMPILED_CHECK, {})


@pytest.mark.parametrize("level", simd_levels())
def test_winograd_each_simd_level_agrees_with_reference(level, tmp_path):
    """The tile transforms at each instruction-set level this CPU runs, forced in a fresh process:
    forward and gradients within the Winograd bounds of the reference."""
    require_simd(level, tmp_path)
    code = (
        "import numpy as np, fastconv, fastconv.reference as R\n"
        "from fastconv import _conv1d_winograd\n"
        f"assert _conv1d_winograd.simd_level() == {level!r}, _conv1d_winograd.simd_level()\n"
        "rng = np.random.default_rng(0)\n"
        "for dt, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):\n"
        "    for k, c, pad in ((5, 65, 'same'), (3, 80, (2, 1)), (4, 64, 3)):\n"
        "        x = rng.standard_normal((2, 11, c)).astype(dt)\n"
        "        w = (rng.standard_normal((k, c, 80)) / 8).astype(dt)\n"
        "        b = rng.standard_normal(80).astype(dt)\n"
        "        y, cache = fastconv.conv1d_forward(x, w, b, padding=pad)\n"
        "        assert cache.plan.family == 'winograd1d'\n"
        "        dy = rng.standard_normal(y.shape).astype(dt)\n"
        "        yr, cr = R.conv1d_forward(x, w, b, padding=pad)\n"
        "        got = (y,) + fastconv.conv1d_backward(dy, cache)\n"
        "        for a, r in zip(got, (yr,) + R.conv1d_backward(dy, cr)):\n"
        "            err = np.abs(a - r).max() / max(1.0, np.abs(r).max())\n"
        "            assert err <= tol, (k, c, pad, err)\n"
        + COMPILED_CHECK +
        "print('ok')\n"
    )
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"


def test_winograd_kernels_refuse_gmul_on_a_partial_chunk():
    """The register-blocked products need Cout in multiples of GROUP_CHUNK: a clear ValueError."""
    assert _conv1d_winograd.GROUP_CHUNK == 16
    x = np.zeros((1, 8, 16), np.float32)
    bt, at, _ = onedim.winograd_transforms(3)
    with pytest.raises(ValueError, match="gmul=True needs output channels in multiples of 16, got 24"):
        _conv1d_winograd.winograd1d_kernel(x, np.zeros((8, 16, 24), np.float32), np.zeros(0, np.float32),
                                           np.zeros((1, 6, 24), np.float32), bt.astype(np.float32),
                                           at.astype(np.float32), 1, 64, 1, gmul=True)
    with pytest.raises(ValueError, match="got 24"):
        _conv1d_winograd.winograd1d_weight_grad_kernel(x, np.zeros((1, 6, 24), np.float32),
                                                       np.zeros((1, 8, 16, 24), np.float32),
                                                       bt.astype(np.float32), np.zeros((8, 8), np.float32), 6, 1,
                                                       64, 1, gmul=True)
