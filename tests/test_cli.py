"""The command line, run as a real subprocess."""

import subprocess
import sys
import textwrap


def run(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "deepclust", *args], capture_output=True, text=True, timeout=timeout
    )


def test_demo_prints_metrics_for_kmeans_and_dec_and_ends_with_the_report(tmp_path):
    report = tmp_path / "demo.html"
    result = run("demo", "--pretrain-iter", "20", "--max-iter", "20", "--snapshots", "200",
                 "--report", str(report))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    kmeans = next(line for line in lines if line.startswith("k-means on raw pixels"))
    dec = next(line for line in lines if line.startswith("DEC "))
    for line in (kmeans, dec):
        assert "ACC 0." in line and "NMI 0." in line and "ARI " in line
    assert lines[-1].startswith(f"report written to {report.resolve()}")
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>") and "not drawn" not in text
    assert '<img alt="cluster exemplars" src="data:image/png;base64,' in text


def test_unknown_command_fails_cleanly():
    result = run("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


def _python(code):
    """Run ``code`` in a fresh interpreter; fail the test with its stderr if it fails."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def test_the_package_and_the_help_load_no_heavy_library_until_used():
    # The package's names are imported on first use, so --help answers without PyTorch or
    # scikit-learn (about 2 s of imports), and every name in __all__ still resolves.
    _python("""
        import sys, deepclust
        heavy = [m for m in ('torch', 'sklearn', 'numpy') if m in sys.modules]
        assert not heavy, heavy
        from deepclust import *
        from deepclust import DEC
        assert DEC is deepclust.dec.DEC and deepclust.metrics.cluster_accuracy and 'torch' in sys.modules
        assert all(hasattr(deepclust, name) for name in deepclust.__all__)
        assert deepclust.autoencoder.Autoencoder and deepclust.datasets.load_digits
        try:
            deepclust.no_such_name
        except AttributeError as error:
            assert 'no_such_name' in str(error)
        else:
            raise AssertionError('no AttributeError')
    """)
    result = _python("""
        import runpy, sys
        sys.argv = ['deepclust', '--help']
        try:
            runpy.run_module('deepclust', run_name='__main__')
        except SystemExit:
            pass
        assert 'torch' not in sys.modules and 'sklearn' not in sys.modules
    """)
    assert "usage: deepclust" in result.stdout


def test_negative_iteration_count_is_a_usage_error():
    result = run("demo", "--pretrain-iter", "-5")
    assert result.returncode == 2
    assert "negative" in result.stderr
    assert "Traceback" not in result.stderr


def _metric_lines(stdout):
    return [line.split("(")[0] for line in stdout.splitlines() if line.startswith(("k-means", "DEC "))]


def test_demo_checkpoint_and_resume(tmp_path):
    quick = ("demo", "--pretrain-iter", "20", "--max-iter", "40", "--no-report")
    directory = str(tmp_path / "ckpt")
    first = run(*quick, "--checkpoint-dir", directory)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "ckpt" / "checkpoint.pt").is_file()
    # An existing checkpoint is never reused by accident...
    again = run(*quick, "--checkpoint-dir", directory)
    assert again.returncode == 2
    assert "already holds a checkpoint: pass --resume" in again.stderr
    assert "Traceback" not in again.stderr
    # ...but --resume continues it (here: a finished fit, rebuilt with the same labels).
    resumed = run(*quick, "--checkpoint-dir", directory, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _metric_lines(resumed.stdout) == _metric_lines(first.stdout)
    # Other settings are refused in one line.
    other = run("demo", "--pretrain-iter", "21", "--max-iter", "40", "--no-report",
                "--checkpoint-dir", directory, "--resume")
    assert other.returncode == 1
    assert "holds the checkpoint of a different fit" in other.stderr
    assert "Traceback" not in other.stderr


def test_resume_without_a_checkpoint_is_a_usage_error(tmp_path):
    result = run("demo", "--resume")
    assert result.returncode == 2 and "--resume needs --checkpoint-dir" in result.stderr
    result = run("demo", "--resume", "--checkpoint-dir", str(tmp_path))
    assert result.returncode == 2 and "no checkpoint to resume" in result.stderr
