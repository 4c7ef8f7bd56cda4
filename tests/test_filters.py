"""filter2d and KERNELS: scipy.ndimage semantics, the tutorial's workflow, bad input, the CLI."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastconv
import fastconv.reference
from fastconv import KERNELS, filter2d
from fastconv.filters import MODES, _rank1

from conftest import require_simd, simd_levels, subprocess_env

ndi = pytest.importorskip("scipy.ndimage", reason="scipy is the independent check of the border modes")

ROOT = Path(__file__).resolve().parents[1]
ALL_MODES = ["constant", "nearest", "reflect", "mirror", "wrap"]
IMAGE_DTYPES = [np.uint8, np.uint16, np.float32, np.float64]
KERNEL_SHAPES = [(3, 3), (5, 5), (1, 1), (2, 2), (4, 3), (1, 5), (7, 1), (6, 9)]

# The tutorial's kernels, as it writes them.
TUTORIAL_KERNELS = {
    "horizontal_edge": np.array([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
    "vertical_edge": np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel_y": np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "gaussian3": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "gaussian5": np.array(
        [[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6], [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]]
    ) / 256,
    "edge_enhance": np.array([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]]),
    "mean": np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1]]) / 9,
}


@pytest.fixture(params=["reference", "fastconv"])
def f2d(request):
    """filter2d of ``fastconv.reference`` or ``fastconv``."""
    return fastconv.reference.filter2d if request.param == "reference" else fastconv.filter2d


def _image(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    return (rng.standard_normal(shape) * 50).astype(dtype)


def _kernel(rng, shape, separable):
    if separable:
        return np.outer(rng.standard_normal(shape[0]), rng.standard_normal(shape[1]))
    k = rng.standard_normal(shape)
    if min(shape) >= 2:
        k[0, 0] = 0.0  # a zero tap; and it makes the kernel (almost surely) rank > 1
    return k


def _scipy(img, k, mode, cval, ct):
    kk = k if img.ndim == 2 else k[:, :, None]
    return ndi.correlate(img.astype(np.float64), kk.astype(ct).astype(np.float64), mode=mode, cval=cval)


def _assert_close(got, exp, k, img, dtype):
    scale = np.abs(k).sum() * max(1.0, float(np.abs(img.astype(np.float64)).max()))
    eps = 4e-6 if np.dtype(dtype) == np.float32 else 1e-13
    np.testing.assert_allclose(got, exp, rtol=0, atol=eps * scale)


# ------------------------------------------------------------------------------ scipy.ndimage
@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("dtype", IMAGE_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kshape", KERNEL_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("separable", [False, True], ids=["full", "rank1"])
def test_filter2d_matches_scipy(f2d, mode, dtype, kshape, separable):
    rng = np.random.default_rng(hash((mode, np.dtype(dtype).name, kshape, separable)) % 2**32)
    # 2-D image wide enough for the vector blocks plus a ragged tail; a 3-channel image
    shapes = [(9, 150), (7, 29, 3)] if f2d is fastconv.filter2d else [(6, 23), (5, 9, 2)]
    for shape in shapes:
        img = _image(rng, shape, dtype)
        k = _kernel(rng, kshape, separable)
        got = f2d(img, k, mode=mode, cval=3.25)
        ct = np.float32 if np.dtype(dtype) == np.float32 else np.float64
        assert got.dtype == ct and got.shape == img.shape
        _assert_close(got, _scipy(img, k, mode, 3.25, ct), k, img, ct)


@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (3, 2), (2, 5, 3)])
@pytest.mark.parametrize("kshape", [(3, 3), (5, 8), (9, 4)])
def test_filter2d_kernel_larger_than_image(f2d, mode, shape, kshape, rng):
    """The extension is periodic in every mode, as in scipy, however far the kernel reaches."""
    img = rng.standard_normal(shape)
    for separable in (False, True):
        k = _kernel(rng, kshape, separable)
        _assert_close(f2d(img, k, mode=mode, cval=-2.0), _scipy(img, k, mode, -2.0, np.float64), k, img, np.float64)


@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kshape", [(3, 3), (5, 5), (2, 4), (1, 3)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_filter2d_every_row_width(mode, dtype, kshape):
    """Widths around the row kernel's vector and block sizes, with odd heights and 1 or 3 channels.

    A row whose interior is not a whole number of blocks ends with a block that overlaps the one
    before it, and a row narrower than a block or a vector takes the shorter paths: every width
    from 1 up to past two AVX2 float32 blocks (96 values each) is checked.
    """
    rng = np.random.default_rng(sum(kshape) * 100 + ALL_MODES.index(mode))
    k = _kernel(rng, kshape, separable=False)
    ct = np.dtype(dtype)
    for width in list(range(1, 30)) + [46, 47, 48, 49, 50, 95, 96, 97, 98, 143, 190, 193, 200]:
        for shape in [(3, width), (5, width, 3)] if width < 100 else [(3, width)]:
            img = _image(rng, shape, dtype)
            got = filter2d(img, k, mode=mode, cval=-1.5)
            assert got.dtype == ct and got.shape == img.shape
            _assert_close(got, _scipy(img, k, mode, -1.5, ct), k, img, ct)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kshape", [(3, 3), (5, 5)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_filter2d_interior_bits_do_not_depend_on_the_row_width(dtype, kshape):
    """An interior output is the same sequence of operations whichever part of the row kernel
    computes it (a whole block, a block of 4 vectors, one vector, an overlapping last one): the
    columns a narrower copy of the image shares with the whole one come out bit for bit the same."""
    rng = np.random.default_rng(11)
    img = _image(rng, (7, 260), dtype)
    k = _kernel(rng, kshape, separable=False)
    wide = filter2d(img, k, mode="nearest")
    reach = kshape[1] // 2
    for width in range(kshape[1], 260):
        narrow = filter2d(np.ascontiguousarray(img[:, :width]), k, mode="nearest")
        np.testing.assert_array_equal(narrow[:, :width - reach], wide[:, :width - reach], err_msg=f"width {width}")


@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["laplacian", "sharpen", "sobel_x", "horizontal_edge", "gaussian3", "mean"])
def test_filter2d_non_finite_input_as_scipy(mode, dtype, name):
    """inf and nan spread exactly as in scipy.ndimage, which also skips zero taps.

    A zero tap (the laplacian's corners, the Sobel kernel's middle column) is left out of the
    sum, so a non-finite pixel under it does not reach the output; every other tap spreads it.
    """
    rng = np.random.default_rng(ALL_MODES.index(mode))
    k = KERNELS[name]
    for shape in [(11, 70), (6, 21, 3)]:
        img = _image(rng, shape, dtype)
        flat = img.reshape(-1)
        spots = rng.choice(flat.size, 9, replace=False)
        flat[spots[:3]], flat[spots[3:6]], flat[spots[6:]] = np.inf, -np.inf, np.nan
        got = filter2d(img, k, mode=mode)
        want = _scipy(img, k, mode, 0.0, dtype)
        for test in (np.isnan, np.isposinf, np.isneginf):
            np.testing.assert_array_equal(test(got), test(want), err_msg=test.__name__)
        assert np.isnan(got).any() and np.isinf(got).any()
        finite = np.isfinite(want)
        _assert_close(got[finite], want[finite], k, np.nan_to_num(img, posinf=0, neginf=0), dtype)
    # a zero tap really is skipped: a lone inf under the laplacian's zero corners stays put
    img = np.zeros((5, 5), dtype=dtype)
    img[2, 2] = np.inf
    got = filter2d(img, "laplacian", mode=mode)
    assert np.isnan(got).sum() == 0
    assert np.isinf(got).sum() == 5 and got[2, 2] == -np.inf and got[1, 1] == 0


def test_correlate2d_kernel_rejects_taps_outside_the_kernel():
    from fastconv import _filter

    img = np.zeros((4, 5, 1))
    out = np.empty_like(img)
    w = np.ones(2)
    with pytest.raises(ValueError, match="outside"):
        _filter.correlate2d_same_kernel(img, w, np.array([0, 3], dtype=np.intp), np.array([0, 0], dtype=np.intp),
                                        3, 3, 0, 0.0, out, 1)
    with pytest.raises(ValueError, match="one length"):
        _filter.correlate2d_same_kernel(img, w, np.array([0], dtype=np.intp), np.array([0, 0], dtype=np.intp),
                                        3, 3, 0, 0.0, out, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_several_rows_kernel_gives_the_row_kernels_bits(dtype):
    """Kernels of at least 9 taps run blocks of 4 output rows on the several-rows kernel: the same
    sums in the same order as the row kernel one row at a time (``several_rows=False``), bit for
    bit, at every border mode, on heights that leave 0 to 3 rows after the blocks, 1 and 3
    channels, widths around the block sizes, a dense 3x3 kernel and 5x5, 7x7 and 4x6 ones with zero taps; a tap
    list out of row-major order is left to the row kernel."""
    from fastconv import _filter
    from fastconv.filters import _plan

    rng = np.random.default_rng(23)
    ct = np.dtype(dtype)
    for kshape in [(3, 3), (5, 5), (7, 7), (4, 6)]:
        k = rng.standard_normal(kshape)
        if kshape != (3, 3):
            k[0, 1] = k[kshape[0] - 1, kshape[1] - 2] = 0.0
        plan = _plan(k, ct)
        assert not plan.separable and plan.w.size >= 9
        for shape in [(4, 70, 1), (9, 131, 3), (6, 257, 1), (7, 16, 1), (13, 200, 2)]:
            img = (rng.standard_normal(shape) * 10).astype(ct)
            for mode in MODES:
                outs = []
                for rows, taps in ((True, slice(None)), (False, slice(None)), (True, slice(None, None, -1)),
                                   (False, slice(None, None, -1))):
                    out = np.full(shape, np.nan, dtype=ct)
                    _filter.correlate2d_same_kernel(img, plan.w[taps].copy(), plan.rows[taps].copy(),
                                                    plan.cols[taps].copy(), kshape[0], kshape[1], MODES[mode][0],
                                                    0.5, out, 2, False, rows)
                    outs.append(out)
                np.testing.assert_array_equal(outs[0], outs[1], err_msg=f"{kshape} {shape} {mode}")
                np.testing.assert_array_equal(outs[2], outs[3], err_msg=f"{kshape} {shape} {mode} reversed")
                assert not np.isnan(outs[0]).any()
                _assert_close(outs[0], _scipy(img, k, mode, 0.5, ct), k, img, ct)


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("mode", ALL_MODES)
def test_named_kernels_match_scipy(name, mode, rng):
    img = _image(rng, (37, 101), np.float32)
    got = filter2d(img, name, mode=mode)
    _assert_close(got, _scipy(img, KERNELS[name], mode, 0.0, np.float32), KERNELS[name], img, np.float32)


def test_plan_separable_only_where_it_pays():
    """Rank-1 kernels are factored when that needs fewer multiply-adds; for an output too large
    for the cache (memory-bound) only when it needs at most half as many in float64, 1/2.5 in
    float32 where the several-rows kernel runs (the 5x5 Gaussian then takes the general path, a
    7x7 one stays separable)."""
    from fastconv import _filter
    from fastconv.filters import _MEMORY_BOUND_BYTES, _plan

    rows = _filter.several_rows_runs()
    assert rows == (fastconv._simd.simd_level() == "avx512")

    f64, f32 = np.dtype(np.float64), np.dtype(np.float32)
    g7 = np.outer([1, 6, 15, 20, 15, 6, 1], [1, 6, 15, 20, 15, 6, 1]) / 4096.0
    for name, k, small, large, large32 in [
        ("gaussian3", KERNELS["gaussian3"], True, False, False), ("mean", KERNELS["mean"], True, False, False),
        ("gaussian5", KERNELS["gaussian5"], True, True, not rows), ("laplacian", KERNELS["laplacian"], False, False, False),
        ("7x7 binomial", g7, True, True, True),
    ]:
        assert _plan(k, f64).separable is small, name
        assert _plan(k, f32).separable is small, name
        assert _plan(k, f64, memory_bound=True).separable is large, name
        assert _plan(k, f32, memory_bound=True).separable is large32, name
    # the large case end to end: a rank-1 3x3 kernel on an 8 MiB output, against scipy
    img = np.random.default_rng(3).random((1024, _MEMORY_BOUND_BYTES // 8 // 1024)) * 255
    for name in ("gaussian3", "gaussian5"):
        _assert_close(filter2d(img, name, mode="mirror"), _scipy(img, KERNELS[name], "mirror", 0.0, np.float64),
                      KERNELS[name], img, np.float64)


def test_rank1_detection():
    for name in ["horizontal_edge", "vertical_edge", "sobel_x", "sobel_y", "gaussian3", "gaussian5", "mean"]:
        u, v = _rank1(KERNELS[name])
        np.testing.assert_allclose(np.outer(u, v), KERNELS[name], rtol=0, atol=1e-15)
    for name in ["laplacian", "sharpen", "edge_enhance"]:
        assert _rank1(KERNELS[name]) is None
    assert _rank1(np.array([[1.0, 2.0], [3.0, 4.0]])) is None
    assert _rank1(np.array([[1.0, np.nan], [1.0, 1.0]])) is None


@pytest.mark.parametrize("level", simd_levels())
def test_threads_and_simd_give_the_same_result(level, rng, tmp_path):
    img = _image(rng, (64, 300), np.float32)
    k = rng.standard_normal((5, 5))
    prev = fastconv.set_num_threads(1)
    try:
        one = filter2d(img, k, mode="mirror")
        fastconv.set_num_threads(2)
        two = filter2d(img, k, mode="mirror")
    finally:
        fastconv.set_num_threads(prev)
    np.testing.assert_array_equal(one, two)
    # the row kernel of each level this CPU runs, forced in a fresh process, agrees to rounding
    require_simd(level, tmp_path)
    code = (
        "import numpy as np, sys, fastconv\n"
        "from fastconv import _simd\n"
        f"assert _simd.simd_level() == {level!r}, _simd.simd_level()\n"
        "img, k = np.load(sys.argv[1]), np.load(sys.argv[2])\n"
        "np.save(sys.argv[3], fastconv.filter2d(img, k, mode='mirror'))\n"
    )
    tmp = Path(os.environ.get("PYTEST_TMP", "/tmp")) / f"fc_simd_{os.getpid()}_{level}"
    tmp.mkdir(exist_ok=True)
    np.save(tmp / "img.npy", img)
    np.save(tmp / "k.npy", k)
    env = subprocess_env(FASTCONV_SIMD=level)
    r = subprocess.run([sys.executable, "-c", code, str(tmp / "img.npy"), str(tmp / "k.npy"), str(tmp / "out.npy")],
                       env=env, capture_output=True, text=True, cwd=tmp)
    assert r.returncode == 0, r.stderr
    _assert_close(np.load(tmp / "out.npy"), one, k, img, np.float32)


# ------------------------------------------------------------------------------ dtypes
@pytest.mark.parametrize(
    "in_dtype, out_dtype",
    [(np.uint8, np.float64), (np.uint16, np.float64), (np.int16, np.float64), (np.bool_, np.float64),
     (np.float16, np.float32), (np.float32, np.float32), (np.float64, np.float64)],
)
def test_filter2d_default_dtype(f2d, in_dtype, out_dtype):
    img = np.ones((4, 5), dtype=in_dtype)
    assert f2d(img, KERNELS["mean"]).dtype == out_dtype
    assert f2d(img, KERNELS["mean"], dtype=np.float32).dtype == np.float32


def test_filter2d_integer_dtype_clips_then_casts(f2d):
    img = np.array([[0, 100, 250], [10, 255, 3]], dtype=np.uint8)
    k = np.array([[0.0, 0.0, 0.0], [-1.0, 2.6, 0.0], [0.0, 0.0, 0.0]])
    raw = f2d(img, k)
    want = np.clip(raw, 0, 255).astype(np.uint8)  # the tutorial's post-processing
    got = f2d(img, k, dtype=np.uint8)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)
    assert raw.min() < 0 and raw.max() > 255  # both clips are exercised
    got16 = f2d(img, k, dtype=np.int16)
    np.testing.assert_array_equal(got16, raw.astype(np.int16))


def test_filter2d_float32_output_for_uint8_input():
    img = np.arange(30, dtype=np.uint8).reshape(5, 6)
    got = filter2d(img, "gaussian3", dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ndi.correlate(img.astype(np.float64), KERNELS["gaussian3"], mode="constant"),
                               rtol=1e-6)


# ------------------------------------------------------------------------------ the tutorial's workflow
def _tutorial_filter(image, kernel):
    """The tutorial's loop: zero-pad by 1 (3x3) or 2 (5x5), valid correlation, clip, uint8."""
    pad_width = 2 if kernel.shape[0] == 5 else 1
    padded = np.pad(image, pad_width, mode="constant")
    raw = fastconv.reference.convolve2d(padded, kernel)
    return raw, np.clip(raw, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", list(TUTORIAL_KERNELS))
def test_kernels_on_tutorial_workflow(f2d, name):
    pytest.importorskip("PIL", reason="scikit-learn decodes its sample photos with Pillow (the image extra)")
    from sklearn.datasets import load_sample_image

    rgb = load_sample_image("china.jpg")[100:148, 200:260]
    image = np.round(rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)  # a grayscale photo crop
    kernel = TUTORIAL_KERNELS[name]
    raw_expected, expected = _tutorial_filter(image, kernel)
    raw = f2d(image, name)
    assert raw.dtype == np.float64
    np.testing.assert_allclose(raw, raw_expected, rtol=0, atol=1e-10)
    got = f2d(image, name, dtype=np.uint8)
    assert got.dtype == np.uint8 and got.shape == image.shape
    # equal, except where a sum lies within rounding of an integer and truncation may go either way
    near_int = np.abs(raw_expected - np.round(raw_expected)) < 1e-9
    differ = got != expected
    assert not np.any(differ & ~near_int)
    assert np.all(np.abs(got.astype(int) - expected.astype(int))[differ] <= 1)


def test_kernels_table():
    assert list(KERNELS) == list(TUTORIAL_KERNELS)
    for name, k in KERNELS.items():
        assert k.dtype == np.float64
        np.testing.assert_array_equal(k, TUTORIAL_KERNELS[name])
        assert not k.flags.writeable
        with pytest.raises(ValueError):
            k[0, 0] = 1.0
    with pytest.raises(TypeError):
        KERNELS["sobel_x"] = np.eye(3)
    assert fastconv.KERNELS is KERNELS and "filter2d" in fastconv.__all__ and "KERNELS" in fastconv.__all__
    assert set(MODES) == set(ALL_MODES)


# ------------------------------------------------------------------------------ layouts and edge cases
def test_filter2d_layouts_and_no_mutation(f2d, rng):
    base = rng.standard_normal((20, 30, 2))
    k = rng.standard_normal((3, 4))
    strided = base[::2, 1::3, 1]
    want = f2d(np.ascontiguousarray(strided), k, mode="wrap")
    readonly = strided.copy()
    readonly.flags.writeable = False
    for view in [strided, np.asfortranarray(strided), readonly, strided.tolist()]:
        before = np.array(view, copy=True)
        np.testing.assert_array_equal(f2d(view, k, mode="wrap"), want)
        np.testing.assert_array_equal(np.asarray(view), before)
    np.testing.assert_array_equal(base[::2, 1::3, 1], strided)  # the parent is untouched too
    np.testing.assert_array_equal(f2d(strided, k.tolist(), mode="wrap"), want)


@pytest.mark.parametrize("shape", [(0, 5), (4, 0), (0, 3, 2), (3, 3, 0)])
def test_filter2d_empty_image(f2d, shape):
    out = f2d(np.zeros(shape, dtype=np.float32), "sobel_x", mode="reflect")
    assert out.shape == shape and out.dtype == np.float32


def test_filter2d_zero_kernel_and_cval(f2d):
    img = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(f2d(img, np.zeros((3, 3))), np.zeros((3, 4)))
    # a one-tap kernel reaching outside: the constant shows up exactly
    k = np.zeros((3, 3))
    k[0, 0] = 1.0
    out = f2d(img, k, cval=7.5)
    assert np.all(out[0, :] == 7.5) and np.all(out[:, 0] == 7.5)
    np.testing.assert_array_equal(out[1:, 1:], img[:-1, :-1])


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        (dict(image=np.zeros(5), kernel="mean"), ValueError, ["image", "(5,)"]),
        (dict(image=np.zeros((2, 2, 2, 2)), kernel="mean"), ValueError, ["image", "(2, 2, 2, 2)"]),
        (dict(image=np.zeros((4, 4)), kernel="gauss"), ValueError, ["kernel", "gauss", "sobel_x"]),
        (dict(image=np.zeros((4, 4)), kernel=np.ones((3, 3, 1))), ValueError, ["more dimensions", "(3, 3, 1)", "(4, 4)"]),
        (dict(image=np.zeros((4, 4, 3)), kernel=np.ones((3, 3, 3))), ValueError, ["kernel", "2-D", "(3, 3, 3)"]),
        (dict(image=np.zeros((4, 4)), kernel=np.ones(3)), ValueError, ["kernel", "2-D", "(3,)"]),
        (dict(image=np.zeros((4, 4)), kernel=np.ones((0, 3))), ValueError, ["kernel", "non-empty", "(0, 3)"]),
        (dict(image=np.zeros((4, 4)), kernel="mean", mode="same"), ValueError, ["mode", "same", "mirror"]),
        (dict(image=np.zeros((4, 4)), kernel="mean", mode=None), ValueError, ["mode"]),
        (dict(image=np.zeros((4, 4)), kernel="mean", cval="0"), TypeError, ["cval"]),
        (dict(image=np.array([["a"]]), kernel="mean"), TypeError, ["image"]),
        (dict(image=np.zeros((4, 4)), kernel=np.array([["x"]])), TypeError, ["kernel"]),
        (dict(image=np.zeros((4, 4)), kernel="mean", dtype=np.complex128), TypeError, ["dtype"]),
    ],
)
def test_filter2d_bad_input(f2d, kwargs, exc, words):
    with pytest.raises(exc) as info:
        f2d(**kwargs)
    for word in words:
        assert word in str(info.value)


