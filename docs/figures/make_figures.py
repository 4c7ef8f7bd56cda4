"""Regenerate the figures of the documentation (needs matplotlib, Pillow and a built fastconv).

    python docs/figures/make_figures.py [--only NAME ...]

* ``docs/gallery.png``               the ten classic kernels (``python -m fastconv gallery``)
* ``docs/_static/training.png``      loss and accuracy curves, filters and feature maps of one
                                     digits run (``python -m fastconv digits --plot``)
* ``docs/_static/speed.png``         speed-ups over each peer, read from the summary table of the
                                     committed benchmark report ``bench/results/report.md``
* ``docs/_static/call_flow.png``     a diagram of the flow of one call
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
STATIC = DOCS / "_static"


def _run_cli(*args: str) -> None:
    """``python -m fastconv ARGS`` with the fastconv this script imports (run outside the checkout,
    so that an unbuilt source tree cannot shadow an installed package)."""
    import tempfile

    import fastconv

    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(fastconv.__file__).resolve().parents[1])] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    )
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "fastconv", *args], check=True, env=env, cwd=tmp)


def gallery() -> Path:
    out = DOCS / "gallery.png"
    _run_cli("gallery", "-o", str(out))
    return out


def training() -> Path:
    out = STATIC / "training.png"
    _run_cli("digits", "--epochs", "10", "--seed", "6", "--plot", str(out))
    return out


def _ratio(cell: str):
    m = re.match(r"([\d,.]+)×", cell.strip())
    return float(m.group(1).replace(",", "")) if m else None


def speed(report: Path = ROOT / "bench" / "results" / "report.md") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = report.read_text(encoding="utf-8").splitlines()
    start = lines.index("## Summary")
    header, rows = None, []
    for line in lines[start + 1:]:
        if not line.startswith("|"):
            if header:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(cells[0]) <= set("-: "):
            rows.append(cells)
    measured = next((ln for ln in lines if ln.startswith("Measured")), "")
    peers = [h[3:] for h in header[2:]]  # "vs torch" -> "torch"
    shown = [p for p in peers if p not in ("reference",)]
    fig, ax = plt.subplots(figsize=(10.5, 0.32 * len(rows) + 1.6))
    height = 0.8 / len(shown)
    colors = plt.get_cmap("tab10")
    for k, peer in enumerate(shown):
        col = 2 + peers.index(peer)
        ys, xs = [], []
        for i, r in enumerate(rows):
            v = _ratio(r[col])
            if v is not None:
                ys.append(i + (k - (len(shown) - 1) / 2) * height)
                xs.append(v)
        if xs:
            ax.barh(ys, xs, height=height, color=colors(k), label=f"vs {peer}")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("peer time / fastconv time (> 1: fastconv is faster), log scale")
    ax.set_title("fastconv speed-up over each peer, medians of one run", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.text(0.01, 0.005, measured[:160] + ("..." if len(measured) > 160 else ""), fontsize=6)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    out = STATIC / "speed.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def call_flow() -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    boxes = [
        ("user array(s)", "any dtype, layout or strides;\nnever written to", "#dddddd"),
        ("wrapper  (fastconv/conv.py, pool.py, ...)", "checks arguments (ValueError/TypeError naming them),\n"
         "picks the dtype, makes C-contiguous copies only when needed,\nallocates the outputs; no pixel loops", "#cfe2f3"),
        ("kernel  (fastconv/_conv*.pyx, _pool.pyx, ...)", "typed memoryviews in, caller's outputs written;\n"
         "GIL released, OpenMP threads, SSE2/AVX2 picked at run time;\nno validation", "#d9ead3"),
        ("(y, cache) back to the user", "the cache is opaque: only the matching\nbackward reads it", "#dddddd"),
    ]
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.axis("off")
    ys = [8.8, 6.3, 3.6, 1.1]
    for (title, text, color), y in zip(boxes, ys):
        ax.add_patch(FancyBboxPatch((0.6, y - 0.85), 8.8, 1.7, boxstyle="round,pad=0.08", fc=color, ec="#444444"))
        ax.text(5, y + 0.45, title, ha="center", va="center", fontsize=10, weight="bold", family="monospace")
        ax.text(5, y - 0.3, text, ha="center", va="center", fontsize=8)
    for a, b in zip(ys[:-1], ys[1:]):
        ax.add_patch(FancyArrowPatch((5, a - 0.95), (5, b + 0.95), arrowstyle="-|>", mutation_scale=16, color="#444444"))
    ax.text(9.7, 4.95, "fastconv.reference:\nthe same names as\nexplicit NumPy loops\n(the tests' ground truth)",
            ha="right", va="center", fontsize=7, style="italic", color="#555555")
    fig.tight_layout()
    out = STATIC / "call_flow.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


FIGURES = {"gallery": gallery, "training": training, "speed": speed, "call_flow": call_flow}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(FIGURES), help="make only these figures")
    args = parser.parse_args(argv)
    STATIC.mkdir(exist_ok=True)
    for name in args.only or FIGURES:
        print(f"{name}: {FIGURES[name]().relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
