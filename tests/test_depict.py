"""DEPICT's own behaviour (the battery in test_battery.py covers the estimator contract): the
balanced targets, the head initialised from k-means, the network chosen for the data, clusters
on digits, and clear errors for an image shape that does not fit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_digits, make_blobs
from sklearn.preprocessing import StandardScaler

from deepclust import DEPICT
from deepclust.methods.depict import balanced_target
from deepclust.metrics import cluster_accuracy

# The default channels: narrower networks saturated the tanh embedding on digits (all points alike).
SMALL = dict(pretrain_epochs=10, n_init=3, max_iter=40, batch_size=64, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16).astype(np.float32), y[:400]


@pytest.fixture(scope="module")
def fitted(digits):
    return DEPICT(n_clusters=10, **SMALL).fit(digits[0])


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=120, centers=3, n_features=6, random_state=0)
    return StandardScaler().fit_transform(X).astype(np.float32)


def test_digits_are_clustered_better_than_chance_into_all_k_clusters(fitted, digits):
    X, y = digits
    assert fitted.image_shape_ == (1, 8, 8)  # 64 features: the convolutional network
    assert len(np.unique(fitted.labels_)) == 10
    assert cluster_accuracy(y, fitted.labels_) > 0.4  # chance is about 0.1-0.2
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    q = fitted.predict_proba(X)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-5)
    assert fitted.transform(X).shape == (400, 10) and np.abs(fitted.transform(X)).max() <= 1  # tanh
    assert set(fitted.fit_times_) == {"pretrain", "kmeans", "clustering"}
    assert fitted.history_[-1]["iteration"] == fitted.n_iter_ and len(fitted.pretrain_history_) == 10


def test_the_two_targets_are_the_codes_and_the_papers_and_both_balance():
    p = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.2, 0.8]])
    f = p.sum(dim=0)
    dec, sqrt = balanced_target(p, "dec"), balanced_target(p, "sqrt")
    torch.testing.assert_close(dec, (p ** 2 / f) / (p ** 2 / f).sum(1, keepdim=True))
    torch.testing.assert_close(sqrt, (p / f.sqrt()) / (p / f.sqrt()).sum(1, keepdim=True))
    # The large cluster 0 is divided by its size: its points lean towards cluster 1 ...
    assert bool((sqrt[:, 0] < p[:, 0]).all())
    # ... and DEC's square also sharpens the confident rows.
    assert dec[0, 0] > sqrt[0, 0]


def test_the_target_changes_the_fit_and_the_score(blobs):
    params = dict(hidden_dims=(16,), pretrain_epochs=20, n_init=2, max_iter=30, batch_size=32, lr=1e-3,
                  random_state=0, device="cpu")
    dec = DEPICT(n_clusters=3, **params).fit(blobs)
    sqrt = DEPICT(n_clusters=3, target="sqrt", **params).fit(blobs)
    assert dec.image_shape_ is None  # 6 features: the fully connected network
    assert dec.history_ != sqrt.history_
    assert dec.score(blobs) != sqrt.score(blobs) and np.isfinite(sqrt.score(blobs))


def test_the_head_starts_from_the_normalised_kmeans_centroids(digits, monkeypatch):
    found = []
    kmeans = DEPICT._kmeans

    def spy(self, z, seed):
        centers, labels = kmeans(self, z, seed)
        found.append((z.clone(), centers.clone()))
        return centers, labels

    monkeypatch.setattr(DEPICT, "_kmeans", spy)
    X = digits[0][:200]
    model = DEPICT(n_clusters=10, **{**SMALL, "pretrain_epochs": 2, "max_iter": 0}).fit(X)
    z, centers = found[0]
    torch.testing.assert_close(torch.as_tensor(model.transform(X)), z)  # k-means ran on the clean embedding
    head = model.network_.head
    torch.testing.assert_close(head.weight.detach(), centers / centers.norm(dim=1, keepdim=True))
    assert bool((head.bias == 0).all()) and model.n_iter_ == 0


def test_sparse_input_matches_dense(blobs):
    params = dict(hidden_dims=(8,), pretrain_epochs=3, n_init=1, max_iter=10, batch_size=32, random_state=0,
                  device="cpu")
    dense = DEPICT(n_clusters=3, **params).fit(blobs)
    sparse = DEPICT(n_clusters=3, **params).fit(sp.csr_matrix(blobs))
    np.testing.assert_array_equal(sparse.labels_, dense.labels_)
    np.testing.assert_allclose(sparse.predict_proba(sp.csr_matrix(blobs)), dense.predict_proba(blobs), rtol=1e-5)


@pytest.mark.parametrize("params, message", [
    (dict(image_shape=(1, 5, 5)), "holds 25 values but X has 64"),
    (dict(image_shape=(1, 2, 3, 4)), "must be \\(channels, height, width\\)"),
    (dict(image_shape=(1, 1, 64)), "too small for 2 convolutions"),
    (dict(channels=()), "channels=\\(\\) must be a non-empty"),
])
def test_a_bad_image_shape_gets_a_clear_error(digits, params, message):
    with pytest.raises(ValueError, match=message):
        DEPICT(n_clusters=10, **params).fit(digits[0][:50])


def test_conv_needs_images(blobs):
    with pytest.raises(ValueError, match="network='conv' needs images"):
        DEPICT(n_clusters=3, network="conv").fit(blobs)


def test_the_command_lines_time_budget_refuses_depict_in_one_line(blobs, tmp_path):
    from .test_cli import run

    np.save(tmp_path / "X.npy", blobs)
    fit = run("fit", tmp_path / "X.npy", "--method", "DEPICT", "--n-clusters", "3", "--out", tmp_path / "m",
              "--time-budget", "1")
    assert fit.returncode != 0 and "DEPICT has no plan yet" in fit.stderr and "Traceback" not in fit.stderr
