"""The command line when things go wrong or take long: a damaged model file, Ctrl-C during a
fit, progress lines in a log, choosing k and a time budget on the user's own data."""

import json
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import deepclust

from .test_cli import SMALL, _fails_cleanly, run


def _blobs(tmp_path, n=120, d=4, k=3, name="X.npy"):
    rng = np.random.RandomState(0)
    X = rng.randn(n, d).astype(np.float32)
    X += 6 * np.repeat(np.eye(k, d, dtype=np.float32), -(-n // k), axis=0)[:n]
    np.save(tmp_path / name, X)
    return str(tmp_path / name)


def test_a_damaged_model_says_so_in_one_line_without_torchs_advice(tmp_path):
    data = _blobs(tmp_path)
    assert run("fit", data, "--n-clusters", "3", "--out", tmp_path / "m", *SMALL, "--snapshots", "0").returncode == 0
    model = tmp_path / "m" / "model.pt"
    whole = model.read_bytes()
    for damaged in (whole[: len(whole) // 2], b"", b"\x80\x02" + bytes(range(256)) * 4):
        model.write_bytes(damaged)
        result = run("predict", tmp_path / "m", data, "--out", tmp_path / "labels.csv")
        _fails_cleanly(result, "is not a loadable deepclust model file", "damaged", "Fit the model again")
        assert "weights_only" not in result.stderr and "file an issue" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_negative_count_of_clusters_asks_for_a_positive_integer(tmp_path):
    for k in ("-3", "0"):
        result = run("fit", _blobs(tmp_path), "--n-clusters", k, "--out", tmp_path / "m")
        assert result.returncode == 2 and "a positive integer" in result.stderr, result.stderr
        assert "0 or more" not in result.stderr


def test_load_accepts_the_folder_fit_wrote(tmp_path):
    data = _blobs(tmp_path)
    assert run("fit", data, "--n-clusters", "3", "--out", tmp_path / "m", *SMALL, "--snapshots", "0").returncode == 0
    model = deepclust.load(tmp_path / "m")
    assert np.array_equal(model.labels_, deepclust.load(tmp_path / "m" / "model.pt").labels_)
    with pytest.raises(FileNotFoundError, match="model.pt"):
        deepclust.load(tmp_path)


def test_a_fit_logs_its_phases_when_stderr_is_not_a_terminal(tmp_path):
    data = _blobs(tmp_path)
    result = run("fit", data, "--n-clusters", "3", "--out", tmp_path / "m", *SMALL, "--snapshots", "0")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("deepclust: ")]
    for phrase in ("pretraining started", "pretraining done in", "k-means done in", "clustering stopped"):
        assert sum(phrase in line for line in lines) == 1, result.stderr
    quiet = run("fit", data, "--n-clusters", "3", "--out", tmp_path / "q", *SMALL, "--snapshots", "0", "--quiet")
    assert quiet.returncode == 0 and "pretraining" not in quiet.stderr, quiet.stderr


def _start_fit(folder, *extra):
    """A real ``deepclust fit`` process, that clusters until stopped (tol 0, a huge max_iter)."""
    folder.mkdir()
    data = _blobs(folder, n=600, d=8, k=2)
    args = ["fit", data, "--n-clusters", "2", "--out", str(folder / "m"), "--pretrain", "end-to-end",
            "--param", "pretrain_epochs=10", "--param", "hidden_dims=(16,)", "--max-iter", "1000000",
            "--param", "tol=0", "--snapshots", "0", *extra]
    # `python -m deepclust ARGS`, with Ctrl-C's default handler: a shell starts a background job (a test
    # run launched with `&` from a script) with SIGINT ignored, which the child would inherit.
    launcher = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "sys.argv = ['deepclust', *sys.argv[1:]]; runpy.run_module('deepclust', run_name='__main__')")
    return args, subprocess.Popen([sys.executable, "-c", launcher, *map(str, args)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)


def _interrupt(process, checkpoint=None):
    """Send SIGINT once the clustering phase began (its progress line on stderr, a pipe, says so) and
    its first checkpoint exists; ``(exit status, stderr)``."""
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "k-means done" in line:
            break
    deadline = time.monotonic() + 5
    while checkpoint is not None and not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    return process.returncode, "".join(seen) + err


def test_ctrl_c_during_a_fit_is_one_line_with_the_command_that_resumes_it_or_a_hint(tmp_path):
    # two fits side by side: one keeping checkpoints, one not
    checkpoints = tmp_path / "kept" / "ckpt"
    args, kept = _start_fit(tmp_path / "kept", "--checkpoint-dir", str(checkpoints))
    _, lost = _start_fit(tmp_path / "lost")
    code, err = _interrupt(kept, checkpoints / "checkpoint.pt")
    assert code == 130 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("deepclust: interrupted") and "To continue: deepclust " in last, last
    assert shlex.split(last.split("To continue: deepclust ", 1)[1]) == [*args, "--resume"]
    assert (checkpoints / "checkpoint.pt").is_file()
    code, err = _interrupt(lost)
    assert code == 130 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("deepclust: interrupted; nothing was kept") and "--checkpoint-dir" in last, last


def test_fit_labels_out_writes_the_training_labels_and_read_like_reads_new_data_as_the_model(tmp_path):
    data = _blobs(tmp_path)
    labels = tmp_path / "train.csv"
    result = run("fit", data, "--n-clusters", "3", "--out", tmp_path / "m", *SMALL, "--snapshots", "0",
                 "--labels-out", labels)
    assert result.returncode == 0, result.stderr
    rows = labels.read_text().splitlines()
    assert rows[0] == "row,cluster,confidence" and len(rows) == 121
    model = deepclust.load(tmp_path / "m")
    written = np.array([int(r.split(",")[1]) for r in rows[1:]])
    assert np.array_equal(written, model.labels_)
    assert all(0 < float(r.split(",")[2]) <= 1 for r in rows[1:])
    X, y = deepclust.read_like(tmp_path / "m", data)
    assert y is None and np.array_equal(model.predict(X), model.labels_)
    # a folder of images is refused for a model fitted on a table
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.txt").write_text("words")
    with pytest.raises(ValueError, match="has no record of how a folder was read"):
        deepclust.read_like(tmp_path / "m", tmp_path / "photos")
    # --labels-out is checked before any training
    _fails_cleanly(run("fit", data, "--n-clusters", "3", "--out", tmp_path / "m2", "--labels-out",
                       tmp_path / "nowhere" / "l.csv"), "does not exist; create it first")
    assert not (tmp_path / "m2").exists()


TINY = ("--param", "hidden_dims=(16,)", "--param", "embedding_dim=2", "--param", "pretrain=end-to-end",
        "--param", "pretrain_epochs=20", "--max-iter", "10")


def test_select_k_prints_the_silhouettes_first_opinion_then_the_generalizability_and_writes_them(tmp_path):
    from deepclust.cli.select_k import _candidates

    assert _candidates(["2..4", "7,9"]) == [2, 3, 4, 7, 9] and _candidates(["3", "2"]) == [2, 3]
    for bad, phrase in ((["1..3"], "at least 2"), (["5..3"], "empty range"), (["a"], "give integers"),
                        (["4"], "at least two")):
        with pytest.raises(ValueError, match=phrase):
            _candidates(bad)
    data = _blobs(tmp_path, n=90)
    result = run("select-k", data, "--candidates", "2..3", *TINY, "--seed", "1", "--out", tmp_path / "k.json")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("a first opinion: the silhouette of AE + k-means")
    assert out.index("silhouette") < out.index("generalizability") < out.index("chosen: k = ")
    saved = json.loads((tmp_path / "k.json").read_text())
    assert [row["k"] for row in saved["table"]] == [2, 3] == [r["k"] for r in saved["first_opinion"]["table"]]
    assert saved["n_clusters"] in (2, 3) and f"chosen: k = {saved['n_clusters']} " in out
    assert all(-1 <= r["silhouette"] <= 1 for r in saved["first_opinion"]["table"])
    assert "pretraining started" not in result.stderr  # the fits of every k are not logged one by one
    _fails_cleanly(run("select-k", data, "--candidates", "2..3", "--out", tmp_path / "k.txt"), "give a .json")
    _fails_cleanly(run("select-k", data, "--candidates", "2..3", "--param", "n_clusters=3"),
                   "set it with --candidates")


def test_pretrain_epochs_sets_the_schedule_of_either_pretraining(tmp_path):
    data = _blobs(tmp_path)  # 120 rows: one batch of 256 an epoch
    small = ("--param", "hidden_dims=(16,)", "--param", "embedding_dim=2", "--max-iter", "5", "--snapshots", "0")
    assert run("fit", data, "--n-clusters", "3", "--out", tmp_path / "l", *small, "--pretrain-epochs", "3",
               "--param", "batch_size=64").returncode == 0
    schedule = deepclust.load(tmp_path / "l").layerwise_schedule_  # 2 batches an epoch
    assert (schedule["layer_iter"], schedule["finetune_iter"]) == (6, 36)
    assert run("fit", data, "--n-clusters", "3", "--out", tmp_path / "e", *small, "--pretrain-epochs", "4",
               "--pretrain", "end-to-end").returncode == 0
    assert deepclust.load(tmp_path / "e").pretrain_schedule_["n_iter"] == 4
    _fails_cleanly(run("fit", data, "--n-clusters", "3", "--out", tmp_path / "x", "--pretrain-epochs", "4",
                       "--param", "layerwise_iter=10"), "leave --param layerwise_iter out")


def test_a_time_budget_scales_the_methods_schedule_down_and_never_up(monkeypatch):
    from deepclust import DEC
    from deepclust.cli import budget

    X = np.zeros((10_000, 784), dtype=np.float32)
    monkeypatch.setattr(budget, "_measure", lambda est, X: (0.01, 0.002))  # 10 ms a step
    # layer-wise: 280 + 1680 pretraining steps (20 s) and 10,000 clustering iterations (70 s)
    layerwise = {"n_clusters": 10, "pretrain": "layerwise"}
    changed, plan = budget.plan_budget(DEC, layerwise, X, 600)
    assert changed == {"max_iter": 10_000} and plan.startswith("plan: the method's own schedule: 7 epochs a layer")
    changed, plan = budget.plan_budget(DEC, layerwise, X, 0.5)  # 30 s: a third of it
    assert (changed["layerwise_iter"], changed["finetune_iter"], changed["max_iter"]) == (93, 562, 3348)
    minutes = float(plan.split("about ")[1].split(" s ")[0]) / 60
    assert 0.4 <= minutes <= 0.55, plan
    # the default on 10,000 rows, end to end: 2,500 steps (62.5 epochs of 40 batches, 25 s)
    changed, plan = budget.plan_budget(DEC, {"n_clusters": 10}, X, 600)
    assert changed == {"max_iter": 10_000} and plan.startswith("plan: the method's own schedule: 62 epochs of end")
    changed, _ = budget.plan_budget(DEC, {"n_clusters": 10, "max_iter": 500}, X, 0.2)
    assert 1 <= changed["pretrain_epochs"] < 50 and changed["max_iter"] <= 500


def test_fit_prints_its_time_budgets_plan_before_training(tmp_path):
    data = _blobs(tmp_path)
    result = run("fit", data, "--n-clusters", "3", "--out", tmp_path / "m", *SMALL, "--snapshots", "0",
                 "--time-budget", "10")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("plan: the method's own schedule: 100 epochs of end-to-end pretraining, at most "
                            "20 clustering iterations: about "), first
    usage = run("fit", data, "--n-clusters", "3", "--out", tmp_path / "m", "--time-budget", "-1")
    assert usage.returncode == 2 and "not a positive number of minutes" in usage.stderr


def test_read_like_reads_a_new_folder_of_text_with_the_models_vocabulary(tmp_path):
    topics = ["goal team referee match", "bank shares profit market", "rain wind cloud storm"]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = np.random.RandomState(0)
    for i in range(60):
        (corpus / f"doc{i:02d}.txt").write_text(" ".join(rng.choice(topics[i % 3].split(), 12)))
    result = run("fit", corpus, "--n-clusters", "3", "--out", tmp_path / "m", *SMALL, "--snapshots", "0",
                 "--labels-out", tmp_path / "train.csv")
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "train.csv").read_text().splitlines()
    assert rows[0] == "row,cluster,confidence,file" and rows[1].endswith(",doc00.txt") and len(rows) == 61
    new = tmp_path / "new"
    new.mkdir()
    (new / "a.txt").write_text("goal goal team zzzunknown")
    (new / "b.txt").write_text("bank shares profit")
    X, y = deepclust.read_like(tmp_path / "m", new)
    model = deepclust.load(tmp_path / "m")
    assert X.shape == (2, model.n_features_in_) and y is None
    assert run("predict", tmp_path / "m", new, "--out", tmp_path / "n.csv").returncode == 0
    predicted = [int(r.split(",")[1]) for r in (tmp_path / "n.csv").read_text().splitlines()[1:]]
    assert predicted == model.predict(X).tolist()
