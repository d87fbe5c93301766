"""The command line, run as a real subprocess."""

import subprocess
import sys


def run(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "deepclust", *args], capture_output=True, text=True, timeout=timeout
    )


def test_demo_prints_metrics_for_kmeans_and_dec():
    result = run("demo", "--pretrain-iter", "20", "--max-iter", "20")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    kmeans = next(line for line in lines if line.startswith("k-means on raw pixels"))
    dec = next(line for line in lines if line.startswith("DEC "))
    for line in (kmeans, dec):
        assert "ACC 0." in line and "NMI 0." in line and "ARI " in line


def test_unknown_command_fails_cleanly():
    result = run("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


def test_negative_iteration_count_is_a_usage_error():
    result = run("demo", "--pretrain-iter", "-5")
    assert result.returncode == 2
    assert "negative" in result.stderr
    assert "Traceback" not in result.stderr
