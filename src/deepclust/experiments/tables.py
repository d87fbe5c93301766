"""Tables 2, 3 and 4 of the DEC paper: every method on the data over seeds
(:func:`compare_methods`), and on imbalanced subsets of it (:func:`imbalance_study`)."""

from __future__ import annotations

import time
from math import nan

import numpy as np
import scipy.sparse as sp

from .protocol import (
    _PRETRAINING,
    _SET_WITH_SHARED_PRETRAINING,
    TABLE2_METHODS,
    _check_data,
    _check_methods,
    _check_params,
    _clustering_figures,
    DEEP_METHODS,
    _deep_estimators,
    _shares_pretraining,
    _mean_std,
    _n_clusters,
    _pretrain,
    _pretrain_samples,
    _seeds,
    method_estimators,
    scores,
)

SPECTRAL_MAX_SAMPLES = 10_000
DENSE_MAX_VALUES = 50_000_000  # GMM and spectral clustering densify sparse data up to this size


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

    sharing = [m for m in DEEP_METHODS if m in methods and _shares_pretraining(estimators[m])]
    alone = [m for m in DEEP_METHODS if m in methods and m not in sharing]
    shared = [m for m in methods if m in ("AE + k-means", "AE + GMM", "DEC w/o backprop", "DEC", *sharing)]
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
        for name in ("DEC w/o backprop", "DEC", *sharing):
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
    for name in alone:  # its own network and pretraining (DBC's convolutional one)
        own = {key: v for key, v in params.items() if key in accepted[name] and key != "pretrain"}
        start = time.perf_counter()
        try:
            model = estimators[name](k, random_state=seed, device=device, verbose=verbose, **own).fit(X)
        except ValueError as exc:  # e.g. not image-shaped data
            out[name] = {"skipped": " ".join(str(exc).split())}
        else:
            out[name] = {**scores(y, model.labels_), "seconds": time.perf_counter() - start,
                         **_clustering_figures(model, X.shape[0])}
    return {m: out[m] for m in methods if m in out}


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
