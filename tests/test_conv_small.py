"""The direct small-reduction conv kernels (fastconv._conv_small) against the reference loops."""

import numpy as np
import pytest

import fastconv
import fastconv.reference as R
from fastconv import _conv_small, conv
from conftest import count_calls, require_simd, run_python, simd_levels
from conv_checks import (
    assert_close, case_data, case_id, check_backward_without_dx, check_fwd_bwd, check_thread_count_invariance,
)


# N, H, W, C, Cout, Kh, Kw, padding, stride: all inside the small-kernel range
SMALL_CASES = [
    (64, 8, 8, 1, 8, 3, 3, 1, 1),      # the digits layer
    (5, 7, 9, 3, 5, 3, 2, (2, 1), 2),  # odd Cout (vector tail), rectangular kernel, padding != stride
    (3, 6, 6, 2, 11, 1, 1, 0, 1),      # 1x1 kernel, no padding
    (9, 10, 7, 3, 16, 3, 3, 0, 3),     # stride 3, no padding (pixels that no window reads)
    (2, 5, 5, 1, 1, 3, 3, 1, (1, 2)),  # one output channel: the scalar path only
    (4, 12, 11, 2, 24, 4, 4, 3, 2),    # 32 taps, padding Kh-1
    (1, 3, 3, 1, 64, 3, 3, 1, 1),      # one image (a single part), Cout at the limit
    (17, 4, 6, 3, 7, 2, 3, (1, 0), (2, 1)),  # a batch that the 8 parts do not divide
    # stride 1: dx as a correlation of the padded dy (vector taps, lane sums, pixel tails)
    (2, 7, 5, 3, 13, 3, 3, 2, 1),      # padding Kh-1, Cout not a multiple of the lanes
    (1, 9, 11, 2, 9, 2, 4, (0, 3), 1),  # N=1, rectangular kernel, asymmetric padding
    (3, 5, 6, 4, 3, 2, 2, 1, 1),       # Cout below one vector (channel padding only)
    (2, 2, 3, 1, 8, 3, 3, 1, 1),       # image smaller than the kernel
    (11, 3, 7, 2, 17, 3, 1, 0, 1),     # odd pixel count per image (block tails), no padding
]


@pytest.fixture
def calls(monkeypatch):
    """Count the calls of the small forward/backward kernels made through fastconv.conv: through
    the kernel functions, or through the checked common calls (``forward_plain``/``backward_plain``)
    where they ran (returned a result)."""
    seen = {"fwd": 0, "bwd": 0}
    count_calls(monkeypatch, conv._conv_small, "conv2d_forward_small_kernel", seen, "fwd")
    count_calls(monkeypatch, conv._conv_small, "conv2d_backward_small_kernel", seen, "bwd")
    count_calls(monkeypatch, conv._conv_small, "forward_plain", seen, "fwd", only_results=True)
    count_calls(monkeypatch, conv._conv_small, "backward_plain", seen, "bwd", only_results=True)
    return seen


@pytest.mark.parametrize("case", SMALL_CASES, ids=case_id)
def test_small_path_equals_reference(case, dtype, calls):
    x, w, b, p, s = case_data(case, dtype)
    x0 = x.copy()
    check_fwd_bwd(x, w, b, p, s, dtype, seed=1)
    assert calls == {"fwd": 1, "bwd": 1}
    np.testing.assert_array_equal(x, x0)  # the input is never written


@pytest.mark.parametrize("case", SMALL_CASES[:4], ids=case_id)
def test_small_backward_without_dx(case, dtype, calls):
    """Skipping dx changes nothing else: dw and db are bit-identical to the full backward."""
    check_backward_without_dx(*case_data(case, dtype), dtype)
    assert calls["bwd"] == 2


@pytest.mark.parametrize("case", [SMALL_CASES[0], SMALL_CASES[3], SMALL_CASES[7]], ids=case_id)
def test_small_path_thread_count_does_not_change_results(case, dtype, monkeypatch):
    monkeypatch.setattr(conv, "_SMALL_PARALLEL_MIN_MACS", 0)  # let even these small calls use threads
    check_thread_count_invariance(*case_data(case, dtype), dtype, threads=(1, 2))


