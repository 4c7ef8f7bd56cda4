"""bench/report.py on a small synthetic pytest-benchmark JSON: exact medians, ratios and tables."""
import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_report", Path(__file__).parents[1] / "bench" / "report.py")
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)


def _bench(group, impl, median, name=None, iqr=0.0, rounds=7, **extra):
    return {
        "group": group,
        "name": name or f"bench_{impl}",
        "stats": {"median": median, "iqr": iqr, "rounds": rounds, "mean": median * 1.1},
        "extra_info": {"impl": impl, **extra},
    }


SERIES = "conv2d fwd+bwd f32 Nx32x32x16->32 k3 p1, vs batch size N"


@pytest.fixture
def data():
    return {
        "datetime": "2026-01-02T03:04:05.123456+00:00",
        "machine_info": {
            "python_version": "3.11.7",
            "cpu": {"brand_raw": "brand from cpuinfo"},
            "fastconv_env": {
                "cpu_model": "Test CPU 9000", "logical_cpus": 2, "threads": 2, "fastconv_openmp": True,
                "omp_wait_policy": "PASSIVE",
                "versions": {"numpy": "2.4.6", "torch": "2.13.0+cpu", "cv2": None}, "load_average": [1.25, 1.0, 1.0],
            },
        },
        "commit_info": {"id": "0123456789abcdef", "dirty": False},
        "benchmarks": [
            _bench("conv A", "torch", 0.010),
            _bench("conv A", "fastconv", 0.002, iqr=0.0001, rounds=50),
            _bench("conv A", "numpy", 0.001),
            _bench("conv A", "reference", 2.0, rounds=3),
            _bench("pool B", "fastconv", 0.0005),
            _bench("pool B", "torch", 0.0015),
            _bench("pool B", "torch", 0.0030, name="bench_torch_again"),
            _bench("scaling batch: N2", "fastconv", 0.002, series=SERIES, x=2, work=2.0),
            _bench("scaling batch: N1", "fastconv", 0.001, series=SERIES, x=1, work=1.0),
            _bench("scaling batch: N1", "torch", 0.002, series=SERIES, x=1, work=1.0),
            _bench("scaling batch: N2", "torch", 0.003, series=SERIES, x=2, work=2.0),
        ],
    }


def test_collect_keeps_groups_impls_and_medians(data):
    groups = report.collect(data)
    assert list(groups) == ["conv A", "pool B", "scaling batch: N2", "scaling batch: N1"]
    assert {k: v["median"] for k, v in groups["conv A"].items()} == {
        "torch": 0.010, "fastconv": 0.002, "numpy": 0.001, "reference": 2.0}
    assert list(groups["pool B"]) == ["fastconv", "torch", "torch (bench_torch_again)"]
    assert groups["conv A"]["fastconv"]["rounds"] == 50
    assert not report.is_scaling(groups["conv A"]) and report.is_scaling(groups["scaling batch: N1"])


def test_speedups_are_peer_median_over_fastconv_median(data):
    groups = report.collect(data)
    assert report.speedups(groups["conv A"]) == pytest.approx({"torch": 5.0, "numpy": 0.5, "reference": 1000.0})
    assert report.speedups(groups["pool B"]) == pytest.approx({"torch": 3.0, "torch (bench_torch_again)": 6.0})
    assert report.speedups({"torch": groups["conv A"]["torch"]}) == {}


@pytest.mark.parametrize(("seconds", "text"), [
    (2.0, "2.00 s"), (0.002, "2.00 ms"), (0.0123, "12.3 ms"), (0.000456, "456 µs"), (4.2e-7, "420 ns"),
])
def test_format_time(seconds, text):
    assert report.format_time(seconds) == text


def test_format_ratio():
    assert report.format_ratio(5.0) == "5.0×"
    assert report.format_ratio(1234.56) == "1,234.6×"
    assert report.format_ratio(0.5) == "0.50× (2.0× slower)"
    assert report.format_ratio(0.04) == "0.04× (25.0× slower)"


