"""The direct (implicit-GEMM) conv kernels (fastconv._conv_direct) against fastconv.reference:
through the public functions and called directly, every stride/padding regime, channel counts
that are not multiples of the vector width, both dtypes, both instruction sets, thread counts."""
import numpy as np
import pytest

import fastconv
import fastconv.reference as R
from fastconv import _conv_direct, conv

from conftest import require_simd, run_python, simd_levels
from conv_checks import (
    assert_close, case_data, case_id, check_backward_without_dx, check_fwd_bwd, check_thread_count_invariance,
)

# N, H, W, C, Cout, Kh, Kw, padding, stride: all outside the small-kernel range, Cout and C >= 8
DIRECT_CASES = [
    (4, 9, 11, 16, 32, 3, 3, 1, 1),          # whole panels, interior and border pixels
    (3, 8, 7, 17, 19, 3, 3, 1, 1),           # C and Cout not multiples of any vector width
    (1, 6, 13, 9, 8, 3, 3, 0, 1),            # N=1, no padding, Cout below one AVX panel
    (2, 7, 7, 8, 40, 3, 3, 2, 1),            # padding Kh-1 (dx correlation at its limit)
    (2, 10, 9, 12, 33, 5, 5, 2, 1),          # 5x5, one column past two panels
    (2, 9, 12, 10, 24, 2, 4, (0, 3), 1),     # rectangular kernel, asymmetric padding
    (3, 11, 11, 16, 20, 3, 3, 1, 2),         # stride 2
    (2, 12, 13, 9, 16, 3, 3, 4, 2),          # padding larger than the kernel: whole rows of zeros
    (2, 11, 10, 8, 9, 4, 4, 2, 3),           # stride 3: input pixels no window reads
    (2, 9, 10, 11, 14, 3, 2, (1, 0), (2, 1)),  # mixed strides
    (3, 4, 5, 8, 8, 5, 5, 2, 1),             # image smaller than the kernel
    (17, 5, 6, 9, 10, 3, 3, 1, 1),           # 85 output rows: the 8 dw parts do not divide them
    (2, 8, 8, 40, 16, 1, 1, 0, 1),           # 1x1 kernel
    (2, 6, 7, 9, 12, 2, 2, (2, 3), 1),       # stride 1, padding >= kernel: dx gathered, not correlated
    (2, 8, 8, 36, 12, 1, 1, 0, 2),           # 1x1 strided: every other dx row and column is zero
    (2, 5, 37, 16, 12, 3, 3, 1, 1),          # rows of 37 pixels, C and Cout within one vector: one-vector blocks
    (2, 6, 40, 8, 8, 3, 3, 1, 2),            # the same in float64, and stride-2 dx phases of 20 pixels
]


