"""Choosing the number of clusters by generalizability (DEC paper, section 5.5).

For each candidate k, DEC is fitted on a training split and its clustering
loss L = KL(P || Q) (eq. 2) is measured on the training split and on a
held-out validation split, each with the target P computed from that split's
own soft assignments Q (eq. 3). The generalizability is

    G = L_train / L_validation,

small when the clustering fits the training points better than new points
(overfitting). Pretraining does not depend on k: one autoencoder is pretrained
per split and every k starts from a copy of it. Every k trains for the same
number of clustering iterations, and the chosen k is the last one before the
largest drop of G, the paper's reading of its Figure 6. :func:`pool_selections`
adds the splits of further runs (other ``random_state``) to a selection.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import ShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d
from tqdm.auto import tqdm

from ._utils import repeated
from .methods.dec import DEC
from .metrics import normalized_mutual_info_score
from .data.shards import ShardedArray, check_sharded

__all__ = ["NClustersSelection", "choose_n_clusters", "generalizability", "pool_selections", "select_n_clusters"]

logger = logging.getLogger(__name__)


def generalizability(loss_train: float, loss_validation: float) -> float:
    """G = L_train / L_validation (section 5.5); NaN when L_validation is 0."""
    return float(loss_train / loss_validation) if loss_validation > 0 else float("nan")


def _split_loss(model: DEC, X) -> float:
    """DEC's loss KL(P || Q) on X with X's own target (eq. 2 and 3): minus ``model.score``."""
    return -model.score(X)


@dataclass
class NClustersSelection:
    """What :func:`select_n_clusters` found.

    Attributes
    ----------
    n_clusters : int
        The chosen k: the candidate just before the largest drop of mean G
        (see :func:`choose_n_clusters`).
    table : list of dict
        One row per candidate, in increasing k, with keys ``k``, ``L_train``,
        ``L_validation``, ``G`` (means over the splits), ``G_splits`` (G of
        each split), ``drop`` (G minus the next candidate's G, skipping
        candidates whose G is NaN: the margin of the rule; None on the last
        row and where G is NaN) and, when labels were given, ``nmi`` (mean NMI of the
        fitted clustering of all of X against the labels, for evaluation only).
    splits : list of tuple of ndarray
        The ``(train_indices, validation_indices)`` of each split.
    models : dict or None
        With ``return_models=True``, ``{k: estimator}`` fitted on the first
        split's training points; otherwise None.
    """

    n_clusters: int
    table: list = field(default_factory=list)
    splits: list = field(default_factory=list, repr=False)
    models: dict | None = field(default=None, repr=False)


def _check_candidates(candidates, n_train: int) -> list[int]:
    try:
        values = list(candidates)
    except TypeError:
        raise ValueError(
            f"candidates={candidates!r} must be a sequence of ints, e.g. range(2, 16)."
        ) from None
    if not values:
        raise ValueError("candidates is empty; pass the numbers of clusters to try, e.g. range(2, 16).")
    for k in values:
        if not isinstance(k, Integral) or isinstance(k, bool):
            raise ValueError(f"candidates must hold ints; got {k!r} in candidates={values!r}.")
    values = [int(k) for k in values]
    if min(values) < 2:
        raise ValueError(
            f"candidates={values!r} holds {min(values)}; every candidate must be >= 2 (with one "
            "cluster Q = P = 1 and the loss is 0 on every split, so G is undefined)."
        )
    if repeated(values):
        raise ValueError(f"candidates={values!r} repeats {repeated(values)}; give each k once.")
    if max(values) > n_train:
        raise ValueError(
            f"candidates={values!r} holds k={max(values)} but the training split has only "
            f"n_train={n_train} points; lower the candidates or validation_size."
        )
    return sorted(values)


def select_n_clusters(
    X,
    candidates,
    *,
    estimator: DEC | None = None,
    validation_size: float = 0.5,
    n_splits: int = 2,
    y=None,
    return_models: bool = False,
    random_state=None,
    verbose: bool = False,
) -> NClustersSelection:
    """Choose the number of clusters by DEC's generalizability (section 5.5).

    For each of ``n_splits`` random splits of X into training and validation
    points, an autoencoder is pretrained once on the training points (the
    estimator with ``max_iter=0``), then, for every k in ``candidates``, the
    estimator is fitted on the training points from a copy of that
    autoencoder, for exactly ``max_iter`` clustering iterations (``tol`` is
    set to 0), and its loss L = KL(P || Q) is measured on both splits, each
    with the target P computed from that split's own Q (eq. 3). The
    generalizability of k is ``G = L_train / L_validation``, averaged over
    the splits.

    **Rule.** The chosen k is the candidate just before the largest drop of
    the mean G between consecutive candidates: the paper's reading of its
    Figure 6 ("a sharp drop of generalizability from 9 to 10, which means
    that 9 is the optimal number of clusters"). Up to the natural number of
    clusters, the boundaries between clusters run through sparse regions,
    and new points fall as clearly into a cluster as the training points
    do; one cluster more must cut a dense region in two, where the network
    separates its training points but not new ones, and the validation loss
    jumps. Beyond that G keeps falling, as more dense regions are cut; the
    rule takes the largest drop for the first one, as the paper does. If G
    never drops, the largest candidate is returned. :func:`choose_n_clusters` applies the
    rule to a table.

    Two settings make that drop stand out of the noise of G:

    - Every k trains for the same number of clustering iterations. Stopping
      at ``tol`` would stop each k at a different point of its overfitting,
      and on small data it stops before the overfitting shows.
    - Half of the points are held out (``validation_size=0.5``): G is a
      ratio of two means of per-point losses, dominated by the few points
      between clusters, and with a 20% validation split its sampling error
      was as large as the drop.

    Parameters
    ----------
    X : {array-like, sparse matrix, ShardedArray} of shape (n_samples, n_features)
        The data. A :class:`~deepclust.ShardedArray` stays on disk: each
        split is a view of its rows (``ShardedArray.subset``).
    candidates : sequence of int
        The numbers of clusters to try, each at least 2, distinct, and at most
        the number of training points. The rule needs at least one candidate
        above the natural number of clusters, where G drops.
    estimator : DEC, default=None
        An unfitted :class:`~deepclust.DEC` (or a subclass: IDEC, DBC) whose
        parameters every fit uses; its ``n_clusters``, ``tol`` (set to 0),
        ``max_iter`` (0 for the pretraining only) and ``random_state`` are
        overridden. Its ``max_iter`` is the number of clustering iterations of
        every k. None: ``DEC()`` with its defaults. If it holds a pretrained
        ``autoencoder``, that network is used for every split instead of
        pretraining one; it should not have seen the validation points, or G
        loses its meaning.
    validation_size : float, default=0.5
        Fraction of X held out for validation in each split, in (0, 1). The
        validation split must hold at least ``max(candidates)`` points.
    n_splits : int, default=2
        Number of random training / validation splits G is averaged over.
        ``n_splits=1`` is the paper's single split.
    y : array-like of shape (n_samples,), default=None
        True labels, only to report each k's NMI in the table; they never
        influence the choice.
    return_models : bool, default=False
        Keep the estimators fitted on the first split, one per k.
    random_state : int, RandomState instance or None, default=None
        Seeds the splits and every fit (each k of a split is fitted with the
        same seed, so the curve compares k, not seeds). The estimator's own
        ``random_state`` is ignored.
    verbose : bool, default=False
        Show a progress bar over the fits.

    Returns
    -------
    result : NClustersSelection
        ``n_clusters`` (the chosen k), ``table`` (one row per k: ``k``,
        ``L_train``, ``L_validation``, ``G``, ``G_splits``, ``drop``, and
        ``nmi`` when ``y`` is given), ``splits`` and ``models``.

    Warns
    -----
    UserWarning
        When G never drops over the candidates (the largest k is returned),
        and, with several splits, when the drop that chose k is no larger
        than the noise of G between the splits: the median over k of the
        splits' standard deviation of G times 2 / sqrt(n_splits), which is
        the spread |G_1 - G_2| for two splits and shrinks with more splits
        (about 1.4 standard errors of the difference of two mean G, were
        they independent; the same splits make neighbouring k move together,
        so it errs towards warning). Other splits could then choose another k.
        Otherwise, when the second-largest drop is as large within the
        noise, the warning names its k: the margin of the chosen drop over
        that one is measured on each split's own G (what a split shares
        across k cancels), and the mean margin is compared with the
        standard deviation of the splits' margins times 2 / sqrt(n_splits)
        (``|m_1 - m_2|`` for two splits).

    Notes
    -----
    Every k is fitted on the training half of X only, and for exactly
    ``max_iter`` iterations: with DEC's default of 10,000 that is several
    times what a fit stopping at ``tol`` runs on small data, so a selection
    costs minutes per k even on a few hundred training points. Set the
    estimator's ``max_iter`` for the time you have, but fewer iterations
    chose worse on the benchmark's blobs: the drop just after the true k
    grows with training faster than the ones beyond it. More iterations
    helped little for the extra time.

    How often it finds k is measured with ``benchmarks/select_n_clusters.py
    --max-iter 10000`` (DEC's defaults with a shortened pretraining, two
    50 / 50 splits, one CPU thread); ``benchmarks/RESULTS.md`` has every
    table and ``benchmarks/records/select_n_clusters`` the runs. In short:

    - On Gaussian blobs embedded non-linearly in 100 dimensions, G stays
      level up to the true k, drops just after it, and goes on falling
      beyond it; the rule found the true k in most cases, both on the
      cases the settings were chosen on and on those measured after they
      were fixed. A wrong choice comes either from another drop as large
      as the one after the true k (each split's G is noisy), or from
      close centres that DEC merges, where the clustering is often best
      at the smaller k by NMI too. The warning flags many of the first
      kind, not every one.
    - On scikit-learn's digits G is flat at every k: on a few hundred
      training points the network overfits alike at every k, so the rule
      chose near the true k only by drops within the noise (the warning
      fires).
    - Tried on the development cases and not adopted: four splits (they
      found the true k a little more often but lost a case that two
      splits got right), more points (larger training sets are overfitted
      less, and the drop shrinks with the noise), the first drop above the
      splits' noise, the highest G (the previous rule), a two-segment line
      fitted to G, and the largest second difference of G. Averaging G
      over the second half of training was measured and dropped: each
      split's G falls along a smooth curve as training goes on, so the
      noise is in the splits, not where training stops.
    - The noise warning flags a choice made by noise, not every wrong one:
      the blobs' wrong choices came from drops above their splits' noise.
      With two splits the runner-up warning fires on most choices at this
      size, right and wrong; its message, with each split's G, is what to
      read.

    The paper measured G on MNIST's 70,000 points; on a few thousand, read
    the table, with each split's G and the ``drop`` column, as a
    diagnostic rather than a verdict.

    See Also
    --------
    pool_selections : Add the splits of another run (another ``random_state``) to this one.
    DEC.score : Minus the loss L on some data, with the data's own target.
    deepclust.plotting.generalizability : The table as the paper's Figure 6.
    deepclust.experiments.generalizability_study : This over seeds, as ``deepclust experiment select-k``.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DEC, select_n_clusters
    >>> X, _ = make_blobs(n_samples=300, centers=3, n_features=4, random_state=0)
    >>> small = DEC(hidden_dims=(16,), embedding_dim=2, pretrain="end-to-end",
    ...             pretrain_epochs=20, max_iter=100, batch_size=32)
    >>> result = select_n_clusters(X, range(2, 6), estimator=small, n_splits=1, random_state=0)
    >>> [row["k"] for row in result.table]
    [2, 3, 4, 5]
    """
    if isinstance(X, ShardedArray):  # stays on disk: the splits are views of it, each fit validates them
        X = check_sharded(X)
    else:
        X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
    n_samples = X.shape[0]
    if y is not None:  # checked now, not when the first fit's NMI is computed
        y = column_or_1d(y, warn=False)
        check_consistent_length(X, y)
        missing = _missing_labels(y)
        if missing.any():
            raise ValueError(f"y has {int(missing.sum())} missing labels (NaN or None, e.g. at rows "
                             f"{np.flatnonzero(missing)[:5].tolist()}); give every point a label, or y=None.")
        try:
            np.unique(y)
        except TypeError as exc:
            raise ValueError(f"y mixes labels that cannot be compared ({exc}); give labels of one type.") from exc
    if estimator is None:
        estimator = DEC()
    if not isinstance(estimator, DEC):
        raise TypeError(
            f"estimator={estimator!r} must be a DEC (or a subclass: IDEC, DBC); G is the ratio of "
            "DEC's clustering losses."
        )
    if estimator.checkpoint_dir is not None:
        raise ValueError(
            f"estimator.checkpoint_dir={estimator.checkpoint_dir!r}: the fits of a selection cannot "
            "share one checkpoint directory; set checkpoint_dir=None."
        )
    if (not isinstance(validation_size, Real) or isinstance(validation_size, bool)
            or not 0 < validation_size < 1):
        raise ValueError(f"validation_size={validation_size!r} must be a float in (0, 1), e.g. 0.5.")
    if not isinstance(n_splits, Integral) or isinstance(n_splits, bool) or n_splits < 1:
        raise ValueError(f"n_splits={n_splits!r} must be an int >= 1.")
    n_validation = math.ceil(validation_size * n_samples)
    n_train = n_samples - n_validation
    candidates = _check_candidates(candidates, n_train)
    if n_validation < max(candidates):
        raise ValueError(
            f"validation_size={validation_size} holds out {n_validation} of the {n_samples} points, "
            f"fewer than the largest candidate k={max(candidates)}; the validation loss needs at "
            "least one point per cluster. Raise validation_size or pass more samples."
        )

    rng = check_random_state(random_state)
    split_seed = int(rng.randint(np.iinfo(np.int32).max))
    splitter = ShuffleSplit(n_splits=int(n_splits), test_size=n_validation, random_state=split_seed)
    splits = list(splitter.split(np.zeros((n_samples, 1))))
    seeds = rng.randint(np.iinfo(np.int32).max, size=len(splits))
    losses = np.empty((len(splits), len(candidates), 2))
    nmis = np.full((len(splits), len(candidates)), np.nan)
    models = {} if return_models else None
    bar = tqdm(total=len(splits) * len(candidates), desc="select_n_clusters", disable=not verbose,
               leave=False)
    for s, ((train, validation), seed) in enumerate(zip(splits, seeds)):
        if isinstance(X, ShardedArray):
            X_train, X_validation = X.subset(train), X.subset(validation)
        else:
            X_train, X_validation = X[train], X[validation]
        autoencoder = estimator.autoencoder
        if autoencoder is None:  # pretraining does not depend on k: once per split
            pretrained = clone(estimator).set_params(
                n_clusters=min(candidates), max_iter=0, random_state=int(seed)).fit(X_train)
            autoencoder = pretrained.autoencoder_
        for j, k in enumerate(candidates):
            # The estimator copies the autoencoder it is given, so the fits share no weights.
            # tol=0: every k trains for max_iter iterations, so G compares k at equal training.
            model = clone(estimator).set_params(
                n_clusters=k, autoencoder=autoencoder, tol=0.0, random_state=int(seed)).fit(X_train)
            losses[s, j] = _split_loss(model, X_train), _split_loss(model, X_validation)
            if y is not None:
                labels = np.empty(n_samples, dtype=np.int64)
                labels[train], labels[validation] = model.labels_, model.predict(X_validation)
                nmis[s, j] = normalized_mutual_info_score(y, labels)
            if models is not None and s == 0:
                models[k] = model
            logger.info("split %d, k=%d: L_train=%.5g L_validation=%.5g G=%.5g", s, k,
                        losses[s, j, 0], losses[s, j, 1], generalizability(*losses[s, j]))
            bar.update()
    bar.close()

    table = []
    for j, k in enumerate(candidates):
        g_splits = [generalizability(*losses[s, j]) for s in range(len(splits))]
        row = {"k": k, "L_train": float(losses[:, j, 0].mean()),
               "L_validation": float(losses[:, j, 1].mean()),
               "G": float(np.mean(g_splits)), "G_splits": g_splits}
        if y is not None:
            row["nmi"] = float(nmis[:, j].mean())
        table.append(row)
    return _conclude(table, splits, models)


def _conclude(table, splits, models) -> NClustersSelection:
    """Add the ``drop`` column to ``table``, apply the rule, warn as documented, and wrap it up.

    Called by the public functions only: the warnings point at the code that called them.
    """
    drops = _drops(table)  # the margin each candidate is chosen by
    for row in table:
        row["drop"] = drops[row["k"]]
    chosen = choose_n_clusters(table)
    _warn_if_unreliable(table, chosen, stacklevel=4)
    return NClustersSelection(n_clusters=chosen, table=table, splits=splits, models=models)


def _missing_labels(y: np.ndarray) -> np.ndarray:
    """Which labels are missing: NaN in a float array, None or NaN in an object one."""
    if y.dtype.kind == "f":
        return np.isnan(y)
    if y.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in y], dtype=bool)
    return np.zeros(len(y), dtype=bool)


def pool_selections(selections) -> NClustersSelection:
    """Pool the splits of several :func:`select_n_clusters` runs on the same data into one selection.

    When :func:`select_n_clusters` warns that its splits cannot tell the
    chosen drop of G from the noise, the remedy is more splits; this adds
    them without refitting the ones already measured: run the selection
    again with another ``random_state`` (other splits, other seeds) and pool
    the runs. Each k's ``G`` becomes the mean of every pooled split's G,
    ``G_splits`` their concatenation (in the order given), ``L_train``,
    ``L_validation`` and ``nmi`` the means over all the splits (each only
    when every selection's table has it), and the rule
    and the warnings of :func:`select_n_clusters` are applied to that table
    as if the selection had been run with all those splits at once.

    Parameters
    ----------
    selections : sequence of NClustersSelection
        What :func:`select_n_clusters` returned for the same data, the same
        candidates and the same estimator, with different ``random_state``:
        a split that appears in two of them (the same ``random_state`` twice)
        would be counted twice and make G look surer than it is, and is
        refused. A selection may carry no ``splits`` (one rebuilt from a
        saved table); a repeat is then recognised by its G, equal at every
        k. The data's size and the fraction held out are checked; that the
        data and the estimator's settings are the same is not (a selection
        does not record them): pooling runs of different estimators mixes G
        that are not comparable.

    Returns
    -------
    result : NClustersSelection
        The pooled ``table``, its ``n_clusters``, the ``splits`` of every
        selection in order, and the first selection's ``models`` (fitted on
        its first split, which is the pooled first split).

    Raises
    ------
    TypeError
        When an item is not an :class:`NClustersSelection`.
    ValueError
        When ``selections`` is empty, when their candidates differ, when a
        table lacks one G per split (``G_splits``), when their splits come
        from data of different sizes or hold out different numbers of
        points, or when two share a split: the same validation points, or,
        for selections without ``splits``, the same G at every k.

    Warns
    -----
    UserWarning
        As :func:`select_n_clusters`, on the pooled table; the messages
        start with ``"select_n_clusters:"`` as theirs do.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from deepclust import DEC, select_n_clusters
    >>> from deepclust.selection import pool_selections
    >>> X, _ = make_blobs(n_samples=300, centers=3, n_features=4, random_state=0)
    >>> small = DEC(hidden_dims=(16,), embedding_dim=2, pretrain="end-to-end",
    ...             pretrain_epochs=20, max_iter=100, batch_size=32)
    >>> runs = [select_n_clusters(X, range(2, 6), estimator=small, n_splits=1, random_state=seed)
    ...         for seed in (0, 1)]
    >>> pooled = pool_selections(runs)
    >>> [len(row["G_splits"]) for row in pooled.table]
    [2, 2, 2, 2]
    """
    if isinstance(selections, NClustersSelection):
        raise TypeError("selections must be a sequence of NClustersSelection, e.g. [first, second]; got a "
                        "single one.")
    selections = list(selections)
    if not selections:
        raise ValueError("selections is empty; pass the results of select_n_clusters to pool, e.g. "
                         "[first, second].")
    for i, selection in enumerate(selections):
        if not isinstance(selection, NClustersSelection):
            raise TypeError(f"selections[{i}] is a {type(selection).__name__}; pass what select_n_clusters "
                            "returned (NClustersSelection).")
    ks = [sorted(row["k"] for row in selection.table) for selection in selections]
    for i, other in enumerate(ks[1:], start=1):
        if other != ks[0]:
            raise ValueError(f"selections[0] tried the candidates {ks[0]} and selections[{i}] {other}; pool "
                             "selections of the same candidates.")
    n_splits = []  # of each selection, checked against its table and its splits
    for i, selection in enumerate(selections):
        counts = {len(row.get("G_splits", ())) for row in selection.table}
        if 0 in counts:
            raise ValueError(f"selections[{i}].table has a row without G_splits (each split's G), which "
                             "pooling needs; pass what select_n_clusters returned.")
        if len(counts) > 1 or (selection.splits and counts != {len(selection.splits)}):
            raise ValueError(f"selections[{i}] has {sorted(counts)} G per row (G_splits) and "
                             f"{len(selection.splits)} splits; each row needs one G per split.")
        n_splits.append(counts.pop())
    seen = {}  # a split's sorted validation indices, or its G at every k, -> the selection it came from
    shapes = set()  # (points, validation points) of every split
    for i, selection in enumerate(selections):
        keys = []  # the validation points first, so the message names them when both match
        for train, validation in selection.splits:
            shapes.add((len(train) + len(validation), len(validation)))
            keys.append(("validation points", np.sort(np.asarray(validation)).tobytes()))
        rows = sorted(selection.table, key=lambda row: row["k"])
        for s in range(n_splits[i]):  # the same G at every k: the same split and fit, to the last bit
            # as bytes: NaN (a validation loss of 0) never equals itself as a float
            keys.append(("G at every k", np.array([float(row["G_splits"][s]) for row in rows]).tobytes()))
        for key in keys:
            if key in seen and seen[key] != i:
                raise ValueError(
                    f"selections[{seen[key]}] and selections[{i}] share a split (the same {key[0]}): "
                    "pooling it twice would count the same noise twice. Pool runs made with different "
                    "random_state.")
            seen.setdefault(key, i)
    if len({points for points, _ in shapes}) > 1:
        raise ValueError(f"The selections' splits cover data of {sorted({p for p, _ in shapes})} points; pool "
                         "selections of the same data.")
    if len(shapes) > 1:
        raise ValueError(f"The selections hold out {sorted({v for _, v in shapes})} validation points; G "
                         "depends on the fraction held out, so pool selections of the same validation_size.")

    table = []
    for k in ks[0]:
        rows = [next(row for row in selection.table if row["k"] == k) for selection in selections]
        weights = n_splits
        g_splits = [float(g) for row in rows for g in row["G_splits"]]
        row = {"k": int(k)}
        for key in ("L_train", "L_validation"):
            if all(key in r for r in rows):
                row[key] = float(np.average([r[key] for r in rows], weights=weights))
        row.update(G=float(np.mean(g_splits)), G_splits=g_splits)
        if all("nmi" in r for r in rows):  # each split's mean NMI, over all the splits
            row["nmi"] = float(np.average([r["nmi"] for r in rows], weights=weights))
        table.append(row)
    splits = [split for selection in selections for split in selection.splits]
    return _conclude(table, splits, selections[0].models)


def _split_noise(g_splits) -> float | None:
    """The noise of a mean G over splits, on the scale of the spread of two: the splits' standard
    deviation times 2 / sqrt(n), which is |G_1 - G_2| for two splits and shrinks as splits are added:
    about 1.4 standard errors of the difference of two such means if they were independent. The G
    of neighbouring k come from the same splits and tend to move together, so this errs towards
    warning. None below two finite values."""
    finite = np.asarray(g_splits, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) < 2:
        return None
    return float(finite.std(ddof=1) * 2.0 / math.sqrt(len(finite)))


def _warn_if_unreliable(table, chosen: int, stacklevel: int = 2) -> None:
    """Warn when G never drops, or when the drop that chose k is within the noise of G between splits.

    ``stacklevel`` goes to :func:`warnings.warn`: 2 points at the caller of this function.
    """
    row = next(row for row in table if row["k"] == chosen)
    if row["drop"] is None or not row["drop"] > 0:
        finite = [r["k"] for r in table if not math.isnan(float(r["G"]))]
        if len(finite) < 2:  # no drop to measure: no G, or a single one
            warnings.warn(
                f"select_n_clusters: G is finite at {len(finite)} of the candidates {[r['k'] for r in table]} "
                f"(NaN where a validation loss is 0), so there is no drop to choose by and k={chosen} was "
                "returned; the choice says nothing. Try other candidates or more data.", UserWarning,
                stacklevel=stacklevel)
            return
        largest = "the largest" if len(finite) == len(table) else "the largest with a finite G"
        warnings.warn(
            f"select_n_clusters: G never drops over the candidates {[r['k'] for r in table]}, so "
            f"{largest}, k={chosen}, was chosen; try larger candidates.", UserWarning,
            stacklevel=stacklevel)
        return
    noise = [n for n in (_split_noise(r["G_splits"]) for r in table if not math.isnan(float(r["G"])))
             if n is not None]
    if noise and row["drop"] <= np.median(noise):
        warnings.warn(
            f"select_n_clusters: the largest drop of G, {row['drop']:.3g} after k={chosen}, is no larger "
            f"than the noise of G between the splits ({np.median(noise):.3g}: the median over k of their "
            "standard deviation times 2 / sqrt(n_splits), the spread |G_1 - G_2| for two splits), so other "
            "splits could choose another k. Read the table's G_splits; more splits (run the selection again "
            "with another random_state and pool the runs with deepclust.selection.pool_selections), or more "
            "data, reduce the noise.", UserWarning, stacklevel=stacklevel)
        return
    runner_up = _runner_up(table, chosen)
    if runner_up is not None:
        k, drop, margin, noise = runner_up
        warnings.warn(
            f"select_n_clusters: the drop of G after k={k}, {drop:.3g}, is nearly as large as the one after "
            f"the chosen k={chosen}, {row['drop']:.3g}: the margin between the two, {margin:.3g}, is no "
            f"larger than its noise between the splits ({noise:.3g}: the standard deviation of each split's "
            f"own margin times 2 / sqrt(n_splits), |m_1 - m_2| for two splits), so other splits could choose "
            f"k={k}. Read both k's G_splits; more splits (deepclust.selection.pool_selections adds another "
            f"run's), or more data, tell them apart.",
            UserWarning, stacklevel=stacklevel)


def _runner_up(table, chosen: int):
    """The second-largest drop of G, when the splits do not tell it from the chosen one.

    The margin of the chosen drop over the runner-up is measured on each
    split's own G, so what a split shares across k (its network, its
    held-out points) cancels, and the mean margin is compared with the noise
    of those margins (:func:`_split_noise`: their standard deviation times
    2 / sqrt(n), ``|m_1 - m_2|`` for two splits). Rows whose mean G is NaN
    are left out, as by the rule (every split's G is finite on the others).
    Returns ``(k, drop, mean margin, noise)`` when the mean margin is no
    larger than that noise, else None: also with one split, or when no
    other drop is positive.
    """
    rows = sorted((row for row in table if not math.isnan(float(row["G"]))), key=lambda row: row["k"])
    mean_drops = _drops(rows)
    drops = {k: d for k, d in mean_drops.items() if d is not None and d > 0 and k != chosen}
    if not drops or mean_drops.get(chosen) is None:
        return None
    k = max(drops, key=lambda key: (drops[key], -key))  # the smaller k on a tie, as the rule
    n_splits = min(len(row["G_splits"]) for row in rows)
    margins = []
    for s in range(n_splits):
        split_drops = _drops([{"k": row["k"], "G": row["G_splits"][s]} for row in rows])
        margins.append(split_drops[chosen] - split_drops[k])
    noise = _split_noise(margins)
    margin = float(np.mean(margins))
    if noise is None or margin > noise:
        return None
    return k, drops[k], margin, noise


def choose_n_clusters(table) -> int:
    """The rule of :func:`select_n_clusters`: the k just before the largest drop of G.

    ``table`` holds one row per candidate k, with keys ``k`` and ``G`` (in any
    order: they are sorted by k; a repeated k is a ValueError). The drop
    after a row is its G minus the next row's; the chosen k is the row
    before the largest drop (the smallest such k on a
    tie). The drop is not divided by the step in k, so with unevenly spaced
    candidates a wide step weighs as much as a narrow one. If G never drops
    (no drop is positive), the largest k is returned: nothing overfits
    within the candidates. Rows whose G is NaN (a validation loss of 0) are
    left out, so the drop across such a row is measured between its
    neighbours; if no row remains, the smallest k is returned.
    """
    if len(table) == 0:
        raise ValueError("The table is empty: it needs one row (with keys 'k' and 'G') per candidate k.")
    if repeated(row["k"] for row in table):
        raise ValueError(f"The table has more than one row for k in {repeated(row['k'] for row in table)}; "
                         "give one row (its G, e.g. the mean over splits) per candidate k.")
    drops = [(drop, k) for k, drop in _drops(table).items() if drop is not None]  # increasing k
    if not drops:  # at most one row with a finite G: that one, else the smallest k
        finite = [row["k"] for row in table if not math.isnan(float(row["G"]))]
        return int(min(finite or [row["k"] for row in table]))
    largest, k = max(drops, key=lambda item: item[0])  # the first, so the smallest k, on a tie
    if largest <= 0:
        return int(max(row["k"] for row in table if not math.isnan(float(row["G"]))))
    return int(k)


def _drops(table) -> dict:
    """The drop of G after each candidate k: its G minus that of the next larger k with a finite G.

    None for the largest such k and for rows whose G is NaN. Both the rule
    and the table's ``drop`` column read it.
    """
    rows = sorted((row for row in table if not math.isnan(float(row["G"]))), key=lambda row: row["k"])
    drops = dict.fromkeys(sorted(row["k"] for row in table))  # in increasing k
    for row, following in zip(rows, rows[1:]):
        drops[row["k"]] = float(row["G"]) - float(following["G"])
    return drops
