"""The benchmark scripts run end to end (tiny settings), so they do not rot between measurements."""

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


_SCRIPTS = {}


def _script(name):
    """The benchmark script ``name`` as a module (loaded once per test process)."""
    import importlib.util

    if name not in _SCRIPTS:
        spec = importlib.util.spec_from_file_location(f"_bench_{Path(name).stem}", ROOT / "benchmarks" / name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _SCRIPTS[name] = module
    return _SCRIPTS[name]


def _run(script, *args, tmp_path, process=False):
    """Run a benchmark script with ``--json``: its ``main(argv)`` in this process (the scripts' own
    subprocesses, such as scaling.py's one per size, still run), or the script as a real process with
    ``process=True``. Returns its stdout and the JSON it wrote."""
    out = tmp_path / "out.json"
    argv = [str(a) for a in args] + ["--json", str(out)]
    if process:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *argv],
                              capture_output=True, text=True, timeout=600, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        stdout = proc.stdout
    else:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = _script(script).main(argv)
        assert not code, code
        stdout = buffer.getvalue()
    return stdout, json.loads(out.read_text(), parse_constant=_refuse_constant)


def _select_main(*args, capsys):
    """select_n_clusters.py's main(args) in this process: for the argument refusals (parser.error, exit
    status 2), which one real run of the script checks across the process boundary. Returns stderr."""
    module = _script("select_n_clusters.py")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        module.main([str(arg) for arg in args])
    assert exit_.value.code == 2
    return capsys.readouterr().err


def _refuse_constant(name):
    raise AssertionError(f"the --json file holds a bare {name}, which is not JSON; write null")


@pytest.mark.parametrize("extra", [
    ["--param", "pretrain_epochs=1", "--methods", "IDEC", "DCN", "DBC"],
    ["--param", "pretrain_epochs='auto'", "--param", "embedding_dim=2"],  # 4,000 steps
], ids=["methods", "auto-epochs"])
def test_dec_benchmark_prints_and_writes_every_method(tmp_path, extra):
    stdout, results = _run(
        "dec_benchmark.py", "--datasets", "digits", "--seeds", "0", "--param", "pretrain='end-to-end'",
        "--param", "hidden_dims=(8,)", "--param", "max_iter=5", "--param", "n_init=1", *extra,
        tmp_path=tmp_path)
    methods = ["k-means", "AE + k-means", "DEC w/o backprop", "DEC"]
    if "--methods" in extra:
        methods += ["IDEC", "DCN", "DBC"]
    summary = results["digits"]["summary"]
    assert list(summary) == methods
    for method in methods:
        assert f"| {method} |" in stdout
        acc, _ = summary[method]["acc"]
        assert 0 < acc <= 1
    assert math.isfinite(summary["AE + k-means"]["samples_per_s"][0])


def test_scaling_benchmark_fits_each_size_in_its_own_process(tmp_path):
    stdout, rows = _run("scaling.py", "--sizes", "400", "800", "--pretrain-epochs", "1", "--cluster-epochs", "1",
                        tmp_path=tmp_path)
    assert [r["n"] for r in rows] == [400, 800]
    for r in rows:
        assert r["fit_seconds"] > 0 and r["peak_rss_gib"] > 0 and 0 < r["acc"] <= 1
    assert "log-log slope" in stdout


def test_scaling_benchmark_runs_the_default_schedule(tmp_path):
    stdout, rows = _run("scaling.py", "--sizes", "300", "--schedule", "default", "--device", "cpu",
                        "--param", "layerwise_iter=10", "--param", "finetune_iter=10", "--param", "n_init=1",
                        tmp_path=tmp_path)
    (row,) = rows
    assert row["device"] == "cpu" and row["gpu_peak_gib"] is None and row["n_iter"] >= 1
    # The samples the steps saw: 4 layers + fine-tuning, 10 steps each, and the clustering iterations,
    # each step a batch of 256 or the 300 - 256 = 44 rows that end an epoch (150 a step on average).
    assert row["samples_per_s"] == pytest.approx(150 * (50 + row["n_iter"]) / row["fit_seconds"])
    assert "DEC's default schedules, with {'layerwise_iter': 10" in stdout