def test_summary_table_rows(data):
    table = report.summary_table(report.collect(data)).splitlines()
    assert table[0] == "| workload | fastconv median | vs torch | vs numpy | vs reference | vs torch (bench_torch_again) |"
    assert table[2] == "| conv A | 2.00 ms | 5.0× | 0.50× (2.0× slower) | 1,000.0× | — |"
    assert table[3] == "| pool B | 500 µs | 3.0× | — | — | 6.0× |"
    assert len(table) == 4  # the scaling groups are not in the summary


def test_group_table_orders_impls_and_marks_fastconv(data):
    table = report.group_table(report.collect(data)["conv A"]).splitlines()
    assert table[2] == "| fastconv | 2.00 ms | 100 µs | 50 | — |"
    assert table[3] == "| torch | 10.0 ms | 0.00 ns | 7 | 5.0× |"
    assert [row.split(" | ")[0] for row in table[2:]] == ["| fastconv", "| torch", "| numpy", "| reference"]


def test_series_sorted_and_tabulated(data):
    curves = report.series(report.collect(data))
    assert curves == {SERIES: {"fastconv": [(1, 0.001, 1.0), (2, 0.002, 2.0)],
                               "torch": [(1, 0.002, 1.0), (2, 0.003, 2.0)]}}
    table = report.series_table(curves[SERIES]).splitlines()
    assert table[0] == "| x | work | fastconv | torch | fastconv vs torch |"
    assert table[2] == "| 1 | 1 | 1.00 ms | 2.00 ms | 2.0× |"
    assert table[3] == "| 2 | 2 | 2.00 ms | 3.00 ms | 1.5× |"


def test_environment_line(data):
    line = report.environment_line(data)
    assert line.startswith("Measured 2026-01-02 03:04 UTC on Test CPU 9000 (2 logical CPUs); 2 threads")
    assert "2 threads for fastconv, torch and BLAS, OMP_WAIT_POLICY=PASSIVE;" in line
    assert "numpy 2.4.6" in line and "torch 2.13.0+cpu" in line and "cv2" not in line
    assert "commit 0123456789" in line and "load average 1.2" in line


def test_markdown_report_has_every_group(data):
    text = report.markdown(data, chart="chart.png")
    for heading in ("### conv A", "### pool B", f"## Scaling: {SERIES}"):
        assert heading in text
    assert "![benchmark chart](chart.png)" in text


def test_replace_generated_block():
    text = f"intro\n{report.BEGIN}\nold table\n{report.END}\noutro\n"
    assert report.replace_generated(text, "new\n") == f"intro\n{report.BEGIN}\nnew\n{report.END}\noutro\n"
    with pytest.raises(ValueError, match="generated: benchmarks"):
        report.replace_generated("no markers here", "new")


def test_main_writes_markdown_readme_and_png(data, tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(data))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{report.BEGIN}\n{report.END}\n")
    md = tmp_path / "report.md"
    args = [str(results), "--markdown", str(md), "--readme", str(readme)]
    if importlib.util.find_spec("matplotlib") is not None:
        args += ["--plot", str(tmp_path / "chart.png")]
    assert report.main(args) == 0
    assert "| conv A | 2.00 ms | 5.0× |" in md.read_text()
    assert "| conv A | 2.00 ms | 5.0× |" in readme.read_text()
    if "--plot" in args:
        assert "![benchmark chart](chart.png)" in md.read_text()
        assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_main_rejects_a_file_without_benchmarks(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"benchmarks": []}))
    with pytest.raises(SystemExit):
        report.main([str(empty)])


