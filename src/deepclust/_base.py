"""What every deep clustering estimator shares.

Input validation, device and seeding, pretraining (or reuse) of the
autoencoder, the k-means initialisation of the centroids, the self-training
loop with its periodic full-data pass, and the predict / transform plumbing.
A method (DEC, IDEC, ...) supplies three hooks: ``_soft_assign(z, centers)``,
``_target(q)`` and ``_clustering_loss(z, centers, p)``; it may also change
``_loss_weights()`` (how much of the autoencoder's reconstruction loss the
clustering phase keeps, DEC: none), ``_reconstruction_loss`` and
``_clustering_optimizer(params)`` (Adam or SGD, from a method's ``optimizer``).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm.auto import tqdm

from . import _distributed as distributed
from ._data import (
    BatchSource,
    ShuffledBatches,
    batches_per_epoch,
    chunk_rows,
    data_moments,
    dominant_feature,
    map_chunks,
    rows_differ,
)
from ._precision import PRECISIONS, autocast, phase_dtypes, resolve_precision
from ._warnings import caller_stacklevel
from .autoencoder import Autoencoder, adam, pretrain_end_to_end, pretrain_layerwise, reconstruction_mse
from .shards import ShardedArray, check_sharded

logger = logging.getLogger(__name__)

# The "auto" layer-wise schedule (see DEC's layerwise_* parameters), for the autoencoder's
# normalised input ((1/d)||x||^2 = 1): lr = min(_AUTO_MAX_LAYERWISE_LR, _AUTO_LAYERWISE_LR_SCALE / d);
# iterations = a number of epochs, at least a floor and at most the paper's count; the rate
# is divided by 10 every 2 layers' worth of iterations or three quarters of fine-tuning,
# whichever is longer, at most the paper's 20,000: each layer trains at one rate and a short
# fine-tuning anneals once, for its last quarter (a step after its first third left the
# reconstruction loss of Fashion-MNIST flat for the remaining two thirds).
_AUTO_MAX_LAYERWISE_LR = 0.01
_AUTO_LAYERWISE_LR_SCALE = 0.4
_AUTO_LAYER_EPOCHS, _AUTO_MIN_LAYER_ITER, _PAPER_LAYER_ITER = 7, 200, 50_000
_AUTO_FINETUNE_EPOCHS, _AUTO_MIN_FINETUNE_ITER, _PAPER_FINETUNE_ITER = 42, 400, 100_000
_PAPER_LR_STEP = 20_000
# End-to-end pretraining's "auto" learning rates. SGD: DEC-keras's lr 1 on pixels in [0, 1] is
# about 0.2 on the autoencoder's normalised input ((1/d)||x||^2 = 1 is ~4.8 times Fashion-MNIST's
# energy in [0, 1], and the loss and its gradients scale with the energy).
_AUTO_ADAM_PRETRAIN_LR = 1e-3
_AUTO_SGD_PRETRAIN_LR = 0.2
# End-to-end pretraining's "auto" length: DEC-keras's 300 epochs, at least _AUTO_MIN_E2E_ITER
# iterations on small data and at most the paper's 100,000 fine-tuning iterations on large data.
_AUTO_E2E_EPOCHS, _AUTO_MIN_E2E_ITER = 300, 4_000
# Warn before layer-wise pretraining when the samples' spread is below this fraction of their energy.
_MIN_SPREAD = 0.01
# The paper's near-optimal update interval (section 5.1); see DEC's update_interval.
_AUTO_MIN_UPDATE_INTERVAL = 40
# kmeans_sample_size="auto": k-means on every embedded point up to this many, on a sample beyond.
_AUTO_KMEANS_ALL = 100_000


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32_range(X):
    """Refuse finite float64 values that would overflow the network's float32."""
    values = X.data if hasattr(X, "tocsr") else X
    if values.dtype != np.float64 or values.size == 0:
        return X
    largest = max(float(values.max()), -float(values.min()))  # no |X| copy of a large array
    if largest > _FLOAT32_MAX:
        raise ValueError(
            f"X has values beyond float32's range (largest magnitude {largest:.3g} > "
            f"{_FLOAT32_MAX:.3g}); the network computes in float32. Scale X down first "
            "(e.g. StandardScaler)."
        )
    return X


def _finite_rows(t: torch.Tensor, what: str) -> torch.Tensor:
    """``t``, or a ValueError naming the rows of X whose ``what`` overflowed float32."""
    bad = ~torch.isfinite(t).all(dim=1)
    if bool(bad.any()):
        rows = torch.nonzero(bad).flatten()[:5].tolist()
        raise ValueError(
            f"The {what} of {int(bad.sum())} row(s) of X (e.g. rows {rows}) is not finite: their "
            "values are so far from the training data's that they overflow the network's float32 "
            "arithmetic. Scale X like the training data (e.g. with the same StandardScaler)."
        )
    return t


