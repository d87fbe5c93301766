"""N2D: (Not Too) Deep Clustering (McConville, Santos-Rodriguez, Piechocki & Craddock, ICPR 2020).

An autoencoder (DEC's, pretrained by the shared stage), then the manifold step of
``training/manifold.py``: UMAP of the embedding and a Gaussian mixture on the UMAP coordinates.
There is no self-training: the mixture's components are the clusters.
"""

from __future__ import annotations

import logging
import time
from numbers import Integral

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from ..base import DeepClusterer, FitRun
from ..data.batches import BatchSource, finite_rows
from ..nn.autoencoder import Autoencoder
from ..training.manifold import MANIFOLD_PARAMETERS, gmm_log_prob, import_umap, manifold_clusters, place
from ..training.pretrain_stage import PRETRAIN_PARAMETERS, AutoencoderPretraining

__all__ = ["N2D"]

logger = logging.getLogger(__name__)

_GMM_ARRAYS = ("gmm_weights_", "gmm_means_", "gmm_covariances_")
_PROBA_IS_NOT_CLASSIFIER = (
    "the check assumes an estimator with predict_proba is a classifier: it reads classifier_tags (None for "
    "a clusterer) and expects 2 or 4 probability columns, while N2D's predict_proba has n_clusters columns "
    "(sparse input is tested by tests/test_n2d.py::test_sparse_input_matches_dense)")


