"""A new user's first run: an unbuilt source tree says what happened and how to fix it; the command
line runs as ``python -m fastconv`` from any other folder and as the installed ``fastconv`` script."""
import importlib
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import fastconv
from conftest import subprocess_env

PKG = Path(fastconv.__file__).resolve().parent
ROOT = Path(__file__).resolve().parents[1]


def _source_copy(dest: Path, built=()) -> Path:
    """A copy of the package's sources (``.py``, ``.pyx``, ``.pyi``, ``.h``) under ``dest``, without
    built modules except those named in ``built``; returns the folder that holds ``fastconv/``."""
    def ignore(folder, names):
        return [n for n in names if n == "__pycache__" or n.endswith((".so", ".pyd", ".c"))]

    shutil.copytree(PKG, dest / "fastconv", ignore=ignore)
    for name in built:
        for suffix in EXTENSION_SUFFIXES:
            if (PKG / (name + suffix)).exists():
                shutil.copy2(PKG / (name + suffix), dest / "fastconv" / (name + suffix))
                break
        else:
            pytest.skip(f"{name} is not built in place here")
    return dest


def _run_in(cwd: Path, *args):
    """``python *args`` in ``cwd`` with no PYTHONPATH, as a user's shell runs it."""
    env = {k: v for k, v in subprocess_env().items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _assert_explains(stderr: str, missing: str):
    last = stderr.strip().splitlines()
    assert any(line.startswith("ImportError: fastconv was imported from") for line in last), stderr
    assert "No module named" not in stderr, stderr  # the bare error is replaced, not chained
    assert missing in stderr.split("missing: ", 1)[1].split(")")[0].split(", "), stderr
    assert "run from another folder" in stderr, stderr
    assert "python setup.py build_ext --inplace" in stderr and "pip install -e ." in stderr, stderr


def test_import_from_unbuilt_source_tree_explains(tmp_path):
    src = _source_copy(tmp_path)
    r = _run_in(src, "-c", "import fastconv")
    assert r.returncode != 0
    _assert_explains(r.stderr, "_threads")
    # every extension of the tree is named, not only the first one imported
    assert "_conv" in r.stderr and "_pool" in r.stderr


def test_python_m_fastconv_in_unbuilt_source_tree_explains(tmp_path):
    src = _source_copy(tmp_path)
    r = _run_in(src, "-m", "fastconv", "info")
    assert r.returncode != 0
    _assert_explains(r.stderr, "_threads")


def test_partly_built_tree_names_what_is_missing(tmp_path):
    src = _source_copy(tmp_path, built=["_threads"])
    r = _run_in(src, "-c", "import fastconv")
    assert r.returncode != 0
    _assert_explains(r.stderr, "_conv")
    missing = r.stderr.split("missing: ", 1)[1].split(")")[0]
    assert "_threads" not in missing.split(", ")


def test_other_import_errors_are_not_rewritten(tmp_path):
    # a built tree whose compiled module fails to load keeps that module's own error
    src = _source_copy(tmp_path, built=[p.stem for p in PKG.glob("_*.pyx")])
    broken = [p for p in (src / "fastconv").iterdir() if p.name.startswith("_threads.") and p.suffix != ".pyx"
              and p.suffix != ".pyi"][0]
    broken.write_bytes(b"not a shared library")
    r = _run_in(src, "-c", "import fastconv")
    assert r.returncode != 0
    assert "fastconv was imported from" not in r.stderr
    assert "ImportError" in r.stderr


def test_python_m_fastconv_from_another_folder(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fastconv", "info"], cwd=tmp_path, env=subprocess_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"fastconv {fastconv.__version__}"
    assert "num_threads:" in r.stdout


def test_console_script_names_the_cli():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11 reads pyproject.toml")
    with open(ROOT / "pyproject.toml", "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    module, func = scripts["fastconv"].split(":")
    main = getattr(importlib.import_module(module), func)
    assert main is fastconv.cli.main


def test_readme_first_lines_use_the_console_script():
    first = (ROOT / "README.md").read_text().split("```bash\n", 1)[1].splitlines()[:2]
    assert first[0].startswith("pip install . && fastconv digits")
    assert first[1].startswith("pip install '.[test]' && pytest")


def test_library_all_lists_hold_no_command_line_functions():
    import fastconv.digits
    import fastconv.filters
    import fastconv.reference

    for mod in (fastconv, fastconv.digits, fastconv.filters, fastconv.reference, fastconv.conv, fastconv.pool,
                fastconv.layers, fastconv.gradcheck):
        assert not [n for n in mod.__all__ if n.startswith("main")], mod.__name__
        assert not hasattr(mod, "main"), mod.__name__


def test_import_reads_no_fastconv_environment_variable(tmp_path):
    code = (
        "import os, numpy, scipy.linalg, sklearn\n"
        "reads = []\n"
        "class Recorder(type(os.environ)):\n"
        "    def __getitem__(self, key):\n"
        "        reads.append(key)\n"
        "        return super().__getitem__(key)\n"
        "os.environ.__class__ = Recorder\n"
        "import fastconv, fastconv.digits, fastconv.filters, fastconv.cli\n"
        "print(sorted({k for k in reads if k.startswith('FASTCONV')}))\n"
        "fastconv.filters.output_pool()\n"
        "print(sorted({k for k in reads if k.startswith('FASTCONV')}))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=subprocess_env(FASTCONV_OUTPUT_POOL="1"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    at_import, after_use = r.stdout.splitlines()
    assert at_import == "[]"
    assert after_use == "['FASTCONV_OUTPUT_POOL']"  # read on the pool's first use
