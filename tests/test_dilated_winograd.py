"""Dilated 3x3 stride-1 layers by Winograd over the polyphase components of the padded input
(fastconv._dilated) against fastconv.reference and torch.

A stride-1 layer with dilation (dh, dw) is dh*dw undilated layers on the input's phases (rows and
columns split by index mod dh, dw), run as one Winograd layer with the phases stacked along N.
Odd extents, every padding form, dilations 2..4 and mixed, groups; dx skipped; the "auto" rule;
bit-level thread invariance; every SIMD level; bad calls.
"""
import numpy as np
import pytest

import fastconv
import fastconv.reference as R
from fastconv import _dilated
from fastconv import conv as _conv_mod

from conftest import require_simd, run_python, simd_levels
from conv_checks import winograd_level_check_code

LIMIT = {np.float32: 1e-4, np.float64: 1e-10}
# (N, H, W, C, Cout, groups, padding, dilation)
CASES = [
    (2, 9, 11, 8, 16, 1, "same", 2),
    (1, 10, 7, 12, 8, 1, 1, 2),
    (2, 8, 8, 8, 8, 2, 0, 3),
    (1, 13, 9, 8, 12, 4, 3, 3),
    (1, 14, 15, 6, 6, 1, "same", 4),
    (2, 7, 12, 8, 8, 1, 2, (1, 2)),
    (1, 11, 6, 8, 16, 2, ((1, 4), (3, 0)), (3, 2)),
    (1, 9, 10, 4, 8, 1, ((0, 2), (5, 1)), 2),
    (1, 5, 9, 4, 4, 1, 5, 2),         # padding beyond the Winograd kernels' 2 in the phases
    (1, 4, 4, 4, 4, 1, "same", 5),    # more phases than rows: phases of padding only
]


def _ids(case):
    return "N{}_{}x{}x{}->{}_g{}_p{}_d{}".format(*case).replace(" ", "")


