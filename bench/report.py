"""Turn pytest-benchmark JSON into a markdown speed report and a log-scale PNG chart.

Usage::

    python -m pytest bench --benchmark-json=bench/results/results.json
    python bench/report.py bench/results/results.json --markdown bench/results/report.md \\
        --plot bench/results/chart.png [--readme README.md]

Every pytest-benchmark ``group`` is one workload and shape; every benchmark in it is one
implementation, named by ``extra_info["impl"]``. The report gives each implementation's median
and the ratio "fastconv is N.N x faster than X" (X's median over fastconv's median, both from
this one run). Groups whose benchmarks carry ``extra_info["series"]`` and ``["x"]`` (see
``bench_scaling.py``) are drawn as scaling curves. ``--readme`` rewrites the block between
``<!-- generated: benchmarks -->`` and ``<!-- end generated: benchmarks -->`` in that file.

Benchmarks that record their useful FLOPs (``extra_info["flops"]``) get GFLOP/s columns, and,
when the run measured the sgemm yardstick (``machine_info["fastconv_env"]["sgemm"]``, see
``bench/conftest.py``), the fraction of sgemm's GFLOP/s on the same thread count. The environment
line names every setting of the run that differs from a user's default.
Needs only the standard library; matplotlib is imported for ``--plot`` alone.
"""
from __future__ import annotations

import argparse
import json
import re
import textwrap
from datetime import datetime

BASE = "fastconv"
#: Column order of the implementations (others follow in order of appearance).
IMPL_ORDER = ["fastconv", "torch", "torch channels-last", "numpy", "cv2", "scipy", "reference"]
BEGIN, END = "<!-- generated: benchmarks -->", "<!-- end generated: benchmarks -->"
#: Other names of one implementation, as some benchmark files spell them.
ALIASES = {"torch-cl": "torch channels-last"}
#: The README's headline rows: the groups whose name starts with one of these, in this order.
HEADLINE = (
    "conv2d fwd+bwd f32 N64 8x8x1->8",
    "conv2d fwd+bwd f32 N32 32x32x16->32",
    "conv2d fwd+bwd f32 N8 64x64x64->64",
    "conv2d fwd+bwd f32 N16 56x56x64->128",
    "conv2d fwd+bwd f64 N8 64x64x64->64",
    "conv options fwd+bwd f32: depthwise 3x3 p1",
    "conv options fwd+bwd f32: grouped",
    "tconv4x4s2p1",
    "conv1d_k5_same",
    "cs231n conv",
    "cs231n max pool",
    "maxpool 2x2 fwd+bwd f32 N32",
    "pool max 3x3 s2 p1",
    "pool global avg",
    "filter2d float32 2048x2048 k3 laplacian constant",
    "filter2d float32 2048x2048 k5 gaussian5 constant",
    "digits train 10 epochs N1437 8x8x1->8 k3 p1 max2 batch64",
)
#: The README table's peer columns; every other peer goes into one "vs other" column.
HEADLINE_PEERS = ("torch", "torch channels-last")