def test_flops_columns_sgemm_fraction_and_settings(data):
    data["benchmarks"] = [_bench("conv F", "fastconv", 0.002, flops=4e8), _bench("conv F", "torch", 0.004, flops=4e8)]
    env = data["machine_info"]["fastconv_env"]
    del env["omp_wait_policy"]
    env.update(settings={}, pause_seconds=0.3, sgemm={
        "n": 2048, "gflops": {"1": 100.0, "2": 250.0}, "blas": "openblas", "blas_version": "0.3.30",
        "kernel": "SkylakeX", "unset_for_sgemm": {"OPENBLAS_CORETYPE": "Haswell"}})
    assert report.sgemm_gflops(data) == 250.0  # the run's thread count (2)
    line = report.environment_line(data)
    assert "settings differing from each library's defaults: none besides the thread count; 0.3 s pause" in line
    assert "SkylakeX kernel" in line and "OPENBLAS_CORETYPE unset" in line and "250 GFLOP/s on 2 threads" in line
    assert "unset for the whole run" not in line
    env["unset_for_run"] = {"OPENBLAS_L2_SIZE": "512", "OPENBLAS_CORETYPE": "Haswell"}
    assert ("unset for the whole run (set by the host for older OpenBLAS builds, not by users): "
            "OPENBLAS_CORETYPE=Haswell, OPENBLAS_L2_SIZE=512") in report.environment_line(data)
    table = report.summary_table(report.collect(data), report.sgemm_gflops(data)).splitlines()
    assert table[0] == "| workload | fastconv median | GFLOP/s | of sgemm | vs torch |"
    assert table[2] == "| conv F | 2.00 ms | 200.0 | 0.80 | 2.0× |"
    rows = report.group_table(report.collect(data)["conv F"], 250.0).splitlines()
    assert rows[3] == "| torch | 4.00 ms | 0.00 ns | 7 | 100.0 | 0.40 | 2.0× |"


def test_summary_table_leaves_out_groups_without_fastconv_and_merges_aliases(data):
    data["benchmarks"] += [_bench("layout C", "NHWC", 0.001), _bench("layout C", "NCHW", 0.0012),
                           _bench("pool B", "torch-cl", 0.001)]
    groups = report.collect(data)
    assert "torch channels-last" in groups["pool B"]
    table = report.summary_table(groups)
    assert "layout C" not in table and "vs NHWC" not in table
    assert "| pool B | 500 µs | 3.0× | 2.0× |" in table


def test_headline_table_keeps_named_peers_and_folds_the_others(data):
    groups = report.headline_groups(report.collect(data), ("pool", "conv A", "missing"))
    assert list(groups) == ["pool B", "conv A"]
    table = report.summary_table(groups, peers=("torch",)).splitlines()
    assert table[0] == "| workload | fastconv median | vs torch | vs other |"
    assert table[2] == "| pool B | 500 µs | 3.0× | torch (bench_torch_again) 6.0× |"
    assert table[3] == "| conv A | 2.00 ms | 5.0× | numpy 0.50× (2.0× slower); reference 1,000.0× |"


def test_readme_block_uses_the_headline_rows(data):
    block = report.readme_block(data, headline=("pool B",))
    assert "| pool B |" in block and "| conv A |" not in block
    assert "| conv A |" in report.readme_block(data, headline=None)


@pytest.mark.parametrize("numpy_first", [False, True])
def test_bench_host_module_removes_the_openblas_settings_before_numpy(numpy_first):
    """bench/_host.py, imported first by bench/conftest.py and the benchmark scripts, removes the
    host's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (and says what it removed); after NumPy has loaded
    it leaves them, since OpenBLAS has read them by then."""
    import os
    import subprocess
    import sys

    bench = Path(__file__).parents[1] / "bench"
    code = ("import sys, os, json\n" + ("import numpy\n" if numpy_first else "") + f"sys.path.insert(0, {str(bench)!r})\n"
            "import _host\n"
            "print(json.dumps([_host.UNSET, os.environ.get('OPENBLAS_CORETYPE'), os.environ.get('OPENBLAS_L2_SIZE')]))\n")
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell", OPENBLAS_L2_SIZE="512")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    unset, coretype, l2 = json.loads(out.stdout)
    if numpy_first:
        assert (unset, coretype, l2) == ({}, "Haswell", "512")
        assert "the host's OpenBLAS settings stay" in out.stderr
    else:
        assert (unset, coretype, l2) == ({"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}, None, None)
