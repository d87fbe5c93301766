"""Awkward but valid data: duplicated points, constant features, features on very different
scales, tiny datasets, two clusters. Each fits sensibly or says what is wrong."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from deepclust import DEC
from deepclust.data.batches import BatchSource, data_moments, dominant_feature
from deepclust.datasets import load_digits
from deepclust.metrics import adjusted_rand_score

from .conftest import FAST, FAST_LAYERWISE


def test_empty_clusters_are_counted_and_reported():
    # Three distinct points, each repeated: five clusters cannot all be filled.
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(3, 6)), 40, axis=0).astype(np.float32)
    with pytest.warns(ConvergenceWarning, match="2 of the 5 clusters ended empty"):
        dec = DEC(n_clusters=5, random_state=0, **FAST).fit(X)
    assert np.count_nonzero(np.bincount(dec.labels_, minlength=5)) == 3
    assert all(entry["n_empty"] == 2 and entry["smallest"] == 0 for entry in dec.history_)
    # Identical points share a cluster (np.repeat keeps each point's copies together).
    assert all(len(set(row)) == 1 for row in dec.labels_.reshape(3, 40))


def test_no_empty_cluster_warning_when_every_cluster_is_used(blobs):
    X, _ = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        dec = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    assert all(entry["n_empty"] == 0 and entry["smallest"] > 0 for entry in dec.history_)


@pytest.mark.parametrize("params", [FAST, FAST_LAYERWISE], ids=["end-to-end", "layerwise"])
def test_constant_features_are_harmless(blobs, params):
    X, y = blobs
    Xc = np.c_[X, np.full(len(X), 5.0), np.zeros(len(X))].astype(np.float32)
    labels = DEC(n_clusters=3, random_state=0, **params).fit_predict(Xc)
    assert adjusted_rand_score(y, labels) > 0.9


def test_two_clusters_and_tiny_data(blobs):
    X, y = blobs
    two = (y == 0) | (y == 1)
    labels = DEC(n_clusters=2, random_state=0, **FAST).fit_predict(X[two])
    assert adjusted_rand_score(y[two], labels) > 0.9
    # As many samples as clusters: each its own cluster.
    dec = DEC(n_clusters=3, random_state=0, **FAST).fit(X[[0, 100, 200]])
    assert sorted(dec.labels_) == [0, 1, 2]
    # One sample, one cluster.
    assert DEC(n_clusters=1, random_state=0, **FAST).fit_predict(X[:1]).tolist() == [0]


def test_a_feature_on_a_much_larger_scale_warns(blobs):
    X, _ = blobs
    wild = X.copy()
    wild[:, 2] *= 1e4  # e.g. one column in grams, the others in kilograms
    with pytest.warns(RuntimeWarning, match="Feature 2 varies 1e\\+04 times more .* StandardScaler"):
        DEC(n_clusters=3, random_state=0, **FAST).fit(wild)


@pytest.mark.parametrize("data", ["blobs", "digits"])
def test_no_scale_warning_on_ordinary_data(blobs, data):
    X = blobs[0] if data == "blobs" else load_digits()[0]
    _, _, variances = data_moments(BatchSource(X, torch.device("cpu")))
    assert dominant_feature(variances) is None


def test_dominant_feature_rule():
    assert dominant_feature(torch.tensor([1.0, 1.0, 1e6], dtype=torch.float64)) == (2, 1e6)
    # A large share alone (few features, similar scales) or a large ratio alone is not enough.
    assert dominant_feature(torch.tensor([1.0, 3.0], dtype=torch.float64)) is None
    assert dominant_feature(torch.tensor([1e-6] * 50 + [1.0] * 50, dtype=torch.float64)) is None
    # Constant features are ignored; a single varying feature is not "dominant".
    assert dominant_feature(torch.tensor([0.0, 0.0, 5.0], dtype=torch.float64)) is None


def test_variances_survive_a_large_offset():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(500, 3))
    X = (1e8 + noise).astype(np.float64)
    X[:, 2] = 1e8 + 1e-2 * noise[:, 2]
    _, _, variances = data_moments(BatchSource(X, torch.device("cpu")))
    # float32 storage keeps ~8 significant digits of 1e8 (steps of 8): compare with what it holds.
    expected = X.astype(np.float32).astype(np.float64).var(axis=0)
    np.testing.assert_allclose(variances.numpy(), expected, rtol=1e-6)