@pytest.mark.parametrize(
    "case, small",
    [
        ((3, 9, 9, 8, 4, 2, 2, 1, 1), True),     # 32 taps
        ((3, 9, 9, 11, 4, 1, 3, 1, 1), False),   # 33 taps: GEMM
        ((2, 6, 6, 1, 64, 3, 3, 1, 1), True),    # Cout 64
        ((2, 6, 6, 1, 65, 3, 3, 1, 1), False),   # Cout 65: GEMM
        ((2, 6, 6, 1, 8, 3, 3, 2, 1), True),     # padding Kh - 1
        ((2, 6, 6, 1, 8, 3, 3, (3, 1), 1), False),  # padding == Kh: GEMM
        ((2, 6, 6, 1, 8, 3, 3, (1, 3), 1), False),  # padding == Kw: GEMM
    ],
    ids=lambda v: case_id(v) if isinstance(v, tuple) else str(v),
)
def test_dispatch_boundary(case, small, dtype, calls):
    check_fwd_bwd(*case_data(case, dtype), dtype, seed=4)
    assert calls == ({"fwd": 1, "bwd": 1} if small else {"fwd": 0, "bwd": 0})


def test_small_path_mixed_dtypes_and_layouts(calls):
    """float32 x with float64 w (the tutorial's case), Fortran-order and strided inputs."""
    x, w, b, p, s = case_data(SMALL_CASES[0], np.float32)
    w64 = w.astype(np.float64)
    xs = np.asfortranarray(x)
    y, cache = fastconv.conv2d_forward(xs, w64, b, p, s)
    yr, cr = R.conv2d_forward(x, w64, b, p, s)
    assert y.dtype == yr.dtype == np.float32
    assert_close(y, yr, np.float32)
    dy = np.random.default_rng(5).standard_normal(y.shape)[:, ::-1]  # float64, negative strides
    got, want = fastconv.conv2d_backward(dy, cache), R.conv2d_backward(dy, cr)
    for g, r in zip(got, want):
        assert_close(g, r, np.float64 if g.dtype == np.float64 else np.float32)
    assert calls == {"fwd": 1, "bwd": 1}


def test_small_path_integer_input(calls):
    x = np.arange(2 * 5 * 5, dtype=np.int64).reshape(2, 5, 5, 1) % 7
    w = np.ones((3, 3, 1, 4), dtype=np.int32)
    b = np.arange(4)
    y, cache = fastconv.conv2d_forward(x, w, b)
    yr, _ = R.conv2d_forward(x, w, b)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, yr)  # small integers: exact
    assert calls["fwd"] == 1


@pytest.mark.parametrize("level", simd_levels())
def test_each_simd_level_agrees_with_reference(level, tmp_path):
    """Each instruction-set level of the kernels that this CPU runs (lane sums and all), forced in
    a fresh process, agrees with the reference."""
    require_simd(level, tmp_path)
    code = (
        "import sys, numpy as np, fastconv, fastconv.reference as R\n"
        "from fastconv import _simd\n"
        f"assert _simd.simd_level() == {level!r}, _simd.simd_level()\n"
        "rng = np.random.default_rng(0)\n"
        "for dt, rtol in ((np.float32, 1e-5), (np.float64, 1e-12)):\n"
        "    for (n, h, w_, c, co, k, p, s) in ((64, 8, 8, 1, 8, 3, 1, 1), (5, 7, 9, 3, 5, 2, 1, 2),\n"
        "                                          (3, 5, 7, 2, 13, 3, 2, 1), (2, 3, 5, 3, 3, 2, 0, 1)):\n"
        "        x = rng.standard_normal((n, h, w_, c)).astype(dt)\n"
        "        w = rng.standard_normal((k, k, c, co)).astype(dt); b = rng.standard_normal(co).astype(dt)\n"
        "        y, cache = fastconv.conv2d_forward(x, w, b, p, s); yr, cr = R.conv2d_forward(x, w, b, p, s)\n"
        "        dy = rng.standard_normal(y.shape).astype(dt)\n"
        "        for g, r in zip((y,) + fastconv.conv2d_backward(dy, cache), (yr,) + R.conv2d_backward(dy, cr)):\n"
        "            sc = max(1.0, float(np.abs(r).max()))\n"
        "            np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * sc)\n"
        "print('ok')\n"
    )
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"


@pytest.mark.parametrize("case", SMALL_CASES, ids=case_id)
def test_gemm_path_still_covers_small_shapes(case, dtype, calls, monkeypatch):
    """With the small kernels switched off, the im2col+GEMM path gives the same answers."""
    monkeypatch.setattr(conv, "_SMALL_TAPS", 0)
    check_fwd_bwd(*case_data(case, dtype), dtype, seed=6)
    assert calls == {"fwd": 0, "bwd": 0}


