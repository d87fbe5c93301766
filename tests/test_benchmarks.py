"""The benchmark scripts run end to end (tiny settings), so they do not rot between measurements."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script, *args, tmp_path):
    out = tmp_path / "out.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--json", str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


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
