"""A clear ImportError when fastconv is imported from a source folder whose extensions are not built.

``python -m fastconv`` and ``import fastconv`` look in the current folder first, so in a source
checkout they find the ``fastconv`` folder there, which holds ``.pyx`` sources but no compiled
modules until it is built in place. Instead of a bare ``No module named 'fastconv._threads'``,
say what happened and how to fix it, as NumPy and scikit-learn do.
"""
from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, PathFinder
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _installed_elsewhere():
    """The folder of another importable fastconv on sys.path, or None."""
    others = [p for p in sys.path if Path(p or os.curdir).resolve() != _PKG.parent]
    spec = PathFinder.find_spec("fastconv", others)
    if spec is None or not spec.submodule_search_locations:
        return None
    return spec.submodule_search_locations[0]


def raise_if_unbuilt(exc: ImportError) -> None:
    """Raise a clear ImportError if ``exc`` is a compiled module of this package that is missing
    (its ``.pyx`` source is here, its built module is not); otherwise return."""
    name = getattr(exc, "name", None) or ""
    if not isinstance(exc, ModuleNotFoundError) or not name.startswith("fastconv._"):
        return
    if not (_PKG / (name.rsplit(".", 1)[1] + ".pyx")).exists():
        return
    missing = sorted(p.stem for p in _PKG.glob("_*.pyx")
                     if not any((_PKG / (p.stem + suffix)).exists() for suffix in EXTENSION_SUFFIXES))
    here = _PKG.parent
    other = _installed_elsewhere()
    where = (f"an installed fastconv is in {other}, but Python found this folder first"
             if other else "Python finds this folder before any installed copy")
    msg = (
        f"fastconv was imported from {_PKG}, a source folder whose compiled modules are not built "
        f"(missing: {', '.join(missing) or name}).\n"
        f"The current folder comes first on Python's path, so running Python in the source checkout "
        f"{here} imports this folder; {where}. Either:\n"
        f"  - run from another folder (for example: cd ..). After `pip install .` the `fastconv` "
        f"command works from any folder, the checkout included; or\n"
        f"  - build the compiled modules in place: python setup.py build_ext --inplace "
        f"(or: pip install -e .)"
    )
    raise ImportError(msg, name=name) from None
