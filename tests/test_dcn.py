"""DCN: the k-means term and running-average centroids on the shared loop."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

import deepclust
from deepclust import DCN, DEC
from deepclust.methods.dcn import _PRIOR_COUNT

from .conftest import FAST


def test_dcn_clusters_and_round_trips(blobs, tmp_path):
    X, y = blobs
    model = DCN(n_clusters=3, random_state=0, **FAST).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.9
    assert not hasattr(model, "predict_proba")  # hard assignments only
    # Each step's rows were counted once, on top of each centroid's prior: 240 rows are 7
    # batches of 32 and one of 16 per epoch.
    epochs, steps = divmod(model.n_iter_, 8)
    assert model.n_iter_ > 0
    assert model.cluster_counts_.sum() == 3 * _PRIOR_COUNT + 240 * epochs + 32 * steps
    # labels_ are the nearest centroids of the final embedding.
    z = model.transform(X)
    nearest = ((z[:, None, :] - model.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(model.labels_, nearest)
    np.testing.assert_array_equal(model.predict(X), nearest)
    assert model.score(X) == pytest.approx(
        -0.5 * ((z - model.cluster_centers_[nearest]) ** 2).sum(1).mean(), rel=1e-4)
    model.save(tmp_path / "dcn.pt")
    loaded = deepclust.load(tmp_path / "dcn.pt")
    assert type(loaded) is DCN and loaded.clustering_weight == model.clustering_weight
    np.testing.assert_array_equal(loaded.cluster_counts_, model.cluster_counts_)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_centroid_update_is_the_papers_sequential_running_mean():
    rng = np.random.default_rng(0)
    z = torch.as_tensor(rng.normal(size=(50, 4)), dtype=torch.float32)
    centers = torch.nn.Parameter(torch.as_tensor(rng.normal(size=(3, 4)), dtype=torch.float32),
                                 requires_grad=False)
    model = DCN(n_clusters=3)
    model._start_clustering(centers)
    expected, counts = centers.detach().clone(), torch.full((3,), _PRIOR_COUNT)
    nearest = ((z[:, None] - expected[None]) ** 2).sum(-1).argmin(1)  # assigned before moving
    for i, k in enumerate(nearest.tolist()):  # eq. 11, one point at a time
        counts[k] += 1
        expected[k] -= (expected[k] - z[i]) / counts[k]
    model._after_step(z, centers)
    torch.testing.assert_close(centers.detach(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model._counts, counts)


def test_the_k_means_term_tightens_the_clusters_in_proportion_to_its_weight(blobs):
    X, _ = blobs
    params = dict(n_clusters=3, random_state=0, lr=1e-3, **{**FAST, "max_iter": 300, "tol": 0.0})

    def kmeans_cost_ratio(Z):  # within-cluster over total sum of squares: lower is tighter
        inertia = KMeans(3, n_init=5, random_state=0).fit(Z).inertia_
        return inertia / ((Z - Z.mean(0)) ** 2).sum()

    pretrained = DEC(**{**params, "max_iter": 0}).fit(X).autoencoder_
    ratios = [kmeans_cost_ratio(DCN(**params, autoencoder=pretrained, clustering_weight=w)
                                .fit(X).transform(X)) for w in (0.05, 1.0, 10.0)]
    # Measured: 0.112, 0.052, 0.011 (the reconstruction term alone spreads the clusters).
    assert ratios[0] > ratios[1] > ratios[2] and ratios[2] < 0.5 * ratios[0]


@pytest.mark.parametrize("bad, match", [({"clustering_weight": 0}, "clustering_weight"),
                                        ({"clustering_weight": 1e39}, "clustering_weight"),
                                        ({"optimizer": "lbfgs"}, "optimizer"),
                                        ({"tol": 2}, "tol")])
def test_dcn_refuses_bad_parameters(blobs, bad, match):
    with pytest.raises(ValueError, match=match):
        DCN(n_clusters=3, **FAST, **bad).fit(blobs[0])


def test_rows_whose_distances_overflow_are_refused_not_put_in_cluster_0(blobs):
    # argmin over all-inf distances is 0: every such row went to cluster 0 and score was -inf,
    # where DEC refuses them.
    X, _ = blobs
    model = DCN(n_clusters=3, random_state=0, **FAST).fit(X)
    far = (np.random.RandomState(0).randn(5, X.shape[1]) * 1e20).astype(np.float32)
    for method in ("predict", "score"):
        with pytest.raises(ValueError, match="overflow"):
            getattr(model, method)(far)
