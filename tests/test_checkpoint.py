"""Checkpoints: atomic, refused for another fit, safe to load, and a resumed fit ends where an
uninterrupted one does, from any point of any phase."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepclust import DBC, DCN, DEC, IDEC
from deepclust.training.checkpoint import FILENAME, Checkpointer

from .conftest import FAST, FAST_LAYERWISE

# Short schedules that still cross every kind of checkpoint: mid-stage and stage boundaries in
# pretraining, the start, middle and end of the clustering phase. tol=0 runs to max_iter.
LAYERWISE = {**FAST_LAYERWISE, "layerwise_iter": 30, "finetune_iter": 40, "max_iter": 90,
             "update_interval": 20, "tol": 0.0, "checkpoint_every": 25}
END_TO_END = {**FAST, "pretrain_epochs": 6, "max_iter": 90, "update_interval": 20, "tol": 0.0,
              "checkpoint_every": 25}


def _fit(X, directory=None, **params):
    return DEC(n_clusters=3, random_state=0, device="cpu", checkpoint_dir=directory, **params).fit(X)


def _same_fit(a, b):
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.n_iter_ == b.n_iter_
    def timeless(history):  # wall time is the one thing a resumed fit does not repeat
        return json.dumps([{k: v for k, v in h.items() if k != "seconds"} for h in history])

    assert timeless(a.history_) == timeless(b.history_)  # NaN-safe equality
    assert a.pretrain_history_ == b.pretrain_history_


def _position(path):
    return json.loads(torch.load(path, weights_only=True)["position"])


@pytest.mark.parametrize("params", [LAYERWISE, END_TO_END], ids=["layerwise", "end-to-end"])
def test_resuming_from_any_checkpoint_ends_like_an_uninterrupted_fit(blobs, tmp_path, every_checkpoint,
                                                                       params):
    X, _ = blobs
    plain = _fit(X, **params)
    checkpointed = _fit(X, tmp_path / "run", **params)
    _same_fit(plain, checkpointed)  # checkpointing does not change the fit
    copies = list(every_checkpoint)
    positions = [_position(c) for c in copies]
    phases = {(p["phase"], p["iteration"] > 0) for p in positions}
    # Mid-stage and boundary checkpoints in both phases were written.
    assert phases == {("pretrain", True), ("pretrain", False), ("clustering", True), ("clustering", False)}
    assert (tmp_path / "run" / FILENAME).read_bytes() == copies[-1].read_bytes()
    for i, copy in enumerate(copies):
        directory = tmp_path / f"resume{i}"
        directory.mkdir()
        shutil.copyfile(copy, directory / FILENAME)
        _same_fit(plain, _fit(X, directory, **params))


def test_sparse_and_frozen_encoder_resume(blobs, tmp_path, every_checkpoint):
    X, _ = blobs
    X = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0))
    params = {**END_TO_END, "freeze_encoder": True}
    plain = _fit(X, **params)
    _fit(X, tmp_path / "run", **params)
    middle = every_checkpoint[len(every_checkpoint) // 2]
    shutil.copyfile(middle, tmp_path / FILENAME)
    _same_fit(plain, _fit(X, tmp_path, **params))


def test_a_finished_checkpoint_rebuilds_the_model_without_training(blobs, tmp_path):
    X, _ = blobs
    first = _fit(X, tmp_path, **END_TO_END)
    before = (tmp_path / FILENAME).read_bytes()
    again = _fit(X, tmp_path, **END_TO_END)
    _same_fit(first, again)
    np.testing.assert_array_equal(first.predict(X), again.predict(X))
    assert again.fit_times_["pretrain"] < first.fit_times_["pretrain"]
    assert (tmp_path / FILENAME).read_bytes() == before


def test_verbose_and_checkpoint_interval_may_change(blobs, tmp_path, every_checkpoint):
    X, _ = blobs
    plain = _fit(X, **END_TO_END)
    _fit(X, tmp_path / "run", **END_TO_END)
    shutil.copyfile(every_checkpoint[3], tmp_path / FILENAME)
    _same_fit(plain, _fit(X, tmp_path, **{**END_TO_END, "checkpoint_every": 7, "verbose": False}))


@pytest.mark.parametrize("change, message", [
    ({"n_clusters": 4}, "n_clusters=3 there, 4 here"),
    ({"lr": 0.02}, "lr=0.01 there, 0.02 here"),
    ({"data": True}, "the data differ"),
])
def test_a_checkpoint_of_another_fit_is_refused(blobs, tmp_path, change, message):
    X, _ = blobs
    _fit(X, tmp_path, **END_TO_END)
    before = (tmp_path / FILENAME).read_bytes()
    params = {**END_TO_END, "n_clusters": 3}
    params.update({k: v for k, v in change.items() if k != "data"})
    if "data" in change:
        X = X.copy()
        X[0, 0] += 1.0
    with pytest.raises(ValueError, match=message) as info:
        DEC(random_state=0, device="cpu", checkpoint_dir=tmp_path, **params).fit(X)
    assert "another (or an empty) checkpoint_dir" in str(info.value)
    assert (tmp_path / FILENAME).read_bytes() == before  # left as it was


class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(blobs, tmp_path):
    X, _ = blobs
    marker = tmp_path / "pwned"
    (tmp_path / "ckpt").mkdir()
    with open(tmp_path / "ckpt" / FILENAME, "wb") as fh:
        pickle.dump({"format": "deepclust-checkpoint", "payload": _RunsCode(marker)}, fh, protocol=2)
    with pytest.raises(ValueError, match="not a loadable deepclust checkpoint"):
        _fit(X, tmp_path / "ckpt", **END_TO_END)
    assert not marker.exists()


def test_truncated_and_foreign_checkpoints_give_clear_errors(blobs, tmp_path):
    X, _ = blobs
    _fit(X, tmp_path / "run", **END_TO_END)
    data = (tmp_path / "run" / FILENAME).read_bytes()
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / FILENAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupted, truncated"):
        _fit(X, tmp_path / "cut", **END_TO_END)
    (tmp_path / "other").mkdir()
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other" / FILENAME)
    with pytest.raises(ValueError, match="is not a deepclust checkpoint"):
        _fit(X, tmp_path / "other", **END_TO_END)


def test_no_temporary_files_are_left_behind(blobs, tmp_path):
    X, _ = blobs
    _fit(X, tmp_path, **LAYERWISE)
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME]


def test_checkpoint_settings_are_validated(blobs, tmp_path):
    X, _ = blobs
    with pytest.raises(ValueError, match="checkpoint_every"):
        DEC(n_clusters=3, checkpoint_every=0, checkpoint_dir=tmp_path, **FAST).fit(X)
    with pytest.raises((TypeError, ValueError), match="checkpoint_dir"):
        DEC(n_clusters=3, checkpoint_dir=5, **FAST).fit(X)


_KILLED_FIT = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    from deepclust import DEC
    torch.set_num_threads(1)
    X = np.load(sys.argv[1])
    params = dict({params})
    labels = DEC(n_clusters=3, random_state=0, device="cpu", checkpoint_dir=sys.argv[2], **params).fit(X)
""")


