"""Shared fixtures: every behavioural test runs on both backends and both float dtypes."""
import os

import numpy as np
import pytest

import fastconv
import fastconv.reference

try:
    from hypothesis import settings

    settings.register_profile("ci", max_examples=500, deadline=None, print_blob=True)
    settings.register_profile("dev", max_examples=60, deadline=None)
    # CI (CI=true) runs the full 500-case profile; HYPOTHESIS_PROFILE overrides either way
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
except ImportError:  # hypothesis is in the test extra; tests that need it import it themselves
    pass


@pytest.fixture(params=["reference", "fastconv"])
def impl(request):
    """The module under test: ``fastconv.reference`` or ``fastconv``."""
    return fastconv.reference if request.param == "reference" else fastconv


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def tol(dtype):
    """(rtol, atol) for comparing against the reference in ``dtype``."""
    return (1e-5, 1e-5) if np.dtype(dtype) == np.float32 else (1e-12, 1e-12)
