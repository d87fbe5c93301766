"""The recipe of DEC's family: an autoencoder, k-means centroids, then self-training.

:class:`CentroidClusterer` combines the shared stages (pretraining, k-means initialisation, the
self-training loop) with the contract of :class:`~deepclust.base.DeepClusterer`. DEC, IDEC, DCN
and DBC are subclasses that supply their soft assignment, target and clustering loss.
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import StrOptions

from .._utils import caller_stacklevel
from ..base import DeepClusterer, FitRun
from ..data.batches import BatchSource, chunk_rows, finite_rows
from ..training import distributed
from ..training.kmeans import KMEANS_PARAMETERS, KMeansInit, nearest
from ..training.manifold import MANIFOLD_DEFAULTS, cluster_means, import_umap, manifold_clusters
from ..training.pretrain_stage import PRETRAIN_PARAMETERS, AutoencoderPretraining
from ..training.self_training import SELF_TRAINING_PARAMETERS, SelfTraining

logger = logging.getLogger(__name__)

_SEED_MAX = np.iinfo(np.int32).max
# embedding_snapshots_ is saved as three stacked arrays (absent from files written before it).
_SNAPSHOT_ARRAYS = ("iteration", "embedding", "centers")
_PROBA_IS_NOT_CLASSIFIER = (
    "the check assumes an estimator with predict_proba is a classifier: it reads classifier_tags (None for "
    "a clusterer) and expects 2 or 4 probability columns, while the method's predict_proba has n_clusters "
    "columns (sparse input is tested by tests/test_dec.py::test_sparse_input_matches_dense)")


class CentroidClusterer(AutoencoderPretraining, KMeansInit, SelfTraining, DeepClusterer):
    """Base of the autoencoder-and-centroids methods (DEC, IDEC, DCN, DBC).

    A subclass supplies ``_soft_assign(z, centers)``, ``_target(q, frequencies)`` and
    ``_clustering_loss(z, centers, p)``, and may change the hooks of
    :class:`~deepclust.training.self_training.SelfTraining`.
    """

    _parameter_constraints: dict = {
        **DeepClusterer._parameter_constraints,
        **PRETRAIN_PARAMETERS,
        **KMEANS_PARAMETERS,
        **SELF_TRAINING_PARAMETERS,
        "init": [StrOptions({"kmeans", "manifold"})],
    }
    _saved_network = "autoencoder_"
    _test_params = dict(hidden_dims=(32,), embedding_dim=3, pretrain="end-to-end", pretrain_epochs=10, n_init=3,
                        max_iter=60, batch_size=32)
    _expected_failed_checks = {check: _PROBA_IS_NOT_CLASSIFIER
                               for check in ("check_estimator_sparse_array", "check_estimator_sparse_matrix")}
    _saved_arrays = ("labels_", "cluster_centers_")
    _saved_json = {
        **DeepClusterer._saved_json, "n_iter_": int, "history_": list, "pretrain_history_": list,
        "fit_times_": dict, "layerwise_schedule_": (dict, list, type(None)),
        "pretrain_schedule_": (dict, type(None)),
    }

    @property
    def _n_features_out(self) -> int:
        """The embedding's width: the number of columns ``transform`` returns."""
        return self.cluster_centers_.shape[1]

    def _check_network(self, n_features: int) -> None:
        self._check_hidden_dims()

    def _fit_recipe(self, source: BatchSource, run: FitRun) -> None:
        """Pretrain (or copy) the autoencoder, initialise the centroids by k-means on its
        embedding, and self-train."""
        device, generator, checkpoint = run.device, run.generator, run.checkpoint
        if self.init == "manifold":
            import_umap()  # before pretraining: a missing extra is said at once
        kmeans_seed = self._shared_seed(run.rng)
        # Drawn after the other seeds (and only when asked for), so recording snapshots changes
        # nothing else in the fit.
        snapshot_rows = np.empty(0, dtype=np.int64)
        if self.snapshot_size > 0:
            snapshot_rows = np.random.RandomState(run.rng.randint(_SEED_MAX)).choice(
                len(source), min(self.snapshot_size, len(source)), replace=False)
        self.snapshot_indices_ = np.sort(snapshot_rows).astype(np.int64)
        if checkpoint is not None:
            if checkpoint.resume is not None:
                logger.info("resuming from %s at %s", checkpoint.path, checkpoint.resume["position"])
                kmeans_seed = int(checkpoint.resume["meta"]["kmeans_seed"])
                # The rows drawn by the interrupted fit (random_state=None draws anew).
                saved_rows = checkpoint.resume["meta"].get("snapshot_indices")
                if saved_rows is not None:
                    self.snapshot_indices_ = np.asarray(saved_rows, dtype=np.int64)
            checkpoint.meta["kmeans_seed"] = kmeans_seed  # kept by every later checkpoint
            checkpoint.meta["snapshot_indices"] = self.snapshot_indices_.tolist()
        clock = time.perf_counter()
        ae = self._initial_autoencoder(source, device, generator, checkpoint)
        distributed.average_buffers(ae)  # batch norm's statistics, the same on every rank
        timings = {"pretrain": time.perf_counter() - clock}
        logger.info("pretraining done in %.1f s; %s on the embedding (%d clusters)", timings["pretrain"],
                    "k-means" if self.init == "kmeans" else "UMAP and a Gaussian mixture", self.n_clusters)
        clock = time.perf_counter()
        z = self._embed(ae, source)
        self._check_embedding_spread(z, source)
        resumed = checkpoint.position("clustering") if checkpoint is not None else None
        if resumed is not None:  # the centroids and labels are in the checkpoint
            centers = resumed[2]["centers"].to(device)
            init_labels = resumed[2]["labels"].to(device)
        elif distributed.active():  # the initialisation of every rank's embedding, on rank 0
            z_all = distributed.gather_rows(z)
            centers = torch.zeros((self.n_clusters, z.shape[1]), dtype=torch.float32, device=device)
            if distributed.rank() == 0:
                centers = self._initial_centers(z_all, kmeans_seed)[0].to(device)
            centers = distributed.broadcast(centers)
            init_labels = nearest(z, centers)
        else:
            centers, init_labels = self._initial_centers(z, kmeans_seed)
            if init_labels is None:  # fitted on a sample
                init_labels = nearest(z, centers)
        centers = torch.nn.Parameter(centers)
        timings["kmeans"] = time.perf_counter() - clock
        logger.info("k-means done in %.1f s; clustering (at most %d iterations, until fewer than "
                    "%.3g%% of the points change cluster)", timings["kmeans"], self.max_iter, 100 * self.tol)
        clock = time.perf_counter()
        q, self.n_iter_, self.history_, snapshots = self._self_train(
            ae, centers, source, z, init_labels, generator, checkpoint
        )
        timings["clustering"] = time.perf_counter() - clock

        self.autoencoder_ = ae.eval()
        self.cluster_centers_ = centers.detach().cpu().numpy()
        self.labels_ = q.argmax(dim=1).cpu().numpy()
        self.embedding_snapshots_ = [
            {"iteration": int(s["iteration"]), "embedding": s["embedding"].numpy(),
             "centers": s["centers"].numpy()}
            for s in snapshots
        ]
        self._warn_empty_clusters()
        self.fit_times_ = timings

    def _initial_centers(self, z: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The centroids the clustering starts from (``init``), and each point's initial cluster
        when the initialisation labelled every point (else None)."""
        if self.init == "kmeans":
            return self._kmeans(z, seed)
        labels = torch.as_tensor(manifold_clusters(z, self.n_clusters, **MANIFOLD_DEFAULTS, seed=seed)["labels"],
                                 device=z.device)
        return cluster_means(z, labels, self.n_clusters), labels

    def _warn_empty_clusters(self) -> None:
        sizes = np.bincount(self.labels_, minlength=self.n_clusters)
        if distributed.active():  # over every rank's points
            sizes = distributed.all_reduce(torch.as_tensor(sizes)).numpy()
        empty = int((sizes == 0).sum())
        if empty:
            warnings.warn(
                f"{empty} of the {self.n_clusters} clusters ended empty (no training point is "
                f"closest to their centroid; the smallest non-empty one has {sizes[sizes > 0].min()} "
                "points): the clustering collapsed them. The data may hold fewer clusters; try a "
                "lower n_clusters, or a lower lr. history_ counts empty clusters at each update.",
                ConvergenceWarning, stacklevel=caller_stacklevel(),
            )

    # ------------------------------------------------------------ save/load

    def _extra_arrays(self) -> dict:
        """The snapshots as three stacked arrays, and their rows, for deepclust.io."""
        snapshots = getattr(self, "embedding_snapshots_", [])
        k, e = self.cluster_centers_.shape
        m = len(getattr(self, "snapshot_indices_", ()))
        shapes = {"iteration": (0,), "embedding": (0, m, e), "centers": (0, k, e)}
        arrays = {"snapshot_indices_": torch.as_tensor(
            np.asarray(getattr(self, "snapshot_indices_", np.empty(0)), dtype=np.int64))}
        for key in _SNAPSHOT_ARRAYS:
            values = [np.asarray(s[key]) for s in snapshots]
            stacked = np.stack(values) if values else np.empty(shapes[key])
            arrays[f"snapshot_{key}"] = torch.from_numpy(
                stacked.astype(np.int64 if key == "iteration" else np.float32))
        return arrays

    def _restore_extra_arrays(self, arrays: dict) -> None:
        """``embedding_snapshots_`` and ``snapshot_indices_`` from the saved arrays (empty if none)."""
        if arrays.get("snapshot_indices_", np.empty(0, np.int64)).ndim != 1:
            raise ValueError("snapshot_indices_ is not one-dimensional")
        self.snapshot_indices_ = np.asarray(arrays.get("snapshot_indices_", np.empty(0)), dtype=np.int64)
        if "snapshot_iteration" not in arrays:
            self.embedding_snapshots_ = []
            return
        its, embs, cents = (arrays[f"snapshot_{key}"] for key in _SNAPSHOT_ARRAYS)
        if (not (len(its) == len(embs) == len(cents)) or embs.ndim != 3 or cents.ndim != 3
                or embs.shape[1] != len(self.snapshot_indices_)
                or cents.shape[1:] != self.cluster_centers_.shape or embs.shape[2] != cents.shape[2]):
            raise ValueError("snapshots: the embedding snapshots' arrays do not match the model")
        self.embedding_snapshots_ = [
            {"iteration": int(i), "embedding": emb, "centers": cen}
            for i, emb, cen in zip(its, embs, cents)
        ]

    def _check_restored(self) -> None:
        """Refuse a model file whose centroids, labels and counts disagree."""
        centers, labels = self.cluster_centers_, self.labels_
        width = int(self.autoencoder_.dims[-1])
        if (centers.ndim != 2 or centers.shape[0] < 1 or centers.shape[1] != width
                or centers.dtype.kind != "f"):
            raise ValueError(f"cluster_centers_ has shape {centers.shape} ({centers.dtype}), not (n_clusters, "
                             f"{width}) floats for the network's {width}-dimensional embedding")
        if centers.shape[0] != self.n_clusters:
            raise ValueError(f"cluster_centers_ holds {centers.shape[0]} centres but n_clusters is "
                             f"{self.n_clusters}")
        if labels.size and (labels.min() < 0 or labels.max() >= centers.shape[0]):
            raise ValueError(f"labels_ holds clusters outside 0 to {centers.shape[0] - 1}")
        for name in self._saved_optional_arrays:
            if hasattr(self, name) and getattr(self, name).shape != (centers.shape[0],):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}")
        if not all(isinstance(h, dict) for h in getattr(self, "history_", ())):
            raise TypeError("history_ is not a list of JSON objects")

    # ----------------------------------------------------- inference on new X

    def _transform_tensor(self, X) -> torch.Tensor:
        z = self._embed(self.autoencoder_, BatchSource(X, self.device_, check=True))
        return finite_rows(z, "embedding")

    def _q_tensor(self, X) -> torch.Tensor:
        centers = torch.as_tensor(self.cluster_centers_, dtype=torch.float32, device=self.device_)
        with torch.no_grad():
            return finite_rows(self._soft_assign_chunked(self._transform_tensor(X), centers),
                               "soft assignment")

    def _score_tensor(self, X) -> float:
        """Minus the clustering loss on X, with X's own target."""
        centers = torch.as_tensor(self.cluster_centers_, dtype=torch.float32, device=self.device_)
        z = self._transform_tensor(X)
        with torch.no_grad():
            q = finite_rows(self._soft_assign_chunked(z, centers), "soft assignment")
            p = self._target(q)
            # The loss is a mean over points: sum it chunk by chunk, weighted by chunk size.
            rows = chunk_rows(centers.shape[0] * centers.shape[1])
            total = sum(
                float(self._clustering_loss(zc, centers, pc)) * len(zc)
                for zc, pc in zip(z.split(rows), p.split(rows))
            )
            return -total / len(z)