# Layers for the per-level checks: every C and Cout that the level choice and the column tails
# treat differently (Cout below, at, between and above the 8- and 16-lane widths).
LEVEL_COUTS = (1, 3, 8, 12, 16, 24, 25, 32)
LEVEL_CS = (1, 2, 3, 8)


def _kernel_level_results(x, w, b, p, s, level):
    """y, dx, dw, db of the small kernels called directly at ``level`` (-1: the layer's own choice)."""
    n, h, wd, c = x.shape
    kh, kw, _, co = w.shape
    ho, wo = (h + 2 * p - kh) // s + 1, (wd + 2 * p - kw) // s + 1
    y = np.full((n, ho, wo, co), np.nan, x.dtype)
    _conv_small.conv2d_forward_small_kernel(x, w, b, y, p, p, s, s, 1, level)
    dy = np.random.default_rng(7).standard_normal(y.shape).astype(x.dtype)
    dx, dw, db = np.full_like(x, np.nan), np.full_like(w, np.nan), np.full_like(b, np.nan)
    _conv_small.conv2d_backward_small_kernel(x, w, dy, dx, dw, db, p, p, s, s, True, 1, level)
    return dy, (y, dx, dw, db)


def _level_layers(dtype):
    rng = np.random.default_rng(3)
    for c in LEVEL_CS:
        k = 3 if c <= 3 else 2  # at most 32 taps
        for co in LEVEL_COUTS:
            for s in (1, 2):
                x = rng.standard_normal((3, 7, 6, c)).astype(dtype)
                w = rng.standard_normal((k, k, c, co)).astype(dtype)
                b = rng.standard_normal(co).astype(dtype)
                yield x, w, b, 1, s


@pytest.mark.parametrize("level", simd_levels())
def test_every_kernel_level_agrees_with_reference(level, tmp_path):
    """Under FASTCONV_SIMD=level, the kernels forced to each level up to it (the ``level``
    argument) and at the layer's own choice agree with the reference for every C and Cout of
    LEVEL_CS x LEVEL_COUTS, both dtypes, strides 1 (dx as a correlation) and 2 (dx scattered)."""
    require_simd(level, tmp_path)
    code = (
        "import sys; sys.path.insert(0, 'TESTS')\n"
        "import numpy as np, fastconv.reference as R\n"
        "from fastconv import _simd\n"
        "from test_conv_small import _kernel_level_results, _level_layers\n"
        "from conv_checks import assert_close\n"
        f"top = _simd.SIMD_LEVELS.index({level!r})\n"
        "assert _simd.simd_level() == _simd.SIMD_LEVELS[top]\n"
        "count = 0\n"
        "for dt in (np.float32, np.float64):\n"
        "    for x, w, b, p, s in _level_layers(dt):\n"
        "        for lv in list(range(top + 1)) + [-1]:\n"
        "            dy, got = _kernel_level_results(x, w, b, p, s, lv)\n"
        "            yr, cr = R.conv2d_forward(x, w, b, p, s)\n"
        "            for g, r in zip(got, (yr,) + R.conv2d_backward(dy, cr)):\n"
        "                assert_close(g, r, dt)\n"
        "            count += 1\n"
        "print(count)\n"
    ).replace("TESTS", str(__import__("pathlib").Path(__file__).parent))
    n_levels = simd_levels().index(level) + 2
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == str(2 * len(LEVEL_CS) * len(LEVEL_COUTS) * 2 * n_levels)


def _expected_level(dtype, image_shape, cout, padding):
    """The rule of _conv_small.layer_level, written out: from the level that runs down to AVX2,
    the first whose lanes divide Cout and whose broadcast plane takes at most 32 KiB."""
    from fastconv import _simd

    levels = _simd.SIMD_LEVELS
    run = levels.index(_simd.simd_level())
    vector_bytes = {"baseline": 16, "avx2": 32, "avx512": 64}
    item = np.dtype(dtype).itemsize
    h, w, c = image_shape
    plane = (h + 2 * padding[0]) * (w + 2 * padding[1]) * c
    for lv in range(run, 1, -1):
        lanes = vector_bytes[levels[lv]] // item
        if cout % lanes == 0 and plane * lanes * item <= 32768:
            return levels[lv]
    return levels[min(run, 1)]


