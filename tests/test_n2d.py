"""N2D and the manifold step it shares with the centroid methods' init="manifold".

The battery (test_battery.py) gives N2D the estimator contract's tests; these are its own: the
manifold step clusters a nonlinear dataset that k-means cannot, new points land where the
training points did, the mixture's posterior matches scikit-learn's, and the extra is named when
umap-learn is missing. Most tests share one model fitted on two concentric circles through an
identity autoencoder (the manifold step on the data itself, no pretraining to pay for).
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_circles
from sklearn.mixture import GaussianMixture

import deepclust
from deepclust import DEC, N2D
from deepclust.metrics import cluster_accuracy
from deepclust.nn.autoencoder import Autoencoder
from deepclust.training.checkpoint import FILENAME
from deepclust.training.manifold import compile_umap, gmm_log_prob, membership, place

from .test_cli import run


@pytest.fixture(scope="module")
def circles():
    X, y = make_circles(300, factor=0.4, noise=0.05, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def identity():
    """An autoencoder whose embedding is its input: N2D is then UMAP and the mixture on X."""
    ae = Autoencoder((2, 2))
    with torch.no_grad():
        for layer in (ae.encoder[0], ae.decoder[0]):
            layer.weight.copy_(torch.eye(2))
            layer.bias.zero_()
    return ae


@pytest.fixture(scope="module")
def fitted(circles, identity):
    return N2D(2, autoencoder=identity, umap_epochs=100, random_state=0, device="cpu").fit(circles[0])


def test_the_identity_autoencoder_embeds_x_as_is(circles, fitted):
    np.testing.assert_allclose(fitted.embedding_, circles[0], atol=1e-6)


def test_n2d_separates_the_circles_that_kmeans_cuts(circles, fitted):
    X, y = circles
    kmeans = cluster_accuracy(y, KMeans(2, n_init=3, random_state=0).fit(X).labels_)
    assert cluster_accuracy(y, fitted.labels_) >= max(kmeans, 0.95)
    assert set(fitted.fit_times_) == {"pretrain", "umap", "gmm"}


def test_predict_on_the_training_points_agrees_with_labels(circles, fitted):
    assert np.mean(fitted.predict(circles[0]) == fitted.labels_) >= 0.95
    assert fitted.transform(circles[0]).shape == (300, 2)


def test_a_saved_model_predicts_exactly_the_same(circles, fitted, tmp_path):
    fitted.save(tmp_path / "n2d.pt")
    loaded = deepclust.load(tmp_path / "n2d.pt", device="cpu")
    X = circles[0][::7] + 0.1  # new points
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded.score(X) == fitted.score(X)


def test_sparse_input_matches_dense(circles, fitted):
    X = circles[0][:50]
    np.testing.assert_array_equal(fitted.predict_proba(sp.csr_matrix(X)), fitted.predict_proba(X))


def test_every_cluster_is_used_on_blobs(blobs):
    X, _ = blobs
    model = N2D(4, **N2D._test_params, random_state=0, device="cpu").fit(X)
    assert np.bincount(model.labels_, minlength=4).min() > 0
    assert np.bincount(model.predict(X), minlength=4).min() > 0


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_the_mixture_posterior_is_scikit_learns(covariance_type):
    u = np.random.RandomState(0).normal(size=(120, 3)) + np.repeat(np.eye(3) * 4, 40, axis=0)
    gmm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(u)
    full = {"full": lambda c: c, "tied": lambda c: np.broadcast_to(c, (3, 3, 3)),
            "diag": lambda c: c[:, :, None] * np.eye(3),
            "spherical": lambda c: c[:, None, None] * np.eye(3)}[covariance_type](gmm.covariances_)
    log_prob = gmm_log_prob(torch.from_numpy(u), gmm.weights_, gmm.means_, full)
    np.testing.assert_allclose(torch.logsumexp(log_prob, 1).numpy(), gmm.score_samples(u), rtol=1e-9)
    np.testing.assert_allclose(torch.softmax(log_prob, 1).numpy(), gmm.predict_proba(u), atol=1e-9)


def test_memberships_sum_to_log2_k_and_a_coinciding_point_lands_near_its_twin():
    d = torch.tensor([[0.5, 1.0, 2.0, 4.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    np.testing.assert_allclose(membership(d).sum(1).numpy(), [2.0, 2.0], rtol=1e-6)
    train_z = torch.tensor([[0.0, 0.0], [10.0, 0.0], [10.0, 1.0], [11.0, 0.0]])
    train_u = torch.tensor([[0.0], [5.0], [5.0], [5.0]])
    placed = place(train_z[:2], train_z, train_u, n_neighbors=2)
    assert placed[0, 0] < 1.0 and placed[1, 0] == pytest.approx(5.0)


def test_a_missing_umap_names_the_extra(circles, identity, monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap raises ImportError
    with pytest.raises(ImportError, match=r'pip install "deepclust\[umap\]"'):
        N2D(2, autoencoder=identity, device="cpu").fit(circles[0])
    with pytest.raises(ImportError, match=r'pip install "deepclust\[umap\]"'):
        DEC(2, autoencoder=identity, init="manifold", device="cpu").fit(circles[0])
    DEC(2, autoencoder=identity, max_iter=0, n_init=1, device="cpu").fit(circles[0])  # k-means needs no umap
    assert compile_umap() is False  # scripts/test's set-up step does nothing without the extra


def test_compile_umap_runs_umap_once(fitted):
    assert compile_umap() is True  # scripts/test's set-up step (the fixture compiled UMAP in this process)


def test_init_manifold_starts_dec_from_n2d_clusters(circles, identity, fitted):
    X, y = circles
    kmeans, manifold = (DEC(2, autoencoder=identity, init=init, max_iter=0, n_init=3, random_state=0,
                            device="cpu").fit(X) for init in ("kmeans", "manifold"))
    # The centroids are the means of the mixture's clusters: the circles', which N2D separates (both
    # near the origin), not k-means' two half-planes.
    assert cluster_accuracy(y, fitted.labels_) == 1.0
    means = np.stack([X[y == j].mean(0) for j in range(2)])
    gaps = np.linalg.norm(manifold.cluster_centers_[:, None] - means[None], axis=2).min(axis=1)
    np.testing.assert_allclose(gaps, 0, atol=1e-5)
    assert np.linalg.norm(kmeans.cluster_centers_[0] - kmeans.cluster_centers_[1]) > 0.5
    with pytest.raises(ValueError, match="init"):
        DEC(2, init="spectral").fit(X)


def test_init_manifold_resumes_to_the_same_labels(circles, identity, tmp_path, every_checkpoint):
    X = circles[0]
    params = dict(autoencoder=identity, init="manifold", max_iter=60, update_interval=5, checkpoint_every=5,
                  random_state=0, device="cpu")
    whole = DEC(2, **params, checkpoint_dir=tmp_path / "run").fit(X)
    (tmp_path / "resume").mkdir()
    shutil.copyfile(every_checkpoint[len(every_checkpoint) // 2], tmp_path / "resume" / FILENAME)
    resumed = DEC(2, **params, checkpoint_dir=tmp_path / "resume").fit(X)
    np.testing.assert_array_equal(resumed.labels_, whole.labels_)
    np.testing.assert_array_equal(resumed.cluster_centers_, whole.cluster_centers_)



def test_the_command_line_refuses_a_time_budget_for_n2d(circles, tmp_path):
    np.save(tmp_path / "X.npy", circles[0])
    fit = run("fit", tmp_path / "X.npy", "--method", "N2D", "--n-clusters", "2", "--out", tmp_path / "m",
              "--time-budget", "1")
    assert fit.returncode != 0 and "--pretrain-epochs instead" in fit.stderr


def test_umap_leaves_pytorchs_thread_count_as_it_was(fitted):
    # conftest runs PyTorch in one thread; numba's OpenMP layer may share PyTorch's OpenMP runtime,
    # and its first parallel loop set the runtime's thread count to numba's.
    assert torch.get_num_threads() == 1
