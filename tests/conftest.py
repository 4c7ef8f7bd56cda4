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


@pytest.fixture
def winograd_rule_at(monkeypatch):
    """A function setting conv2d's Winograd rule (pixel counts, weight-gradient channels) to a SIMD
    level's constants, so that a test of the rule's numbers runs the same on any processor."""
    from fastconv import conv

    def set_level(level: str) -> None:
        monkeypatch.setattr(conv, "_WINOGRAD_RULE", dict(zip(conv._WINOGRAD_RULE, conv._WINOGRAD_RULE_AT[level])))
        monkeypatch.setattr(conv, "_WINOGRAD_DW_MIN_CHANNELS",
                            dict.fromkeys(conv._WINOGRAD_DW_MIN_CHANNELS, conv._WINOGRAD_DW_MIN_CHANNELS_AT[level]))

    return set_level


def tol(dtype):
    """(rtol, atol) for comparing against the reference in ``dtype``."""
    return (1e-5, 1e-5) if np.dtype(dtype) == np.float32 else (1e-12, 1e-12)


def array_at(shape, dtype, shift):
    """An uninitialised (NaN-filled) C-contiguous array whose data starts ``shift`` elements past a
    64-byte boundary: the kernels' aligned and unaligned paths, whatever NumPy's allocator gives."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    buf = np.empty(n + 64 // dt.itemsize + shift, dtype=dt)
    start = (-buf.ctypes.data % 64) // dt.itemsize + shift
    out = buf[start:start + n].reshape(shape)
    out.fill(np.nan)
    return out


def count_calls(monkeypatch, module, name: str, seen: dict, key: str, only_results: bool = False) -> None:
    """Replace ``module.name`` (for this test) by a wrapper that adds 1 to ``seen[key]`` per call, or
    (``only_results``) per call that returned something other than None."""
    fn = getattr(module, name)

    def spy(*args):
        r = fn(*args)
        seen[key] += not only_results or r is not None
        return r

    monkeypatch.setattr(module, name, spy)


def subprocess_env(**extra):
    """Environment for a child ``python`` that must import the same fastconv as this process.

    The child gets the directory holding the imported package on PYTHONPATH (the source tree for
    an in-place build, site-packages for an installed one). Run it with a ``cwd`` outside the
    source tree, so that an unbuilt source checkout cannot shadow the installed package.
    """
    from pathlib import Path

    pkg_parent = str(Path(fastconv.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env.update({k: str(v) for k, v in extra.items()})
    return env


def simd_levels():
    """The instruction-set levels this build has (``fastconv._simd.SIMD_LEVELS``), for
    parametrizing the tests that force each level in a child process."""
    from fastconv import _simd

    return _simd.SIMD_LEVELS


_SIMD_RUNS = {}


def require_simd(level: str, cwd) -> None:
    """Skip the calling test unless this CPU runs the ``level`` kernels (a child process with
    ``FASTCONV_SIMD=level`` reports that level). With ``FASTCONV_TEST_CHILD_LEVELS=0`` in the
    environment every such test skips: CI's dependency-floor stage sets it, since the levels are
    checked in its first stage on the same sources and the child processes test no dependency."""
    if os.environ.get("FASTCONV_TEST_CHILD_LEVELS", "1").strip() == "0":
        pytest.skip("FASTCONV_TEST_CHILD_LEVELS=0: per-level child processes not run")
    if level not in _SIMD_RUNS:
        code = "from fastconv import _simd; print(_simd.simd_level())"
        _SIMD_RUNS[level] = run_python(code, cwd, FASTCONV_SIMD=level) == level
    if not _SIMD_RUNS[level]:
        pytest.skip(f"this CPU does not run the {level} kernels")


def run_python(code: str, cwd, **env) -> str:
    """Run ``code`` in a child ``python -c`` (``subprocess_env(**env)``, in ``cwd``); assert it
    exits 0 and return its stripped stdout."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code], env=subprocess_env(**env), capture_output=True,
                       text=True, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def run_at_level(level: str, cwd, module: str, call: str) -> None:
    """In a child process forced to ``level`` (FASTCONV_SIMD), import the test module ``module`` (from
    this directory) and run ``call`` (e.g. ``"check(widths=(300,))"``, a function of it); assert the
    child ran that level and finished."""
    from pathlib import Path

    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "from fastconv import _simd\n"
        f"assert _simd.simd_level() == {level!r}, _simd.simd_level()\n"
        f"import {module}\n"
        f"{module}.{call}\n"
        "print('ok')\n"
    )
    assert run_python(code, cwd, FASTCONV_SIMD=level).endswith("ok")