class N2D(AutoencoderPretraining, DeepClusterer):
    """N2D: clustering the local manifold of an autoencoded embedding.

    N2D pretrains an autoencoder (DEC's network and pretraining), learns the
    manifold of its embedding with UMAP, to ``n_clusters`` dimensions with
    ``min_dist=0`` so that points of a cluster pack tightly, and fits a
    Gaussian mixture with full covariances to the UMAP coordinates; each
    point's cluster is its most probable component. UMAP captures the local
    structure that a distance-based clustering of the embedding misses, and
    the mixture is cheap beside self-training.

    Read more in the paper: McConville, Santos-Rodriguez, Piechocki &
    Craddock, "N2D: (Not Too) Deep Clustering via Clustering the Local
    Manifold of an Autoencoded Embedding", ICPR 2020.

    Needs umap-learn: ``pip install "deepclust[umap]"``.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters k: the mixture's components.
    n_neighbors : int, default=10
        Neighbours of UMAP's graph (the paper's choice for images). Users of
        the authors' code found a larger value, 20, clustered MNIST clearly
        worse (rymc/n2d issue 10): few neighbours keep the manifold local.
        New points are placed from as many training neighbours.
    min_dist : float, default=0.0
        UMAP's minimum distance between embedded points (the paper's 0:
        dense clusters, which suit the mixture).
    umap_epochs : int or None, default=None
        UMAP's optimisation epochs; None is UMAP's own default (more epochs
        on small data than on large).
    n_components : int or None, default=None
        Dimensions of the UMAP coordinates; None is ``n_clusters``, the
        paper's choice.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Covariance of the mixture's components (the paper's "full").
    n_init : int, default=1
        Restarts of the mixture's EM (scikit-learn's default, the paper's).
    max_iter : int, default=100
        EM iterations of the mixture at most (scikit-learn's default); it
        warns (``ConvergenceWarning``) if EM has not converged by then.
    hidden_dims, embedding_dim, pretrain, pretrain_epochs, pretrain_lr, \
pretrain_optimizer, layerwise_iter, finetune_iter, layerwise_lr, \
layerwise_lr_step, dropout, autoencoder
        The autoencoder and its pretraining: :class:`DEC`'s parameters, with
        its defaults and meaning (the paper's network is DEC's too).
    batch_size : int, default=256
        Mini-batch size of pretraining.
    device : str or torch.device, default="auto"
        Where the network trains and embeds; "auto" picks CUDA when it is
        available. UMAP and the mixture run on the CPU.
    precision : {"auto", "float32", "bfloat16", "mixed"}, default="auto"
        Arithmetic of pretraining, as :class:`DEC`'s ("mixed" pretrains in
        float32, as N2D has no clustering phase to run in bfloat16).
    checkpoint_dir : str, path-like or None, default=None
        As :class:`DEC`'s: checkpoints cover pretraining, the long part of
        the fit; a resumed fit reruns UMAP and the mixture, which with an int
        ``random_state`` give the same clusters again.
    checkpoint_every : int, default=1000
        Iterations between two checkpoints of pretraining.
    random_state : int, RandomState instance or None, default=None
        Seeds the network, the batch order, UMAP and the mixture. A seeded
        UMAP runs in one thread (umap-learn gives up its parallelism for
        reproducibility): an int gives identical labels run after run on CPU.
    verbose : bool, default=False
        Show progress bars for pretraining and UMAP's epochs.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training point: its most probable component of the
        mixture, on its UMAP coordinates.
    autoencoder_ : Autoencoder
        The trained network.
    embedding_ : ndarray of shape (n_samples, embedding_dim)
        The training points' embedding (the network's code), kept to place
        new points.
    manifold_ : ndarray of shape (n_samples, n_components)
        The training points' UMAP coordinates.
    gmm_weights_, gmm_means_, gmm_covariances_ : ndarray
        The mixture: weights (n_clusters,), means (n_clusters, n_components)
        and covariances (n_clusters, n_components, n_components), written out
        in full whatever ``covariance_type``.
    n_iter_ : int
        EM iterations of the mixture's best run.
    pretrain_history_, pretrain_schedule_, layerwise_schedule_
        As :class:`DEC`'s.
    n_features_in_, feature_names_in_, device_, precision_
        As :class:`DEC`'s.
    fit_times_ : dict
        Wall-clock seconds of the phases: ``"pretrain"``, ``"umap"`` (the
        embedding, its neighbours and UMAP) and ``"gmm"``.

    See Also
    --------
    DEC : The same autoencoder, clustered by self-training; its
        ``init="manifold"`` starts from N2D's clusters.

    Notes
    -----
    UMAP's fitted object cannot be saved without pickle, so ``transform``
    does not rerun UMAP: it places a new point at the membership-weighted
    mean of the UMAP coordinates of its ``n_neighbors`` nearest training
    embeddings (memberships from UMAP's smooth k-NN kernel), which is how
    UMAP's own ``transform`` initialises new points before optimising them.
    ``predict_proba`` is the mixture's posterior there, and ``predict`` its
    argmax; on the training points it agrees with ``labels_`` for all but
    points between clusters, whose neighbours straddle two. ``score(X)`` is
    the mixture's mean log-likelihood of the placed points. Neighbours are
    exact, found a block of rows at a time.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import N2D
    >>> X, _ = load_digits(return_X_y=True)
    >>> n2d = N2D(n_clusters=10, layerwise_iter=20, finetune_iter=40, random_state=0)
    >>> labels = n2d.fit_predict(X / 16)
    >>> labels.shape
    (1797,)
    """

    _parameter_constraints: dict = {
        **DeepClusterer._parameter_constraints,
        **PRETRAIN_PARAMETERS,
        **MANIFOLD_PARAMETERS,
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }
    # UMAP and the mixture run in one process.
    _supports_distributed = False
    _test_params = dict(hidden_dims=(32,), embedding_dim=3, pretrain="end-to-end", pretrain_epochs=10,
                        batch_size=32, n_neighbors=8, umap_epochs=30)
    _expected_failed_checks = {check: _PROBA_IS_NOT_CLASSIFIER
                               for check in ("check_estimator_sparse_array", "check_estimator_sparse_matrix")}
    _saved_network = "autoencoder_"
    _saved_arrays = ("labels_", "embedding_", "manifold_", *_GMM_ARRAYS)
    _saved_json = {
        **DeepClusterer._saved_json, "n_iter_": int, "pretrain_history_": list, "fit_times_": dict,
        "layerwise_schedule_": (dict, list, type(None)), "pretrain_schedule_": (dict, type(None)),
    }

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        n_neighbors: int = 10,
        min_dist: float = 0.0,
        umap_epochs: int | None = None,
        n_components: int | None = None,
        covariance_type: str = "full",
        n_init: int = 1,
        max_iter: int = 100,
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
        batch_size: int = 256,
        device="auto",
        precision: str = "auto",
        checkpoint_dir=None,
        checkpoint_every: int = 1000,
        random_state=None,
        verbose: bool = False,
    ):
        self._store_params(locals())

    def _augmenter(self, generator, phase: str):
        """Pretraining sees the data as it is."""
        return None

    @property
    def _n_features_out(self) -> int:
        """The width of ``transform``'s output: the UMAP coordinates'."""
        return self.manifold_.shape[1]

    def _check_network(self, n_features: int) -> None:
        self._check_hidden_dims()

    def _fit_recipe(self, source: BatchSource, run: FitRun) -> None:
        """Pretrain (or copy) the autoencoder, embed every point, then UMAP and the mixture."""
        import_umap()  # before pretraining: a missing extra is said at once
        seed = self._shared_seed(run.rng)
        checkpoint = run.checkpoint
        if checkpoint is not None:
            if checkpoint.resume is not None:
                seed = int(checkpoint.resume["meta"]["kmeans_seed"])
            checkpoint.meta["kmeans_seed"] = seed  # the manifold step's seed, kept by every checkpoint
        clock = time.perf_counter()
        ae = self._initial_autoencoder(source, run.device, run.generator, checkpoint)
        timings = {"pretrain": time.perf_counter() - clock}
        logger.info("pretraining done in %.1f s; UMAP of the embedding", timings["pretrain"])
        clock = time.perf_counter()
        z = self._embed(ae, source)
        self._check_embedding_spread(z, source)
        timings["umap"] = time.perf_counter() - clock  # UMAP's own time is added to the embedding's
        found = manifold_clusters(z, self.n_clusters, n_neighbors=self.n_neighbors, min_dist=self.min_dist,
                                  umap_epochs=self.umap_epochs, n_components=self.n_components,
                                  covariance_type=self.covariance_type, n_init=self.n_init,
                                  max_iter=self.max_iter, seed=seed, verbose=bool(self.verbose),
                                  timings=timings)
        self.autoencoder_ = ae.eval()
        self.embedding_ = z.cpu().numpy().astype(np.float32)
        self.manifold_ = found["coordinates"]
        self.gmm_weights_, self.gmm_means_, self.gmm_covariances_ = (
            found["weights"], found["means"], found["covariances"])
        self.labels_ = found["labels"].astype(np.int64)
        self.n_iter_ = found["n_iter"]
        self.fit_times_ = timings

    # ------------------------------------------------------------ save/load

    def _check_restored(self) -> None:
        """Refuse a model file whose arrays disagree with each other or with the network."""
        n, width = len(self.labels_), int(self.autoencoder_.dims[-1])
        k = self.n_clusters
        shapes = {"embedding_": (n, width), "gmm_weights_": (k,)}
        c = self.manifold_.shape[1] if self.manifold_.ndim == 2 else -1
        shapes.update({"manifold_": (n, c), "gmm_means_": (k, c), "gmm_covariances_": (k, c, c)})
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value.shape != shape or value.dtype.kind != "f":
                raise ValueError(f"{name} has shape {value.shape} ({value.dtype}), not {shape} floats")
        if self.labels_.size and (self.labels_.min() < 0 or self.labels_.max() >= k):
            raise ValueError(f"labels_ holds clusters outside 0 to {k - 1}")
        gmm_log_prob(torch.zeros((1, c)), *(getattr(self, a) for a in _GMM_ARRAYS))  # positive definite

    # ----------------------------------------------------- inference on new X

    def _transform_tensor(self, X) -> torch.Tensor:
        z = finite_rows(self._embed(self.autoencoder_, BatchSource(X, self.device_, check=True)), "embedding")
        train_z, train_u = (torch.as_tensor(a, device=z.device) for a in (self.embedding_, self.manifold_))
        return place(z, train_z, train_u, self.n_neighbors)

    def _log_prob(self, X) -> torch.Tensor:
        return gmm_log_prob(self._transform_tensor(X), *(getattr(self, a) for a in _GMM_ARRAYS))

    def _q_tensor(self, X) -> torch.Tensor:
        """The mixture's posterior of each component at X's manifold coordinates."""
        return torch.softmax(self._log_prob(X), dim=1).to(torch.float32)

    def _score_tensor(self, X) -> float:
        """The mixture's mean log-likelihood of X's manifold coordinates."""
        return float(torch.logsumexp(self._log_prob(X), dim=1).mean())
