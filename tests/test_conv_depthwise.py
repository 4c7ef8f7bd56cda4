"""The depthwise conv kernels (fastconv._conv_depthwise) at each SIMD level against the reference loops."""

from pathlib import Path

import numpy as np
import pytest

import fastconv
import fastconv.reference as R
from fastconv import _conv_depthwise, _simd
from conftest import require_simd, run_python, simd_levels
from conv_checks import assert_close

# Channel counts that the vector blocks and the level choice treat differently: below one
# vector, one 8-lane vector, a vector and a scalar tail, blocks of 1 to 4 whole vectors (at
# 4, 8 and 16 lanes), a full block and a remainder block with a tail (76)
LEVEL_CS = (1, 3, 8, 12, 16, 24, 32, 64, 76)

# (N, H, W, Kh, Kw, padding (top, left), stride, dilation): output shapes follow from the
# reference's rule (bottom/right padding = top/left here). The 3x3 layers with column stride 1
# or 2 and column dilation 1 run their rows' interior columns in blocks (4 or 8 outputs): rows
# of 21 and 19 outputs have whole blocks and an overlapping last block at every level; interiors
# of 4 to 7 columns (the 8x8 image at stride 1 and the 14-wide one at stride 2: 6) run in half
# blocks where a block is 8 outputs wide.
LEVEL_GEOMETRIES = (
    (3, 7, 6, 3, 3, 1, 1, 1),
    (2, 8, 8, 3, 3, 1, 1, 1),
    (2, 6, 14, 3, 3, 1, 2, 1),
    (2, 9, 8, 3, 3, 1, 2, 1),
    (2, 6, 7, 2, 3, 2, (1, 2), (2, 1)),
    (2, 5, 21, 3, 3, 1, 1, 1),
    (1, 6, 37, 3, 3, 1, 2, (2, 1)),
    (2, 4, 23, 3, 3, 0, (1, 1), 1),
)


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def _kernel_results(x, w, b, p, s, d, level, seed=7):
    """dy and (y, dx, dw, db) of the depthwise kernels called directly at ``level`` (-1: their own choice)."""
    n, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    (sh, sw), (dh, dw_) = _pair(s), _pair(d)
    ho, wo = (h + 2 * p - dh * (kh - 1) - 1) // sh + 1, (wd + 2 * p - dw_ * (kw - 1) - 1) // sw + 1
    y = np.full((n, ho, wo, c), np.nan, x.dtype)
    _conv_depthwise.depthwise_forward_kernel(x, w, b, y, p, p, sh, sw, dh, dw_, 1, level)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype)
    dx, dw, db = np.full_like(x, np.nan), np.full_like(w, np.nan), np.full_like(b, np.nan)
    parts = min(3, n * ho)
    _conv_depthwise.depthwise_backward_kernel(
        x, w, dy, dx, dw, db, np.empty((parts, kh * kw * c), x.dtype), np.empty((parts, c), x.dtype),
        p, p, sh, sw, dh, dw_, True, 1, level,
    )
    return dy, (y, dx, dw, db)


def _level_layers(dtype):
    rng = np.random.default_rng(5)
    for c in LEVEL_CS:
        for n, h, wd, kh, kw, p, s, d in LEVEL_GEOMETRIES:
            x = rng.standard_normal((n, h, wd, c)).astype(dtype)
            w = rng.standard_normal((kh, kw, 1, c)).astype(dtype)
            b = rng.standard_normal(c).astype(dtype)
            yield x, w, b, p, s, d


def _reference(x, w, b, p, s, d, dy):
    y, cache = R.conv2d_forward(x, w, b, p, s, d, x.shape[3])
    return (y,) + R.conv2d_backward(dy, cache)


@pytest.mark.parametrize("level", simd_levels())
def test_every_kernel_level_agrees_with_reference(level, tmp_path):
    """Under FASTCONV_SIMD=level: the kernels forced to each level up to it (the ``level``
    argument) and at their own choice agree with the reference for every C of LEVEL_CS, both
    dtypes, strides 1 and 2 and a dilated layer; and conv2d (which sends groups == C == Cout
    layers to these kernels) agrees too."""
    require_simd(level, tmp_path)
    code = (
        "import sys; sys.path.insert(0, 'TESTS')\n"
        "import numpy as np, fastconv\n"
        "from fastconv import _simd, conv, _conv_depthwise as D\n"
        "calls = []\n"
        "class Spy:  # counts the depthwise kernel calls of conv2d\n"
        "    def __getattr__(self, name):\n"
        "        return lambda *a: (calls.append(name), getattr(D, name)(*a))[1]\n"
        "conv._conv_depthwise = Spy()\n"
        "from test_conv_depthwise import _kernel_results, _level_layers, _reference\n"
        "from conv_checks import assert_close\n"
        f"top = _simd.SIMD_LEVELS.index({level!r})\n"
        "assert _simd.simd_level() == _simd.SIMD_LEVELS[top]\n"
        "count = 0\n"
        "for dt in (np.float32, np.float64):\n"
        "    for x, w, b, p, s, d in _level_layers(dt):\n"
        "        ref = None  # the same dy at every level: one reference per layer\n"
        "        for lv in list(range(top + 1)) + [-1]:\n"
        "            dy, got = _kernel_results(x, w, b, p, s, d, lv)\n"
        "            ref = ref or _reference(x, w, b, p, s, d, dy)\n"
        "            for g, r in zip(got, ref):\n"
        "                assert_close(g, r, dt)\n"
        "            count += 1\n"
        "        if x.shape[3] > 1:\n"
        "            y, cache = fastconv.conv2d_forward(x, w, b, p, s, d, x.shape[3])\n"
        "            for g, r in zip((y,) + fastconv.conv2d_backward(dy, cache), ref):\n"
        "                assert_close(g, r, dt)\n"
        "            assert calls[-2:] == ['depthwise_forward_kernel', 'depthwise_backward_kernel'], calls[-2:]\n"
        "print(count)\n"
    ).replace("TESTS", str(Path(__file__).parent))
    n_levels = simd_levels().index(level) + 2
    want = 2 * len(LEVEL_CS) * len(LEVEL_GEOMETRIES) * n_levels
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == str(want)