# ------------------------------------------------------------------------------ command line
def _cli(*args, cwd, env_extra=None, code=None):
    env = subprocess_env(MPLBACKEND="Agg", **(env_extra or {}))
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "fastconv", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _sample_gray():
    from PIL import Image
    from sklearn.datasets import load_sample_image

    return np.asarray(Image.fromarray(load_sample_image("china.jpg")).convert("L"))


def test_cli_filter_builtin_sample(tmp_path):
    pytest.importorskip("PIL", reason="the image extra (Pillow) is needed for image files")
    from PIL import Image

    r = _cli("filter", "--kernel", "sobel_x", "-o", "edges.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "edges.png" in r.stdout
    out = np.asarray(Image.open(tmp_path / "edges.png"))
    np.testing.assert_array_equal(out, filter2d(_sample_gray(), "sobel_x", dtype=np.uint8))


def test_cli_filter_image_file_and_mode(tmp_path):
    pytest.importorskip("PIL", reason="the image extra (Pillow) is needed for image files")
    from PIL import Image

    rng = np.random.default_rng(3)
    src = rng.integers(0, 256, size=(40, 50), dtype=np.uint8)
    Image.fromarray(src).save(tmp_path / "in.png")
    r = _cli("filter", "in.png", "--kernel", "gaussian5", "--mode", "mirror", "-o", "out.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = np.asarray(Image.open(tmp_path / "out.png"))
    want = np.clip(ndi.correlate(src.astype(np.float64), KERNELS["gaussian5"], mode="mirror"), 0, 255).astype(np.uint8)
    assert np.abs(out.astype(int) - want.astype(int)).max() <= 1
    # colour: each channel filtered
    Image.fromarray(np.dstack([src, src[::-1], src[:, ::-1]])).save(tmp_path / "rgb.png")
    r = _cli("filter", "rgb.png", "--kernel", "mean", "--color", "-o", "rgb_out.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert np.asarray(Image.open(tmp_path / "rgb_out.png")).shape == (40, 50, 3)


def test_cli_gallery(tmp_path):
    pytest.importorskip("PIL", reason="the image extra (Pillow) is needed")
    pytest.importorskip("matplotlib", reason="the image extra (matplotlib) is needed")
    from PIL import Image

    r = _cli("gallery", "-o", "g.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    im = Image.open(tmp_path / "g.png")
    assert im.size == (900, 480)  # 15x8 inches at 60 dpi
    assert (tmp_path / "g.png").stat().st_size < 300_000


@pytest.mark.parametrize(
    "args, words",
    [
        (["filter", "missing.png", "--kernel", "sobel_x"], ["cannot read image", "missing.png"]),
        (["filter", "notimage.txt", "--kernel", "sobel_x"], ["cannot read image", "notimage.txt"]),
        (["filter", "--kernel", "blur"], ["--kernel", "blur"]),
        (["filter"], ["--kernel"]),
        (["filter", "--kernel", "mean", "--mode", "same"], ["--mode", "same"]),
        (["gallery", "missing.png"], ["cannot read image", "missing.png"]),
        (["gallery", "--dpi", "0"], ["--dpi"]),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, args, words):
    pytest.importorskip("PIL", reason="the image extra (Pillow) is needed")
    (tmp_path / "notimage.txt").write_text("hello")
    r = _cli(*args, cwd=tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("cmd, blocked, package", [("filter", "PIL", "pillow"), ("gallery", "matplotlib", "matplotlib")])
def test_cli_missing_extra_names_pip_install(tmp_path, cmd, blocked, package):
    if cmd == "gallery":  # the gallery needs Pillow too: without it, the message names pillow first
        pytest.importorskip("PIL", reason="the image extra (Pillow) is needed")
    code = (
        "import sys\n"
        f"sys.modules[{blocked!r}] = None  # as if the package were not installed\n"
        "from fastconv.cli import main\n"
        f"sys.exit(main([{cmd!r}] + sys.argv[1:]))\n"
    )
    args = ["--kernel", "mean"] if cmd == "filter" else []
    r = _cli(*args, cwd=tmp_path, code=code)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"pip install {package}" in lines[0]


# ------------------------------------------------------------------------------ output=
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(13, 70), (9, 31, 3)])
@pytest.mark.parametrize("kname", ["laplacian", "gaussian5"])
def test_filter2d_output_array_is_filled_and_returned(out_dtype, shape, kname, rng):
    """An output array is written in full (every value, whatever it held) and returned, and it
    sets the computing dtype as a float ``dtype=`` does."""
    img = _image(rng, shape, np.uint8)
    k = KERNELS[kname]
    out = np.full(shape, np.nan, dtype=out_dtype)
    got = filter2d(img, k, mode="reflect", output=out)
    assert got is out
    np.testing.assert_array_equal(out, filter2d(img, k, mode="reflect", dtype=out_dtype))
    _assert_close(out, _scipy(img, k, "reflect", 0.0, out_dtype), k, img, out_dtype)
    # reused: a second image overwrites everything
    img2 = _image(rng, shape, np.uint8)
    filter2d(img2, k, mode="reflect", output=out)
    np.testing.assert_array_equal(out, filter2d(img2, k, mode="reflect", dtype=out_dtype))


def test_filter2d_output_dtype_as_scipy(rng):
    """``output=`` a dtype means the same as ``dtype=``, as in scipy.ndimage."""
    img = _image(rng, (8, 40), np.uint8)
    for dt in (np.float32, np.float64, np.uint8, np.int16):
        got = filter2d(img, "sharpen", output=dt)
        assert got.dtype == dt
        np.testing.assert_array_equal(got, filter2d(img, "sharpen", dtype=dt))
    scipy_out = np.empty(img.shape)
    ndi.correlate(img.astype(np.float64), KERNELS["sharpen"], mode="constant", output=scipy_out)
    np.testing.assert_allclose(filter2d(img, "sharpen", output=np.empty(img.shape)), scipy_out, rtol=0, atol=1e-9)


def test_filter2d_output_empty_image():
    out = np.empty((0, 4))
    assert filter2d(np.zeros((0, 4)), "mean", output=out) is out


_IMG = np.arange(48.0).reshape(6, 8)
_BUF = np.zeros((6, 8, 2))


@pytest.mark.parametrize(
    "image, kwargs, exc, words",
    [
        (_IMG, dict(output=np.empty((6, 9))), ValueError, ["output", "(6, 8)", "(6, 9)"]),
        (_IMG, dict(output=np.empty((6, 8, 1))), ValueError, ["output", "(6, 8)", "(6, 8, 1)"]),
        (_IMG, dict(output=np.empty((6, 8), dtype=np.uint8)), TypeError, ["output", "float", "uint8", "(6, 8)"]),
        (_IMG, dict(output=np.empty((6, 8), dtype=np.float16)), TypeError, ["output", "float16"]),
        (_IMG, dict(output=np.empty((6, 8), dtype=">f8")), TypeError, ["output", "byte order"]),
        (_IMG, dict(output=np.empty((8, 6)).T), ValueError, ["output", "C-contiguous", "(6, 8)"]),
        (_IMG, dict(output=_BUF[:, :, 0]), ValueError, ["output", "C-contiguous"]),
        (_IMG, dict(output=np.empty((6, 8)), dtype=np.float32), TypeError, ["output", "dtype"]),
        (_IMG, dict(output=[[0.0] * 8] * 6), TypeError, ["output", "list"]),
        (_IMG, dict(output=np.complex128), TypeError, ["dtype", "complex128"]),
    ],
)
def test_filter2d_output_bad(image, kwargs, exc, words):
    before = image.copy()
    with pytest.raises(exc) as info:
        filter2d(image, "mean", **kwargs)
    for word in words:
        assert word in str(info.value)
    np.testing.assert_array_equal(image, before)


def test_filter2d_output_read_only_or_overlapping_is_refused():
    img = np.arange(48.0).reshape(6, 8)
    ro = np.empty((6, 8))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="output must be writeable"):
        filter2d(img, "mean", output=ro)
    before = img.copy()
    with pytest.raises(ValueError, match=r"output must not overlap the image.*\(6, 8\)"):
        filter2d(img, "mean", output=img)
    stacked = np.zeros((2, 6, 8))
    stacked[0] = img
    with pytest.raises(ValueError, match="overlap"):  # rows 1-5 of the image into rows 0-4: overlapping
        filter2d(stacked[0, 1:], "mean", output=stacked[0, :5])
    np.testing.assert_array_equal(img, before)
    # an array next to the image in one buffer, not overlapping it, is fine
    filter2d(stacked[0], "mean", output=stacked[1])
    np.testing.assert_allclose(stacked[1], ndi.correlate(img, KERNELS["mean"], mode="constant"), rtol=0, atol=1e-12)
