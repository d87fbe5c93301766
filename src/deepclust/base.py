"""The estimator contract every method gets, written once.

:class:`DeepClusterer` is scikit-learn's estimator contract for a torch-backed clusterer:
parameter validation, input checks (arrays, DataFrames, sparse and memory-mapped matrices,
:class:`~deepclust.data.shards.ShardedArray`), seeds, device, precision, a fit that leaves the
estimator as it was when it raises, checkpoints and resume, data-parallel plumbing, save / load
without pickle, and ``predict`` / ``predict_proba`` / ``transform`` / ``score`` on new data.

How a recipe plugs in
---------------------
A method is a subclass that supplies its recipe and nothing of the contract:

* ``_parameter_constraints``: its own parameters, merged with the contract's and its stages';
  ``__init__`` stores every argument unchanged.
* ``_fit_recipe(source, run)``: trains on ``source`` (a :class:`~deepclust.data.batches.BatchSource`
  on the device) and sets the fitted attributes (``labels_``, its network, ...); ``run`` is a
  :class:`FitRun`. Shared stages are mixins a recipe calls:
  :class:`~deepclust.training.pretrain_stage.AutoencoderPretraining`,
  :class:`~deepclust.training.kmeans.KMeansInit` and
  :class:`~deepclust.training.self_training.SelfTraining` (DEC's family combines all three in
  :class:`~deepclust.methods._centroid.CentroidClusterer`).
* ``_transform_tensor(X)``, ``_q_tensor(X)`` and ``_score_tensor(X)``: the embedding, the soft
  assignment and the score of validated new data, as tensors (``predict`` is the argmax of q);
  ``_n_features_out``: the embedding's width.
* For :mod:`deepclust.io`: ``_saved_network``, ``_saved_arrays``, ``_saved_json`` and the hooks
  ``_extra_arrays`` / ``_restore_extra_arrays`` / ``_check_restored``.

A new method is one file under ``deepclust/methods/`` and one line in :mod:`deepclust.registry`.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .data.batches import BatchSource
from .data.shards import ShardedArray, check_sharded
from .data.tables import frame_column_error
from .training import distributed
from .training.device import resolve_device
from .training.precision import PRECISIONS, phase_dtypes, resolve_precision

logger = logging.getLogger(__name__)

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_SEED_MAX = np.iinfo(np.int32).max


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


@dataclass
class FitRun:
    """What the contract prepared for a recipe's ``_fit_recipe``."""

    device: torch.device
    generator: torch.Generator  # seeded from random_state; the recipe's torch randomness
    rng: np.random.RandomState  # random_state's generator, after the torch seed was drawn
    checkpoint: object | None  # a training.checkpoint.Checkpointer, its checkpoint loaded


