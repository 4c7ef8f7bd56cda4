"""The documentation's examples run: every ```python block of the guide pages in docs/ and of
the README.

The blocks of one page run in order in one namespace (a page reads as one session), in a
temporary working directory. A block preceded by a ``<!-- notest -->`` line is skipped (for
examples that need the reader's own files). The pages are found by glob, so a new page is
tested as soon as it lands. Docstring examples are run by ``pytest --doctest-modules fastconv``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: packages of the optional extras: a page whose example imports a missing one is skipped
OPTIONAL = {"dask", "distributed", "matplotlib", "PIL", "torch", "cv2", "threadpoolctl"}
README = DOCS.parent / "README.md"
PAGES = sorted(p for p in DOCS.glob("*.md")) + [README]
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s`]*)[^\n]*\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
                   re.S | re.M)


def python_blocks(text: str):
    """[(line number, code)] of the page's python blocks that are not marked ``<!-- notest -->``."""
    blocks = []
    for m in FENCE.finditer(text):
        lang = m.group("lang").strip("{}")
        if lang not in ("python", "py", "code-block") or (lang == "code-block" and "python" not in m.group(0).split("\n")[0]):
            continue
        before = text[: m.start()].rstrip().splitlines()
        if before and before[-1].strip() == "<!-- notest -->":
            continue
        body = "\n".join(line[len(m.group("indent")):] for line in m.group("body").splitlines())
        body = "\n".join(ln for ln in body.splitlines() if not re.match(r"^:\w[\w-]*:", ln))  # directive options
        blocks.append((text.count("\n", 0, m.start()) + 2, body))
    return blocks


def test_pages_found():
    assert DOCS.joinpath("index.md").exists() and len(PAGES) >= 5


def test_readme_has_examples():
    assert len(python_blocks(README.read_text(encoding="utf-8"))) >= 5


def test_extractor():
    page = "a\n```python\nx = 1\n```\n<!-- notest -->\n```python\nboom\n```\n```bash\nls\n```\n"
    assert python_blocks(page) == [(3, "x = 1")]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_runs(page, tmp_path, monkeypatch):
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    if not blocks:
        pytest.skip(f"{page.name} has no python blocks")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": f"docs_{page.stem}"}
    for line, code in blocks:
        try:
            exec(compile(code, f"{page}:{line}", "exec"), namespace)
        except ImportError as e:  # an optional extra the page is about (dask, ...) is missing
            if os.environ.get("FASTCONV_DOCS_STRICT") or (e.name or "").split(".")[0] not in OPTIONAL:
                raise
            pytest.skip(f"{page.name}:{line} needs {e.name}")
