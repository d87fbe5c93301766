"""The fitting loop of :func:`select_n_clusters`: for each split of X into training and validation
points, one pretrained autoencoder, and from a copy of it a fit of every candidate k, whose loss is
measured on both splits."""

from __future__ import annotations

import logging
import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import ShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d
from tqdm.auto import tqdm

from .._utils import repeated
from ..data.shards import ShardedArray, check_sharded
from ..methods.dec import DEC
from ..metrics import normalized_mutual_info_score
from .rule import NClustersSelection, _conclude, generalizability

logger = logging.getLogger("deepclust.selection")  # the name it had before the split


def _split_loss(model: DEC, X) -> float:
    """DEC's loss KL(P || Q) on X with X's own target (eq. 2 and 3): minus ``model.score``."""
    return -model.score(X)


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


def _missing_labels(y: np.ndarray) -> np.ndarray:
    """Which labels are missing: NaN in a float array, None or NaN in an object one."""
    if y.dtype.kind == "f":
        return np.isnan(y)
    if y.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in y], dtype=bool)
    return np.zeros(len(y), dtype=bool)