class _Forbidden:
    """Stands in for the GEMM module: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the GEMM path ran ({name}) where the direct kernels should")


@pytest.fixture
def calls(monkeypatch):
    """Count the direct kernel calls made through fastconv.conv."""
    seen = {}
    for name in ("conv2d_forward_direct_kernel", "conv2d_backward_direct_kernel"):
        fn = getattr(_conv_direct, name)

        def spy(*args, _fn=fn, _name=name):
            seen[_name] = seen.get(_name, 0) + 1
            return _fn(*args)

        monkeypatch.setattr(conv._conv_direct, name, spy)
    return seen


@pytest.mark.parametrize("case", DIRECT_CASES, ids=case_id)
def test_direct_path_equals_reference(case, dtype, calls, monkeypatch):
    monkeypatch.setattr(conv, "_conv", _Forbidden())
    x, w, b, p, s = case_data(case, dtype)
    x0, w0 = x.copy(), w.copy()
    check_fwd_bwd(x, w, b, p, s, dtype, seed=1, algorithm="direct")  # "auto" sends 3x3 16->32 to winograd
    np.testing.assert_array_equal(x, x0)  # inputs are never written
    np.testing.assert_array_equal(w, w0)
    assert calls == {"conv2d_forward_direct_kernel": 1, "conv2d_backward_direct_kernel": 1}


@pytest.mark.parametrize("case", DIRECT_CASES[:4] + DIRECT_CASES[6:9], ids=case_id)
def test_direct_backward_without_dx(case, dtype, calls):
    """Skipping dx leaves dw and db bit-identical to the full backward."""
    check_backward_without_dx(*case_data(case, dtype), dtype, algorithm="direct")  # "auto": 3x3 16->32 is winograd
    assert calls["conv2d_backward_direct_kernel"] == 2


@pytest.mark.parametrize("case", [DIRECT_CASES[1], DIRECT_CASES[6], DIRECT_CASES[11]], ids=case_id)
def test_direct_thread_count_does_not_change_results(case, dtype, monkeypatch):
    monkeypatch.setattr(conv, "_PARALLEL_MIN_MACS", 0)  # let even these small calls use threads
    check_thread_count_invariance(*case_data(case, dtype), dtype, threads=(1, 2, 3))


@pytest.mark.parametrize("case", DIRECT_CASES, ids=case_id)
def test_kernels_write_every_output_element(case, dtype):
    """Called directly on NaN-filled outputs (and dx kernels for every stride), no stale value survives."""
    x, w, b, p, s = case_data(case, dtype, seed=4)
    (ph, pw), (sh, sw) = np.broadcast_to(p, 2), np.broadcast_to(s, 2)
    yr, cr = R.conv2d_forward(x, w, b, p, s)
    dy = np.random.default_rng(5).standard_normal(yr.shape).astype(dtype)
    dxr, dwr, dbr = R.conv2d_backward(dy, cr)
    y = np.full(yr.shape, np.nan, dtype)
    _conv_direct.conv2d_forward_direct_kernel(x, w, b, y, ph, pw, sh, sw, 2)
    assert_close(y, yr, dtype)
    y = np.full(yr.shape, np.nan, dtype)
    _conv_direct.conv2d_forward_direct_kernel(x, w, b[:0], y, ph, pw, sh, sw, 2)  # no bias
    assert_close(y, yr - b, dtype)
    cout = w.shape[3]
    ldw = _conv_direct.dw_width(cout, dtype == np.float64)
    assert ldw >= cout and ldw % 2 == 0
    for parts, want_dx in ((1, True), (3, False), (8, True)):
        dx = np.full(x.shape, np.nan, dtype)
        dw = np.full(w.shape, np.nan, dtype)
        db = np.full(cout, np.nan, dtype)
        scratch = (np.full((parts, w[..., 0].size, ldw), np.nan, dtype), np.full((parts, cout), np.nan, dtype),
                   np.full((2, dy.shape[2] * ldw), np.nan, dtype))
        _conv_direct.conv2d_backward_direct_kernel(x, w, dy, dx, dw, db, *scratch, ph, pw, sh, sw, want_dx, 2)
        assert_close(dw, dwr, dtype)
        assert_close(db, dbr, dtype)
        if want_dx:
            assert_close(dx, dxr, dtype)
        else:
            assert np.isnan(dx).all()  # not asked for: left alone


@pytest.mark.parametrize("cout", [1, 3, 7])
def test_kernels_handle_channels_below_one_vector(cout, dtype):
    """The dispatch sends such layers to GEMM, but the kernels themselves still agree."""
    x, w, b, p, s = case_data((2, 6, 7, 5, cout, 3, 3, 1, 1), dtype, seed=6)
    yr, cr = R.conv2d_forward(x, w, b, p, s)
    y = np.empty(yr.shape, dtype)
    _conv_direct.conv2d_forward_direct_kernel(x, w, b, y, 1, 1, 1, 1, 1)
    assert_close(y, yr, dtype)
    dy = np.random.default_rng(7).standard_normal(yr.shape).astype(dtype)
    dxr, dwr, dbr = R.conv2d_backward(dy, cr)
    dx, dw, db = np.empty(x.shape, dtype), np.empty(w.shape, dtype), np.empty(cout, dtype)
    ldw = _conv_direct.dw_width(cout, dtype == np.float64)
    scratch = (np.empty((3, w[..., 0].size, ldw), dtype), np.empty((3, cout), dtype), np.empty((1, 7 * ldw), dtype))
    _conv_direct.conv2d_backward_direct_kernel(x, w, dy, dx, dw, db, *scratch, 1, 1, 1, 1, True, 1)
    for got, want in ((dx, dxr), (dw, dwr), (db, dbr)):
        assert_close(got, want, dtype)


def test_backward_kernel_rejects_a_dx_of_the_wrong_shape():
    x, w = case_data(DIRECT_CASES[0], np.float32)[:2]
    dy = np.ones((4, 9, 11, 32), np.float32)
    scratch = (np.empty((2, 144, 32), np.float32), np.empty((2, 32), np.float32), np.empty((1, 0), np.float32))
    with pytest.raises(ValueError, match="dx must have the shape of x"):
        _conv_direct.conv2d_backward_direct_kernel(x, w, dy, np.empty((4, 9, 10, 16), np.float32),
                                                   np.empty(w.shape, np.float32), np.empty(32, np.float32),
                                                   *scratch, 1, 1, 1, 1, True, 1)


@pytest.mark.parametrize(
    "case, direct",
    [
        ((2, 6, 6, 8, 8, 3, 3, 1, 1), True),     # 72 taps, Cout 8, C 8
        ((2, 6, 6, 8, 7, 3, 3, 1, 1), False),    # Cout 7: GEMM
        ((2, 6, 6, 7, 8, 3, 3, 1, 1), "dx"),     # C 7: the forward and dw direct, dx by GEMM
    ],
    ids=lambda v: case_id(v) if isinstance(v, tuple) else str(v),
)
def test_dispatch_boundary(case, direct, dtype, calls):
    check_fwd_bwd(*case_data(case, dtype), dtype, seed=8)
    if direct is True:
        assert calls == {"conv2d_forward_direct_kernel": 1, "conv2d_backward_direct_kernel": 1}
    elif direct == "dx":
        assert calls == {"conv2d_forward_direct_kernel": 1}
    else:
        assert calls == {}


@pytest.mark.parametrize("case", DIRECT_CASES[:3] + DIRECT_CASES[6:9], ids=case_id)
def test_gemm_path_still_agrees(case, dtype, calls):
    """Forced with algorithm="gemm", the im2col+GEMM fallback gives the same answers."""
    check_fwd_bwd(*case_data(case, dtype), dtype, seed=9, algorithm="gemm")
    assert calls == {}


def test_direct_path_mixed_dtypes_and_integers(calls):
    """float32 x with float64 w computes in float64 and returns float32 like the reference; ints exact."""
    x, w, b, p, s = case_data(DIRECT_CASES[1], np.float32)
    w64 = w.astype(np.float64)
    y, cache = fastconv.conv2d_forward(np.asfortranarray(x), w64, b, p, s)
    yr, cr = R.conv2d_forward(x, w64, b, p, s)
    assert y.dtype == yr.dtype == np.float32
    assert_close(y, yr, np.float32)
    dy = np.random.default_rng(5).standard_normal(y.shape)[:, ::-1]  # float64, negative strides
    for g, r in zip(fastconv.conv2d_backward(dy, cache), R.conv2d_backward(dy, cr)):
        assert_close(g, r, np.float64 if g.dtype == np.float64 else np.float32)
    xi = np.arange(2 * 6 * 6 * 8, dtype=np.int64).reshape(2, 6, 6, 8) % 5
    wi = np.ones((3, 3, 8, 9), dtype=np.int32)
    yi, _ = fastconv.conv2d_forward(xi, wi, np.arange(9))
    np.testing.assert_array_equal(yi, R.conv2d_forward(xi, wi, np.arange(9))[0])  # small integers: exact
    assert calls["conv2d_forward_direct_kernel"] == 2


def test_random_shapes_against_reference(dtype):
    """Random geometries (hypothesis) through the public functions, direct path or not."""
    hyp = pytest.importorskip("hypothesis", reason="hypothesis is in the test extra")
    st = hyp.strategies

    @hyp.given(
        n=st.integers(1, 3), h=st.integers(1, 9), w_=st.integers(1, 9), c=st.integers(1, 20),
        co=st.integers(8, 20), kh=st.integers(1, 4), kw=st.integers(1, 4),
        ph=st.integers(0, 4), pw=st.integers(0, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
    )
    @hyp.settings(deadline=None)  # the number of examples comes from the active profile (dev or ci)
    def check(n, h, w_, c, co, kh, kw, ph, pw, sh, sw):
        hyp.assume(h + 2 * ph >= kh and w_ + 2 * pw >= kw)
        x, w, b, _, _ = case_data((n, h, w_, c, co, kh, kw, 0, 1), dtype, seed=n * 7 + c)
        check_fwd_bwd(x, w, b, (ph, pw), (sh, sw), dtype, seed=h + w_)

    check()


@pytest.mark.parametrize("level", simd_levels())
def test_each_simd_level_agrees_with_reference(level, tmp_path):
    """Each instruction-set level of the kernels that this CPU runs, forced in a fresh process,
    agrees with the reference."""
    require_simd(level, tmp_path)
    code = (
        "import numpy as np, fastconv, fastconv.reference as R\n"
        "from fastconv import _simd, conv\n"
        f"assert _simd.simd_level() == {level!r}, _simd.simd_level()\n"
        "conv._conv = None  # the direct kernels must do all the work\n"
        "rng = np.random.default_rng(0)\n"
        "for dt, rtol in ((np.float32, 1e-5), (np.float64, 1e-12)):\n"
        f"    for (n, h, w_, c, co, kh, kw, p, s) in {DIRECT_CASES!r}:\n"
        "        x = rng.standard_normal((n, h, w_, c)).astype(dt)\n"
        "        w = rng.standard_normal((kh, kw, c, co)).astype(dt); b = rng.standard_normal(co).astype(dt)\n"
        "        y, cache = fastconv.conv2d_forward(x, w, b, p, s); yr, cr = R.conv2d_forward(x, w, b, p, s)\n"
        "        dy = rng.standard_normal(y.shape).astype(dt)\n"
        "        for g, r in zip((y,) + fastconv.conv2d_backward(dy, cache), (yr,) + R.conv2d_backward(dy, cr)):\n"
        "            sc = max(1.0, float(np.abs(r).max()))\n"
        "            np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * sc)\n"
        "print('ok')\n"
    )
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"


def test_simd_level_follows_the_cpu_flags(tmp_path):
    """Without the override the kernels run AVX-512 (F, BW, VL, DQ) when the CPU reports it and AVX2+FMA,
    else AVX2+FMA exactly when the CPU reports both (Linux x86)."""
    from pathlib import Path

    info = Path("/proc/cpuinfo")
    if not info.exists():
        pytest.skip("no /proc/cpuinfo to read the CPU flags from")
    flags = next((ln.split(":", 1)[1].split() for ln in info.read_text().splitlines()
                  if ln.startswith("flags")), None)
    if flags is None:
        pytest.skip("/proc/cpuinfo lists no x86 flags")
    want = "avx2" if {"avx2", "fma"} <= set(flags) else "baseline"
    if want == "avx2" and {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= set(flags):
        want = "avx512"
    code = "from fastconv import _simd; print(_simd.simd_level())"
    assert run_python(code, tmp_path, FASTCONV_SIMD="") == want


# Wide layers: a (Kh, Kw, C, Cout) weight gradient above conv._WIDE_DW_BYTES (1.5 MiB) sends the
# direct backward of an ungrouped, undilated stride-1 layer to conv._wide_backward: dw by im2col +
# BLAS in fixed chunks of rows and blocks of dw rows, dx by the forward kernel over dy.
WIDE_CASES = [
    (2, 5, 6, 256, 200, 3, 3, 1, 1),   # 1.76 MiB of float32 dw; K = 2304, nine whole GEMM blocks
    (1, 4, 7, 300, 180, 3, 3, 0, 1),   # K = 2700: a last GEMM block of 140 rows; no padding
    (2, 5, 5, 160, 330, 3, 3, 2, 1),   # padding Kh - 1
    (2, 9, 8, 256, 200, 3, 3, 1, 2),   # stride 2: dx by the transposed convolution's kernel
    (1, 8, 10, 200, 300, 3, 3, 1, (2, 3)),  # mixed strides, input pixels no window reads
    (2, 4, 5, 256, 200, 3, 3, ((1, 0), (2, 1)), 1),  # per-side padding: no stride-1 correlation back
    (1, 4, 4, 192, 256, 3, 3, 3, 1),   # padding past the kernel: rows of zeros
]


def _wide_results(x, w, b, p, s, dtype, threads=None, fused=False):
    """(y, dx, dw, db, dw and db without dx) through algorithm="direct"; ``fused``: the wide route off."""
    wide_bytes = conv._WIDE_DW_BYTES
    prev = fastconv.set_num_threads(threads or fastconv.get_num_threads())
    try:
        if fused:
            conv._WIDE_DW_BYTES = 1 << 60
        y, cache = fastconv.conv2d_forward(x, w, b, p, s, algorithm="direct")
        dy = np.random.default_rng(4).standard_normal(y.shape).astype(dtype)
        return (y,) + fastconv.conv2d_backward(dy, cache) + fastconv.conv2d_backward(dy, cache, compute_dx=False)[1:]
    finally:
        fastconv.set_num_threads(prev)
        conv._WIDE_DW_BYTES = wide_bytes


@pytest.mark.parametrize("case", WIDE_CASES, ids=case_id)
def test_wide_backward(case, dtype, monkeypatch):
    """The wide route serves these layers; it equals the reference; its dx has the fused kernel's bits
    (the stride-1 forward-kernel dx; the transposed kernel's dx too, measured, but not held here)
    and its dw, db equal the fused kernel's to rounding; chunks of 7 rows (several, the last one
    short) give the same bits as one chunk, and so do 1, 2 and 3 threads."""
    x, w, b, p, s = case_data(case, dtype)
    c, kh, kw = case[3], case[5], case[6]
    assert conv._wide_serves(w.shape, np.dtype(dtype), (1, 1), 1)
    x0, w0 = x.copy(), w.copy()
    calls = {"kernel": 0}
    kernel = conv._conv.conv2d_weight_grad_gemm_kernel

    def spy(*args):
        calls["kernel"] += 1
        return kernel(*args)

    monkeypatch.setattr(conv._conv, "conv2d_weight_grad_gemm_kernel", spy)
    check_fwd_bwd(x, w, b, p, s, dtype, seed=1, algorithm="direct")
    assert calls["kernel"] == 1
    one_chunk = _wide_results(x, w, b, p, s, dtype)
    fused = _wide_results(x, w, b, p, s, dtype, fused=True)
    if s == 1 and isinstance(p, int) and p < kh:
        np.testing.assert_array_equal(one_chunk[1], fused[1])  # dx: the same sums in the same order
    for got, want in zip(one_chunk[2:], fused[2:]):
        assert_close(got, want, dtype)
    np.testing.assert_array_equal(one_chunk[2], one_chunk[4])  # dw, db with and without dx
    np.testing.assert_array_equal(one_chunk[3], one_chunk[5])
    monkeypatch.setattr(conv, "_WIDE_CHUNK_BYTES", 7 * kh * kw * c * np.dtype(dtype).itemsize)
    monkeypatch.setattr(conv, "_PARALLEL_MIN_MACS", 0)
    for threads in (1, 2, 3):
        for got, want in zip(_wide_results(x, w, b, p, s, dtype, threads), one_chunk):
            assert_close(got, want, dtype)
    chunked = [_wide_results(x, w, b, p, s, dtype, threads) for threads in (1, 2, 3)]
    for res in chunked[1:]:
        for a, b_ in zip(chunked[0], res):
            np.testing.assert_array_equal(a, b_)
    np.testing.assert_array_equal(x, x0)  # inputs are never written
    np.testing.assert_array_equal(w, w0)


def test_wide_route_rule():
    """Ungrouped, undilated layers with a weight gradient above 1.5 MiB and at least 8 input
    channels take the wide route, at any stride and padding."""
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    w = (3, 3, 256, 256)
    assert conv._wide_serves(w, f32, (1, 1), 1)
    assert not conv._wide_serves(w, f32, (2, 2), 1)
    assert not conv._wide_serves((3, 3, 128, 256), f32, (1, 1), 2)
    assert not conv._wide_serves((3, 3, 128, 256), f32, (1, 1), 1)  # 1.12 MiB
    assert conv._wide_serves((3, 3, 128, 256), f64, (1, 1), 1)  # 2.25 MiB in float64
    assert not conv._wide_serves((3, 3, 4, 20000), f32, (1, 1), 1)  # dx would leave most lanes idle