# --------------------------------------------------------------------------- reading
def load(path):
    """The parsed pytest-benchmark JSON file at ``path``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def collect(data):
    """{group: {impl: entry}} in order of first appearance.

    Each entry is a dict with ``median``, ``iqr`` (seconds), ``rounds``, ``name`` and ``extra``
    (the benchmark's ``extra_info``). A second benchmark with the same impl in one group is keyed
    ``"impl (test name)"`` so that nothing is silently dropped.
    """
    groups = {}
    for bench in data.get("benchmarks", []):
        extra = bench.get("extra_info") or {}
        group = bench.get("group") or bench.get("name")
        impl = str(extra.get("impl") or bench.get("name"))
        impl = ALIASES.get(impl, impl)
        entries = groups.setdefault(group, {})
        if impl in entries:
            impl = f"{impl} ({bench.get('name')})"
        stats = bench["stats"]
        entries[impl] = {
            "median": float(stats["median"]),
            "iqr": float(stats.get("iqr", 0.0)),
            "rounds": int(stats.get("rounds", 0)),
            "name": bench.get("name"),
            "extra": extra,
        }
    return groups


def is_scaling(entries):
    """True if a group's benchmarks are points of a scaling series."""
    return any("series" in e["extra"] and "x" in e["extra"] for e in entries.values())


def ordered_impls(impls):
    """``impls`` sorted by :data:`IMPL_ORDER`, unknown names last in their given order."""
    impls = list(impls)
    known = [i for i in IMPL_ORDER if i in impls]
    return known + [i for i in impls if i not in known]


def speedups(entries, base=BASE):
    """{impl: median(impl) / median(base)} for every impl but ``base``; {} if ``base`` is absent."""
    if base not in entries or entries[base]["median"] <= 0:
        return {}
    b = entries[base]["median"]
    return {impl: e["median"] / b for impl, e in entries.items() if impl != base}


def series(groups):
    """{series: {impl: [(x, median, work), ...] sorted by x}} from the scaling groups."""
    out = {}
    for entries in groups.values():
        for impl, e in entries.items():
            extra = e["extra"]
            if "series" not in extra or "x" not in extra:
                continue
            pts = out.setdefault(extra["series"], {}).setdefault(impl, [])
            pts.append((extra["x"], e["median"], float(extra.get("work", extra["x"]))))
    for impls in out.values():
        for pts in impls.values():
            pts.sort()
    return out


# --------------------------------------------------------------------------- formatting
def format_time(seconds):
    """A median as text with three significant digits: ``'412 ns'``, ``'1.23 ms'``, ``'2.50 s'``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            value = seconds / scale
            break
    else:
        unit, value = "ns", seconds / 1e-9
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{digits}f} {unit}"


def format_ratio(ratio):
    """``'12.3×'`` when fastconv is faster, ``'0.40× (2.5× slower)'`` when it is not."""
    if ratio >= 1:
        return f"{ratio:,.1f}×"
    return f"{ratio:.2f}× ({1 / ratio:,.1f}× slower)"


def environment_line(data):
    """One line: date, CPU, threads, versions, commit and load average of the run."""
    mi = data.get("machine_info", {})
    env = mi.get("fastconv_env", {})
    cpu = env.get("cpu_model") or (mi.get("cpu") or {}).get("brand_raw") or mi.get("processor") or "unknown CPU"
    when = data.get("datetime")
    if when:
        try:
            when = datetime.fromisoformat(when.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            pass
    ncpu = env.get("logical_cpus")
    parts = [f"Measured {when or 'at an unknown date'} on {cpu}" + (f" ({ncpu} logical CPUs)" if ncpu else "")]
    if env.get("threads"):
        omp = "" if env.get("fastconv_openmp", True) else ", fastconv built without OpenMP"
        settings = dict(env.get("settings") or {})
        if env.get("omp_wait_policy"):
            settings.setdefault("OMP_WAIT_POLICY", env["omp_wait_policy"])
        wait = "".join(f", {k}={v}" for k, v in settings.items())
        parts.append(f"{env['threads']} threads for fastconv, torch and BLAS{omp}{wait}")
        if "settings" in env:
            parts.append("settings differing from each library's defaults: "
                         + (", ".join(f"{k}={v}" for k, v in settings.items()) or "none")
                         + f" besides the thread count; {env.get('pause_seconds', 0):g} s pause before each benchmark")
    unset = env.get("unset_for_run") or {}
    if unset:
        parts.append("unset for the whole run (set by the host for older OpenBLAS builds, not by users): "
                     + ", ".join(f"{k}={v}" for k, v in sorted(unset.items())))
    versions = {"python": mi.get("python_version"), **(env.get("versions") or {})}
    vtext = ", ".join(f"{k} {v}" for k, v in versions.items() if v and k != "pytest_benchmark")
    if vtext:
        parts.append(vtext)
    commit = data.get("commit_info") or {}
    if commit.get("id"):
        parts.append(f"commit {commit['id'][:10]}" + (" (with local changes)" if commit.get("dirty") else ""))
    if env.get("load_average"):
        parts.append(f"load average {env['load_average'][0]:.1f} at the start")
    yard = sgemm_line(data)
    if yard:
        parts.append(yard)
    return "; ".join(parts) + "."


def sgemm_gflops(data):
    """The run's sgemm GFLOP/s on its benchmark thread count, or None if it was not measured."""
    env = data.get("machine_info", {}).get("fastconv_env", {})
    sg = env.get("sgemm") or {}
    g = sg.get("gflops") or {}
    value = g.get(str(env.get("threads"))) or (max(g.values()) if g else None)
    return float(value) if value else None


def sgemm_line(data):
    """The yardstick as text: GFLOP/s per thread count, the BLAS kernel, the variables left out."""
    env = data.get("machine_info", {}).get("fastconv_env", {})
    sg = env.get("sgemm") or {}
    if not sg.get("gflops"):
        return ""
    per = ", ".join(f"{float(v):.0f} GFLOP/s on {t} thread{'s' if t != '1' else ''}" for t, v in sg["gflops"].items())
    kernel = f", {sg.get('blas')} {sg.get('blas_version')}, {sg.get('kernel')} kernel" if sg.get("kernel") else ""
    unset = sg.get("unset_for_sgemm") or {}
    note = f", measured with {' and '.join(sorted(unset))} unset" if unset else ""
    return f"sgemm yardstick (NumPy float32 {sg.get('n')}² matmul{kernel}{note}): {per}"


def gflops(entry):
    """Useful GFLOP/s of a benchmark entry that records its FLOPs, else None."""
    flops = entry["extra"].get("flops")
    return float(flops) / entry["median"] / 1e9 if flops and entry["median"] > 0 else None


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _flop_cells(entry, sgemm):
    """[GFLOP/s, fraction of sgemm] cells of one entry ("—" where unknown)."""
    g = gflops(entry) if entry else None
    if g is None:
        return ["—", "—"]
    return [f"{g:.1f}", f"{g / sgemm:.2f}" if sgemm else "—"]


def summary_table(groups, sgemm=None, peers=None):
    """One row per non-scaling group that times fastconv: its median and how many times faster it
    is than each peer. (Groups that compare fastconv with itself, such as NCHW vs NHWC, have
    their own tables.)

    If any benchmark records its FLOPs, fastconv's useful GFLOP/s and its fraction of ``sgemm``
    (GFLOP/s) follow the median. With ``peers`` (a sequence of implementation names) only those
    peers get columns, and a last column "vs other" names each row's other peers with their ratios.
    """
    plain = {g: e for g, e in groups.items() if not is_scaling(e) and BASE in e}
    found = ordered_impls(dict.fromkeys(i for e in plain.values() for i in e if i != BASE))
    columns = found if peers is None else [p for p in peers if p in found]
    other = peers is not None and any(p not in columns for p in found)
    with_flops = any("flops" in e["extra"] for entries in plain.values() for e in entries.values())
    rows = []
    for g, entries in plain.items():
        ratios = speedups(entries)
        extra = _flop_cells(entries.get(BASE), sgemm) if with_flops else []
        row = [g, format_time(entries[BASE]["median"])] + extra
        row += [format_ratio(ratios[p]) if p in ratios else "—" for p in columns]
        if other:
            rest = [f"{p} {format_ratio(ratios[p])}" for p in ordered_impls(ratios) if p not in columns]
            row.append("; ".join(rest) or "—")
        rows.append(row)
    header = ["workload", "fastconv median"] + (["GFLOP/s", "of sgemm"] if with_flops else [])
    return _table(header + [f"vs {p}" for p in columns] + (["vs other"] if other else []), rows)


def headline_groups(groups, prefixes=HEADLINE):
    """The groups whose name starts with one of ``prefixes``, in the order of ``prefixes``."""
    out = {}
    for prefix in prefixes:
        for g, entries in groups.items():
            if g.startswith(prefix) and g not in out:
                out[g] = entries
    return out


def group_table(entries, sgemm=None):
    """One group: median, IQR and rounds per implementation, and fastconv's speed-up over it
    (and useful GFLOP/s with the fraction of ``sgemm``, when the benchmarks record FLOPs)."""
    ratios = speedups(entries)
    with_flops = any("flops" in e["extra"] for e in entries.values())
    rows = []
    for impl in ordered_impls(entries):
        e = entries[impl]
        ratio = "—" if impl == BASE else format_ratio(ratios[impl]) if impl in ratios else "n/a"
        extra = _flop_cells(e, sgemm) if with_flops else []
        rows.append([impl, format_time(e["median"]), format_time(e["iqr"]), str(e["rounds"])] + extra + [ratio])
    header = ["implementation", "median", "IQR", "rounds"] + (["GFLOP/s", "of sgemm"] if with_flops else [])
    return _table(header + ["fastconv is … faster"], rows)


def series_table(points):
    """One scaling series: x, relative work, each implementation's median, fastconv's speed-up."""
    impls = ordered_impls(points)
    xs = sorted({p[0] for pts in points.values() for p in pts})
    by = {impl: {x: (m, w) for x, m, w in pts} for impl, pts in points.items()}
    peers = [i for i in impls if i != BASE]
    rows = []
    for x in xs:
        work = next(by[i][x][1] for i in impls if x in by[i])
        row = [str(x), f"{work:g}"] + [format_time(by[i][x][0]) if x in by[i] else "—" for i in impls]
        for p in peers:
            ok = x in by[p] and x in by.get(BASE, {})
            row.append(format_ratio(by[p][x][0] / by[BASE][x][0]) if ok else "—")
        rows.append(row)
    header = ["x", "work"] + impls + [f"fastconv vs {p}" for p in peers]
    return _table(header, rows)


def markdown(data, chart=None):
    """The full report: environment line, summary table, one table per group, scaling tables."""
    groups = collect(data)
    out = ["# fastconv benchmarks", "", environment_line(data), "",
           "Medians of one pytest-benchmark run; every ratio compares medians from that run. "
           "\"N.N×\" means fastconv is N.N times faster than that implementation.", ""]
    if chart:
        out += [f"![benchmark chart]({chart})", ""]
    sgemm = sgemm_gflops(data)
    if sgemm:
        out += ["GFLOP/s counts useful FLOPs (2·N·Ho·Wo·Cout·Kh·Kw·C per pass; fwd+bwd is three passes: "
                "forward, dx, dw); \"of sgemm\" divides it by the sgemm yardstick's GFLOP/s on the same "
                "thread count, measured in this run.", ""]
    out += ["## Summary", "", summary_table(groups, sgemm), ""]
    for g, entries in groups.items():
        if not is_scaling(entries):
            out += [f"### {g}", "", group_table(entries, sgemm), ""]
    for name, points in series(groups).items():
        out += [f"## Scaling: {name}", "", series_table(points), ""]
    return "\n".join(out)


def readme_block(data, report_link=None, chart=None, headline=HEADLINE):
    """The generated part of the README's benchmarks section: environment, the summary table of
    the ``headline`` groups (see :func:`headline_groups`; all groups if None), chart."""
    groups = collect(data)
    if headline is not None:
        groups = headline_groups(groups, headline) or groups
        table = summary_table(groups, sgemm_gflops(data), peers=HEADLINE_PEERS)
    else:
        table = summary_table(groups, sgemm_gflops(data))
    out = [environment_line(data), "", table, ""]
    if chart:
        out += [f"![benchmark chart]({chart})", ""]
    if report_link:
        out += [f"Every workload, with medians, IQRs, rounds and the scaling tables: [{report_link}]({report_link}).", ""]
    return "\n".join(out)


def replace_generated(text, block):
    """``text`` with the lines between the BEGIN and END markers replaced by ``block``."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"no '{BEGIN}' ... '{END}' block found")
    return pattern.sub(lambda _: f"{BEGIN}\n{block.rstrip()}\n{END}", text, count=1)


# --------------------------------------------------------------------------- chart
def plot(data, path, headline=HEADLINE):
    """A log-scale PNG: bars per group (one per implementation; the ``headline`` groups only, if
    any of them is in the run and ``headline`` is not None) and, if any, the scaling curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = collect(data)
    plain = {g: e for g, e in groups.items() if not is_scaling(e)}
    if headline is not None:
        plain = headline_groups(plain, headline) or plain
    curves = series(groups)
    impls = ordered_impls(dict.fromkeys(i for e in list(plain.values()) + list(groups.values()) for i in e
                                        if any(i in x for x in plain.values()) or is_scaling(e)))
    colors = {impl: plt.cm.tab10(k % 10) for k, impl in enumerate(impls)}

    n_bar_rows = max(1, len(plain))
    height_bars = 1.0 + 0.45 * n_bar_rows * max(1, len(impls)) ** 0.5
    height = height_bars + (4.0 if curves else 0.0)
    fig = plt.figure(figsize=(11, height), constrained_layout=True)
    rows = [height_bars, 4.0] if curves else [height_bars]
    grid = fig.add_gridspec(len(rows), max(1, len(curves)), height_ratios=rows)

    if plain:
        ax = fig.add_subplot(grid[0, :])
        names = list(plain)
        present = [i for i in impls if any(i in plain[g] for g in names)]
        width = 0.8 / max(1, len(present))
        for k, impl in enumerate(present):
            ys = [len(names) - 1 - r + (len(present) / 2 - k - 0.5) * width for r in range(len(names))]
            vals = [plain[g][impl]["median"] if impl in plain[g] else float("nan") for g in names]
            ax.barh(ys, vals, height=width, color=colors[impl], label=impl)
        ax.set_yticks(range(len(names)), names[::-1], fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("median time per call (s, log scale; shorter is faster)")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(axis="x", which="both", alpha=0.3)

    for k, (name, points) in enumerate(curves.items()):
        ax = fig.add_subplot(grid[len(rows) - 1, k])
        for impl in ordered_impls(points):
            xs, ms, _ = zip(*points[impl])
            ax.plot(xs, ms, "o-", color=colors[impl], label=impl)
        if BASE in points:  # the line a cost proportional to the work would follow, through fastconv's first point
            xs, ms, ws = zip(*points[BASE])
            ax.plot(xs, [ms[0] * w / ws[0] for w in ws], "--", color="gray", label="∝ work")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(textwrap.fill(name, 48), fontsize=8)
        ax.set_xlabel(name.rsplit("vs ", 1)[-1])
        ax.set_ylabel("median time (s)")
        ax.legend(fontsize=8)
        ax.grid(which="both", alpha=0.3)

    fig.suptitle(environment_line(data), fontsize=7, wrap=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- command line
def main(argv=None):
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", help="pytest-benchmark JSON (pytest bench --benchmark-json=FILE)")
    parser.add_argument("--markdown", metavar="OUT.md", help="write the markdown report here")
    parser.add_argument("--plot", metavar="OUT.png", help="write the log-scale chart here (needs matplotlib)")
    parser.add_argument("--readme", metavar="README.md",
                        help=f"rewrite the {BEGIN} block of this file with the summary table")
    parser.add_argument("--exclude", metavar="TEXT", action="append", default=[],
                        help="leave out benchmarks whose full name contains TEXT (repeatable), e.g. bench_perf")
    args = parser.parse_args(argv)
    data = load(args.results)
    data["benchmarks"] = [b for b in data.get("benchmarks", [])
                          if not any(t in b.get("fullname", "") for t in args.exclude)]
    if not collect(data):
        parser.error(f"{args.results} holds no benchmarks")
    if args.plot:
        plot(data, args.plot)
    md_dir = args.markdown.rsplit("/", 1)[0] + "/" if args.markdown and "/" in args.markdown else ""
    chart_rel = args.plot[len(md_dir):] if args.plot and md_dir and args.plot.startswith(md_dir) else args.plot
    text = markdown(data, chart_rel)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    if args.readme:
        with open(args.readme, encoding="utf-8") as f:
            old = f.read()
        new = replace_generated(old, readme_block(data, args.markdown, args.plot))
        with open(args.readme, "w", encoding="utf-8") as f:
            f.write(new)
    if not (args.markdown or args.readme):
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
