"""The DEC paper's experiments (sections 4 and 5), as functions and one command per table.

Each function runs a protocol on ``(X, y)`` (the labels are used only to score the clusters,
never to fit or choose anything) and returns plain dicts: every run's figures and their mean and
spread over seeds. :func:`write_experiment` turns a result into a Markdown table, a JSON file and
a figure. The command line runs them on the datasets of :mod:`deepclust.datasets`::

    deepclust experiment table2 --datasets digits fashion-mnist --out results/
    deepclust experiment table4 --datasets digits --out results/
    deepclust experiment robustness --datasets digits --param update_interval --values 10 20 40 80 160
    deepclust experiment iterations --datasets digits --out results/
    deepclust experiment select-k --datasets digits --seeds 0 --out results/

* ``table2``: Tables 2 and 3: k-means, GMM and spectral clustering on the data, AE + k-means and
  AE + GMM on the pretrained embedding, DEC w/o backprop and DEC (and, with ``methods``, IDEC,
  DCN and DBC), ACC / NMI / ARI and wall time over seeds (:func:`compare_methods`).
* ``table4``: Table 4: imbalanced subsets in which class c (of K, 0-based) is kept with
  probability r_min + (1 - r_min) c / (K - 1) (:func:`imbalance_study`).
* ``robustness``: Figure 2: DEC's accuracy over a range of one clustering setting, every value
  starting from the same pretrained autoencoder (:func:`robustness_sweep`).
* ``iterations``: Figure 5 (f): accuracy at every target update of the clustering phase
  (:func:`accuracy_over_iterations`).
* ``select-k``: Figure 6: the generalizability G and the NMI of DEC over candidate numbers of
  clusters, and the k that :func:`~deepclust.select_n_clusters` chooses
  (:func:`generalizability_study`).

The pretrained autoencoder is shared, within a seed, by every method that starts from one (AE +
k-means, AE + GMM, DEC w/o backprop, DEC, IDEC, DCN), so their wall times include that one
pretraining; DBC pretrains its own convolutional network.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from datetime import datetime, timezone
from math import isfinite, nan
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ._utils import repeated
from .metrics import adjusted_rand_score, cluster_accuracy, normalized_mutual_info_score

__all__ = [
    "BASELINES", "DEEP_METHODS", "TABLE2_METHODS", "accuracy_over_iterations", "compare_methods",
    "generalizability_study", "imbalance_study", "imbalanced_indices", "robustness_sweep", "summarise",
    "write_experiment",
]

BASELINES = ("k-means", "GMM", "spectral")
TABLE2_METHODS = ("k-means", "GMM", "spectral", "AE + k-means", "AE + GMM", "DEC w/o backprop", "DEC")
DEEP_METHODS = ("IDEC", "DCN", "DBC")
_KNOWN = (*TABLE2_METHODS, *DEEP_METHODS)
# DEC settings that only shape the pretrained autoencoder: methods that reuse it do not take them.
_PRETRAINING = {"pretrain", "pretrain_epochs", "pretrain_lr", "pretrain_optimizer", "layerwise_iter",
                "finetune_iter", "layerwise_lr", "layerwise_lr_step", "dropout", "hidden_dims",
                "embedding_dim"}
SPECTRAL_MAX_SAMPLES = 10_000
DENSE_MAX_VALUES = 50_000_000  # GMM and spectral clustering densify sparse data up to this size


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
    from .data.shards import ShardedArray

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


def _dense(X, method: str):
    if not sp.issparse(X):
        return np.asarray(X, dtype=np.float32)
    if X.shape[0] * X.shape[1] > DENSE_MAX_VALUES:
        raise MemoryError(f"{method} needs dense data and X ({X.shape[0]} x {X.shape[1]}, sparse) "
                          f"holds more than {DENSE_MAX_VALUES:,} values densified")
    return X.toarray().astype(np.float32)


def _gmm(Z, k: int, seed: int) -> np.ndarray:
    from sklearn.mixture import GaussianMixture

    # Full covariances are k d x d matrices: affordable on an embedding, not on 784 pixels.
    covariance = "full" if Z.shape[1] <= 50 else "diag"
    gmm = GaussianMixture(k, covariance_type=covariance, reg_covar=1e-4, random_state=seed)
    return gmm.fit(Z).predict(Z)


def _spectral(X, k: int, seed: int) -> np.ndarray:
    """Spectral clustering on a 10-nearest-neighbour graph; above SPECTRAL_MAX_SAMPLES points it
    clusters a random sample of that size and gives every other point its nearest sampled
    neighbour's cluster (the eigenproblem of the whole graph does not fit this protocol's time)."""
    from sklearn.cluster import SpectralClustering
    from sklearn.neighbors import KNeighborsClassifier

    n = X.shape[0]
    rows = np.arange(n)
    if n > SPECTRAL_MAX_SAMPLES:
        rows = np.sort(np.random.RandomState(seed).choice(n, SPECTRAL_MAX_SAMPLES, replace=False))
    model = SpectralClustering(k, affinity="nearest_neighbors", n_neighbors=10, assign_labels="cluster_qr",
                               random_state=seed)
    sample_labels = model.fit_predict(X[rows])
    if len(rows) == n:
        return sample_labels
    return KNeighborsClassifier(n_neighbors=1).fit(X[rows], sample_labels).predict(X)


def _deep_estimators():
    from .methods.dbc import DBC
    from .methods.dcn import DCN
    from .methods.dec import DEC
    from .methods.idec import IDEC

    return {"DEC": DEC, "IDEC": IDEC, "DCN": DCN, "DBC": DBC}


def _samples_per_step(model, n: int) -> float:
    """Samples in an average SGD step: an epoch's last batch is smaller than batch_size."""
    from .data.batches import batches_per_epoch

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
    """Iterations, target updates and the clustering phase's throughput (samples/s) of a fit."""
    seconds = model.fit_times_["clustering"]
    return {"n_iter": model.n_iter_, "target_updates": len(model.history_) - 1,
            "samples_per_s": model.n_iter_ * _samples_per_step(model, n) / seconds if seconds else nan}