def test_time_to_accuracy_prints_a_curve_per_budget(tmp_path):
    stdout, results = _run("time_to_accuracy.py", "--datasets", "digits", "--budgets", "0.1", "1", "--seeds", "0",
                           "--snapshot-size", "300", "--param", "hidden_dims=(16,)", "--param", "max_iter=40",
                           "--param", "update_interval=10", "--param", "n_init=1", tmp_path=tmp_path)
    runs = results["digits"]
    assert [r["budget"] for r in runs] == [0.1, 1.0]
    assert runs[0]["params"]["layerwise_iter"] == 20 and runs[1]["params"] == {"hidden_dims": [16], "max_iter": 40,
                                                                               "update_interval": 10, "n_init": 1}
    for r in runs:
        times = [t for t, _, _ in r["curve"]]
        assert times == sorted(times) and times[0] >= r["pretrain_seconds"] > 0
        assert [i for _, _, i in r["curve"]][0] == 0 and all(0 < acc <= 1 for _, acc, _ in r["curve"])
    assert "| 0.1 |" in stdout and "| 1 |" in stdout


def test_parquet_shards_benchmark_converts_once_and_reads_every_row(tmp_path):
    pytest.importorskip("pyarrow")
    stdout, results = _run("parquet_shards.py", "--rows", "3000", "--features", "7", "--shards", "3",
                           "--dir", str(tmp_path), tmp_path=tmp_path, process=True)  # a script as users run it
    assert "| first open (converts) |" in stdout and "sum to the rows written" in stdout
    assert results["read"]["shape"] == [3000, 7] and results["read"]["dtype"] == "float32"


def test_select_n_clusters_benchmark_prints_the_table_and_choice_and_pools_runs(tmp_path):
    def select(split_seed):
        return _run("select_n_clusters.py", "--cases", "blobs3", "--n-samples", "200", "--split-seed", split_seed,
                    "--n-splits", "1", "--max-iter", "10",
                    "--param", "hidden_dims=(16,)", "--param", "layerwise_iter=5",
                    "--param", "finetune_iter=5", "--param", "n_init=1", tmp_path=tmp_path / split_seed)

    stdout, results = select("7")
    result = results["blobs3"]
    assert [row["k"] for row in result["table"]] == list(range(2, 13))
    assert result["chosen"] in range(2, 13) and result["target"] == "3"
    assert len(result["single_split_choices"]) == 1 and isinstance(result["warnings"], list)
    assert result["setup"] == {"seed": 0, "split_seed": 7, "n_splits": 1, "validation_size": None,
                               "n_samples": 200, "settings": result["setup"]["settings"]}
    assert "chosen k = " in stdout and "| 12" in stdout and "X (200, 100)" in stdout
    # Another run's splits pooled with these: two splits, each k's G the mean of the two runs' G.
    _, other = select("8")
    stdout, pooled = _run("select_n_clusters.py", "--pool", str(tmp_path / "7" / "out.json"),
                          str(tmp_path / "8" / "out.json"), tmp_path=tmp_path)
    assert "## blobs3: 2 splits pooled from 2 runs" in stdout
    table = pooled["blobs3"]["table"]
    for row, a, b in zip(table, result["table"], other["blobs3"]["table"]):
        assert row["k"] == a["k"] and row["G_splits"] == a["G_splits"] + b["G_splits"]
    assert pooled["blobs3"]["single_split_choices"] == (result["single_split_choices"]
                                                        + other["blobs3"]["single_split_choices"])


