"""The k-means initialisation of a centroid recipe: the stage between pretraining and clustering."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.utils._param_validation import Interval, StrOptions

from ..data.batches import chunk_rows

# kmeans_sample_size="auto": k-means on every embedded point up to this many, on a sample beyond.
_AUTO_KMEANS_ALL = 100_000

# The parameters of the stage (see DEC's docstring), for a recipe's _parameter_constraints.
KMEANS_PARAMETERS = {
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "kmeans_sample_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
}


def squared_distances(z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """||z_i - mu_j||^2 for every point and centroid, shape (n, k), from exact differences
    (``torch.cdist``'s matrix-product form can flip near-ties)."""
    return (z.unsqueeze(1) - centers.unsqueeze(0)).pow(2).sum(-1)


def nearest(z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Each point's nearest centroid, a chunk of rows at a time."""
    step = chunk_rows(centers.shape[0] * centers.shape[1])
    return torch.cat([squared_distances(zc, centers).argmin(dim=1) for zc in z.split(step)])


class KMeansInit:
    """Mixin: k-means centroids of an embedding (``n_clusters``, ``n_init``, ``kmeans_sample_size``)."""

    def _kmeans_rows(self, n: int, seed: int) -> np.ndarray | None:
        """The rows k-means initialises on: None for all of them, else a sorted random sample."""
        size = self.kmeans_sample_size
        if size == "auto":
            size = None if n <= _AUTO_KMEANS_ALL else max(_AUTO_KMEANS_ALL, 100 * self.n_clusters)
        if size is None or size >= n:
            return None
        size = max(int(size), self.n_clusters)
        return np.sort(np.random.RandomState(seed).choice(n, size, replace=False))

    def _kmeans(self, z: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """k-means centroids of the embedding (on a sample of it, see ``kmeans_sample_size``), and
        k-means' labels of every point when it ran on all of them (else None)."""
        points = z.cpu().numpy()
        rows = self._kmeans_rows(len(points), seed)
        kmeans = KMeans(self.n_clusters, n_init=self.n_init, random_state=seed)
        kmeans.fit(points if rows is None else points[rows])
        centers = torch.tensor(kmeans.cluster_centers_, dtype=torch.float32, device=z.device)
        return centers, (torch.as_tensor(kmeans.labels_, device=z.device) if rows is None else None)