def _expected_level(dtype, c):
    """The rule of depthwise_level, written out: from the level that runs down to AVX2, the
    first whose lanes (vector bytes / itemsize, 16/32/64 bytes per level) divide C into whole
    vectors."""
    run = _simd.SIMD_LEVELS.index(_simd.simd_level())
    lanes = [vb // np.dtype(dtype).itemsize for vb in (16, 32, 64)]
    lvl = run
    while lvl > 1 and c % lanes[lvl] != 0:
        lvl -= 1
    return _simd.SIMD_LEVELS[lvl]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_level_choice(dtype):
    """depthwise_level follows its rule; on an AVX-512 CPU float32 C = 1, 3, 8, 12, 24 run
    AVX2 and C = 16, 32, 64 AVX-512; a forced level is capped at the level that runs."""
    run = _simd.simd_level()
    for c in LEVEL_CS + (4, 20, 40, 100):
        assert _conv_depthwise.depthwise_level(dtype, c) == _expected_level(dtype, c)
    if run == "avx512":
        narrow = (1, 3, 8, 12, 24, 100) if dtype == "float32" else (1, 3, 4, 12, 100)
        wide = (16, 32, 48, 64) if dtype == "float32" else (8, 16, 24, 32, 64)
        assert {_conv_depthwise.depthwise_level(dtype, c) for c in narrow} == {"avx2"}
        assert {_conv_depthwise.depthwise_level(dtype, c) for c in wide} == {"avx512"}
    for k, name in enumerate(_simd.SIMD_LEVELS):
        want = name if k <= _simd.SIMD_LEVELS.index(run) else run
        assert _conv_depthwise.depthwise_level(dtype, 12, k) == want
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int32"):
        _conv_depthwise.depthwise_level(np.int32, 8)
    with pytest.raises(ValueError, match="channels must be positive, got 0"):
        _conv_depthwise.depthwise_level(dtype, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fma_levels_are_bit_identical(dtype):
    """Every level from AVX2 up gives the same bits (a vector lane and the scalar tail do the same
    fused multiply-adds in the same order), so the per-call level choice changes no result."""
    top = _simd.SIMD_LEVELS.index(_simd.simd_level())
    if top < 2:
        pytest.skip("this CPU runs fewer than two FMA levels")
    for x, w, b, p, s, d in _level_layers(dtype):
        _, want = _kernel_results(x, w, b, p, s, d, 1)
        for lv in list(range(2, top + 1)) + [-1]:
            _, got = _kernel_results(x, w, b, p, s, d, lv)
            for g, e in zip(got, want):
                assert np.array_equal(g, e), (x.shape, lv)


def _aligned_empty(shape, dtype, offset=0):
    """An uninitialised array whose data starts ``offset`` bytes past a 64-byte boundary."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = np.empty(nbytes + 128, np.uint8)
    start = (-buf.ctypes.data) % 64 + offset
    return buf[start:start + nbytes].view(dtype).reshape(shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streamed_stores_give_the_same_bits(dtype):
    """``stream=True`` (non-temporal stores of y and dx where the output and every pixel's
    channels are vector-aligned) writes the same values as ordinary stores, at every level, on 1
    and 2 threads, for aligned and misaligned outputs (the latter fall back to ordinary stores)."""
    rng = np.random.default_rng(11)
    c = 64 // np.dtype(dtype).itemsize * 2  # two cache lines per pixel
    for s, (h, wd) in ((1, (5, 27)), (2, (6, 35))):
        x = rng.standard_normal((2, h, wd, c)).astype(dtype)
        w = rng.standard_normal((3, 3, 1, c)).astype(dtype)
        b = rng.standard_normal(c).astype(dtype)
        ho, wo = (h - 1) // s + 1, (wd - 1) // s + 1
        dy = rng.standard_normal((2, ho, wo, c)).astype(dtype)
        top = _simd.SIMD_LEVELS.index(_simd.simd_level())
        for lv in range(top + 1):
            results = []
            for stream, offset, nt in ((False, 0, 1), (True, 0, 1), (True, 0, 2), (True, 16, 2)):
                y, dx = _aligned_empty(dy.shape, dtype, offset), _aligned_empty(x.shape, dtype, offset)
                dw, db = np.empty_like(w), np.empty_like(b)
                _conv_depthwise.depthwise_forward_kernel(x, w, b, y, 1, 1, s, s, 1, 1, nt, lv, stream)
                _conv_depthwise.depthwise_backward_kernel(
                    x, w, dy, dx, dw, db, np.empty((3, 9 * c), dtype), np.empty((3, c), dtype),
                    1, 1, s, s, 1, 1, True, nt, lv, stream,
                )
                results.append((y.copy(), dx.copy(), dw, db))
            ref = _reference(x, w, b, 1, s, 1, dy)
            for g, r in zip(results[0], ref):
                assert_close(g, r, dtype)
            for other in results[1:]:
                for g, e in zip(other, results[0]):
                    assert np.array_equal(g, e), (s, lv)
