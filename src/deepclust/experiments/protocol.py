"""What every protocol of :mod:`deepclust.experiments` shares: the methods' names, the checks of
the data, seeds, numbers of clusters and settings, the scores, and the pretrained autoencoder that
a seed's methods start from."""

from __future__ import annotations

from math import nan

import numpy as np
import scipy.sparse as sp

from .. import registry
from .._utils import repeated
from ..metrics import adjusted_rand_score, cluster_accuracy, normalized_mutual_info_score

BASELINES = ("k-means", "GMM", "spectral")
TABLE2_METHODS = ("k-means", "GMM", "spectral", "AE + k-means", "AE + GMM", "DEC w/o backprop", "DEC")
# Every registered method besides DEC (whose rows are the paper's): IDEC, DCN, DBC, ...
DEEP_METHODS = tuple(name for name in registry.names() if name != "DEC")
_KNOWN = (*TABLE2_METHODS, *DEEP_METHODS)
# DEC settings that only shape the pretrained autoencoder: methods that reuse it do not take them.
_PRETRAINING = {"pretrain", "pretrain_epochs", "pretrain_lr", "pretrain_optimizer", "layerwise_iter",
                "finetune_iter", "layerwise_lr", "layerwise_lr_step", "dropout", "hidden_dims",
                "embedding_dim"}


def scores(y, labels) -> dict:
    """ACC, NMI and ARI of ``labels`` against the truth ``y``."""
    return {"acc": cluster_accuracy(y, labels), "nmi": normalized_mutual_info_score(y, labels),
            "ari": adjusted_rand_score(y, labels)}


def _check_methods(methods) -> tuple:
    methods = tuple(methods)
    unknown = [m for m in methods if m not in _KNOWN]
    if unknown or not methods:
        raise ValueError(f"methods={list(methods)!r}: unknown {unknown}; choose from {list(_KNOWN)}.")
    return methods


def _check_data(X, y):
    """``(X, y)`` ready for the protocols: X a 2-D array or a CSR matrix, so that ``X[rows]``
    selects rows (NumPy arrays, memory-mapped ones included, and :class:`~deepclust.ShardedArray`
    are kept as they are, on disk; lists and DataFrames become arrays); y one label per row."""
    from ..data.shards import ShardedArray

    if sp.issparse(X):
        X = X.tocsr()
    elif not isinstance(X, (np.ndarray, ShardedArray)):
        X = np.asarray(X)
    if len(X.shape) != 2:
        raise ValueError(f"X has shape {X.shape}; the experiments need a 2-D array of shape "
                         "(n_samples, n_features) (reshape a single feature with X.reshape(-1, 1)).")
    y = np.asarray(y).ravel()
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels; the experiments "
                         "score the clusters against one label per row.")
    return X, y


# The DEC settings every protocol sets itself for each fit, so dec_params may not: how to set them.
_SET_BY_PROTOCOL = {"n_clusters": "set it with the argument n_clusters", "random_state": "set it with the "
                    "argument seeds", "device": "set it with the argument device",
                    "checkpoint_dir": "a protocol fits many models, which would all share it"}
# Also set by the protocols that pretrain one autoencoder per seed and give it to every method.
_SET_WITH_SHARED_PRETRAINING = {**_SET_BY_PROTOCOL, "verbose": "set it with the argument verbose",
                                "autoencoder": "the protocol pretrains one per seed and gives it to every method"}


def _check_params(dec_params, set_by: dict) -> dict:
    """``dec_params`` as a dict, refusing the settings ``set_by`` names (those the protocol sets
    itself for every fit, with how to set them), so that a name is neither passed twice nor
    recorded as a setting that was not used."""
    if dec_params is not None and not isinstance(dec_params, dict):
        raise TypeError(f"dec_params={dec_params!r}; give a dict of DEC settings, e.g. {{'max_iter': 2000}}.")
    params = dict(dec_params or {})
    taken = sorted(set_by.keys() & params.keys())
    if taken:
        how = "; ".join(f"{name}: {set_by[name]}" for name in taken)
        raise ValueError(f"dec_params sets {taken}, which this protocol sets itself for every fit; leave "
                         f"{'it' if len(taken) == 1 else 'them'} out ({how}).")
    return params


