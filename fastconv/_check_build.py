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
    """The folder of another importable fastconv (on sys.path or from an import hook), or None."""
    others = [p for p in sys.path if Path(p or os.curdir).resolve() != _PKG.parent]
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find("fastconv", others if finder is PathFinder else None)
        except Exception:  # noqa: BLE001 - a broken import hook must not hide the real message
            continue
        locations = spec.submodule_search_locations if spec is not None else None
        if locations and Path(locations[0]).resolve() != _PKG:
            return locations[0]
    return None


def raise_if_unbuilt() -> None:
    """Raise a clear ImportError if compiled modules of this package are missing (their ``.pyx``
    sources are here, their built modules are not); otherwise return (the caller re-raises)."""
    missing = sorted(p.stem for p in _PKG.glob("_*.pyx")
                     if not any((_PKG / (p.stem + suffix)).exists() for suffix in EXTENSION_SUFFIXES))
    if not missing:
        return
    here = _PKG.parent
    if Path.cwd().resolve() == here:
        why = "Python looks in the current folder first, so in the source checkout it imports this folder"
    else:
        why = f"{here} is on Python's path (sys.path)"
    other = _installed_elsewhere()
    if other:
        why += f", before the installed fastconv in {other}"
    msg = (
        f"fastconv was imported from {_PKG}, a source folder whose compiled modules are not built "
        f"(missing: {', '.join(missing)}).\n"
        f"{why}. Either:\n"
        f"  - run from another folder (for example: cd ..). After `pip install .` the `fastconv` "
        f"command works from any folder, the checkout included; or\n"
        f"  - build the compiled modules in place: python setup.py build_ext --inplace "
        f"(or: pip install -e .)"
    )
    raise ImportError(msg, name=f"fastconv.{missing[0]}") from None