def test_select_n_clusters_benchmark_trace_reads_g_during_training_without_changing_it(tmp_path, capsys):
    """--trace measures G every few iterations from kept encoder states; training is the same as without it,
    and the last reading is the G that select_n_clusters measured."""
    common = ["--cases", "blobs3", "--n-samples", "200", "--n-splits", "2", "--max-iter", "20",
              "--param", "hidden_dims=(16,)", "--param", "layerwise_iter=5", "--param", "finetune_iter=5",
              "--param", "n_init=1"]
    stdout, traced = _run("select_n_clusters.py", *common, "--trace", "5", tmp_path=tmp_path / "traced")
    _, plain = _run("select_n_clusters.py", *common, tmp_path=tmp_path / "plain")
    table, trace = traced["blobs3"]["table"], traced["blobs3"]["trace"]
    assert [row["G_splits"] for row in table] == [row["G_splits"] for row in plain["blobs3"]["table"]]
    assert trace["every"] == 5 and trace["iterations"] == [5, 10, 15, 20]
    g = np.array(trace["G"])  # (split, k, reading)
    assert g.shape == (2, 11, 4)
    np.testing.assert_allclose(g[:, :, -1].T, [row["G_splits"] for row in table], rtol=1e-6)
    late = trace["late_average"]
    assert late["iterations"] == [10, 15, 20]
    np.testing.assert_allclose(late["G"], g[:, :, 1:].mean(axis=(0, 2)), rtol=1e-6)
    assert late["chosen"] in range(2, 13) and len(late["single_split_choices"]) == 2
    assert set(trace["chosen_at"]) == {"5", "10", "15", "20"}
    assert "trace check: the last reading's G differs" in stdout and "late average (readings 10..20)" in stdout
    # --pool --at reads a reading back from the file: at the end, the run's own choice and warnings.
    traced_json = str(tmp_path / "traced" / "out.json")
    _, last = _run("select_n_clusters.py", "--pool", traced_json, "--at", "20", tmp_path=tmp_path / "at20")
    assert last["blobs3"]["chosen"] == traced["blobs3"]["chosen"]
    assert last["blobs3"]["warnings"] == traced["blobs3"]["warnings"]
    np.testing.assert_allclose([row["G_splits"] for row in last["blobs3"]["table"]],
                               [row["G_splits"] for row in table], rtol=1e-6)
    stdout_at, early = _run("select_n_clusters.py", "--pool", traced_json, "--at", "10", tmp_path=tmp_path / "at10")
    assert early["blobs3"]["chosen"] == trace["chosen_at"]["10"] and early["blobs3"]["at_iteration"] == 10
    np.testing.assert_allclose([row["G_splits"] for row in early["blobs3"]["table"]], g[:, :, 1].T, rtol=1e-6)
    assert "2 splits at iteration 10 pooled from 1 run" in stdout_at
    # One refusal of each kind as a real process (exit status, no traceback), the other in this process.
    for path, at, message, own_process in (
            (traced_json, "12", "was read at iterations [5, 10, 15, 20], not at 12", True),
            (str(tmp_path / "plain" / "out.json"), "10", "has no trace; --at reads runs made with --trace", False)):
        if own_process:
            proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "select_n_clusters.py"), "--pool", path,
                                   "--at", at], capture_output=True, text=True, timeout=120)
            assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        else:
            stderr = _select_main("--pool", path, "--at", at, capsys=capsys)
            assert message in stderr and "Traceback" not in stderr, stderr
    for every, own_process in (("0", True), ("21", False)):  # no reading, or none before the end: refused
        if own_process:                                       # before any training
            proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "select_n_clusters.py"), *common,
                                   "--trace", every], capture_output=True, text=True, timeout=120)
            assert proc.returncode == 2 and "--trace " + every + ": give the number of iterations" in proc.stderr
        else:
            assert "--trace " + every + ": give the number of iterations" in _select_main(*common, "--trace", every,
                                                                                         capsys=capsys)


