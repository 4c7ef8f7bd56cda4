"""Static types: the package type-checks under mypy, and the compiled modules' .pyi stubs match
their run-time signatures (``python -m mypy.stubtest``).

Both run mypy in a child process from a scratch directory, so that the installed package (with
its compiled modules and stubs) is the one checked, with the settings of ``[tool.mypy]`` in
``pyproject.toml``. They need mypy (in the ``test`` extra) and skip without it; they are marked
slow (about 10-30 s each).
"""
from __future__ import annotations

import importlib.util
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

import fastconv

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
ALLOWLIST = Path(__file__).resolve().parent / "stubtest_allowlist.txt"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install '.[test]')"),
    pytest.mark.skipif(not PYPROJECT.exists(), reason="pyproject.toml (the [tool.mypy] settings) is not beside tests/"),
]


def _compiled_modules() -> list[str]:
    """Every compiled module of the installed package (one .pyi stub each, as the wheel ships)."""
    pkg = Path(fastconv.__file__).resolve().parent
    names = sorted({p.name.split(".")[0] for p in pkg.iterdir() if p.suffix in (".so", ".pyd")})
    assert names, f"no compiled modules found in {pkg}"
    return [f"fastconv.{n}" for n in names]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m args`` in ``cwd``, finding fastconv where this process found it (installed, or
    an in-place build on PYTHONPATH)."""
    env = dict(os.environ)
    home = str(Path(fastconv.__file__).resolve().parents[1])
    if home not in {str(Path(p).resolve()) for p in site.getsitepackages()}:  # an in-place build
        env["PYTHONPATH"] = os.pathsep.join([home] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_the_package_type_checks(tmp_path):
    r = _run(["mypy", "--config-file", str(PYPROJECT), "--cache-dir", str(tmp_path / "cache"), "-p", "fastconv"],
             tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout, r.stdout


def test_the_stubs_match_the_compiled_modules(tmp_path):
    modules = _compiled_modules()
    r = _run(["mypy.stubtest", *modules, "--mypy-config-file", str(PYPROJECT), "--allowlist", str(ALLOWLIST)],
             tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"no issues found in {len(modules)} modules" in r.stdout, r.stdout
