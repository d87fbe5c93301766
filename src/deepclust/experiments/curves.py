"""Figures 2, 5 (f) and 6 of the DEC paper as protocols: DEC's accuracy over a range of one
clustering setting (:func:`robustness_sweep`), at every target update of its clustering phase
(:func:`accuracy_over_iterations`), and its generalizability over numbers of clusters
(:func:`generalizability_study`)."""

from __future__ import annotations

import time
import warnings

from .protocol import (
    _PRETRAINING,
    _SET_BY_PROTOCOL,
    _SET_WITH_SHARED_PRETRAINING,
    _check_data,
    _check_params,
    _mean_std,
    _n_clusters,
    _pretrain,
    _seeds,
    scores,
)


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
    from ..methods.dec import DEC

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
    from ..plotting import snapshot_accuracy as accuracy

    return accuracy(model, y)


def accuracy_over_iterations(X, y, *, seeds=(0, 1, 2), n_clusters=None, snapshot_size: int = 10_000,
                             dec_params=None, device: str = "auto", verbose: bool = False, log=None) -> dict:
    """Figure 5 (f): DEC's accuracy at every target update of its clustering phase.

    Measured on ``min(snapshot_size, n_samples)`` random training rows (all of them on digits),
    whose embedding DEC records at every update; iteration 0 is the k-means initialisation (AE +
    k-means). Returns per seed the list of ``(iteration, acc)`` and the final ACC of all points.
    """
    from ..methods.dec import DEC

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
    from ..methods.dec import DEC
    from ..selection import pool_selections, select_n_clusters

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