def test_select_n_clusters_benchmark_pool_refuses_what_it_cannot_pool(tmp_path, capsys):
    def pool(*args, subprocess_run=False):
        if not subprocess_run:  # argument refusals, in this process
            stderr = _select_main(*args, capsys=capsys)
            assert "Traceback" not in stderr, stderr
            return stderr
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "select_n_clusters.py"), *args],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        return proc.stderr

    def run(split_seed, seed=1, name=None):
        table = [{"k": k, "L_train": 0.1, "L_validation": 0.1, "G": g, "G_splits": [g], "drop": None, "nmi": None}
                 for k, g in ((2, 0.9 + split_seed / 1000), (3, 0.8))]
        setup = {"seed": seed, "split_seed": split_seed, "n_splits": 1, "validation_size": None, "settings": {},
                 "n_samples": 400}
        path = tmp_path / (name or f"run-{seed}-{split_seed}.json")
        path.write_text(json.dumps({"blobs3": {"chosen": 2, "target": "3", "seconds": 1.0, "table": table,
                                               "setup": setup}}))
        return str(path)

    assert "at least two --json files" in pool("--pool", run(7), subprocess_run=True)  # the process boundary
    assert "give them with --pool" in pool("--at", "10", "--cases", "blobs3")
    assert "no such file" in pool("--pool", run(7), str(tmp_path / "missing.json"))
    assert "names a file twice" in pool("--pool", run(7), run(7))
    assert "leave out ['--seed', '--max-iter']" in pool("--pool", run(7), run(8), "--seed", "1", "--max-iter", "5")
    assert "leave out ['--trace']" in pool("--pool", run(7), run(8), "--trace", "5")
    assert "share a split seed ([7, 7])" in pool("--pool", run(7), run(7, name="again.json"))
    assert "differ in more than their split seed" in pool("--pool", run(7), run(8, seed=2))
    assert "--cases ['blobs5'] are not in every one" in pool("--pool", run(7), run(8), "--cases", "blobs5")


def test_the_recorded_runs_pool_as_results_md_says(tmp_path):
    """benchmarks/records holds the raw runs behind RESULTS.md's four-split figures: pooled again,
    blobs k = 5 seed 1 chooses 5 (each recorded run chose 6 and 5), with the runner-up warning."""
    records = ROOT / "benchmarks" / "records" / "select_n_clusters"
    stdout, results = _run("select_n_clusters.py", "--pool", str(records / "blobs5_seed1_split1.json"),
                           str(records / "blobs5_seed1_split101.json"), tmp_path=tmp_path)
    assert "## blobs5: 4 splits pooled from 2 runs (each chose [6, 5])" in stdout
    assert results["blobs5"]["chosen"] == 5
    (warning,) = results["blobs5"]["warnings"]
    assert "could choose k=6" in warning


@pytest.mark.parametrize("case, record, at, chosen, single, rival", [
    ("blobs7", "blobs7_seed8_split8_trace20k", 10000, 7, [7, 9], None),
    ("blobs5", "blobs5_seed9_split9_trace20k", 10000, 6, [6, 6], None),
    ("blobs5", "blobs5_seed9_split9_trace20k", 20000, 5, [5, 5], 6),
    ("blobs5", "blobs5_seed10_split10_trace20k", 10000, 5, [5, 5], 8),
    ("blobs7", "blobs7_seed10_split10_trace20k", 10000, 7, [7, 7], None),
    ("blobs7", "blobs7_seed10_split10_trace20k", 20000, 7, [7, 7], 8),
    ("blobs5", "blobs5_seed11_split11_trace20k", 10000, 4, [4, 4], None),
    ("blobs7", "blobs7_seed11_split11_trace20k", 10000, 6, [6, 7], None),
    ("blobs7", "blobs7_seed11_split11_trace20k", 20000, 6, [6, 6], None),
])
def test_the_recorded_20000_iteration_traces_read_as_results_md_says(tmp_path, case, record, at, chosen, single,
                                                                      rival):
    """The series of RESULTS.md (2026-12-06, from 21:12 UTC) reads each 20,000-iteration traced run at 10,000
    iterations (the default's length) and at 20,000: blobs k = 5 seed 9 chose 6 at 10,000 and 5 at 20,000,
    where the runner-up warning named 6; on seed 10 both readings chose the true k, with or without the
    warning naming the rival k; on seed 11 (two latent centres 3.1 standard deviations apart) both chose
    one cluster fewer, without a warning."""
    path = ROOT / "benchmarks" / "records" / "select_n_clusters" / f"{record}.json"
    _, result = _run("select_n_clusters.py", "--pool", str(path), "--at", str(at), tmp_path=tmp_path)
    read = result[case]
    assert read["chosen"] == chosen and read["single_split_choices"] == single
    if rival is None:
        assert read["warnings"] == []
    else:
        (warning,) = read["warnings"]
        assert f"could choose k={rival}" in warning