class DeepClusterer(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Base class of every deepclust estimator: the contract, apart from any method's recipe
    (see the module docstring). ``get_feature_names_out`` names the embedding's columns after
    the class (``dec0``, ``dec1``, ...), so ``set_output(transform="pandas")`` works."""

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "precision": [StrOptions(set(PRECISIONS))],
        "checkpoint_dir": [str, os.PathLike, None],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # Whether the method trains data-parallel under torch.distributed (see training/distributed.py).
    _supports_distributed = True
    # Settings that fit a few hundred points in about a second (tests/test_battery.py's), and the
    # scikit-learn checks a method is expected to fail, each with its reason.
    _test_params: dict = {}
    _expected_failed_checks: dict = {}
    # What deepclust.io saves: the network (with a config()), arrays, JSON attributes and their types.
    _saved_network: str = ""
    _saved_arrays: tuple = ("labels_",)
    _saved_optional_arrays: tuple = ()
    _saved_json: dict = {"n_features_in_": int, "precision_": str}

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
        """Fit the method to X.

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
        """The body of :meth:`fit`, which undoes what it set if it raises: the contract's
        checks and set-up, then the recipe's ``_fit_recipe``."""
        self._validate_params()
        X = self._validate_X(X, reset=True)
        self._check_network(X.shape[1])
        n_total = X.shape[0]
        if distributed.active():
            self._check_distributed()
            # A rank's shard may hold fewer than k points: the ranks' total must reach k.
            n_total = int(distributed.all_reduce(torch.tensor(n_total, dtype=torch.int64)))
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
        seed = self._shared_seed(rng)
        # manual_seed reseeds every CUDA device: fork (save and restore) all of them.
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            torch.manual_seed(seed)
            generator = torch.Generator().manual_seed(seed)
            run = FitRun(device, generator, rng, self._checkpointer(X, generator, device))
            self._fit_recipe(BatchSource(X, device), run)
        self.device_ = device
        return self

    @staticmethod
    def _shared_seed(rng: np.random.RandomState) -> int:
        """A seed drawn from ``rng``: rank 0's on every rank when training data-parallel."""
        seed = int(rng.randint(_SEED_MAX))
        return int(distributed.broadcast(torch.tensor([seed])).item()) if distributed.active() else seed

    def _fit_recipe(self, source: BatchSource, run: FitRun) -> None:
        """Train on ``source`` and set the fitted attributes: the method's recipe."""
        raise NotImplementedError

    def _check_network(self, n_features: int) -> None:
        """Refuse settings that cannot build the method's network(s), before any work."""

    def _extra_arrays(self) -> dict:
        """Tensors of the method's own to save beside ``_saved_arrays`` (deepclust.io)."""
        return {}

    def _restore_extra_arrays(self, arrays: dict) -> None:
        """Restore what ``_extra_arrays`` saved, from a loaded file's arrays."""

    def _check_restored(self) -> None:
        """Refuse a loaded model whose parts disagree (a ValueError saying what)."""

    def _batch_per_rank(self) -> int:
        """Samples per step in this process: batch_size, shared by the ranks when data-parallel."""
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

    def _checkpointer(self, X, generator, device):
        """The fit's checkpointer (None without ``checkpoint_dir``), with its checkpoint loaded."""
        if self.checkpoint_dir is None:
            return None
        from ._version import __version__
        from .io import json_params
        from .training.checkpoint import Checkpointer, data_fingerprint, module_fingerprint

        params = json_params(self)
        for name in ("verbose", "device", "checkpoint_dir", "checkpoint_every"):
            params.pop(name, None)
        given = {name: module_fingerprint(value) for name, value in self.get_params(deep=False).items()
                 if isinstance(value, torch.nn.Module)}
        identity = {
            "estimator": type(self).__name__,
            "params": params,
            "data": data_fingerprint(X),
            "autoencoder": given.get("autoencoder"),  # a given network, by its weights
            "deepclust_version": __version__,
            "precision": self.precision_,  # "auto" may resolve differently on another machine
        }
        checkpoint = Checkpointer(self.checkpoint_dir, self.checkpoint_every, identity, generator, device)
        checkpoint.load()
        return checkpoint

    # ----------------------------------------------------- inference on new X

    def _check_test_data(self, X, *, scan: bool = True):
        """Validate X for inference. ``scan=False``: a :class:`ShardedArray`'s values are not read
        here, because the caller's full pass (:meth:`_transform_tensor`) checks each block it reads."""
        return self._validate_X(X, reset=False, scan=scan)

    def _validate_X(self, X, *, reset: bool, scan: bool = True):
        """``validate_data`` for arrays, sparse matrices and frames; a :class:`ShardedArray` is
        checked a block at a time and kept on disk."""
        if not isinstance(X, ShardedArray):
            try:
                X = validate_data(self, X, reset=reset, accept_sparse="csr", dtype=[np.float64, np.float32])
            except ValueError as exc:
                named = frame_column_error(X)  # a data frame's column that holds text: name it
                if named is None:
                    raise
                raise named from exc
            return _check_float32_range(X)
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
        """The embedding of validated X: the recipe's."""
        raise NotImplementedError

    def _q_tensor(self, X) -> torch.Tensor:
        """The soft assignment of validated X: the recipe's."""
        raise NotImplementedError

    def _score_tensor(self, X) -> float:
        """The score of validated X: the recipe's."""
        raise NotImplementedError

    def transform(self, X):
        """Embed X with the trained network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features_out)
            The embedding, float32 (the network's precision) whatever X's dtype.
        """
        check_is_fitted(self)
        X = self._check_test_data(X, scan=False)  # the pass below checks shards as it reads
        return self._transform_tensor(X).cpu().numpy()

    def predict_proba(self, X):
        """Soft assignment q of each point to each cluster (DEC's eq. 1, or the method's own).

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
        """Minus the method's clustering loss on X (DEC's: -KL(P || Q) with X's own target).

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
        return self._score_tensor(X)

    def save(self, path) -> None:
        """Write the fitted model to ``path`` in a format that loads without running code.

        Reload it with :func:`deepclust.load`. When training data-parallel
        (``torch.distributed``), only rank 0 writes: every rank holds the same
        network and centroids, and the others return without writing.
        """
        from .io import save_model

        check_is_fitted(self)
        if distributed.rank() != 0:
            logger.info("rank %d: save(%r) skipped, rank 0 writes the model", distributed.rank(), str(path))
            return
        save_model(self, path)