def _deep_estimators():
    """Every registered method's class, by name."""
    return {name: registry.get(name) for name in registry.names()}


def _shares_pretraining(cls) -> bool:
    """Whether a method starts from the seed's pretrained MLP autoencoder (it takes DEC's network
    settings and a given ``autoencoder``: IDEC, DCN); any other fits on its own (DBC)."""
    names = set(cls._get_param_names())
    return {"autoencoder", "hidden_dims"} <= names


def _samples_per_step(model, n: int) -> float:
    """Samples in an average SGD step: an epoch's last batch is smaller than batch_size."""
    from ..data.batches import batches_per_epoch

    return n / batches_per_epoch(n, model.batch_size)


def _pretrain_samples(ae, n: int) -> float:
    """Samples seen by pretraining's steps: each layer's, then fine-tuning's (a layer-wise step
    trains one layer, so it is cheaper than an end-to-end one); 0 for a given autoencoder."""
    if ae.layerwise_schedule_ is not None:
        schedule = ae.layerwise_schedule_
        steps = (len(ae.autoencoder_.dims) - 1) * schedule["layer_iter"] + schedule["finetune_iter"]
    elif ae.pretrain_schedule_ is not None:
        steps = ae.pretrain_schedule_["n_iter"]
    else:
        steps = 0
    return steps * _samples_per_step(ae, n)


def _clustering_figures(model, n: int) -> dict:
    """Iterations, target updates and the clustering phase's throughput (samples/s) of a fit (a
    method without a separate clustering phase, as IMSAT: its training, and no target updates)."""
    seconds = model.fit_times_.get("clustering", model.fit_times_.get("training", 0.0))
    updates = len(model.history_) - 1 if model.history_ and "delta_label" in model.history_[0] else 0
    return {"n_iter": model.n_iter_, "target_updates": updates,
            "samples_per_s": model.n_iter_ * _samples_per_step(model, n) / seconds if seconds else nan}


def method_estimators(methods) -> list:
    """The deep estimator classes that ``methods`` fit: DEC (whose settings every table takes) and
    every other registered method listed. A setting of ``dec_params`` must belong to one of them."""
    estimators = _deep_estimators()
    return [estimators["DEC"], *(estimators[m] for m in DEEP_METHODS if m in methods)]


def _pretrain(X, k: int, seed: int, params: dict, device: str, verbose: bool):
    """DEC's pretrained autoencoder and k-means on its embedding (``max_iter=0``): the AE + k-means
    row, and the network every method of the seed that starts from one copies."""
    from ..methods.dec import DEC

    return DEC(k, random_state=seed, device=device, verbose=verbose, **{**params, "max_iter": 0}).fit(X)


def _mean_std(rows: list[dict], keys) -> dict:
    """``{key: (mean, std)}`` of each figure over ``rows``."""
    return {key: (float(np.mean([r[key] for r in rows])), float(np.std([r[key] for r in rows]))) for key in keys}


def _seeds(seeds) -> list[int]:
    """The distinct non-negative integer seeds of ``seeds``: a repeated seed draws the same subsets,
    splits and fits again, and would count one run twice in the mean and spread."""
    values = list(np.atleast_1d(seeds)) if seeds is not None else None
    if values is None or any(isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 0
                             for s in values):
        raise ValueError(f"seeds={seeds!r}; give non-negative integer random seeds, e.g. seeds=(0, 1, 2).")
    if not values:
        raise ValueError("seeds is empty; give at least one random seed, e.g. seeds=(0, 1, 2).")
    values = [int(s) for s in values]
    if repeated(values):
        raise ValueError(f"seeds={values} repeats {repeated(values)}; give each seed once.")
    return values


def _n_clusters(y, n_clusters) -> int:
    if n_clusters is None:
        return len(np.unique(y))
    if isinstance(n_clusters, (bool, np.bool_)) or not isinstance(n_clusters, (int, np.integer)) \
            or n_clusters < 1:
        raise ValueError(f"n_clusters={n_clusters!r}; give a positive integer, or None for the number of "
                         "classes in y.")
    return int(n_clusters)