def run_methods(X, y, n_clusters: int, seed: int, methods=TABLE2_METHODS, *, dec_params=None,
                device: str = "auto", verbose: bool = False) -> dict:
    """Fit each of ``methods`` once with ``random_state=seed`` and score it.

    Returns ``{method: {"acc", "nmi", "ari", "seconds", ...}}``; a method that cannot run on this
    data (GMM or spectral clustering on sparse data too large to densify) is
    ``{"skipped": reason}``. Deep methods also report ``n_iter`` and, for the autoencoder row,
    ``pretrain_seconds``.
    """
    methods = _check_methods(methods)
    X, y = _check_data(X, y)
    params = _check_params(dec_params, _SET_WITH_SHARED_PRETRAINING)
    estimators = _deep_estimators()
    accepted = {cls.__name__: set(cls().get_params()) for cls in method_estimators(methods)}
    unknown = sorted(set(params) - set().union(*accepted.values()))
    if unknown:
        raise ValueError(f"dec_params sets {unknown}, which none of {list(accepted)} takes.")
    k = n_clusters
    out = {}

    def timed(name, fn):
        start = time.perf_counter()
        try:
            labels = fn()
        except MemoryError as exc:
            out[name] = {"skipped": str(exc)}
            return
        out[name] = {**scores(y, labels), "seconds": time.perf_counter() - start}

    if "k-means" in methods:
        from sklearn.cluster import KMeans

        timed("k-means", lambda: KMeans(k, n_init=20, random_state=seed).fit(X).labels_)
    if "GMM" in methods:
        timed("GMM", lambda: _gmm(_dense(X, "GMM"), k, seed))
    if "spectral" in methods:
        timed("spectral", lambda: _spectral(_dense(X, "spectral clustering"), k, seed))

    shared = [m for m in methods if m in ("AE + k-means", "AE + GMM", "DEC w/o backprop", "DEC", "IDEC", "DCN")]
    if shared:
        start = time.perf_counter()
        # DEC's own settings only, not another method's
        ae = _pretrain(X, k, seed, {key: v for key, v in params.items() if key in accepted["DEC"]}, device,
                       verbose)
        ae_seconds = time.perf_counter() - start
        pretrain_s = ae.fit_times_["pretrain"]
        pretrained = {"seconds": ae_seconds, "pretrain_seconds": pretrain_s, "precision": ae.precision_,
                      "samples_per_s": _pretrain_samples(ae, X.shape[0]) / pretrain_s if pretrain_s else nan,
                      "final_reconstruction_loss": ae.pretrain_history_[-1] if ae.pretrain_history_ else nan}
        if "AE + k-means" in methods:
            out["AE + k-means"] = {**scores(y, ae.labels_), **pretrained}
        if "AE + GMM" in methods:
            start = time.perf_counter()
            labels = _gmm(np.asarray(ae.transform(X)), k, seed)
            out["AE + GMM"] = {**scores(y, labels), "seconds": ae_seconds + time.perf_counter() - start}
        clustering = {key: v for key, v in params.items() if key not in _PRETRAINING}
        for name in ("DEC w/o backprop", "DEC", "IDEC", "DCN"):
            if name not in methods:
                continue
            cls = estimators["DEC" if name.startswith("DEC") else name]
            own = {key: v for key, v in clustering.items() if key in accepted[cls.__name__]}
            if name == "DEC w/o backprop":
                own["freeze_encoder"] = True
            start = time.perf_counter()
            model = cls(k, autoencoder=ae.autoencoder_, random_state=seed, device=device, verbose=verbose,
                        **own).fit(X)
            out[name] = {**scores(y, model.labels_), "seconds": ae_seconds + time.perf_counter() - start,
                         **_clustering_figures(model, X.shape[0])}
    if "DBC" in methods:  # its own convolutional network and pretraining
        DBC = estimators["DBC"]
        own = {key: v for key, v in params.items() if key in accepted["DBC"] and key != "pretrain"}
        start = time.perf_counter()
        try:
            model = DBC(k, random_state=seed, device=device, verbose=verbose, **own).fit(X)
        except ValueError as exc:  # not image-shaped data
            out["DBC"] = {"skipped": " ".join(str(exc).split())}
        else:
            out["DBC"] = {**scores(y, model.labels_), "seconds": time.perf_counter() - start,
                          **_clustering_figures(model, X.shape[0])}
    return {m: out[m] for m in methods if m in out}