def test_a_fit_killed_mid_clustering_resumes_to_the_same_labels(blobs, tmp_path):
    """Fault injection: SIGKILL a real fit in a subprocess once it is inside the clustering
    phase, then resume from its directory."""
    X, _ = blobs
    params = {**END_TO_END, "max_iter": 1500, "checkpoint_every": 100}
    np.save(tmp_path / "X.npy", X)
    script = tmp_path / "fit.py"
    script.write_text(_KILLED_FIT.format(params=params))
    directory = tmp_path / "ckpt"
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "X.npy"), str(directory)])
    killed_at = None
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if (directory / FILENAME).exists():
                position = _position(directory / FILENAME)
                if (position["phase"] == "clustering" and 300 <= position["iteration"]
                        < params["max_iter"]):
                    proc.send_signal(signal.SIGKILL)
                    killed_at = position["iteration"]
                    break
            time.sleep(0.02)
    finally:
        if proc.poll() is None and killed_at is None:
            proc.kill()
        proc.wait()
    assert killed_at is not None, "the fit ended before it could be killed mid-clustering"
    assert proc.returncode == -signal.SIGKILL
    # The file is always a complete checkpoint: the kill left the last good one, mid-clustering.
    checkpoint = torch.load(directory / FILENAME, weights_only=True)
    position = json.loads(checkpoint["position"])
    assert position["phase"] == "clustering" and position["iteration"] < params["max_iter"]
    assert not checkpoint["loop"]["finished"]
    assert sorted(p.name for p in directory.iterdir() if not p.name.startswith(".")) == [FILENAME]

    resumed = _fit(X, directory, **params)
    assert resumed.fit_times_["pretrain"] < 1.0  # pretraining was not redone
    _same_fit(_fit(X, **params), resumed)


