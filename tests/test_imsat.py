"""IMSAT's own tests (the battery in test_battery.py covers the contract): the radii, the
balance term, sparse input, the self-augmentation choices."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

from deepclust import IMSAT
from deepclust.data.batches import BatchSource
from deepclust.metrics import cluster_accuracy
from deepclust.nn.classifier import ClusterHead, frozen_batch_statistics
from deepclust.training.neighbors import kth_neighbor_distances

FAST = dict(hidden_dims=(32,), epochs=30, batch_size=32, device="cpu")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=240, centers=4, n_features=16, cluster_std=1.5, random_state=1)
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.fixture(scope="module")
def fits(blobs):
    """Three seeds of the small IMSAT on the blobs, shared."""
    return [IMSAT(4, random_state=seed, **FAST).fit(blobs[0]) for seed in range(3)]


def _brute_force(X: np.ndarray, k: int) -> np.ndarray:
    D = np.sqrt(((X[:, None, :].astype(np.float64) - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    return np.sort(D, axis=1)[:, k - 1]


def test_every_seed_uses_every_cluster_and_finds_the_blobs(fits, blobs):
    for model in fits:
        assert np.unique(model.labels_).size == 4  # the H(Y) term keeps every cluster in use
        assert model.history_[-1]["clusters_used"] == 4
        assert cluster_accuracy(blobs[1], model.labels_) > 0.9


def test_without_the_balance_term_clusters_can_go_unused(blobs):
    """mu = 0 leaves only H(Y|X), which one confident cluster minimises: the balance is mu's doing."""
    with pytest.warns(Warning, match="ended empty"):
        model = IMSAT(4, random_state=0, mu=0.0, lam=10.0, augment="affine", **FAST).fit(blobs[0])
    assert np.unique(model.labels_).size < 4


def test_predictions_are_the_softmax_and_the_score_is_mutual_information(fits, blobs):
    model, X = fits[0], blobs[0]
    q = model.predict_proba(X)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(model.predict(X), q.argmax(axis=1))
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert model.transform(X).shape == (len(X), 32)  # the last hidden layer
    assert 0.5 * np.log(4) < model.score(X) <= np.log(4) + 1e-6
    assert model.radius_["min"] > 0 and model.fit_times_.keys() == {"neighbors", "training", "labels"}


@pytest.mark.parametrize("kind", ["dense", "sparse", "memmap"])
def test_the_radii_are_the_exact_kth_neighbour_distances_in_any_block_size(kind, tmp_path):
    rng = np.random.RandomState(0)
    X = rng.rand(120, 12).astype(np.float32)
    X[7] = X[8]  # a duplicate is a neighbour at distance 0
    if kind == "sparse":
        X = X * (rng.rand(*X.shape) < 0.3)
        data = sp.csr_matrix(X)
    elif kind == "memmap":
        np.save(tmp_path / "X.npy", X)
        data = np.load(tmp_path / "X.npy", mmap_mode="r")
    else:
        data = X
    expected = _brute_force(X, 5)
    for block in (120 * 7, 120 * 1000):  # several blocks of rows, and one
        got = kth_neighbor_distances(BatchSource(data, CPU), 5, block_elements=block).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert kth_neighbor_distances(BatchSource(X[:3], CPU), 10).numpy() == pytest.approx(
        _brute_force(X[:3], 2))  # fewer rows than k: the farthest other one
    assert kth_neighbor_distances(BatchSource(X[:1], CPU), 10).tolist() == [0.0]


def test_sparse_input_is_never_densified_whole(blobs, monkeypatch):
    X = sp.csr_matrix(np.where(np.abs(blobs[0]) > 0.5, blobs[0], 0.0).astype(np.float32))
    widest = []
    toarray = sp.csr_matrix.toarray

    def recording(self, *args, **kwargs):
        widest.append(self.shape[0])
        return toarray(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", recording)
    # Blocks smaller than the data (a large matrix gets them by size; this small one is made to).
    monkeypatch.setattr("deepclust.training.neighbors._BLOCK_ELEMENTS", 50 * X.shape[0])
    monkeypatch.setattr("deepclust.methods.imsat.chunk_rows", lambda width: 50)
    model = IMSAT(4, random_state=0, **FAST).fit(X)
    monkeypatch.undo()
    assert widest and max(widest) <= 50
    dense = IMSAT(4, random_state=0, **FAST).fit(X.toarray())
    assert model.radius_ == pytest.approx(dense.radius_, rel=1e-5)
    assert (model.labels_ == dense.labels_).mean() > 0.95


def test_the_perturbed_passes_leave_batch_normalisation_statistics_alone():
    net = ClusterHead([5, 8, 3]).train()
    net(torch.randn(16, 5))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with frozen_batch_statistics(net):
        net(torch.randn(16, 5) * 10 + 3)
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    assert net.norms[0].momentum == 0.1


def test_affine_self_augmentation_needs_images(blobs):
    X = blobs[0]
    model = IMSAT(4, random_state=0, augment="vat+affine", **FAST).fit(X)  # 16 features: 4 x 4 images
    assert model.image_shape_ == (1, 4, 4) and np.unique(model.labels_).size == 4
    with pytest.raises(ValueError, match="rotates and shifts images"):
        IMSAT(4, augment="affine", **FAST).fit(X[:, :15])
    with pytest.raises(ValueError, match="image_shape"):
        IMSAT(4, augment="affine", image_shape=(3, 3), **FAST).fit(X)
    with pytest.raises(ValueError, match="hidden_dims"):
        IMSAT(4, hidden_dims=(0,), device="cpu").fit(X)


def test_max_iter_bounds_the_steps(blobs):
    model = IMSAT(4, random_state=0, max_iter=7, **FAST).fit(blobs[0])
    assert model.n_iter_ == 7