def _nearest(z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Each point's nearest centroid, a chunk of rows at a time."""
    from .dec import squared_distances

    step = chunk_rows(centers.shape[0] * centers.shape[1])
    return torch.cat([squared_distances(zc, centers).argmin(dim=1) for zc in z.split(step)])


def resolve_device(device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as torch reads it."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device; use 'auto', 'cpu' or 'cuda'."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use 'auto' or 'cpu'.")
    if resolved.type == "meta":
        raise ValueError(f"device={device!r} holds no data, so nothing can train on it; use 'auto' or 'cpu'.")
    if resolved.type not in ("cpu", "cuda"):  # mps, xpu, ...: is it there? (a tensor on it says)
        try:
            torch.empty(0, device=resolved)
        except Exception as exc:  # noqa: BLE001 (RuntimeError, AssertionError, ModuleNotFoundError: torch.hpu ...)
            reason = " ".join(str(exc).split())
            reason = reason if len(reason) <= 120 else reason[:117] + "..."
            raise ValueError(f"device={device!r} is not available in this PyTorch build or on this machine "
                             f"({reason}); use 'auto' or 'cpu'.") from exc
    return resolved


class BaseDeepClusterer(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Base class for autoencoder-based deep clustering estimators.

    ``transform`` gives the embedding, whose columns ``get_feature_names_out`` names after the
    class (``dec0``, ``dec1``, ...), so ``set_output(transform="pandas")`` works in pipelines.
    """

    @property
    def _n_features_out(self) -> int:
        """The embedding's width: the number of columns ``transform`` returns."""
        return self.cluster_centers_.shape[1]

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "hidden_dims": [list, tuple],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "pretrain": [StrOptions({"end-to-end", "layerwise"})],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "pretrain_lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "pretrain_optimizer": [StrOptions({"adam", "sgd"})],
        "layerwise_iter": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "finetune_iter": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "layerwise_lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "layerwise_lr_step": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "autoencoder": [Autoencoder, None],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "kmeans_sample_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "precision": [StrOptions(set(PRECISIONS))],
        "checkpoint_dir": [str, os.PathLike, None],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
        "snapshot_size": [Interval(Integral, 0, None, closed="left")],
        # The shared clustering phase's.
        "update_interval": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def _store_params(self, values: dict) -> None:
        """Keep each ``__init__`` argument, unchanged, as the attribute of the same name
        (scikit-learn's convention; ``values`` is the caller's ``locals()``)."""
        for name in self._get_param_names():
            setattr(self, name, values[name])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # The network computes in float32; its outputs say so (float64 would claim a precision
        # it does not have, and the last bits of a row's output depend on the batch around it).
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _compute_dtype(self, phase: str) -> torch.dtype:
        """The dtype of the training steps' matrix products in ``phase`` ("pretrain" or
        "clustering"), from the precision ``fit`` resolved."""
        pretrain, clustering = phase_dtypes(self.precision_)
        return pretrain if phase == "pretrain" else clustering

    # ------------------------------------------------------------------ fit

    def fit(self, X, y=None):
        """Pretrain the autoencoder, initialise the centroids and self-train.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input stays sparse; only mini-batches are
            densified.
        y : Ignored
            Not used, present for API consistency. Labels never reach the
            clustering.

        Returns
        -------
        self : object
            The fitted estimator.

        A fit that raises (bad input, a device that is not there, an interrupt) leaves the
        estimator as it was: unfitted, or with the model of its previous fit.
        """
        before = dict(self.__dict__)
        try:
            return self._fit(X)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, X):
        """The body of :meth:`fit`, which undoes what it set if it raises."""
        self._validate_params()
        X = self._validate_X(X, reset=True)
        n_samples = X.shape[0]
        self._check_network(X.shape[1])
        n_total = n_samples
        if distributed.active():
            self._check_distributed()
            # k-means runs on every rank's embedding: a rank's shard may hold fewer than k points
            n_total = int(distributed.all_reduce(torch.tensor(n_samples, dtype=torch.int64)))
        if n_total < self.n_clusters:
            raise ValueError(
                f"n_samples={n_total}{' (over all ranks)' if distributed.active() else ''} should be >= "
                f"n_clusters={self.n_clusters}; lower n_clusters or pass more samples."
            )
        device = resolve_device(self.device)
        self.precision_ = resolve_precision(self.precision, device)
        if distributed.active():  # "auto" is measured on each rank: rank 0's choice for all
            choice = distributed.broadcast(torch.tensor([PRECISIONS.index(self.precision_)]))
            self.precision_ = PRECISIONS[int(choice.item())]
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        kmeans_seed = int(rng.randint(np.iinfo(np.int32).max))
        if distributed.active():  # rank 0's seeds: the same network on every rank
            seed, kmeans_seed = distributed.broadcast(torch.tensor([seed, kmeans_seed])).tolist()
        # Drawn after the other seeds (and only when asked for), so recording snapshots changes
        # nothing else in the fit.
        snapshot_rows = np.empty(0, dtype=np.int64)
        if self.snapshot_size > 0:
            snapshot_rows = np.random.RandomState(rng.randint(np.iinfo(np.int32).max)).choice(
                n_samples, min(self.snapshot_size, n_samples), replace=False)
        self.snapshot_indices_ = np.sort(snapshot_rows).astype(np.int64)

        # manual_seed reseeds every CUDA device: fork (save and restore) all of them.
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            torch.manual_seed(seed)
            generator = torch.Generator().manual_seed(seed)
            checkpoint = self._checkpointer(X, generator, device)
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
            source = BatchSource(X, device)
            clock = time.perf_counter()
            ae = self._initial_autoencoder(source, device, generator, checkpoint)
            distributed.average_buffers(ae)  # batch norm's statistics, the same on every rank
            timings = {"pretrain": time.perf_counter() - clock}
            clock = time.perf_counter()
            z = self._embed(ae, source)
            self._check_embedding_spread(z, source)
            resumed = checkpoint.position("clustering") if checkpoint is not None else None
            if resumed is not None:  # the centroids and labels are in the checkpoint
                centers = resumed[2]["centers"].to(device)
                init_labels = resumed[2]["labels"].to(device)
            elif distributed.active():  # k-means on every rank's embedding, on rank 0
                z_all = distributed.gather_rows(z)
                centers = torch.zeros((self.n_clusters, z.shape[1]), dtype=torch.float32, device=device)
                if distributed.rank() == 0:
                    centers = self._kmeans(z_all, kmeans_seed)[0].to(device)
                centers = distributed.broadcast(centers)
                init_labels = _nearest(z, centers)
            else:
                centers, init_labels = self._kmeans(z, kmeans_seed)
                if init_labels is None:  # fitted on a sample
                    init_labels = _nearest(z, centers)
            centers = torch.nn.Parameter(centers)
            timings["kmeans"] = time.perf_counter() - clock
            clock = time.perf_counter()
            q, self.n_iter_, self.history_, self.embedding_snapshots_ = self._self_train(
                ae, centers, source, z, init_labels, generator, checkpoint
            )
            timings["clustering"] = time.perf_counter() - clock

        self.autoencoder_ = ae.eval()
        self.cluster_centers_ = centers.detach().cpu().numpy()
        self.labels_ = q.argmax(dim=1).cpu().numpy()
        self.embedding_snapshots_ = [
            {"iteration": int(s["iteration"]), "embedding": s["embedding"].numpy(),
             "centers": s["centers"].numpy()}
            for s in self.embedding_snapshots_
        ]
        self._warn_empty_clusters()
        self.device_ = device
        self.fit_times_ = timings
        return self

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

    # Whether the method trains data-parallel under torch.distributed (see _distributed.py).
    _supports_distributed = True

    def _batch_per_rank(self) -> int:
        """Samples per step in this process: batch_size, shared by the ranks when training
        data-parallel."""
        return distributed.per_rank_batch(self.batch_size)

    @staticmethod
    def _n_everywhere(source: BatchSource) -> int:
        """Samples of the whole dataset: summed over the ranks' shards when training
        data-parallel, so that every rank resolves the same schedules."""
        if not distributed.active():
            return len(source)
        return int(distributed.all_reduce(torch.tensor(len(source), dtype=torch.int64)))

    def _check_distributed(self) -> None:
        """Refuse what data-parallel training does not support, before any work."""
        if not self._supports_distributed:
            raise ValueError(f"{type(self).__name__} does not train data-parallel yet: fit it in one "
                             "process (without a torch.distributed process group).")
        if self.checkpoint_dir is not None:
            raise ValueError("checkpoint_dir is not supported when training data-parallel "
                             "(torch.distributed): leave it None.")

    def _check_network(self, n_features: int) -> None:
        """Refuse network settings that cannot build a network, before any work."""
        self._check_hidden_dims()

    def _new_autoencoder(self, n_features: int, input_scale: float) -> Autoencoder:
        """The untrained network for ``n_features`` inputs: the MLP of ``hidden_dims``."""
        return Autoencoder((n_features, *self._check_hidden_dims(), self.embedding_dim), input_scale)

    def _check_hidden_dims(self) -> tuple[int, ...]:
        dims = tuple(self.hidden_dims)
        if not all(isinstance(d, Integral) and not isinstance(d, bool) and d >= 1 for d in dims):
            raise ValueError(
                f"hidden_dims={self.hidden_dims!r} must be a sequence of positive ints, "
                "e.g. (500, 500, 2000)."
            )
        return tuple(int(d) for d in dims)

    def _checkpointer(self, X, generator, device):
        """The fit's checkpointer (None without ``checkpoint_dir``), with its checkpoint loaded."""
        if self.checkpoint_dir is None:
            return None
        from ._checkpoint import Checkpointer, data_fingerprint, module_fingerprint
        from ._io import _json_params
        from ._version import __version__

        params = _json_params(self)
        for name in ("verbose", "device", "checkpoint_dir", "checkpoint_every"):
            params.pop(name, None)
        identity = {
            "estimator": type(self).__name__,
            "params": params,
            "data": data_fingerprint(X),
            "autoencoder": None if self.autoencoder is None else module_fingerprint(self.autoencoder),
            "deepclust_version": __version__,
            "precision": self.precision_,  # "auto" may resolve differently on another machine
        }
        checkpoint = Checkpointer(
            self.checkpoint_dir, self.checkpoint_every, identity, generator, device
        )
        checkpoint.load()
        return checkpoint

    def _initial_autoencoder(
        self, source, device, generator, checkpoint=None
    ) -> Autoencoder:
        self.layerwise_schedule_ = self.pretrain_schedule_ = None
        if self.autoencoder is not None:
            if self.autoencoder.dims[0] != source.n_features:
                raise ValueError(
                    f"The autoencoder takes {self.autoencoder.dims[0]} features but X has "
                    f"{source.n_features}."
                )
            self.pretrain_history_ = []
            ae = copy.deepcopy(self.autoencoder).to(device)
            if checkpoint is not None:
                checkpoint.model = ae
                checkpoint.meta["pretrain_history"] = []
                checkpoint.restore(ae)
            return ae
        # The paper's normalisation, (1/d)||x||^2 = 1 on average, inside the network.
        energy, offset, variances = data_moments(source)
        dominant = dominant_feature(variances)
        if dominant is not None:
            feature, ratio = dominant
            warnings.warn(
                f"Feature {feature} varies {math.sqrt(ratio):.3g} times more than the typical "
                "feature and holds most of X's variance: distances in X, and so the clusters, "
                "will follow it almost alone. If the features are in unrelated units, standardise "
                "X first (e.g. StandardScaler).",
                RuntimeWarning, stacklevel=caller_stacklevel(),
            )
        input_scale = math.sqrt(source.n_features / energy) if energy > 0 else 1.0
        try:
            ae = self._new_autoencoder(source.n_features, input_scale)
        except ValueError as exc:  # the scale does not fit in float32
            raise ValueError(
                f"X's values are too small to normalise in float32 (mean squared norm {energy:.3g}); "
                "multiply X by a large constant first."
            ) from exc
        ae = ae.to(device)
        if (self.pretrain == "layerwise" and energy > 0 and energy - offset < _MIN_SPREAD * energy
                and rows_differ(source)):
            spread = 100 * max(energy - offset, 0.0) / energy
            warnings.warn(
                f"The samples' spread around their mean is {spread:.2g}% of their energy: a "
                "large offset common to every sample dominates X. Layer-wise pretraining "
                "normalises the energy, not the offset, and may give an uninformative embedding; "
                "standardise X first (e.g. StandardScaler) or use pretrain='end-to-end'.",
                RuntimeWarning, stacklevel=caller_stacklevel(),
            )
        if self.pretrain == "layerwise":
            self.layerwise_schedule_ = self._layerwise_schedule(source)
        else:
            self.pretrain_schedule_ = self._end_to_end_schedule(source)
        if checkpoint is not None and checkpoint.phase == "clustering":  # pretrained before
            checkpoint.model = ae
            checkpoint.restore(ae)
            self.pretrain_history_ = list(checkpoint.resume["meta"]["pretrain_history"])
        elif self.pretrain == "end-to-end":
            logger.info("end-to-end pretraining schedule: %s", self.pretrain_schedule_)
            self.pretrain_history_ = pretrain_end_to_end(
                ae, source, epochs=0, n_iter=self.pretrain_schedule_["n_iter"],
                batch_size=self._batch_per_rank(), lr=self.pretrain_schedule_["lr"], generator=generator,
                verbose=self.verbose, checkpoint=checkpoint,
                compute_dtype=self._compute_dtype("pretrain"), optimizer=self.pretrain_schedule_["optimizer"],
                augment=self._augmenter(generator, "pretrain"),
            )
        else:
            logger.info("layer-wise pretraining schedule: %s", self.layerwise_schedule_)
            self.pretrain_history_ = pretrain_layerwise(
                ae, source, **self.layerwise_schedule_, dropout=self.dropout,
                batch_size=self._batch_per_rank(), generator=generator, verbose=self.verbose,
                checkpoint=checkpoint, compute_dtype=self._compute_dtype("pretrain"),
            )
        if checkpoint is not None:
            checkpoint.meta["pretrain_history"] = list(self.pretrain_history_)
        return ae

    def _end_to_end_schedule(self, source: BatchSource) -> dict:
        """Resolve end-to-end pretraining's "auto" settings for this data (see DEC's docstring)."""
        per_epoch = batches_per_epoch(self._n_everywhere(source), self.batch_size)
        if self.pretrain_epochs == "auto":
            n_iter = min(_PAPER_FINETUNE_ITER, max(_AUTO_MIN_E2E_ITER, _AUTO_E2E_EPOCHS * per_epoch))
        else:
            n_iter = self.pretrain_epochs * per_epoch
        if self.pretrain_lr != "auto":
            lr = float(self.pretrain_lr)
        else:
            lr = _AUTO_SGD_PRETRAIN_LR if self.pretrain_optimizer == "sgd" else _AUTO_ADAM_PRETRAIN_LR
        return {"optimizer": self.pretrain_optimizer, "lr": lr, "n_iter": int(n_iter)}

    def _layerwise_schedule(self, source: BatchSource) -> dict:
        """Resolve the "auto" layer-wise settings for this data (see DEC's docstring)."""
        per_epoch = batches_per_epoch(self._n_everywhere(source), self.batch_size)

        def iterations(value, epochs, floor, paper):
            return value if value != "auto" else min(paper, max(floor, epochs * per_epoch))

        layer_iter = iterations(
            self.layerwise_iter, _AUTO_LAYER_EPOCHS, _AUTO_MIN_LAYER_ITER, _PAPER_LAYER_ITER
        )
        finetune_iter = iterations(
            self.finetune_iter, _AUTO_FINETUNE_EPOCHS, _AUTO_MIN_FINETUNE_ITER, _PAPER_FINETUNE_ITER
        )
        if self.layerwise_lr_step == "auto":
            lr_step = min(_PAPER_LR_STEP, max(1, 2 * layer_iter, math.ceil(3 * finetune_iter / 4)))
        else:
            lr_step = self.layerwise_lr_step
        if self.layerwise_lr == "auto":
            lr = min(_AUTO_MAX_LAYERWISE_LR, _AUTO_LAYERWISE_LR_SCALE / source.n_features)
        else:
            lr = float(self.layerwise_lr)
        return {"layer_iter": int(layer_iter), "finetune_iter": int(finetune_iter),
                "lr": float(lr), "lr_step": int(lr_step)}

    def _self_train(self, ae, centers, source, z_init, init_labels, generator, checkpoint=None):
        """The clustering phase: the shared self-training loop.

        Every ``update_interval`` iterations one full pass computes q for all
        points, checks the stopping rule and sets the target p; between two
        passes, mini-batch SGD moves the centroids (and the encoder unless it
        is frozen) to reduce the clustering loss against p.

        With a ``checkpoint``, the state is saved at the start, at the first
        target update after every ``checkpoint_every`` iterations and at the
        end, and a resumed fit continues from it.

        At every target update the embedding of the rows ``snapshot_indices_``
        and the centroids are recorded (from the full pass the update computes
        anyway), for plotting the embedding over training.

        Returns the final full-data q, the number of iterations, the history
        and the snapshots.
        """
        n = len(source)
        interval = (
            max(_AUTO_MIN_UPDATE_INTERVAL,
                math.ceil(batches_per_epoch(self._n_everywhere(source), self.batch_size) / 2))
            if self.update_interval == "auto" else self.update_interval
        )
        # L = w_network * L_reconstruction + w_clustering * L_clustering (the survey's framing);
        # DEC's w_network is 0, so its decoder is not run and its loss is the clustering loss alone.
        w_network, w_clustering = self._loss_weights()
        frozen = bool(getattr(self, "freeze_encoder", False))  # DEC's ablation; not every method's
        joint = self._trains_jointly()
        centers.requires_grad_(self._gradient_centroids)
        params = [centers] if self._gradient_centroids else []
        self._start_clustering(centers)
        for p in ae.encoder.parameters():
            p.requires_grad_(not frozen)
        if not frozen:
            params += list(ae.encoder.parameters())
        if joint:
            for p in ae.decoder.parameters():
                p.requires_grad_(True)  # a given autoencoder may come with a frozen decoder
            params += list(ae.decoder.parameters())
        optimizer = self._clustering_optimizer(params)
        augment = None if frozen else self._augmenter(generator, "clustering")
        batches = ShuffledBatches(n, self._batch_per_rank(), generator)
        # With a frozen encoder the embedding never changes: encode once.
        z_fixed = z_init if frozen else None
        if not frozen:  # batch norm (if any) trains on batch statistics, whatever mode ae came in
            ae.train()

        history, snapshots, it, labels_last = [], [], 0, init_labels
        running, steps = None, 0
        phase_start = time.perf_counter()
        snapshot_rows = torch.as_tensor(self.snapshot_indices_, device=z_init.device)

        def save(finished=False):
            if running is not None and not math.isfinite(running.item()):
                return  # never checkpoint a diverged fit; the loop raises at its next update
            checkpoint.save("clustering", 0, it, {
                "centers": centers.detach(), "labels": labels_last, "history": history,
                "optimizer": optimizer.state_dict(), "batches": batches.state_dict(),
                "running": running, "steps": steps, "finished": finished, "snapshots": snapshots,
                "method": self._clustering_state(),
            })

        resumed = checkpoint.position("clustering") if checkpoint is not None else None
        if resumed is not None:
            _, it, loop = resumed
            optimizer.load_state_dict(loop["optimizer"])
            batches.load_state_dict(loop["batches"])
            history = [dict(h) for h in loop["history"]]
            snapshots = [dict(s) for s in loop.get("snapshots", [])]
            running, steps = loop["running"], int(loop["steps"])
            self._restore_clustering_state(loop.get("method", {}), centers.device)
            if running is not None:
                running = running.to(centers.device)
            if loop["finished"]:  # rebuild the fitted model without training
                for p in ae.encoder.parameters():
                    p.requires_grad_(True)
                z = z_fixed if z_fixed is not None else self._embed(ae, source)
                with torch.no_grad():
                    return self._soft_assign_chunked(z, centers.detach()), it, history, snapshots
        elif checkpoint is not None:
            save()
        bar = tqdm(total=self.max_iter, initial=it, desc="clustering", disable=not self.verbose,
                   leave=False)
        while True:
            if z_fixed is None and it > 0:
                distributed.average_buffers(ae)
            z = z_fixed if z_fixed is not None else (z_init if it == 0 else self._embed(ae, source))
            if it > 0 and z_fixed is None and distributed.all_reduce(
                    (~torch.isfinite(z)).any().to(torch.int32)).item():
                raise FloatingPointError(
                    f"clustering: the embedding became non-finite by iteration {it}: the network "
                    "diverged. Lower lr or standardise the input (e.g. StandardScaler); the last "
                    "checkpoint, if any, was written before it."
                )
            with torch.no_grad():
                q = self._soft_assign_chunked(z, centers.detach())
            labels = q.argmax(dim=1)
            # Over all ranks' points when training data-parallel.
            changed = distributed.all_reduce(torch.stack([(labels != labels_last).sum(),
                                                          torch.tensor(n, device=labels.device)]))
            delta = (changed[0] / changed[1]).item()
            loss = math.nan if running is None else running.item() / steps
            if running is not None and not math.isfinite(loss):
                raise FloatingPointError(
                    f"clustering: the loss became {loss} at iterations {it - steps + 1} to {it}. "
                    "Lower lr or standardise the input (e.g. StandardScaler); the last "
                    "checkpoint, if any, was written before it."
                )
            sizes = distributed.all_reduce(torch.bincount(labels, minlength=self.n_clusters))
            history.append({"iteration": it, "loss": loss, "delta_label": delta,
                            "n_empty": int((sizes == 0).sum()), "smallest": int(sizes.min()),
                            "seconds": time.perf_counter() - phase_start})
            if len(snapshot_rows):
                snapshots.append({"iteration": it, "embedding": z[snapshot_rows].cpu(),
                                  "centers": centers.detach().cpu().clone()})
            bar.set_postfix(loss=f"{loss:.4g}", changed=f"{delta:.2%}")
            labels_last = labels
            if (it > 0 and delta < self.tol) or it >= self.max_iter:
                break
            # Data-parallel: the cluster frequencies f_j over every rank's points (eq. 3).
            p = self._target(q, distributed.all_reduce(q.sum(dim=0)) if distributed.active() else None)
            running, steps = None, min(interval, self.max_iter - it)
            for step in range(it, it + steps):
                idx = next(batches)
                if z_fixed is not None:
                    zb = z_fixed[idx.to(z_fixed.device)]
                else:
                    xb = source.take(idx)
                    if augment is not None:  # q of augmented points against p of clean ones (DEC-DA)
                        xb = augment(xb, step)
                    with autocast(source.device, self._compute_dtype("clustering")):
                        zb = ae.encode(xb)
                        recon = ae.decode(zb) if joint else None
                    zb = zb.float()  # q, p and the loss in float32
                batch_loss = self._clustering_loss(zb, centers, p[idx.to(p.device)])
                if joint:  # the reconstruction term, as in end-to-end pretraining
                    batch_loss = (w_clustering * batch_loss
                                  + w_network * self._reconstruction_loss(ae, recon.float(), xb))
                optimizer.zero_grad(set_to_none=True)
                batch_loss.backward()
                distributed.average_gradients(params)
                optimizer.step()
                self._after_step(zb.detach(), centers)
                running = batch_loss.detach() if running is None else running + batch_loss.detach()
            it += steps
            bar.update(steps)
            if checkpoint is not None and checkpoint.due(it, it - steps):
                save()
        bar.close()
        if checkpoint is not None:
            save(finished=True)
        for p in ae.encoder.parameters():
            p.requires_grad_(True)
        if it > 0 and delta < self.tol:
            logger.info(
                "clustering stopped after %d iterations: %.3g%% of the points changed cluster "
                "(< tol=%g)", it, 100 * delta, self.tol,
            )
        else:
            logger.info("clustering stopped after %d iterations: max_iter reached", it)
        return q, it, history, snapshots

    # ------------------------------------------------ what a method supplies

    def _augmenter(self, generator: torch.Generator, phase: str):
        """The transform of the training mini-batches of ``phase`` ("pretrain" or "clustering"),
        ``augment(batch, iteration)``, or None to train on the data as it is (all but DBC with
        ``augment=True``). Full-data passes never see it."""
        return None

    def _loss_weights(self) -> tuple[float, float]:
        """Weights (network, clustering) of the clustering phase's loss; DEC's (0, 1)."""
        return 0.0, 1.0

    # The method's clustering loss L_c, as the figures name it.
    _clustering_loss_name = "clustering loss"

    def _trains_jointly(self) -> bool:
        """Whether the clustering phase trains the reconstruction too (L = L_r + w L_c): a network
        loss weighted above 0, and an encoder that is not frozen (DEC's ablation)."""
        return self._loss_weights()[0] > 0 and not getattr(self, "freeze_encoder", False)

    def _loss_label(self) -> str:
        """What ``history_``'s ``loss`` is, for an axis label."""
        if self._trains_jointly():
            return f"L_r + {self._loss_weights()[1]:g} {self._clustering_loss_name}"
        return self._clustering_loss_name

    def _reconstruction_loss(self, ae: Autoencoder, recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The network loss of a joint method: end-to-end pretraining's mean squared error."""
        return reconstruction_mse(ae, recon, x)

    def _clustering_optimizer(self, params) -> torch.optim.Optimizer:
        """The clustering phase's optimiser: the method's ``optimizer`` parameter ("adam" or
        "sgd"), SGD with momentum (the DEC paper's) for a method without one."""
        if getattr(self, "optimizer", "sgd") == "adam":
            return adam(params, self.lr)
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum)

    # Whether the optimiser moves the centroids (DEC's); otherwise ``_after_step`` does.
    _gradient_centroids = True

    def _start_clustering(self, centers: torch.nn.Parameter) -> None:
        """Set up the method's own state at the start of the clustering phase."""

    def _after_step(self, z: torch.Tensor, centers: torch.nn.Parameter) -> None:
        """Called after each optimiser step with the batch's embedding (detached)."""

    def _clustering_state(self) -> dict:
        """The method's own loop state, for checkpoints (tensors and plain values)."""
        return {}

    def _restore_clustering_state(self, state: dict, device: torch.device) -> None:
        """Restore what ``_clustering_state`` returned, on resume."""

    # ------------------------------------------------------- full-data pass

    def _embed(self, ae: Autoencoder, source: BatchSource) -> torch.Tensor:
        """Embedding of every point, in order, without building a graph."""
        was_training = ae.training
        ae.eval()
        try:
            with torch.no_grad():
                return map_chunks(source, ae.encode, chunk_rows(source.n_features))
        finally:  # also when a shard's block is refused mid-pass
            ae.train(was_training)

    def _check_embedding_spread(self, z: torch.Tensor, source: BatchSource) -> None:
        """Refuse to cluster an embedding that is not finite or maps distinct samples to one point."""
        if self.autoencoder is not None:
            cause, advice = "The given autoencoder", "Check how it was trained."
        elif self.pretrain == "end-to-end":
            cause, advice = "The pretrained autoencoder", (
                "Lower pretrain_lr or standardise the input (e.g. StandardScaler)."
            )
        else:
            cause, advice = "The pretrained autoencoder", (
                "Lower layerwise_lr or standardise the input (e.g. StandardScaler)."
            )
        if not bool(torch.isfinite(z).all()):
            raise FloatingPointError(f"{cause} gives non-finite embeddings (NaN or inf). {advice}")
        if z.shape[0] < 2 or bool((z.amax(dim=0) - z.amin(dim=0)).max() > 0):
            return
        if rows_differ(source):
            raise FloatingPointError(
                f"{cause} maps every sample to the same embedding (its units are dead), so "
                f"clustering it would put everything in one cluster. {advice}"
            )

    def _soft_assign_chunked(self, z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        rows = chunk_rows(centers.shape[0] * centers.shape[1])
        return torch.cat([self._soft_assign(zc, centers) for zc in z.split(rows)])

    # ----------------------------------------------------- inference on new X

    def _check_test_data(self, X, *, scan: bool = True):
        """Validate X for inference. ``scan=False``: a :class:`ShardedArray`'s values are not read
        here, because the caller's full pass (:meth:`_transform_tensor`) checks each block it reads."""
        return self._validate_X(X, reset=False, scan=scan)

    def _validate_X(self, X, *, reset: bool, scan: bool = True):
        """``validate_data`` for arrays, sparse matrices and frames; a :class:`ShardedArray` is
        checked a block at a time and kept on disk."""
        if not isinstance(X, ShardedArray):
            return _check_float32_range(validate_data(
                self, X, reset=reset, accept_sparse="csr", dtype=[np.float64, np.float32]
            ))
        check_sharded(X, scan=scan)
        names = None if X.columns is None else np.asarray(X.columns, dtype=object)
        if reset:
            self.n_features_in_ = X.shape[1]
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return X
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and names is not None and list(fitted) != list(names):
            raise ValueError(f"The feature names should match those that were passed during fit: the shards' "
                             f"columns are {list(names)}, the model was fitted on {list(fitted)}.")
        if (fitted is None) != (names is None):
            warnings.warn(f"X {'has' if names is not None else 'does not have'} feature names, but "
                          f"{type(self).__name__} was fitted {'without' if fitted is None else 'with'} "
                          "feature names", UserWarning, stacklevel=3)
        return X

    def _transform_tensor(self, X) -> torch.Tensor:
        z = self._embed(self.autoencoder_, BatchSource(X, self.device_, check=True))
        return _finite_rows(z, "embedding")

    def _q_tensor(self, X) -> torch.Tensor:
        centers = torch.as_tensor(self.cluster_centers_, dtype=torch.float32, device=self.device_)
        with torch.no_grad():
            return _finite_rows(self._soft_assign_chunked(self._transform_tensor(X), centers),
                                "soft assignment")

    def transform(self, X):
        """Embed X with the trained encoder.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, embedding_dim)
            The embedding, float32 (the network's precision) whatever X's dtype.
        """
        check_is_fitted(self)
        X = self._check_test_data(X, scan=False)  # the pass below checks shards as it reads
        return self._transform_tensor(X).cpu().numpy()

    def predict_proba(self, X):
        """Soft assignment q of each point to each cluster (eq. 1).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        q : ndarray of shape (n_samples, n_clusters)
            Rows sum to one; float32, the network's precision.
        """
        check_is_fitted(self)
        X = self._check_test_data(X, scan=False)  # the pass below checks shards as it reads
        return self._q_tensor(X).cpu().numpy()

    def predict(self, X):
        """Cluster of each point: argmax of its soft assignment.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = self._check_test_data(X, scan=False)  # the pass below checks shards as it reads
        return self._q_tensor(X).argmax(dim=1).cpu().numpy()

    def score(self, X, y=None):
        """Minus the clustering loss on X: -KL(P || Q) with X's own target.

        Higher is better: X falls confidently into the learned clusters.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = self._check_test_data(X, scan=False)  # the pass below checks shards as it reads
        centers = torch.as_tensor(self.cluster_centers_, dtype=torch.float32, device=self.device_)
        z = self._transform_tensor(X)
        with torch.no_grad():
            q = _finite_rows(self._soft_assign_chunked(z, centers), "soft assignment")
            p = self._target(q)
            # The loss is a mean over points: sum it chunk by chunk, weighted by chunk size.
            rows = chunk_rows(centers.shape[0] * centers.shape[1])
            total = sum(
                float(self._clustering_loss(zc, centers, pc)) * len(zc)
                for zc, pc in zip(z.split(rows), p.split(rows))
            )
            return -total / len(z)

    # ------------------------------------------------------------ save/load

    def save(self, path) -> None:
        """Write the fitted model to ``path`` in a format that loads without running code.

        Reload it with :func:`deepclust.load`. When training data-parallel
        (``torch.distributed``), only rank 0 writes: every rank holds the same
        network and centroids, and the others return without writing.
        """
        from ._io import save_model

        check_is_fitted(self)
        if distributed.rank() != 0:
            logger.info("rank %d: save(%r) skipped, rank 0 writes the model", distributed.rank(), str(path))
            return
        save_model(self, path)
