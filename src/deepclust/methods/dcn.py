"""Deep Clustering Network (Yang, Fu, Sidiropoulos & Hong, ICML 2017).

DCN learns a "k-means-friendly" embedding: its clustering phase minimises the
autoencoder's reconstruction error plus (lambda / 2) ||f(x_i) - M s_i||^2, the
k-means cost of each point against its centroid, with hard assignments s_i.
Each mini-batch (i) updates the network by gradient on that loss with M and s
fixed, (ii) assigns each point to its nearest centroid and (iii) moves that
centroid towards the point by a running average with per-centroid counts
(the paper's eq. 11). The shared loop in ``training/self_training.py`` runs the rest: the same
pretraining, k-means initialisation, full-data pass and stopping rule as DEC.
"""

from __future__ import annotations

from numbers import Real

import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if

from ..data.batches import finite_rows
from ._centroid import CentroidClusterer
from ..nn.autoencoder import Autoencoder
from ..training.kmeans import squared_distances as _squared_distances

__all__ = ["DCN"]

# Each centroid starts as if it had already averaged this many points, so the first mini-batches
# refine the k-means centroids instead of replacing them (as DCN's reimplementations do).
_PRIOR_COUNT = 100.0


def _never(_estimator) -> bool:
    return False


class DCN(CentroidClusterer):
    """Deep Clustering Network: a k-means-friendly embedding.

    The clustering phase minimises, over the network, the reconstruction
    error ``||x - g(f(x))||^2`` plus ``clustering_weight / 2`` times the
    squared distance of each embedded point ``f(x)`` to its centroid, with
    hard assignments. After each mini-batch step every point of the batch is
    assigned to its nearest centroid, which then moves towards it by a step
    of ``1 / count`` (a running mean per centroid). The embedding becomes one
    that k-means clusters well, while the decoder keeps it faithful to the
    data. Use it where k-means' picture of a cluster (a compact ball) suits
    the data; it gives hard assignments only (no ``predict_proba``).

    Read more in the paper: Yang, Fu, Sidiropoulos & Hong, "Towards
    K-means-friendly Spaces: Simultaneous Deep Learning and Clustering",
    ICML 2017.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters k.
    clustering_weight : float, default=0.05
        The paper's lambda: weight of the k-means term against the
        reconstruction error. 0.05 is the value reported for MNIST, but the
        reconstruction error here is summed over the normalised input
        ((1/d)||x||^2 = 1 on average), about ten times its size on MNIST
        pixels in [0, 1], so the k-means term weighs relatively less. Positive,
        at most 1e30.
    optimizer : {"adam", "sgd"}, default="adam"
        Optimiser of the network in the clustering phase ("sgd" uses
        ``momentum``).
    lr : float, default=1e-4
        Its learning rate. The centroids follow the embedding only by running
        means, so a network that moves fast leaves them behind: on digits,
        Adam at 1e-3 (the reimplementations' rate) left clusters empty and
        never settled, while 1e-4 kept every cluster and clustered far
        better (``benchmarks/RESULTS.md``).
    momentum : float, default=0.9
        SGD momentum; unused by Adam.
    update_interval : int or "auto", default="auto"
        Iterations between two full-data passes, which record ``history_``
        and apply the stopping rule (as DEC's).
    max_iter : int, default=10000
        Maximum number of iterations of the clustering phase.
    tol : float, default=1e-3
        Stop when fewer than this fraction of the points changed cluster
        between two full-data passes.

    The other parameters are :class:`DEC`'s, with its defaults and meaning:
    ``hidden_dims``, ``embedding_dim``, the pretraining settings
    (``pretrain``, ``pretrain_epochs``, ``pretrain_lr``,
    ``pretrain_optimizer``, ``layerwise_iter``, ``finetune_iter``,
    ``layerwise_lr``, ``layerwise_lr_step``, ``dropout``, ``autoencoder``),
    ``init``, ``n_init``, ``kmeans_sample_size``, ``batch_size``, ``device``, ``precision``,
    ``checkpoint_dir``, ``checkpoint_every``, ``snapshot_size``,
    ``random_state`` and ``verbose``.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Nearest centroid of each training point's final embedding.
    cluster_centers_ : ndarray of shape (n_clusters, embedding_dim)
        The centroids M in the embedding space.
    cluster_counts_ : ndarray of shape (n_clusters,)
        Each centroid's running-average count at the end (the prior of 100
        plus the assignments it received).
    history_ : list of dict
        As DEC's; ``loss`` is the mean of the whole loss (reconstruction
        plus the weighted k-means term) over the mini-batches since the
        previous pass.
    autoencoder_, n_iter_, embedding_snapshots_, snapshot_indices_, \
pretrain_history_, pretrain_schedule_, layerwise_schedule_, n_features_in_, \
feature_names_in_, device_, precision_, fit_times_
        As :class:`DEC`'s.

    See Also
    --------
    DEC, IDEC : Soft assignments and a self-training target instead of
        k-means' hard ones.

    Notes
    -----
    Each batch's assignments and centroid steps use the embedding computed
    for its network step (before that step), which saves a second forward
    pass; the paper recomputes it after the step. ``score(X)`` is minus half
    the mean squared distance of X's embedding to its nearest centroid (the
    k-means term without its weight): higher is better.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import DCN
    >>> X, _ = load_digits(return_X_y=True)
    >>> dcn = DCN(n_clusters=10, layerwise_iter=20, finetune_iter=40, max_iter=50, random_state=0)
    >>> labels = dcn.fit_predict(X / 16)
    >>> labels.shape
    (1797,)
    """

    _clustering_loss_name = "(1/2) ||z - M s||^2"

    _parameter_constraints: dict = {
        **CentroidClusterer._parameter_constraints,
        "clustering_weight": [Interval(Real, 0, 1e30, closed="right")],  # a weight float32 can hold
        "optimizer": [StrOptions({"adam", "sgd"})],
    }
    # Its running-mean centroid updates read each rank's batch alone: not yet data-parallel.
    _supports_distributed = False
    _saved_optional_arrays = ("cluster_counts_",)
    _expected_failed_checks = {}  # no predict_proba, so the sparse checks pass

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        clustering_weight: float = 0.05,
        optimizer: str = "adam",
        lr: float = 1e-4,
        momentum: float = 0.9,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        embedding_dim: int = 10,
        pretrain: str = "auto",
        pretrain_epochs: int | str = "auto",
        pretrain_lr: float | str = "auto",
        pretrain_optimizer: str = "adam",
        layerwise_iter: int | str = "auto",
        finetune_iter: int | str = "auto",
        layerwise_lr: float | str = "auto",
        layerwise_lr_step: int | str = "auto",
        dropout: float = 0.2,
        autoencoder: Autoencoder | None = None,
        init: str = "kmeans",
        n_init: int = 20,
        kmeans_sample_size: int | str | None = "auto",
        update_interval: int | str = "auto",
        batch_size: int = 256,
        max_iter: int = 10000,
        tol: float = 1e-3,
        device="auto",
        precision: str = "auto",
        checkpoint_dir=None,
        checkpoint_every: int = 1000,
        snapshot_size: int = 0,
        random_state=None,
        verbose: bool = False,
    ):
        self._store_params(locals())

    # The shared loop's hooks.

    def _soft_assign(self, z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        """Hard assignment as a one-hot row: the nearest centroid. A row whose distances overflow
        float32 has no nearest one (argmin of infs is 0): a ValueError, as DEC's q gives."""
        nearest = finite_rows(_squared_distances(z, centers), "distance to the centroids").argmin(dim=1)
        return F.one_hot(nearest, centers.shape[0]).to(z.dtype)

    def _target(self, q: torch.Tensor, frequencies: torch.Tensor | None = None) -> torch.Tensor:
        return q  # DCN has no self-training target; the loss reassigns each batch itself

    def _clustering_loss(self, z: torch.Tensor, centers: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """(1/2) ||f(x_i) - M s_i||^2, the mean over the batch, M and s held fixed."""
        fixed = centers.detach()
        nearest = _squared_distances(z.detach(), fixed).argmin(dim=1)
        return 0.5 * (z - fixed[nearest]).pow(2).sum(dim=1).mean()

    def _loss_weights(self) -> tuple[float, float]:
        return 1.0, float(self.clustering_weight)

    def _reconstruction_loss(self, ae, recon, x):
        """The paper's ||x - g(f(x))||^2, summed over the (normalised) features."""
        return (ae.normalise(recon) - ae.normalise(x)).pow(2).sum(dim=1).mean()

    _gradient_centroids = False  # the running averages below move them

    def _start_clustering(self, centers: torch.nn.Parameter) -> None:
        self._counts = torch.full((centers.shape[0],), _PRIOR_COUNT, device=centers.device)

    def _after_step(self, z: torch.Tensor, centers: torch.nn.Parameter) -> None:
        """Assign the batch to the nearest centroids, then move each centroid towards each of its
        points in turn by 1/count (eq. 11), in closed form per centroid."""
        with torch.no_grad():
            nearest = _squared_distances(z, centers).argmin(dim=1)
            k = centers.shape[0]
            added = torch.bincount(nearest, minlength=k).to(self._counts.dtype)
            sums = torch.zeros_like(centers).index_add_(0, nearest, z)
            # m <- m - (m - z)/c for each point in turn, c counting up from the current count, is
            # the running mean: m_new = (c0 * m + sum of the points) / (c0 + number of points).
            total = self._counts + added
            centers.mul_((self._counts / total).unsqueeze(1)).add_(sums / total.unsqueeze(1))
            self._counts = total

    def _clustering_state(self) -> dict:
        return {"counts": self._counts}

    def _restore_clustering_state(self, state: dict, device: torch.device) -> None:
        if "counts" in state:
            self._counts = state["counts"].to(device)

    def _fit_recipe(self, source, run) -> None:
        """The family's recipe, then the per-cluster counts as ``cluster_counts_``."""
        super()._fit_recipe(source, run)
        self.cluster_counts_ = self._counts.cpu().numpy()
        del self._counts

    @available_if(_never)
    def predict_proba(self, X):
        """Not available: DCN's assignments are hard."""
        raise AttributeError("DCN has no soft assignments; use predict.")

    def score(self, X, y=None):
        """Minus half the mean squared distance of X's embedding to its nearest centroid.

        Higher is better. This is DCN's k-means term without its weight.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        return super().score(X, y)
