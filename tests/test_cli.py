"""The command line: its commands in this process (``deepclust.cli.main``, what a command does
between its arguments and its exit status), and as real ``python -m deepclust`` subprocesses
where the process boundary is what is tested: the demo, a fit / predict / evaluate round trip,
warnings and errors as one line without a traceback, the help without heavy imports."""

import contextlib
import io
import logging
import subprocess
import sys
import textwrap
import warnings

import pytest

from deepclust.cli import main


def run(*args, timeout=300, process=False):
    """``deepclust ARGS`` as a ``CompletedProcess``: in this process, or a real subprocess with
    ``process=True``. In this process, stdout and stderr are captured as a process's would be,
    warnings print to stderr as ``main`` formats them (each time, as in a fresh process), and an
    exception ``main`` lets through fails the test (a process would print its traceback)."""
    if process:
        return subprocess.run([sys.executable, "-m", "deepclust", *map(str, args)], capture_output=True,
                              text=True, timeout=timeout)
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def show(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's usage errors and --help
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:  # logging.basicConfig's handler would outlive the captured stderr
            root.handlers[:], root.level = handlers, level
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_demo_prints_metrics_for_kmeans_and_dec_and_ends_with_the_report(tmp_path):
    report = tmp_path / "demo.html"
    result = run("demo", "--pretrain-iter", "20", "--max-iter", "20", "--snapshots", "200",
                 "--report", str(report), process=True)
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
    result = run("frobnicate", process=True)
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
        assert 'pooch' not in sys.modules and 'requests' not in sys.modules  # imported only to download
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


# The smallest network and schedules that still cluster the tests' small data: a fit by the command
# line costs its start-up (~2-3 s of Python and torch) and little more. Tests that check the
# default settings themselves leave these out.
# (d-64-3 trained 100 epochs end to end: ~0.3 s of CPU on 150 8x8 digits, ARI 0.83-0.9 over seeds
# where the default network took ~3 s.)
SMALL = ("--pretrain", "end-to-end", "--param", "pretrain_epochs=100", "--param", "hidden_dims=(64,)",
         "--param", "embedding_dim=3", "--max-iter", "20")
FIT_QUICK = (*SMALL, "--snapshots", "0")


def _blobs_file(tmp_path, n=60):
    import numpy as np

    X = np.random.RandomState(0).randn(n, 4).astype(np.float32)
    X[: n // 2] += 5
    np.save(tmp_path / "X.npy", X)
    return str(tmp_path / "X.npy")


def _fails_cleanly(result, *phrases, code=1):
    """The command failed with ``code``, no traceback, and its last stderr line (for code 1 the
    command line's own "deepclust: error: ..." line) holds every phrase."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    if code == 1:
        assert last.startswith("deepclust: error: "), last
    for phrase in phrases:
        assert phrase in last, last


def _can_write_in(folder) -> bool:
    import tempfile

    try:
        tempfile.NamedTemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def test_fit_refuses_an_unwritable_out_before_training(tmp_path):
    """--out is checked before the data is read or any training starts (no checkpoint is begun):
    a fit is never lost to a 'Permission denied' at the end."""
    data = _blobs_file(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if _can_write_in(locked):  # root writes anywhere
            pytest.skip("permissions are not enforced for this user (root)")
        checkpoints = tmp_path / "ckpt"
        for out in (locked, locked / "model"):  # the folder itself, or a new one inside it
            result = run("fit", data, "--n-clusters", "2", "--out", str(out), "--max-iter", "100000",
                         "--checkpoint-dir", str(checkpoints))
            _fails_cleanly(result, f"--out {str(out)!r} cannot hold the model", "Permission denied",
                               "Give a directory you can write to")
            assert not checkpoints.exists()  # the fit never started
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_fit_out_whose_parent_is_a_file_fails_before_training(tmp_path):
    data = _blobs_file(tmp_path)
    (tmp_path / "plain").write_text("a file")
    checkpoints = tmp_path / "ckpt"
    result = run("fit", data, "--n-clusters", "2", "--out", str(tmp_path / "plain" / "model"),
                 "--checkpoint-dir", str(checkpoints))
    _fails_cleanly(result, "cannot hold the model")
    assert not checkpoints.exists()
    _fails_cleanly(run("fit", data, "--n-clusters", "2", "--out", str(tmp_path / "plain")),
                       "is a file; give a directory for the model")
    assert (tmp_path / "plain").read_text() == "a file"


def test_a_failed_fit_leaves_no_new_out_folder_behind(tmp_path):
    data = _blobs_file(tmp_path, n=10)
    out = tmp_path / "new" / "model"
    _fails_cleanly(run("fit", data, "--n-clusters", "11", "--out", str(out), *FIT_QUICK),
                       "n_samples=10 should be >= n_clusters=11")
    assert not (tmp_path / "new").exists()  # neither the folder nor the parent made for it
    _fails_cleanly(run("fit", str(tmp_path / "missing.npy"), "--n-clusters", "2", "--out", str(out)),
                       "does not exist")
    assert not (tmp_path / "new").exists()
    # A folder that was there before stays.
    (tmp_path / "kept").mkdir()
    _fails_cleanly(run("fit", data, "--n-clusters", "11", "--out", str(tmp_path / "kept"), *FIT_QUICK),
                       "n_clusters=11")
    assert (tmp_path / "kept").is_dir() and list((tmp_path / "kept").iterdir()) == []
    # A successful fit into a new folder writes its files there.
    result = run("fit", data, "--n-clusters", "2", "--out", str(out), *FIT_QUICK)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["fit.json", "model.pt"]


def test_warnings_are_one_line_without_a_source_location(tmp_path):
    import numpy as np

    X = np.random.RandomState(0).randn(60, 4).astype(np.float32)
    X[:, 0] *= 1000  # one feature holds almost all the variance: fit warns
    np.save(tmp_path / "X.npy", X)
    result = run("fit", str(tmp_path / "X.npy"), "--n-clusters", "2", "--out", str(tmp_path / "m"), *FIT_QUICK,
                 process=True)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "varies" in line]
    assert len(lines) == 1 and lines[0].startswith("deepclust: warning: Feature 0 varies"), result.stderr
    assert "Warning" not in result.stderr and ".py:" not in result.stderr


def test_a_diverging_fit_is_one_line_not_a_traceback(tmp_path):
    data = _blobs_file(tmp_path)
    _fails_cleanly(run("fit", data, "--n-clusters", "2", "--out", str(tmp_path / "m"), *FIT_QUICK,
                       "--param", "pretrain_lr=1e30", process=True), "became nan")


def test_param_values_are_checked_before_any_work(tmp_path):
    data = _blobs_file(tmp_path)
    out = str(tmp_path / "m")
    _fails_cleanly(run("fit", data, "--n-clusters", "2", "--out", out, "--param", "checkpoint_dir=x"),
                       "set it with --checkpoint-dir")
    _fails_cleanly(run("fit", data, "--n-clusters", "2", "--out", out, "--param", "batch_size=True"),
                       "batch_size is not a switch")
    # a DEC setting for an experiment that lists no deep method was ignored whatever its value
    _fails_cleanly(run("experiment", "table2", "--methods", "k-means", "--seeds", "0", "--out",
                           str(tmp_path / "e"), "--param", "tol=abc"), "'tol' parameter of DEC")
    (tmp_path / "afile").write_text("x")
    _fails_cleanly(run("experiment", "table2", "--methods", "k-means", "--seeds", "0", "--out",
                           str(tmp_path / "afile")), "is a file; give a folder")
    _fails_cleanly(run("demo", "--report", str(tmp_path / "nowhere" / "r.html")),
                       "does not exist; create it first")
