"""The tutorial's own scripts and printed examples, run on fastconv and on the reference."""
from pathlib import Path

import numpy as np
import pytest

import fastconv
import fastconv.reference
import tutorial_digits

DATA = Path(__file__).parent / "data"


def _ground_truth():
    lines = [ln for ln in (DATA / "seed_digits_seed0.txt").read_text(encoding="utf-8").splitlines()
             if ln and not ln.startswith("#")]
    with np.load(DATA / "seed_digits_seed0.npz") as npz:
        params = {k: npz[k] for k in npz.files}
    return params, lines


def _assert_params_close(got, want, rtol):
    for name in ("w1", "b1", "w2", "b2"):
        assert got[name].dtype == want[name].dtype, name
        scale = np.abs(want[name]).max()
        err = np.abs(got[name].astype(np.float64) - want[name]).max() / scale
        assert err <= rtol, f"{name}: relative error {err:.3g} > {rtol}"


def test_digits_script_fastconv_matches_tutorial_run():
    """fastconv swapped into the tutorial's script reproduces the tutorial's recorded run."""
    want_params, want_lines = _ground_truth()
    params, lines = tutorial_digits.run(fastconv, epochs=10, seed=0)
    assert lines == want_lines
    _assert_params_close(params, want_params, 1e-4)


def test_digits_script_one_epoch_fastconv_equals_reference():
    p_fast, l_fast = tutorial_digits.run(fastconv, epochs=1, seed=0)
    p_ref, l_ref = tutorial_digits.run(fastconv.reference, epochs=1, seed=0)
    assert l_fast == l_ref
    _assert_params_close(p_fast, p_ref, 1e-5)


@pytest.mark.slow
def test_digits_script_reference_matches_tutorial_run():
    """The reference loops reproduce the tutorial's recorded run (about 90 s)."""
    want_params, want_lines = _ground_truth()
    params, lines = tutorial_digits.run(fastconv.reference, epochs=10, seed=0)
    assert lines == want_lines
    _assert_params_close(params, want_params, 1e-4)


def test_pooling_example(impl):
    a = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]])
    mx = impl.pooling(a, pool_size=(2, 2), mode="max")
    av = impl.pooling(a, pool_size=(2, 2), mode="avg")
    assert mx.dtype == av.dtype == np.float64
    np.testing.assert_array_equal(mx, [[6.0, 8.0], [14.0, 16.0]])
    np.testing.assert_array_equal(av, [[3.5, 5.5], [11.5, 13.5]])


def test_padding_example(impl):
    inputs = np.pad(np.array([[255, 1, 2]] * 3), 1, mode="constant")
    kernel = np.array([[0, 1, 0]] * 3)
    out = impl.convolve2d(inputs, kernel)
    np.testing.assert_array_equal(out, [[510, 2, 4], [765, 3, 6], [510, 2, 4]])


def test_stride_example(impl):
    out = impl.convolution_2d(np.ones((8, 8)), np.ones((5, 5)), stride=3)
    assert out.shape == (2, 2) and out.dtype == np.float64
    np.testing.assert_array_equal(out, np.full((2, 2), 25.0))


def test_kernel_bank_workflow_uint8(impl, rng):
    """The tutorial's filter workflow: zero-pad a uint8 image, correlate, clip, cast to uint8."""
    image = rng.integers(0, 256, size=(23, 31), dtype=np.uint8)
    kernels = [
        np.array([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
        np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
        np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256,
    ]
    for k in kernels:
        p = k.shape[0] // 2
        padded = np.pad(image, p, mode="constant")
        out = impl.convolve2d(padded, k)
        want = np.zeros((23, 31))
        for i in range(23):
            for j in range(31):
                want[i, j] = np.sum(padded[i : i + k.shape[0], j : j + k.shape[1]] * k)
        np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-9)
        np.testing.assert_array_equal(np.clip(out, 0, 255).astype(np.uint8),
                                      np.clip(want, 0, 255).astype(np.uint8))
