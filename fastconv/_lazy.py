"""Names of :mod:`fastconv` loaded on first use (they import optional heavy dependencies)."""
from __future__ import annotations

import importlib

_LAZY = {"CNNClassifier": "fastconv.sklearn"}  # name -> module (imports scikit-learn)


def __getattr__(name: str):
    """Module ``__getattr__`` of :mod:`fastconv`: import a lazy name's module on first access."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fastconv' has no attribute {name!r}")
