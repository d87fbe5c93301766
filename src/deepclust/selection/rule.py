"""The rule of :func:`~deepclust.select_n_clusters` and the tables it reads: the generalizability
G, the chosen k just before the largest drop of G, the warnings when the splits cannot tell that
drop from the noise, and the pooling of several runs' splits into one selection
(:func:`pool_selections`)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._utils import repeated


def generalizability(loss_train: float, loss_validation: float) -> float:
    """G = L_train / L_validation (section 5.5); NaN when L_validation is 0."""
    return float(loss_train / loss_validation) if loss_validation > 0 else float("nan")


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
