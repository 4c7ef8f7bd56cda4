"""Write the intersphinx inventories of NumPy, SciPy and scikit-learn into this folder

(and a small one of Python's builtins and glossary terms, which numpydoc's type links use).
The docs are built offline, so the projects' own ``objects.inv`` files cannot be downloaded
at build time. Instead this script builds an equivalent inventory for each project from the
public names of the *installed* package (``__all__`` of the package and of the submodules
listed below) and the URL pattern under which that project documents such a name. A link
made from these inventories points where the project's documentation puts the object by its
naming convention; an object the project documents elsewhere gets a link that may not
resolve. Regenerate after upgrading the packages::

    pip install sphobjinv numpy scipy scikit-learn
    python docs/_inventories/make_inventories.py

Each file records the version of the package it was made from.
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import sphobjinv as soi

HERE = Path(__file__).resolve().parent


def _public(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    out = []
    for n in names:
        try:
            if not n.startswith("_") and hasattr(module, n):
                out.append(n)
        except ImportError:  # e.g. scikit-learn's experimental estimators need an explicit enable
            pass
    return sorted(out)


def _role(obj) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if type(obj).__name__ == "ufunc":
        return "data"  # NumPy documents ufuncs as data objects
    if callable(obj):
        return "function"
    return "data"


class _Inv:
    def __init__(self, project: str, version: str):
        self.inv = soi.Inventory()
        self.inv.project, self.inv.version = project, version
        self.seen = set()

    def add(self, name: str, role: str, uri: str, domain: str = "py") -> None:
        if (domain, role, name) in self.seen:
            return
        self.seen.add((domain, role, name))
        # '$' in the URI stands for the object's name (the inventory format's shorthand)
        self.inv.objects.append(
            soi.DataObjStr(name=name, domain=domain, role=role, priority="1", uri=uri, dispname="-")
        )

    def write(self, path: Path) -> int:
        text = self.inv.data_file(contract=True)
        soi.writebytes(str(path), soi.compress(text))
        return len(self.inv.objects)


def numpy_inventory() -> _Inv:
    import numpy as np

    inv = _Inv("NumPy", np.__version__)
    inv.add("numpy", "module", "reference/index.html#module-$")
    for name in _public(np):
        obj = getattr(np, name)
        full = f"numpy.{name}"
        if inspect.ismodule(obj):
            continue
        if inspect.isclass(obj) and issubclass(obj, np.generic):
            inv.add(full, "class", "reference/arrays.scalars.html#$")  # scalar types share one page
        else:
            inv.add(full, _role(obj), "reference/generated/$.html#$")
    for name in _public(np.ndarray):
        attr = getattr(np.ndarray, name)
        role = "method" if callable(attr) else "attribute"
        inv.add(f"numpy.ndarray.{name}", role, "reference/generated/$.html#$")
    inv.add("numpy.random", "module", "reference/random/index.html#module-$")
    inv.add("numpy.random.default_rng", "function", "reference/random/generator.html#$")
    inv.add("numpy.random.Generator", "class", "reference/random/generator.html#$")
    for name in _public(np.random.Generator):
        inv.add(f"numpy.random.Generator.{name}", "method", "reference/random/generated/$.html#$")
    # glossary terms that numpydoc type fields refer to
    for term in ("array_like", "array", "view", "C order", "contiguous"):
        inv.add(term, "term", "glossary.html#term-" + term.lower().replace(" ", "-"), domain="std")
    return inv


def scipy_inventory() -> _Inv:
    import scipy

    inv = _Inv("SciPy", scipy.__version__)
    inv.add("scipy", "module", "reference/index.html#module-$")
    for sub in ("ndimage", "signal", "linalg", "fft", "special"):
        mod = importlib.import_module(f"scipy.{sub}")
        inv.add(f"scipy.{sub}", "module", f"reference/{sub}.html#module-$")
        for name in _public(mod):
            obj = getattr(mod, name)
            if not inspect.ismodule(obj):
                inv.add(f"scipy.{sub}.{name}", _role(obj), "reference/generated/$.html#$")
    return inv


def sklearn_inventory() -> _Inv:
    import sklearn

    inv = _Inv("scikit-learn", sklearn.__version__)
    inv.add("sklearn", "module", "api/index.html#module-$")
    for sub in ("base", "datasets", "model_selection", "preprocessing", "metrics", "linear_model", "pipeline"):
        mod = importlib.import_module(f"sklearn.{sub}")
        inv.add(f"sklearn.{sub}", "module", "api/$.html#module-$")
        for name in _public(mod):
            obj = getattr(mod, name)
            if not inspect.ismodule(obj):
                inv.add(f"sklearn.{sub}.{name}", _role(obj), "modules/generated/$.html#$")
    return inv


def python_inventory() -> _Inv:
    import builtins
    import sys

    inv = _Inv("Python", "%d.%d" % sys.version_info[:2])
    stdtypes = {"list", "tuple", "range", "str", "bytes", "bytearray", "dict", "set", "frozenset", "memoryview"}
    for name in _public(builtins):
        obj = getattr(builtins, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            inv.add(name, "exception", "library/exceptions.html#$")
        elif name in stdtypes:
            inv.add(name, "class", "library/stdtypes.html#$")
        elif inspect.isclass(obj):
            inv.add(name, "class", "library/functions.html#$")
        elif callable(obj):
            inv.add(name, "function", "library/functions.html#$")
    inv.add("None", "data", "library/constants.html#$")
    inv.add("True", "data", "library/constants.html#$")
    inv.add("False", "data", "library/constants.html#$")
    # the glossary terms and labels that numpydoc's default type aliases refer to
    for term in ("sequence", "iterable", "mapping", "path-like object", "generator", "context manager",
                 "named tuple", "callable"):
        inv.add(term, "term", "glossary.html#term-" + term.replace(" ", "-"), domain="std")
    inv.inv.objects.append(soi.DataObjStr(name="bltin-boolean-values", domain="std", role="label",
                                          priority="-1", uri="library/stdtypes.html#$",
                                          dispname="Boolean Type - bool"))
    return inv


def main() -> None:
    for fname, make in (("python.inv", python_inventory), ("numpy.inv", numpy_inventory), ("scipy.inv", scipy_inventory),
                        ("sklearn.inv", sklearn_inventory)):
        inv = make()
        n = inv.write(HERE / fname)
        print(f"{fname}: {inv.inv.project} {inv.inv.version}, {n} objects")


if __name__ == "__main__":
    main()