def test_suite_fits_each_method_in_its_own_process_tabulates_and_writes_its_section(tmp_path):
    """benchmarks/suite.py --tiny: a row per dataset and method (a variant named by its settings) with its
    phases, peak memory and the ACC of its start, the section between its markers replaced (not added again)
    on a rerun, the records tabulated again without fitting, and a fit past --timeout a row saying so."""
    results, record = tmp_path / "RESULTS.md", tmp_path / "runs.jsonl"
    results.write_text("# Results\n\nbefore\n\n## Settings tried and not adopted\n\nafter\n")
    variant = 'DEC{"max_iter": 7}'
    common = ["--tiny", "--datasets", "wine", "--seeds", "0", "--results", results]
    stdout, out = _run("suite.py", *common, "--methods", "k-means", variant, "--jobs", "2", "--record", record,
                       tmp_path=tmp_path)
    rows = {(row["dataset"], row["method"]): row for row in out["rows"]}
    assert list(rows) == [("wine", "k-means"), ("wine", variant)]
    for (dataset, method), row in rows.items():
        assert row["seeds"] == 1 and 0 < row["acc"][0] <= 1 and row["peak_rss_mib"][0] > 0
        assert f"| {dataset} | {method} | 1 | {row['acc'][0]:.3f} |" in stdout
    dec = rows["wine", variant]
    assert set(dec["phases"]) == {"pretrain", "kmeans", "clustering"} and rows["wine", "k-means"]["init_acc"] == []
    assert dec["n_iter"] == [7] and dec["to_max_iter"][1] == 1 and 0 < dec["init_acc"][0] <= 1
    text = results.read_text()
    assert text.count("<!-- suite:start -->") == 1 and text.index("before") < text.index("<!-- suite:start")
    assert text.index("<!-- suite:end -->") < text.index("## Settings tried") and "**--tiny" in text
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert lines[0]["kind"] == "header" and lines[-1]["kind"] == "end" and len(lines) == 4
    # Again from the records: the same rows, no fit; the section replaced, not repeated.
    again_stdout, again = _run("suite.py", "--from-records", record, "--results", results, tmp_path=tmp_path)
    assert again["rows"] == out["rows"] and stdout.split("\n| dataset")[1] in again_stdout
    text = results.read_text()
    assert text.count("<!-- suite:start -->") == 1 and "Tabulated from the records" in text
    # A fit that runs past --timeout is a row saying so; the suite goes on.
    stdout, out = _run("suite.py", *common[:3], "--seeds", "0", "--methods", "DEC", "--timeout", "0.2", "--no-write",
                       "--record", tmp_path / "timeout.jsonl", tmp_path=tmp_path)
    (row,) = out["rows"]
    assert row["seeds"] == 0 and "timeout" in row["notes"][0] and "| wine | DEC | 0 of 1 |" in stdout


def test_suite_skips_a_method_whose_optional_package_is_missing(monkeypatch):
    from deepclust import registry

    suite = _script("_suite.py")

    class NeedsUmap:
        _test_params = {}

        def __init__(self, **params):
            pass

        def fit(self, X):
            raise ModuleNotFoundError("No module named 'umap'", name="umap")

    monkeypatch.setattr(registry, "get", lambda name: NeedsUmap)
    X, y = np.zeros((4, 2), np.float32), np.array([0, 0, 1, 1])
    record = suite.fit_or_skip(X, y, "N2D", 0, tiny=True)
    assert record["status"] == "skipped" and "'umap'" in record["reason"]
    NeedsUmap.fit = lambda self, X: (_ for _ in ()).throw(ModuleNotFoundError("x", name="deepclust.oops"))
    with pytest.raises(ModuleNotFoundError):  # a broken deepclust is not an optional package
        suite.fit_or_skip(X, y, "N2D", 0, tiny=True)
