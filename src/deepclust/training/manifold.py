"""The manifold step of N2D: UMAP of an embedding, then a Gaussian mixture on the UMAP coordinates.

McConville et al. (ICPR 2020) cluster an autoencoder's embedding by learning its local manifold
with UMAP (``min_dist=0``, few neighbours) and fitting a Gaussian mixture there. This module is
that step, shared by :class:`~deepclust.N2D` (whose clustering it is) and by the centroid
methods' ``init="manifold"`` (whose initial clusters it gives).

UMAP comes from umap-learn, an optional dependency imported only here, when the step runs.
Its fitted object cannot be saved as tensors, so a model keeps arrays instead: the training
points' embeddings and UMAP coordinates, and the mixture's weights, means and covariances.
:func:`place` puts new points on the manifold as UMAP's own ``transform`` initialises them (the
membership-weighted mean of the coordinates of their nearest training points), and
:func:`gmm_log_prob` evaluates the mixture from its arrays.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from sklearn.utils._param_validation import Interval, StrOptions

# The parameters of the step (see N2D's docstring), for a recipe's _parameter_constraints.
MANIFOLD_PARAMETERS = {
    "n_neighbors": [Interval(Integral, 2, None, closed="left")],
    "min_dist": [Interval(Real, 0, None, closed="left")],
    "umap_epochs": [Interval(Integral, 1, None, closed="left"), None],
    "n_components": [Interval(Integral, 1, None, closed="left"), None],
    "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
}
# The settings of init="manifold" in the centroid methods: N2D's defaults.
MANIFOLD_DEFAULTS = {"n_neighbors": 10, "min_dist": 0.0, "umap_epochs": None, "n_components": None,
                     "covariance_type": "full"}
_MISSING = 'the manifold step needs umap-learn: pip install "deepclust[umap]"'
# Distances of query rows to all reference rows are computed this many at a time.
_DISTANCE_BLOCK = 2**24


def import_umap():
    """The ``umap`` module, or an ImportError naming the extra that installs it."""
    try:
        import umap
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return umap


def compile_umap() -> bool:
    """Run UMAP once on a few random points, so that numba compiles umap-learn's cacheable
    functions into its on-disk cache (set-up, e.g. ``scripts/test``: a later process reads them
    from there instead of compiling them again). False, doing nothing, without umap-learn."""
    try:
        import_umap()
    except ImportError:
        return False
    z = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    umap_coordinates(z, 2, n_neighbors=8, min_dist=0.0, n_epochs=10, seed=0)
    return True


def nearest_neighbors(queries: torch.Tensor, points: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest ``points`` of each query row: ``(distances, indices)``, nearest first.

    Exact, a block of queries at a time (never all query-point pairs at once). Candidates are
    ranked by matrix products and their distances then recomputed from the differences, so a
    row's distances do not depend on the rows computed beside it.
    """
    rows = max(1, _DISTANCE_BLOCK // max(len(points), 1))
    distances, indices = [], []
    for block in queries.split(rows):
        candidates = torch.cdist(block, points).topk(k, dim=1, largest=False).indices
        exact = (block.unsqueeze(1) - points[candidates]).double().pow(2).sum(-1).sqrt()
        exact, order = exact.sort(dim=1, stable=True)
        distances.append(exact)
        indices.append(candidates.gather(1, order))
    return torch.cat(distances), torch.cat(indices)


def membership(distances: torch.Tensor) -> torch.Tensor:
    """UMAP's fuzzy membership of each query in its neighbours' sets, ``exp(-d / sigma)``, with
    each row's ``sigma`` such that the memberships sum to ``log2(k)`` (UMAP's smooth k-NN
    distance, with the zero local connectivity that its ``transform`` uses for new points).
    Found by bisection on ``log(sigma)``, every row at once; an exact match (distance 0) has
    membership 1, so a query that coincides with a training point lies close to it."""
    n, k = distances.shape
    if k == 1:
        return torch.ones_like(distances)
    target = math.log2(k)
    scale = distances.mean(dim=1, keepdim=True).clamp_min(torch.finfo(distances.dtype).tiny)
    d = distances / scale
    low = torch.full((n, 1), -30.0, dtype=d.dtype, device=d.device)
    high = torch.full((n, 1), 30.0, dtype=d.dtype, device=d.device)
    for _ in range(64):
        middle = (low + high) / 2
        above = torch.exp(-d / middle.exp()).sum(dim=1, keepdim=True) > target
        high = torch.where(above, middle, high)
        low = torch.where(above, low, middle)
    return torch.exp(-d / ((low + high) / 2).exp())


def place(z: torch.Tensor, train_z: torch.Tensor, train_u: torch.Tensor, n_neighbors: int) -> torch.Tensor:
    """Manifold coordinates of new embeddings ``z``: the membership-weighted mean of the UMAP
    coordinates ``train_u`` of their ``n_neighbors`` nearest training embeddings ``train_z``.

    This is how UMAP's ``transform`` initialises new points before it optimises them further;
    here it is the whole placement (an approximation of UMAP's transform, which cannot be
    saved without pickle)."""
    distances, indices = nearest_neighbors(z, train_z, min(n_neighbors, len(train_z)))
    weights = membership(distances)
    weights = weights / weights.sum(dim=1, keepdim=True)
    return (weights.unsqueeze(2) * train_u.double()[indices]).sum(dim=1).to(torch.float32)


@contextlib.contextmanager
def _torch_threads_kept():
    """Give PyTorch back its thread count after UMAP. numba's OpenMP threading layer can share
    PyTorch's OpenMP runtime (both load ``libgomp.so.1``), and UMAP's parallel loops then set
    the runtime's thread count to numba's, which PyTorch's later operations take up: one torch
    thread became two here and made the self-training after ``init="manifold"`` several times
    slower on a busy machine."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def umap_coordinates(z: torch.Tensor, n_components: int, *, n_neighbors: int, min_dist: float,
                     n_epochs: int | None, seed: int, verbose: bool = False) -> np.ndarray:
    """UMAP of the embedding ``z`` to ``n_components`` dimensions (euclidean), from its exact
    nearest neighbours (:func:`nearest_neighbors`, each point its own first). A seeded UMAP runs
    in one thread and gives the same coordinates run after run."""
    umap = import_umap()
    n = len(z)
    if n < 3:  # no manifold to learn: the points themselves, padded or cut to the width asked
        points = np.zeros((n, n_components), dtype=np.float32)
        width = min(n_components, z.shape[1])
        points[:, :width] = z[:, :width].cpu().numpy()
        return points
    k = min(n_neighbors, n - 1)  # UMAP takes at most n - 1 neighbours, the point itself first
    distances, indices = nearest_neighbors(z, z, k)
    reducer = umap.UMAP(
        n_neighbors=k, n_components=n_components, min_dist=min_dist, metric="euclidean", n_epochs=n_epochs,
        random_state=seed, verbose=verbose,
        precomputed_knn=(indices.cpu().numpy(), distances.float().cpu().numpy(), None),
    )
    with warnings.catch_warnings(), _torch_threads_kept():
        # A seed makes UMAP single-threaded (wanted: determinism); its own transform is not used.
        warnings.filterwarnings("ignore", message=r"n_jobs value .* overridden")
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
        coordinates = reducer.fit_transform(z.cpu().numpy())
    return np.ascontiguousarray(coordinates, dtype=np.float32)


def fit_gmm(u: np.ndarray, n_clusters: int, *, covariance_type: str, n_init: int = 1, max_iter: int = 100,
            seed: int) -> dict:
    """A Gaussian mixture of ``n_clusters`` components on the coordinates ``u``, as arrays:
    ``weights`` (k,), ``means`` (k, c) and ``covariances`` (k, c, c) whatever the covariance
    type (a tied, diagonal or spherical one written out in full), and ``n_iter``."""
    gmm = GaussianMixture(n_clusters, covariance_type=covariance_type, n_init=n_init, max_iter=max_iter,
                          random_state=seed).fit(u.astype(np.float64))
    k, c = gmm.means_.shape
    covariances = {
        "full": lambda v: v,
        "tied": lambda v: np.broadcast_to(v, (k, c, c)),
        "diag": lambda v: v[:, :, None] * np.eye(c),
        "spherical": lambda v: v[:, None, None] * np.eye(c),
    }[covariance_type](gmm.covariances_)
    return {"weights": np.asarray(gmm.weights_, dtype=np.float64),
            "means": np.asarray(gmm.means_, dtype=np.float64),
            "covariances": np.ascontiguousarray(covariances, dtype=np.float64), "n_iter": int(gmm.n_iter_)}


def gmm_log_prob(u: torch.Tensor, weights, means, covariances) -> torch.Tensor:
    """log(w_j N(u_i | mu_j, Sigma_j)) for every point and component, shape (n, k), in float64
    from the mixture's arrays (a ValueError if a covariance is not positive definite)."""
    u = u.double()
    weights, means, covariances = (torch.as_tensor(np.array(a), dtype=torch.float64, device=u.device)
                                   for a in (weights, means, covariances))
    factor, info = torch.linalg.cholesky_ex(covariances)
    if bool((info != 0).any()):
        raise ValueError("the Gaussian mixture's covariances are not positive definite")
    c = means.shape[1]
    half_log_det = torch.log(torch.diagonal(factor, dim1=1, dim2=2)).sum(dim=1)
    rows = max(1, _DISTANCE_BLOCK // max(means.numel(), 1))
    out = []
    for block in u.split(rows):
        diff = (block.unsqueeze(1) - means).unsqueeze(3)  # (n, k, c, 1)
        whitened = torch.linalg.solve_triangular(factor.unsqueeze(0), diff, upper=False)
        squared = whitened.squeeze(3).pow(2).sum(dim=2)
        out.append(torch.log(weights) - half_log_det - 0.5 * (c * math.log(2 * math.pi) + squared))
    return torch.cat(out)


def manifold_clusters(z: torch.Tensor, n_clusters: int, *, n_neighbors: int, min_dist: float,
                      umap_epochs: int | None, n_components: int | None, covariance_type: str, seed: int,
                      n_init: int = 1, max_iter: int = 100, verbose: bool = False,
                      timings: dict | None = None) -> dict:
    """The whole step on the embedding ``z``: ``coordinates`` (UMAP's, float32), the mixture's
    arrays (:func:`fit_gmm`) and ``labels``, each point's most probable component. ``timings``,
    if given, gets the seconds of ``"umap"`` (added to what it holds) and ``"gmm"``."""
    timings = {} if timings is None else timings
    clock = time.perf_counter()
    width = n_clusters if n_components is None else n_components
    u = umap_coordinates(z, width, n_neighbors=n_neighbors, min_dist=min_dist, n_epochs=umap_epochs,
                         seed=seed, verbose=verbose)
    timings["umap"] = timings.get("umap", 0.0) + time.perf_counter() - clock
    clock = time.perf_counter()
    gmm = fit_gmm(u, n_clusters, covariance_type=covariance_type, n_init=n_init, max_iter=max_iter,
                  seed=seed)
    log_prob = gmm_log_prob(torch.from_numpy(u), gmm["weights"], gmm["means"], gmm["covariances"])
    timings["gmm"] = time.perf_counter() - clock
    return {"coordinates": u, **gmm, "labels": log_prob.argmax(dim=1).numpy()}


def cluster_means(z: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """The mean embedding of each cluster's points, shape (n_clusters, width); a cluster without
    points (a mixture component no point prefers) gets the mean of all the points, so that
    self-training may still fill or empty it."""
    counts = torch.bincount(labels, minlength=n_clusters).to(z.dtype).unsqueeze(1)
    sums = torch.zeros((n_clusters, z.shape[1]), dtype=z.dtype, device=z.device).index_add_(0, labels, z)
    overall = z.mean(dim=0, keepdim=True).expand(n_clusters, -1)
    return torch.where(counts > 0, sums / counts.clamp_min(1), overall).to(torch.float32)