def _data(case, dtype, seed=0):
    n, h, w, c, co, g, pad, dil = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = (rng.standard_normal((3, 3, c // g, co)) / np.sqrt(9 * c / g)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    return x, wt, b


def _err(a, r):
    return float(np.abs(a - r).max() / max(np.abs(r).max(), 1e-30))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_matches_reference(case, dtype):
    """Forward, dx, dw and db by the polyphase Winograd path equal the reference's; skipping dx
    leaves dw and db bit-identical; the inputs are not modified."""
    n, h, w_, c, co, g, pad, dil = case
    x, w, b = _data(case, dtype)
    x0, w0 = x.copy(), w.copy()
    for bias in (b, None):
        y, cache = fastconv.conv2d_forward(x, w, bias, pad, 1, dil, g, algorithm="winograd")
        assert cache.family == "winograd"
        yr, cr = R.conv2d_forward(x, w, bias, pad, 1, dil, g)
        assert y.shape == yr.shape and y.dtype == dtype
        assert _err(y, yr) < LIMIT[dtype]
        dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
        got = fastconv.conv2d_backward(dy, cache)
        want = R.conv2d_backward(dy, cr)
        for a, r in zip(got[:2], want[:2]):
            assert a.shape == r.shape and a.dtype == dtype
            assert _err(a, r) < LIMIT[dtype]
        if bias is None:
            assert got[2] is None and want[2] is None
        else:
            assert _err(got[2], want[2]) < LIMIT[dtype]
        dx_none, dw, db = fastconv.conv2d_backward(dy, cache, compute_dx=False)
        assert dx_none is None
        np.testing.assert_array_equal(dw, got[1])
        if bias is not None:
            np.testing.assert_array_equal(db, got[2])
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_phase_split_covers_every_input_row_once():
    """Each input row lies in exactly one phase's buffer, the Winograd padding reads only zeros,
    and each phase yields ceil(out / d) outputs."""
    for n in range(1, 12):
        for d in range(1, 6):
            for before in range(0, 7):
                for after in range(0, 7):
                    if n + before + after - 2 * d < 1:
                        continue
                    ax = _dilated.axis(n, before, after, d)
                    assert 0 <= ax.p <= 2 and ax.no == -(-ax.out // d)
                    assert ax.nb + 2 * ax.p - 2 == ax.no
                    seen = []
                    for r in range(d):
                        lo, hi, start = _dilated._span(ax, r)
                        seen += list(range(start, start + d * (hi - lo), d))
                        # the padded rows before the buffer are input rows < 0
                        assert d * (ax.p - 1) + r - before < 0 or ax.p == 0
                    assert sorted(seen) == list(range(n))


def test_matches_torch():
    """The benchmarked kind of layer (dilation 2, 'same') and a grouped, mixed-dilation one
    against torch's autograd in float64."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    F = torch.nn.functional
    for case in [(2, 12, 10, 16, 16, 1, "same", 2), (1, 9, 11, 8, 12, 2, 1, (2, 3))]:
        n, h, w_, c, co, g, pad, dil = case
        x, w, b = _data(case, np.float64, seed=3)
        y, cache = fastconv.conv2d_forward(x, w, b, pad, 1, dil, g, algorithm="winograd")
        dy = np.random.default_rng(4).standard_normal(y.shape)
        dx, dw, db = fastconv.conv2d_backward(dy, cache)
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_()
        wt = torch.from_numpy(w.transpose(3, 2, 0, 1).copy()).requires_grad_()
        bt = torch.from_numpy(b.copy()).requires_grad_()
        yt = F.conv2d(xt, wt, bt, padding=pad, dilation=dil, groups=g)
        yt.backward(torch.from_numpy(dy.transpose(0, 3, 1, 2).copy()))
        for a, t in ((y, yt.detach().numpy().transpose(0, 2, 3, 1)), (dx, xt.grad.numpy().transpose(0, 2, 3, 1)),
                     (dw, wt.grad.numpy().transpose(2, 3, 1, 0)), (db, bt.grad.numpy())):
            assert _err(a, t) < 1e-10


@pytest.mark.parametrize("dil,c,co,groups,stride,expect", [
    ((2, 2), 64, 64, 1, (1, 1), "winograd"),
    ((4, 4), 64, 128, 1, (1, 1), "winograd"),
    ((1, 3), 128, 64, 1, (1, 1), "winograd"),
    ((5, 5), 64, 64, 1, (1, 1), "direct"),    # beyond the measured dilations
    ((2, 2), 32, 64, 1, (1, 1), "direct"),    # fewer than 64 channels on a side
    ((2, 2), 64, 64, 4, (1, 1), "direct"),    # grouped
    ((2, 2), 8, 8, 1, (1, 1), "direct"),
    ((2, 2), 64, 64, 1, (2, 2), "direct"),    # stride 2
    ((1, 1), 32, 32, 1, (1, 1), "winograd"),  # undilated layers keep their rule
])
def test_auto_rule(dil, c, co, groups, stride, expect):
    """"auto" takes the polyphase Winograd path for dilated 3x3 stride-1 layers with one group,
    dilation at most 4 and at least 64 input and output channels."""
    opts = _conv_mod._Options(None, dil, groups)
    for compute_dx in (False, True):
        got = _conv_mod._choose("auto", (3, 3, c // groups, co), (2, 2), compute_dx, "test", opts, stride)
        assert got == expect


def test_auto_runs_the_polyphase_path(monkeypatch, winograd_rule_at):
    """conv2d_forward/backward with "auto" on a wide dilated layer call fastconv._dilated (with the
    rule's AVX-512 numbers)."""
    winograd_rule_at("avx512")
    seen = []
    for name in ("forward", "backward"):
        fn = getattr(_dilated, name)
        monkeypatch.setattr(_dilated, name, lambda *a, _fn=fn, _n=name: (seen.append(_n), _fn(*a))[1])
    x, w, b = _data((2, 40, 36, 64, 64, 1, "same", 2), np.float32)  # 180 output tiles
    y, cache = fastconv.conv2d_forward(x, w, b, "same", 1, 2)
    fastconv.conv2d_backward(np.ones_like(y), cache)
    assert seen == ["forward", "backward"]


def test_thread_count_invariance():
    """Same bits at 1, 2 and 3 threads (forward, dx, dw, db)."""
    case = (2, 13, 14, 16, 32, 2, "same", 2)
    x, w, b = _data(case, np.float32)
    out = []
    for nt in (1, 2, 3):
        fastconv.set_num_threads(nt)
        try:
            y, cache = fastconv.conv2d_forward(x, w, b, "same", 1, 2, 2, algorithm="winograd")
            out.append((y,) + fastconv.conv2d_backward(np.cos(y), cache))
        finally:
            fastconv.set_num_threads(None)
    for res in out[1:]:
        for a, a0 in zip(res, out[0]):
            np.testing.assert_array_equal(a, a0)


def test_forced_winograd_refusals():
    """Winograd still refuses 5x5 kernels and stride 2 on dilated layers, and per-side padding
    without dilation, saying why."""
    x = np.zeros((1, 9, 9, 8), np.float32)
    with pytest.raises(ValueError, match="winograd kernels take 3x3 kernels only"):
        fastconv.conv2d_forward(x, np.zeros((5, 5, 8, 8), np.float32), None, 2, 1, 2, algorithm="winograd")
    with pytest.raises(ValueError, match="winograd kernels take stride 1 only"):
        fastconv.conv2d_forward(x, np.zeros((3, 3, 8, 8), np.float32), None, 2, 2, 2, algorithm="winograd")
    with pytest.raises(ValueError, match="per-side padding only on dilated layers"):
        fastconv.conv2d_forward(x, np.zeros((3, 3, 8, 8), np.float32), None, ((1, 2), (1, 1)),
                                algorithm="winograd")


@pytest.mark.parametrize("level", simd_levels())
def test_each_simd_level_agrees_with_reference(level, tmp_path):
    """The polyphase path at each instruction-set level this CPU runs, forced in a fresh process."""
    require_simd(level, tmp_path)
    code = winograd_level_check_code(level, ((2, 9, 11, 32, 64, 1, 'same', 2), (1, 10, 7, 32, 32, 4, 1, 3)))
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"