def method_estimators(methods) -> list:
    """The deep estimator classes that ``methods`` fit: DEC (whose settings every table takes) and
    IDEC, DCN or DBC where listed. A setting of ``dec_params`` must belong to one of them."""
    estimators = _deep_estimators()
    return [estimators["DEC"], *(estimators[m] for m in DEEP_METHODS if m in methods)]


def _pretrain(X, k: int, seed: int, params: dict, device: str, verbose: bool):
    """DEC's pretrained autoencoder and k-means on its embedding (``max_iter=0``): the AE + k-means
    row, and the network every method of the seed that starts from one copies."""
    from .methods.dec import DEC

    return DEC(k, random_state=seed, device=device, verbose=verbose, **{**params, "max_iter": 0}).fit(X)


def _mean_std(rows: list[dict], keys) -> dict:
    """``{key: (mean, std)}`` of each figure over ``rows``."""
    return {key: (float(np.mean([r[key] for r in rows])), float(np.std([r[key] for r in rows]))) for key in keys}


def summarise(runs: list[dict]) -> dict:
    """Mean and standard deviation over runs of every numeric figure of every method.

    ``runs`` is a list of :func:`run_methods` results; returns ``{method: {figure: (mean, std)}}``
    (a method skipped in every run is ``{"skipped": reason}``).
    """
    summary = {}
    for method in runs[0]:
        rows = [r[method] for r in runs if method in r and "skipped" not in r[method]]
        if not rows:
            summary[method] = {"skipped": runs[0][method].get("skipped", "")}
            continue
        keys = [key for key, v in rows[0].items() if isinstance(v, (int, float))]
        summary[method] = _mean_std(rows, keys)
    return summary


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


def compare_methods(X, y, *, n_clusters=None, methods=TABLE2_METHODS, seeds=(0, 1, 2), dec_params=None,
                    device: str = "auto", verbose: bool = False, log=None) -> dict:
    """Tables 2 and 3: every method of ``methods`` on ``(X, y)`` over ``seeds``.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        True labels, used only to score the clusters.
    n_clusters : int, default=None
        The number of clusters; by default the number of distinct labels, as in the paper.
    methods : sequence of str, default=TABLE2_METHODS
        Any of "k-means", "GMM" (diagonal covariances above 50 features, full below),
        "spectral" (10-nearest-neighbour graph, on a sample of at most 10,000 points, the
        rest by their nearest sampled neighbour), "AE + k-means", "AE + GMM",
        "DEC w/o backprop", "DEC", "IDEC", "DCN", "DBC".
    seeds : sequence of int, default=(0, 1, 2)
    dec_params : dict, default=None
        Settings for DEC other than its defaults (the other deep methods get those they take;
        methods that reuse DEC's autoencoder do not get the pretraining ones). A setting of IDEC,
        DCN or DBC alone (e.g. IDEC's ``gamma``, DBC's ``augment``) goes to that method only when
        it is among ``methods``; one that no deep method among them takes is an error.
    device, verbose
        Passed to the deep estimators.
    log : callable, default=None
        Called with one line of text per finished seed (e.g. ``print``).

    Returns
    -------
    dict with ``runs`` (one :func:`run_methods` result per seed), ``summary`` (mean, std) and
    ``n_samples``, ``n_features``, ``n_clusters``, ``seeds``.
    """
    X, y = _check_data(X, y)
    k, seeds = _n_clusters(y, n_clusters), _seeds(seeds)
    runs = []
    for seed in seeds:
        run = run_methods(X, y, k, seed, methods, dec_params=dec_params, device=device, verbose=verbose)
        runs.append(run)
        if log:
            log(f"seed {seed}: " + "; ".join(
                f"{m} ACC {r['acc']:.3f} NMI {r['nmi']:.3f} {r['seconds']:.0f}s" if "acc" in r else f"{m} skipped"
                for m, r in run.items()))
    return {"runs": runs, "summary": summarise(runs), "n_samples": int(X.shape[0]),
            "n_features": int(X.shape[1]), "n_clusters": k, "seeds": seeds}