def test_divergence_names_phase_and_iterations_and_keeps_the_last_good_checkpoint(blobs, tmp_path):
    X, _ = blobs
    # At this rate the layers train but fine-tuning diverges.
    params = {**LAYERWISE, "layerwise_lr": 0.2, "checkpoint_every": 5}
    with pytest.raises(FloatingPointError,
                       match=r"fine-tune: the reconstruction loss became (nan|inf) at iterations? "
                             r"\d+( to \d+)? of 40\. .*lower the learning rate"):
        _fit(X, tmp_path, **params)
    checkpoint = torch.load(tmp_path / FILENAME, weights_only=True)
    position = json.loads(checkpoint["position"])
    assert position["phase"] == "pretrain" and position["stage"] == 2  # inside fine-tuning
    assert all(bool(torch.isfinite(v).all()) for v in checkpoint["model"].values())


def test_an_unusable_checkpoint_dir_fails_before_training(blobs, tmp_path):
    X, _ = blobs
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(OSError, match="cannot hold checkpoints"):
        _fit(X, not_a_dir, **END_TO_END)


def test_a_resumed_fit_can_be_interrupted_and_resumed_again(blobs, tmp_path, every_checkpoint):
    X, _ = blobs
    plain = _fit(X, **LAYERWISE)
    _fit(X, tmp_path / "run", **LAYERWISE)
    first_run = len(every_checkpoint)
    # Resume from mid-pretraining; the resumed fit writes checkpoints of its own.
    mid_pretraining = next(c for c in every_checkpoint if _position(c)["phase"] == "pretrain"
                           and _position(c)["iteration"] > 0)
    (tmp_path / "second").mkdir()
    shutil.copyfile(mid_pretraining, tmp_path / "second" / FILENAME)
    _same_fit(plain, _fit(X, tmp_path / "second", **LAYERWISE))
    # Interrupt that resumed fit mid-clustering (one of its own checkpoints) and resume again.
    own = every_checkpoint[first_run:]
    mid_clustering = next(c for c in own if _position(c)["phase"] == "clustering"
                          and _position(c)["iteration"] > 0)
    (tmp_path / "third").mkdir()
    shutil.copyfile(mid_clustering, tmp_path / "third" / FILENAME)
    _same_fit(plain, _fit(X, tmp_path / "third", **LAYERWISE))
    # And a finished checkpoint written by a resumed fit rebuilds the model too.
    _same_fit(plain, _fit(X, tmp_path / "third", **LAYERWISE))