@pytest.mark.parametrize("dtype_", [np.float32, np.float64], ids=["f32", "f64"])
def test_layer_level_rule(dtype_):
    """The level a layer runs at: the widest level whose lanes divide Cout and whose broadcast
    plane fits 32 KiB, never below AVX2 when the CPU runs more (the digits layer in float32 runs
    AVX2 on an AVX-512 CPU); an explicit level is capped at the level that runs."""
    from fastconv import _simd

    run = _simd.simd_level()
    for c in LEVEL_CS:
        for co in LEVEL_COUTS:
            for hw in ((8, 8), (28, 28)):
                shape = hw + (c,)
                assert _conv_small.layer_level(dtype_, shape, co, (1, 1)) == _expected_level(dtype_, shape, co, (1, 1))
    for i, name in enumerate(_simd.SIMD_LEVELS):
        want = name if i <= _simd.SIMD_LEVELS.index(run) else run
        assert _conv_small.layer_level(dtype_, (8, 8, 1), 8, (1, 1), level=i) == want
    if run == "avx512":
        f32 = dtype_ == np.float32
        assert _conv_small.layer_level(dtype_, (8, 8, 1), 8, (1, 1)) == ("avx2" if f32 else "avx512")
        assert _conv_small.layer_level(dtype_, (8, 8, 1), 16, (1, 1)) == "avx512"
        assert _conv_small.layer_level(dtype_, (8, 8, 1), 24, (1, 1)) == ("avx2" if f32 else "avx512")
        assert _conv_small.layer_level(dtype_, (28, 28, 8), 16, (1, 1)) == "avx2"  # the plane leaves L1


def test_layer_level_bad_input():
    with pytest.raises(TypeError, match="dtype"):
        _conv_small.layer_level(np.int32, (8, 8, 1), 8)
    with pytest.raises(ValueError, match="cout"):
        _conv_small.layer_level(np.float32, (8, 8, 1), 0)
    with pytest.raises(ValueError, match="padding"):
        _conv_small.layer_level(np.float32, (8, 8, 1), 8, (-1, 0))


@pytest.mark.parametrize("dtype_", [np.float32, np.float64], ids=["f32", "f64"])
def test_levels_with_fma_give_identical_y_dw_db(dtype_):
    """y, dw and db sum each output column in the same order at every vector width (masked
    vector tails included), so the FMA levels (AVX2, AVX-512) give bit-identical y, dw and db (the
    one-input-channel AVX-512 kernels of _conv_c1.h too); the layer's own choice equals the
    explicit call at that level bit for bit, dx included."""
    from fastconv import _simd

    top = _simd.SIMD_LEVELS.index(_simd.simd_level())
    if top < 1:
        pytest.skip("this CPU runs no FMA level")
    for x, w, b, p, s in _level_layers(dtype_):
        auto = _kernel_level_results(x, w, b, p, s, -1)[1]
        chosen = _simd.SIMD_LEVELS.index(
            "avx512" if _conv_small.one_channel_serves(dtype_, x.shape[1:], w.shape[3], w.shape[:2], (s, s), (p, p))
            else _conv_small.layer_level(dtype_, x.shape[1:], w.shape[3], (p, p)))
        for g, r in zip(auto, _kernel_level_results(x, w, b, p, s, chosen)[1]):
            np.testing.assert_array_equal(g, r)
        results = [_kernel_level_results(x, w, b, p, s, lv)[1] for lv in range(1, top + 1)]
        for other in results[1:]:
            for i in (0, 2, 3):  # y, dw, db
                np.testing.assert_array_equal(other[i], results[0][i])
            if s != 1:  # the scattered dx (no lane sums) too
                np.testing.assert_array_equal(other[1], results[0][1])