def imbalanced_indices(y, r_min: float, random_state=None) -> np.ndarray:
    """Rows of an imbalanced subset (Table 4): class c, the c-th of the K sorted class labels
    (0-based), is kept with probability r_min + (1 - r_min) c / (K - 1), so the smallest class
    keeps a fraction r_min of its points and the largest all of them."""
    if not 0.0 < r_min <= 1.0:
        raise ValueError(f"r_min={r_min!r}; it must be in (0, 1].")
    y = np.asarray(y).ravel()
    classes, codes = np.unique(y, return_inverse=True)
    K = len(classes)
    keep_prob = r_min + (1.0 - r_min) * codes / max(K - 1, 1)
    rng = np.random.RandomState(random_state) if not isinstance(random_state, np.random.RandomState) \
        else random_state
    return np.flatnonzero(rng.uniform(size=len(y)) < keep_prob)


def imbalance_study(X, y, *, r_mins=(0.1, 0.3, 0.5, 0.7, 0.9), methods=("k-means", "AE + k-means", "DEC"),
                    seeds=(0, 1, 2), n_clusters=None, dec_params=None, device: str = "auto",
                    verbose: bool = False, log=None) -> dict:
    """Table 4: ``methods`` on imbalanced subsets of ``(X, y)``, one per r_min and seed.

    Each seed draws its own subset (:func:`imbalanced_indices` with ``random_state=seed``) and
    fits every method on it with that seed. Returns ``{"r_mins", "runs": {r_min: [run, ...]},
    "summary": {r_min: summary}, "sizes": {r_min: [subset size per seed]}}``.
    """
    X, y = _check_data(X, y)
    k, seeds = _n_clusters(y, n_clusters), _seeds(seeds)
    out = {"r_mins": [float(r) for r in r_mins], "runs": {}, "summary": {}, "sizes": {},
           "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]), "n_clusters": k, "seeds": seeds}
    for r_min in out["r_mins"]:
        runs, sizes = [], []
        for seed in seeds:
            rows = imbalanced_indices(y, r_min, seed)
            runs.append(run_methods(X[rows], y[rows], k, seed, methods, dec_params=dec_params, device=device,
                                    verbose=verbose))
            sizes.append(int(len(rows)))
        out["runs"][r_min], out["sizes"][r_min] = runs, sizes
        out["summary"][r_min] = summarise(runs)
        if log:
            log(f"r_min {r_min}: " + "; ".join(f"{m} ACC {v['acc'][0]:.3f}" for m, v in out["summary"][r_min].items()
                                                if "acc" in v))
    return out


def robustness_sweep(X, y, *, param: str = "update_interval", values=tuple(10 * 2**i for i in range(9)),
                     seeds=(0, 1, 2), n_clusters=None, dec_params=None, device: str = "auto",
                     verbose: bool = False, log=None) -> dict:
    """Figure 2: DEC's ACC and NMI for each value of one clustering-phase setting.

    The default is the paper's sweep: the target's update interval (its lambda, "the parameter
    that controls annealing speed") over 10 x 2^i, i = 0..8.

    Within a seed every value starts from the same pretrained autoencoder (AE + k-means is
    reported beside), so the sweep shows the setting's own effect. ``param`` must be a DEC
    parameter that is not a pretraining one (e.g. "update_interval", "lr", "alpha", "tol",
    "batch_size").
    """
    from .methods.dec import DEC

    if param in _PRETRAINING or param in _SET_WITH_SHARED_PRETRAINING or param not in DEC().get_params():
        raise ValueError(f"param={param!r} is not a clustering-phase parameter of DEC; use e.g. "
                         "'update_interval', 'lr', 'alpha', 'tol' or 'batch_size'.")
    values = list(values)
    if not values:
        raise ValueError("values is empty; give the settings to sweep.")
    X, y = _check_data(X, y)
    k, seeds = _n_clusters(y, n_clusters), _seeds(seeds)
    params = _check_params(dec_params, _SET_WITH_SHARED_PRETRAINING)
    clustering = {key: v for key, v in params.items() if key not in _PRETRAINING and key != param}
    runs = []
    for seed in seeds:
        ae = _pretrain(X, k, seed, params, device, verbose)
        run = {"AE + k-means": scores(y, ae.labels_), "values": []}
        for value in values:
            start = time.perf_counter()
            dec = DEC(k, autoencoder=ae.autoencoder_, random_state=seed, device=device, verbose=verbose,
                      **clustering, **{param: value}).fit(X)
            run["values"].append({**scores(y, dec.labels_), "seconds": time.perf_counter() - start,
                                  "n_iter": dec.n_iter_})
        runs.append(run)
        if log:
            log(f"seed {seed}: AE + k-means ACC {run['AE + k-means']['acc']:.3f}; " + "; ".join(
                f"{param}={v} ACC {r['acc']:.3f}" for v, r in zip(values, run["values"])))
    summary = [_mean_std([r["values"][i] for r in runs], ("acc", "nmi", "n_iter"))
               for i in range(len(values))]
    return {"param": param, "values": values, "runs": runs, "summary": summary,
            "ae_kmeans": _mean_std([r["AE + k-means"] for r in runs], ("acc", "nmi")),
            "n_samples": int(X.shape[0]), "n_clusters": k, "seeds": seeds}


def snapshot_accuracy(model, y) -> list[tuple[int, float]]:
    """``(iteration, ACC)`` at every target update: :func:`deepclust.plotting.snapshot_accuracy`."""
    from .plotting import snapshot_accuracy as accuracy

    return accuracy(model, y)


def accuracy_over_iterations(X, y, *, seeds=(0, 1, 2), n_clusters=None, snapshot_size: int = 10_000,
                             dec_params=None, device: str = "auto", verbose: bool = False, log=None) -> dict:
    """Figure 5 (f): DEC's accuracy at every target update of its clustering phase.

    Measured on ``min(snapshot_size, n_samples)`` random training rows (all of them on digits),
    whose embedding DEC records at every update; iteration 0 is the k-means initialisation (AE +
    k-means). Returns per seed the list of ``(iteration, acc)`` and the final ACC of all points.
    """
    from .methods.dec import DEC

    X, y = _check_data(X, y)
    k, seeds = _n_clusters(y, n_clusters), _seeds(seeds)
    params = {**_check_params(dec_params, {
        **_SET_BY_PROTOCOL, "verbose": "set it with the argument verbose",
        "snapshot_size": "set it with the argument snapshot_size"}), "snapshot_size": int(snapshot_size)}
    runs = []
    for seed in seeds:
        dec = DEC(k, random_state=seed, device=device, verbose=verbose, **params).fit(X)
        curve = snapshot_accuracy(dec, y)
        runs.append({"curve": curve, "final": scores(y, dec.labels_), "n_iter": dec.n_iter_,
                     "n_recorded": int(len(dec.snapshot_indices_))})
        if log:
            log(f"seed {seed}: ACC {curve[0][1]:.3f} at iteration 0 -> {curve[-1][1]:.3f} at {curve[-1][0]} "
                f"({len(curve)} updates)")
    return {"runs": runs, "n_samples": int(X.shape[0]), "n_clusters": k, "seeds": seeds}


def generalizability_study(X, y, *, candidates=None, seeds=(0,), n_splits: int = 2,
                           validation_size: float = 0.5, dec_params=None, device: str = "auto",
                           verbose: bool = False, log=None) -> dict:
    """Figure 6 (section 5.5): DEC's generalizability G and NMI over numbers of clusters.

    For each seed, :func:`deepclust.select_n_clusters` fits DEC for every candidate k on
    ``n_splits`` training splits, measures G = L_train / L_validation, and chooses the k just
    before the largest drop of G. The labels give each k's NMI, for evaluation, and, when
    ``candidates`` is None, the window of candidates around the number of classes (as the paper's
    figure spans MNIST's 10); they never influence G or which candidate is chosen.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        True labels, used only for the NMI column.
    candidates : sequence of int, default=None
        The numbers of clusters to try; by default the number of classes K give or take 5 (at
        least 2), the span of the paper's figure around MNIST's 10.
    seeds : sequence of int, default=(0,)
        Each seed draws its own splits and fits; distinct. With several, their splits are also
        pooled into one choice (``pooled``), made on all their splits.
    n_splits, validation_size
        :func:`~deepclust.select_n_clusters`' (2 splits of 50 / 50 by default).
    dec_params : dict, default=None
        DEC settings other than its defaults, for every fit; ``n_clusters``, ``tol`` and
        ``random_state`` are set by the selection itself. Every k trains for DEC's ``max_iter``
        (10,000 by default), for every k of every split, which takes far longer than a single
        fit (timings in ``benchmarks/RESULTS.md``), so set ``max_iter`` for the time you have.
    device, verbose
        For DEC, and a progress bar over the fits.
    log : callable, default=None
        Called with one line of text per finished seed.

    Returns
    -------
    dict with ``candidates``, ``runs`` (per seed: ``chosen`` k, ``table`` as
    :class:`~deepclust.selection.NClustersSelection`'s, ``warnings`` raised by the selection and
    ``seconds``), ``pooled`` (with several seeds, every seed's splits pooled into one selection by
    :func:`~deepclust.selection.pool_selections`: its ``chosen`` k, ``table`` and ``warnings``;
    None with one seed), ``n_samples``, ``n_features``, ``n_clusters`` (the number of classes),
    ``n_splits``, ``validation_size`` and ``seeds``.
    """
    from .methods.dec import DEC
    from .selection import pool_selections, select_n_clusters

    params = _check_params(dec_params, {
        **_SET_BY_PROTOCOL, "n_clusters": "set it with the argument candidates",
        "tol": "select_n_clusters trains every k for max_iter iterations, with tol 0: set max_iter"})
    X, y = _check_data(X, y)
    n_classes = _n_clusters(y, None)
    if candidates is None:
        candidates = range(max(2, n_classes - 5), n_classes + 6)
    seeds = _seeds(seeds)  # distinct: the same seed draws the same splits, counted twice when pooled
    estimator = DEC(device=device, **params)
    runs, selections = [], []
    for seed in seeds:
        start = time.perf_counter()
        result, messages = _verdicts(lambda seed=seed: select_n_clusters(
            X, candidates, estimator=estimator, y=y, n_splits=n_splits, validation_size=validation_size,
            random_state=seed, verbose=verbose))
        selections.append(result)
        runs.append({"chosen": result.n_clusters, "table": result.table, "warnings": messages,
                     "seconds": time.perf_counter() - start})
        if log:
            best = max(result.table, key=lambda row: row["nmi"])["k"]
            log(f"seed {seed}: chosen k {result.n_clusters} (highest NMI at {best}; {n_classes} classes)"
                + ("; " + " ".join(messages) if messages else ""))
    candidates = [row["k"] for row in runs[0]["table"]]  # as select_n_clusters checked and sorted them
    out = {"candidates": candidates, "runs": runs, "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
           "n_clusters": n_classes, "n_splits": int(n_splits), "validation_size": float(validation_size),
           "seeds": seeds, "pooled": None}
    if len(selections) > 1:  # every seed's splits in one table: the choice G's noise allows best
        pooled, messages = _verdicts(lambda: pool_selections(selections))
        out["pooled"] = {"chosen": pooled.n_clusters, "table": pooled.table, "warnings": messages}
        if log:
            log(f"{len(seeds)} seeds pooled ({len(pooled.splits)} splits): chosen k {pooled.n_clusters}"
                + ("; " + " ".join(messages) if messages else ""))
    return out


def _verdicts(select):
    """Call ``select()``; return its result and the selection's own warnings (as text, to go with the
    run); any other warning is passed on."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = select()
    messages = []
    for w in caught:
        if issubclass(w.category, UserWarning) and str(w.message).startswith("select_n_clusters:"):
            messages.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, messages


# ---------------------------------------------------------------------------- writing results


def _cell(pair) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"


def markdown(kind: str, results: dict) -> str:
    """The Markdown table of an experiment's results (``results``: ``{dataset: result}``)."""
    names = list(results)
    lines = []
    if kind == "table2":
        methods = list(dict.fromkeys(m for r in results.values() for m in r["summary"]))
        lines.append("| method | " + " | ".join(f"{d} ACC | {d} NMI | {d} time (s)" for d in names) + " |")
        lines.append("|---" * (1 + 3 * len(names)) + "|")
        for m in methods:
            cells = []
            for d in names:
                row = results[d]["summary"].get(m)
                if row is None or "acc" not in row:
                    cells += ["n/a"] * 3
                else:
                    cells += [_cell(row["acc"]), _cell(row["nmi"]), f"{row['seconds'][0]:.1f}"]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    elif kind == "table4":
        for d in names:
            r = results[d]
            lines.append(f"\n{d}: ACC (NMI) by r_min, mean ± std over seeds {r['seeds']}\n")
            lines.append("| method | " + " | ".join(f"r_min {x:g}" for x in r["r_mins"]) + " |")
            lines.append("|---" * (1 + len(r["r_mins"])) + "|")
            methods = list(r["summary"][r["r_mins"][0]])
            for m in methods:
                cells = [r["summary"][x].get(m, {}) for x in r["r_mins"]]
                lines.append(f"| {m} | " + " | ".join(
                    f"{_cell(c['acc'])} ({c['nmi'][0]:.3f})" if "acc" in c else "n/a" for c in cells) + " |")
            lines.append("| points | " + " | ".join(f"{np.mean(r['sizes'][x]):.0f}" for x in r["r_mins"]) + " |")
    elif kind == "robustness":
        for d in names:
            r = results[d]
            lines.append(f"\n{d}: DEC over {r['param']} (AE + k-means ACC {_cell(r['ae_kmeans']['acc'])})\n")
            lines.append(f"| {r['param']} | ACC | NMI | iterations |")
            lines.append("|---|---|---|---|")
            for v, s in zip(r["values"], r["summary"]):
                lines.append(f"| {v} | {_cell(s['acc'])} | {_cell(s['nmi'])} | {s['n_iter'][0]:.0f} |")
    elif kind == "iterations":
        for d in names:
            lines.append(f"\n{d}: ACC of the recorded points at each target update\n")
            lines.append("| seed | iteration 0 (AE + k-means) | final iteration | ACC at 0 | final ACC | "
                         "ACC of all points |")
            lines.append("|---|---|---|---|---|---|")
            for seed, run in zip(results[d]["seeds"], results[d]["runs"]):
                c = run["curve"]
                lines.append(f"| {seed} | {c[0][0]} | {c[-1][0]} | {c[0][1]:.3f} | {c[-1][1]:.3f} | "
                             f"{run['final']['acc']:.3f} |")
    elif kind == "select-k":
        for d in names:
            r = results[d]
            chosen = ", ".join(f"{run['chosen']} (seed {s})" for s, run in zip(r["seeds"], r["runs"]))
            lines.append(f"\n{d}: G = L_train / L_validation (mean of {r['n_splits']} splits) and NMI by k, "
                         f"{r['n_clusters']} classes; chosen k: {chosen}\n")
            lines.append("| k | " + " | ".join(f"G seed {s} | NMI seed {s}" for s in r["seeds"]) + " |")
            lines.append("|---" * (1 + 2 * len(r["seeds"])) + "|")
            for i, k in enumerate(r["candidates"]):
                cells = []
                for run in r["runs"]:
                    row = run["table"][i]
                    cells += [f"{row['G']:.4f}" + (" (chosen)" if k == run["chosen"] else ""), f"{row['nmi']:.3f}"]
                lines.append(f"| {k} | " + " | ".join(cells) + " |")
            for s, run in zip(r["seeds"], r["runs"]):
                lines += [f"\nseed {s}: {message}" for message in run["warnings"]]
            pooled = r.get("pooled")
            if pooled:
                g = " ".join(f"{row['G']:.4f}" for row in pooled["table"])
                lines.append(f"\nAll {len(r['seeds'])} seeds' splits pooled ({len(pooled['table'][0]['G_splits'])} "
                             f"splits): chosen k {pooled['chosen']}; mean G by k: {g}")
                lines += [f"\npooled: {message}" for message in pooled["warnings"]]
    else:
        raise ValueError(f"unknown experiment {kind!r}")
    return "\n".join(lines).strip() + "\n"


def _figure(kind: str, results: dict):
    from .plotting import _figure as new_figure

    names = list(results)
    fig = new_figure(4.5 * len(names), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, d in zip(axes, names):
        r = results[d]
        if kind == "table2":
            rows = [(m, v) for m, v in r["summary"].items() if "acc" in v]
            ax.barh([m for m, _ in rows], [v["acc"][0] for _, v in rows], xerr=[v["acc"][1] for _, v in rows],
                    color="C0")
            ax.invert_yaxis()
            ax.set_xlabel("ACC")
        elif kind == "table4":
            for m in r["summary"][r["r_mins"][0]]:
                points = [(x, r["summary"][x][m]["acc"]) for x in r["r_mins"] if "acc" in r["summary"][x].get(m, {})]
                if points:
                    ax.errorbar([x for x, _ in points], [a[0] for _, a in points], yerr=[a[1] for _, a in points],
                                marker="o", label=m)
            ax.set_xlabel("r_min")
            ax.set_ylabel("ACC")
            ax.legend()
        elif kind == "robustness":
            x = np.arange(len(r["values"]))
            ax.errorbar(x, [s["acc"][0] for s in r["summary"]], yerr=[s["acc"][1] for s in r["summary"]],
                        marker="o", label="DEC")
            ax.axhline(r["ae_kmeans"]["acc"][0], color="grey", linestyle="--", label="AE + k-means")
            ax.set_xticks(x, [str(v) for v in r["values"]])
            ax.set_xlabel(r["param"])
            ax.set_ylabel("ACC")
            ax.set_ylim(0, 1)
            ax.legend()
        elif kind == "select-k":
            from .plotting import _draw_generalizability

            nmi_ax = ax.twinx()
            for i, (seed, run) in enumerate(zip(r["seeds"], r["runs"])):
                _draw_generalizability(ax, run["table"], run["chosen"], colour=f"C{i}", label=f"G, seed {seed}",
                                      nmi_ax=nmi_ax)
            pooled = r.get("pooled")
            if pooled:  # the mean G of every seed's splits; its dots are the seeds' above
                table = pooled["table"]
                ax.plot([row["k"] for row in table], [row["G"] for row in table], color="k", linewidth=2,
                        label="G, seeds pooled")
                best = next(row for row in table if row["k"] == pooled["chosen"])
                ax.scatter([best["k"]], [best["G"]], marker="*", s=200, color="k", zorder=4)
            ax.set_xticks(r["candidates"])
            ax.set_xlabel("number of clusters k (star: chosen)")
            ax.set_ylabel("G = L_train / L_validation")
            nmi_ax.set_ylabel("NMI (dashed)")
            ax.legend(loc="best")
        else:
            for seed, run in zip(r["seeds"], r["runs"]):
                ax.plot(*zip(*run["curve"]), marker=".", label=f"seed {seed}")
            ax.set_xlabel("iteration")
            ax.set_ylabel("ACC")
            ax.legend()
        ax.set_title(d)
    return fig


def write_experiment(kind: str, results: dict, out_dir, *, settings: dict | None = None) -> list[Path]:
    """Write ``<kind>.md``, ``<kind>.json`` and, with matplotlib installed, ``<kind>.png`` in
    ``out_dir``; returns the paths written. ``results`` is ``{dataset: result}``; ``settings``
    (the estimator parameters the run set, e.g. the command line's ``--param``) is recorded in the
    Markdown header and, with the versions, machine and date, as the JSON file's ``settings`` and
    ``run`` keys."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    import torch

    from . import __version__

    now = datetime.now(timezone.utc)
    # As keys in the JSON file, so a script comparing runs need not parse the header built from them.
    run = {"deepclust": __version__, "torch": torch.__version__, "machine": platform.machine(),
           "torch_threads": torch.get_num_threads(), "date": now.isoformat(timespec="seconds")}
    header = (f"deepclust {run['deepclust']}, torch {run['torch']}, {run['machine']}, "
              f"{run['torch_threads']} threads, {now:%Y-%m-%d %H:%M} UTC, settings {settings or 'defaults'}")
    written = [out_dir / f"{kind}.md", out_dir / f"{kind}.json"]
    written[0].write_text(f"<!-- {header} -->\n\n" + markdown(kind, results))
    document = {"experiment": kind, "environment": header, "run": run, "settings": dict(settings or {}),
                "results": results}
    written[1].write_text(json.dumps(_jsonable(document), indent=1, allow_nan=False))
    try:
        fig = _figure(kind, results)
    except ImportError:
        return written
    written.append(out_dir / f"{kind}.png")
    fig.savefig(written[-1], dpi=110, bbox_inches="tight")
    return written


def _jsonable(value):
    """``value`` as plain JSON: numpy scalars and arrays as Python numbers and lists, and a NaN or
    infinite number (a G whose validation loss was 0, say) as null, which every JSON reader takes
    (a bare NaN is not JSON, and strict readers such as ``jq`` or a browser refuse the file)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not isfinite(value):
        return None
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