def test_rebuilding_a_frozen_encoder_fit_leaves_the_network_trainable(blobs, tmp_path):
    X, _ = blobs
    params = {**END_TO_END, "freeze_encoder": True}
    _fit(X, tmp_path, **params)
    rebuilt = _fit(X, tmp_path, **params)
    assert all(p.requires_grad for p in rebuilt.autoencoder_.parameters())


def test_unsorted_sparse_input_is_not_modified_by_the_fingerprint(blobs, tmp_path):
    X, _ = blobs
    dense = np.where(np.abs(X) > 0.5, X, 0).astype(np.float64)
    # Columns permuted through the index arrays: a CSR matrix with unsorted indices.
    perm = np.random.default_rng(0).permutation(X.shape[1])
    unsorted = sp.csr_matrix(dense[:, np.argsort(perm)])[:, perm]
    assert not unsorted.has_sorted_indices
    before = unsorted.toarray()
    plain = _fit(sp.csr_matrix(dense), **END_TO_END)
    checkpointed = _fit(unsorted, tmp_path, **END_TO_END)
    np.testing.assert_array_equal(unsorted.toarray(), before)
    np.testing.assert_array_equal(before, dense)
    np.testing.assert_array_equal(plain.labels_, checkpointed.labels_)


def test_numpy_scalar_settings_checkpoint(blobs, tmp_path):
    X, _ = blobs
    params = {**END_TO_END, "hidden_dims": (np.int64(32),), "lr": np.float64(0.01)}
    first = DEC(n_clusters=np.int64(3), random_state=0, checkpoint_dir=tmp_path, **params).fit(X)
    again = DEC(n_clusters=3, random_state=0, checkpoint_dir=tmp_path, **params).fit(X)
    _same_fit(first, again)


def test_a_non_finite_state_is_never_checkpointed(blobs, tmp_path):
    X, _ = blobs
    dec = _fit(X, tmp_path, **END_TO_END)
    before = (tmp_path / FILENAME).read_bytes()
    checkpointer = Checkpointer(tmp_path, 10, {"x": 1}, torch.Generator(), torch.device("cpu"))
    checkpointer.model = dec.autoencoder_
    with torch.no_grad():
        next(dec.autoencoder_.parameters())[0, 0] = float("nan")
    assert checkpointer.save("clustering", 0, 5, {"centers": torch.zeros(3, 3)}) is False
    assert (tmp_path / FILENAME).read_bytes() == before
    with torch.no_grad():
        next(dec.autoencoder_.parameters())[0, 0] = 0.0
    assert checkpointer.save("clustering", 0, 5, {"centers": torch.full((3, 3), float("inf"))}) is False
    assert (tmp_path / FILENAME).read_bytes() == before


@pytest.mark.parametrize("estimator", [IDEC, DCN, DBC])
def test_other_methods_resume_from_any_clustering_checkpoint(blobs, tmp_path, every_checkpoint,
                                                            estimator):
    # IDEC's checkpoints hold a trained decoder and Adam's state, DCN's its centroid counts,
    # DBC's a convolutional network.
    X, _ = blobs
    params = dict(END_TO_END)
    if estimator is DBC:
        del params["hidden_dims"]
        params["channels"] = (4, 8)

    def fit(directory=None):
        return estimator(n_clusters=3, random_state=0, device="cpu", checkpoint_dir=directory,
                         **params).fit(X)

    plain = fit()
    fit(tmp_path / "run")
    clustering = [c for c in every_checkpoint if _position(c)["phase"] == "clustering"]
    assert len(clustering) >= 3
    for i, copy in enumerate(clustering):
        directory = tmp_path / f"resume{i}"
        directory.mkdir()
        shutil.copyfile(copy, directory / FILENAME)
        resumed = fit(directory)
        _same_fit(plain, resumed)
        for a, b in zip(plain.autoencoder_.parameters(), resumed.autoencoder_.parameters()):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        if estimator is DCN:
            np.testing.assert_array_equal(plain.cluster_counts_, resumed.cluster_counts_)
