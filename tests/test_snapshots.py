"""Embedding snapshots recorded during the clustering phase (the paper's Figure 5)."""

import shutil

import numpy as np
import pytest

import deepclust
from deepclust import DEC
from deepclust.training.checkpoint import FILENAME

from .conftest import FAST
from .test_checkpoint import END_TO_END, _position


def test_snapshots_follow_the_target_updates(blobs):
    X, _ = blobs
    dec = DEC(n_clusters=3, random_state=0, snapshot_size=50, **FAST).fit(X)
    assert dec.snapshot_indices_.shape == (50,)
    assert np.all(np.diff(dec.snapshot_indices_) > 0) and dec.snapshot_indices_.max() < len(X)
    assert [s["iteration"] for s in dec.embedding_snapshots_] == [h["iteration"] for h in dec.history_]
    for snap in dec.embedding_snapshots_:
        assert snap["embedding"].shape == (50, FAST["embedding_dim"])
        assert snap["centers"].shape == (3, FAST["embedding_dim"])
    first, last = dec.embedding_snapshots_[0], dec.embedding_snapshots_[-1]
    assert not np.allclose(first["embedding"], last["embedding"])  # the encoder moved
    # The last snapshot is the final model's embedding of those rows, with its centroids.
    np.testing.assert_allclose(last["embedding"], dec.transform(X[dec.snapshot_indices_]),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(last["centers"], dec.cluster_centers_)


def test_recording_changes_nothing_else(blobs):
    X, _ = blobs
    plain = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    recorded = DEC(n_clusters=3, random_state=0, snapshot_size=1000, **FAST).fit(X)
    assert plain.embedding_snapshots_ == [] and plain.snapshot_indices_.shape == (0,)
    assert recorded.snapshot_indices_.shape == (len(X),)  # capped at n_samples
    np.testing.assert_array_equal(plain.labels_, recorded.labels_)
    np.testing.assert_array_equal(plain.cluster_centers_, recorded.cluster_centers_)


def test_snapshots_are_saved_and_loaded(blobs, tmp_path):
    X, _ = blobs
    dec = DEC(n_clusters=3, random_state=0, snapshot_size=20, **FAST).fit(X)
    dec.save(tmp_path / "m.pt")
    loaded = deepclust.load(tmp_path / "m.pt")
    np.testing.assert_array_equal(loaded.snapshot_indices_, dec.snapshot_indices_)
    assert len(loaded.embedding_snapshots_) == len(dec.embedding_snapshots_)
    for a, b in zip(loaded.embedding_snapshots_, dec.embedding_snapshots_):
        assert a["iteration"] == b["iteration"]
        np.testing.assert_array_equal(a["embedding"], b["embedding"])
        np.testing.assert_array_equal(a["centers"], b["centers"])
    plain = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    plain.save(tmp_path / "p.pt")
    assert deepclust.load(tmp_path / "p.pt").embedding_snapshots_ == []


def test_a_resumed_fit_has_the_uninterrupted_snapshots(blobs, tmp_path, every_checkpoint):
    X, _ = blobs
    settings = dict(n_clusters=3, random_state=0, snapshot_size=30, **END_TO_END)
    whole = DEC(**settings).fit(X)
    DEC(checkpoint_dir=tmp_path / "run", **settings).fit(X)
    mid_clustering = [c for c in every_checkpoint
                      if _position(c)["phase"] == "clustering" and _position(c)["iteration"] > 0]
    assert mid_clustering
    for i, copy in enumerate(mid_clustering):
        directory = tmp_path / f"resume{i}"
        directory.mkdir()
        shutil.copyfile(copy, directory / FILENAME)
        resumed = DEC(checkpoint_dir=directory, **settings).fit(X)
        assert len(resumed.embedding_snapshots_) == len(whole.embedding_snapshots_)
        for a, b in zip(resumed.embedding_snapshots_, whole.embedding_snapshots_):
            assert a["iteration"] == b["iteration"]
            np.testing.assert_array_equal(a["embedding"], b["embedding"])
            np.testing.assert_array_equal(a["centers"], b["centers"])


def test_a_resumed_unseeded_fit_keeps_the_rows_it_recorded(blobs, tmp_path, every_checkpoint):
    """random_state=None draws new rows each fit: a resumed one must keep the interrupted fit's."""
    X, _ = blobs
    settings = dict(n_clusters=3, random_state=None, snapshot_size=30, **END_TO_END)
    first = DEC(checkpoint_dir=tmp_path / "run", **settings).fit(X)
    middle = next(c for c in every_checkpoint
                  if _position(c)["phase"] == "clustering" and _position(c)["iteration"] > 0)
    (tmp_path / "resume").mkdir()
    shutil.copyfile(middle, tmp_path / "resume" / FILENAME)
    resumed = DEC(checkpoint_dir=tmp_path / "resume", **settings).fit(X)
    np.testing.assert_array_equal(resumed.snapshot_indices_, first.snapshot_indices_)
    np.testing.assert_allclose(resumed.embedding_snapshots_[-1]["embedding"],
                               resumed.transform(X[resumed.snapshot_indices_]), rtol=1e-5, atol=1e-5)


def test_model_files_written_before_snapshots_and_precision_still_load(blobs, tmp_path):
    import json

    import torch

    X, _ = blobs
    dec = DEC(n_clusters=3, random_state=0, snapshot_size=20, **FAST).fit(X)
    dec.save(tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    for key in ("snapshot_indices_", "snapshot_iteration", "snapshot_embedding", "snapshot_centers"):
        del payload["arrays"][key]
    config = json.loads(payload["config"])
    del config["attributes"]["precision_"], config["params"]["precision"], config["params"]["snapshot_size"]
    payload["config"] = json.dumps(config)
    torch.save(payload, tmp_path / "old.pt")
    old = deepclust.load(tmp_path / "old.pt")
    assert old.embedding_snapshots_ == [] and old.snapshot_indices_.shape == (0,)
    assert old.precision == "auto" and not hasattr(old, "precision_")
    np.testing.assert_array_equal(old.predict(X), dec.predict(X))
    # A file whose snapshot arrays disagree with the model is refused as damaged.
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["arrays"]["snapshot_indices_"] = payload["arrays"]["snapshot_indices_"][:5]
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="damaged.*snapshots"):
        deepclust.load(tmp_path / "bad.pt")