def test_one_channel_avx512_kernels_give_the_generic_bits():
    """The one-input-channel AVX-512 kernels (_conv_c1.h: float32, 3x3, stride 1, padding 1, 8
    filters, even widths; 8x8 and 28x28 images on their constant-size copies) against the generic
    AVX2 kernels: y, dw and db the same bits, dx within rounding (its lane sums run in another
    order); every output written, the same bits on 1, 2 and 3 threads and in parts of the batch
    that hold several images; which layers they serve. Each thread keeps its scratch between
    calls and zeroes it only when the image size changes: the sizes below come in an order that
    shrinks it, swaps the height and width at the same size (8x10, 10x8) and returns to an
    earlier size, so a border left holding another size's pixels would show in the results."""
    from fastconv import _simd

    serves = _conv_small.one_channel_serves
    if _simd.simd_level() != "avx512":
        assert not serves(np.float32, (8, 8, 1), 8)
        pytest.skip("the one-channel kernels run at AVX-512 only")
    assert serves(np.float32, (8, 8, 1), 8) and serves(np.float32, (28, 28, 1), 8)
    assert not serves(np.float64, (8, 8, 1), 8) and not serves(np.float32, (8, 7, 1), 8)
    assert not serves(np.float32, (8, 8, 2), 8) and not serves(np.float32, (8, 8, 1), 16)
    assert not serves(np.float32, (8, 8, 1), 8, (3, 3), (2, 2)) and not serves(np.float32, (8, 8, 1), 8, padding=(0, 0))
    assert not serves(np.float32, (8, 8, 1), 8, level=1) and not serves(np.float32, (100, 100, 1), 8)
    rng = np.random.default_rng(5)
    for n, h, wd in ((64, 8, 8), (20, 28, 28), (3, 5, 10), (1, 1, 2), (9, 4, 6), (2, 8, 10), (2, 10, 8), (64, 8, 8)):
        x = rng.standard_normal((n, h, wd, 1)).astype(np.float32)
        w = rng.standard_normal((3, 3, 1, 8)).astype(np.float32)
        b = rng.standard_normal(8).astype(np.float32)
        x0 = x.copy()
        dy, got = _kernel_level_results(x, w, b, 1, 1, -1)
        generic = _kernel_level_results(x, w, b, 1, 1, 1)[1]
        for i in (0, 2, 3):
            np.testing.assert_array_equal(got[i], generic[i])
        np.testing.assert_allclose(got[1], generic[1], rtol=1e-5, atol=1e-5 * np.abs(generic[1]).max())
        assert not np.isnan(got[1]).any()
        for nt in (2, 3):
            y = np.full_like(got[0], np.nan)
            _conv_small.conv2d_forward_small_kernel(x, w, b, y, 1, 1, 1, 1, nt)
            dx, dw, db = np.full_like(x, np.nan), np.full_like(w, np.nan), np.full_like(b, np.nan)
            _conv_small.conv2d_backward_small_kernel(x, w, dy, dx, dw, db, 1, 1, 1, 1, True, nt)
            for a, c in zip((y, dx, dw, db), got):
                np.testing.assert_array_equal(a, c)
        dw, db = np.full_like(w, np.nan), np.full_like(b, np.nan)
        _conv_small.conv2d_backward_small_kernel(x, w, dy, x0[:1], dw, db, 1, 1, 1, 1, False, 2)  # no dx
        np.testing.assert_array_equal(dw, got[2])
        np.testing.assert_array_equal(db, got[3])
        np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("dtype_", [np.float32, np.float64], ids=["f32", "f64"])
def test_one_channel_3x3_paths_give_the_generic_bits(dtype_):
    """3x3 stride-1 layers over one input channel with Cout one whole vector (the digits layer)
    take the register-reuse loops (fwd33, dw33); a layer with one more output channel takes the
    generic ones, whose first vector of columns sums its taps and pixels in the same order: y, dw
    and db of those columns are the same bits, on images whose rows hold whole blocks of pixels
    and tails (widths 8, 6, 13)."""
    from fastconv import _simd

    rng = np.random.default_rng(11)
    levels = range(_simd.SIMD_LEVELS.index(_simd.simd_level()) + 1)
    lanes = {np.float32: (4, 8, 16), np.float64: (2, 4, 8)}[dtype_]
    for level in levels:
        cout = lanes[level]
        for h, wd, p in ((8, 8, 1), (7, 6, 0), (9, 13, 2)):
            x = rng.standard_normal((3, h, wd, 1)).astype(dtype_)
            w = rng.standard_normal((3, 3, 1, cout + 1)).astype(dtype_)
            b = rng.standard_normal(cout + 1).astype(dtype_)
            dy = rng.standard_normal((3, h + 2 * p - 2, wd + 2 * p - 2, cout + 1)).astype(dtype_)
            res = []
            for co in (cout + 1, cout):
                wc, bc, dyc = (np.ascontiguousarray(a[..., :co]) for a in (w, b, dy))
                y = np.empty(dyc.shape, dtype_)
                _conv_small.conv2d_forward_small_kernel(x, wc, bc, y, p, p, 1, 1, 1, level)
                dx, dw, db = np.empty_like(x), np.empty_like(wc), np.empty_like(bc)
                _conv_small.conv2d_backward_small_kernel(x, wc, dyc, dx, dw, db, p, p, 1, 1, False, 1, level)
                res.append((y, dw, db))
            for wide, exact in zip(*res):
                np.testing.assert_array_equal(exact, wide[..., :cout])
