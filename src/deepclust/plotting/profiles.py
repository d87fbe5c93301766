"""What sets each cluster apart, in terms of the data's columns (a table) or terms (text).

A table's cluster profile is, for each cluster c and column f, how far the
cluster's mean lies from the overall mean in standard deviations:
z = (mean_c(f) - mean(f)) / std(f), over the data given. A text cluster's
distinctive terms are those whose mean weight (tf-idf) in the cluster most
exceeds their mean weight over all documents, English stop words left out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._base import _figure

_BLOCK_ROWS = 8192


def _resolve(model_or_labels, X, n_clusters):
    """``(rows, labels, k)``: X's rows by position (an array, CSR matrix or ShardedArray) and the
    cluster of each, from a fitted model's soft assignments or from the labels given."""
    from ..data.shards import ShardedArray

    if hasattr(model_or_labels, "fit"):
        from sklearn.utils.validation import check_is_fitted

        from .model import soft_assignments

        check_is_fitted(model_or_labels)
        q = soft_assignments(model_or_labels, X)
        rows = model_or_labels._check_test_data(X)
        labels, k = q.argmax(axis=1), q.shape[1]
    else:
        if isinstance(X, ShardedArray):
            rows = X
        else:
            from sklearn.utils import check_array

            rows = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
        labels = np.asarray(model_or_labels).ravel()
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            if not np.all(np.equal(np.mod(labels, 1), 0)):
                raise ValueError("labels must be integer cluster indices.")
            labels = labels.astype(np.int64)
        if labels.size and labels.min() < 0:
            raise ValueError("labels must be non-negative cluster indices.")
        k = max(int(labels.max()) + 1 if labels.size else 0, n_clusters or 0)
    if len(labels) != rows.shape[0]:
        raise ValueError(f"labels has {len(labels)} entries but X has {rows.shape[0]} rows.")
    if rows.shape[0] == 0:
        raise ValueError("X has no rows.")
    return rows, labels.astype(np.int64), (n_clusters or k)


def _blocks(rows):
    """Consecutive row blocks of an array, CSR matrix or ShardedArray: one streaming pass."""
    if hasattr(rows, "blocks"):
        yield from rows.blocks()
        return
    for start in range(0, rows.shape[0], _BLOCK_ROWS):
        yield rows[start:start + _BLOCK_ROWS]


def _cluster_means(rows, labels, k):
    """``(cluster_means (k, d), overall_mean (d,), overall_std (d,), sizes (k,))`` in float64, in one
    pass. Dense values are shifted by the first row before they are summed, so that a column with a
    large offset keeps its variance (no cancellation in E[x^2] - E[x]^2)."""
    d = rows.shape[1]
    sparse = sp.issparse(rows)
    shift = np.zeros(d) if sparse else np.asarray(rows[:1], dtype=np.float64).ravel()
    sums, squares = np.zeros((k, d)), np.zeros(d)
    start = 0
    for block in _blocks(rows):
        block_labels = labels[start:start + block.shape[0]]
        start += block.shape[0]
        onehot = sp.csr_matrix((np.ones(len(block_labels)), (block_labels, np.arange(len(block_labels)))),
                               shape=(k, len(block_labels)))
        if sparse:
            block = block.astype(np.float64)
            sums += np.asarray((onehot @ block).todense())
            squares += np.asarray(block.multiply(block).sum(axis=0)).ravel()
        else:
            block = np.asarray(block, dtype=np.float64) - shift
            sums += onehot @ block
            squares += np.einsum("ij,ij->j", block, block)
    sizes = np.bincount(labels, minlength=k)[:k]
    n = sizes.sum()
    total = sums.sum(axis=0)
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean ** 2, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / sizes[:, None]  # an empty cluster's row is NaN
    return means + shift, mean + shift, std, sizes


@dataclass
class ClusterProfiles:
    """What :func:`cluster_profile_scores` returns.

    Attributes
    ----------
    z : ndarray of shape (n_clusters, n_features)
        ``(mean_c - mean) / std`` of each cluster and column; 0 for a constant
        column, NaN for an empty cluster.
    feature_names : list of str
    sizes : ndarray of shape (n_clusters,)
        The points in each cluster.
    separation : ndarray of shape (n_features,)
        The share of each column's variance that lies between the clusters
        (the correlation ratio eta^2 = sum_c n_c z_c^2 / n, in [0, 1]): how
        distinctive the column is of the clustering as a whole.
    """

    z: np.ndarray
    feature_names: list
    sizes: np.ndarray
    separation: np.ndarray

    def order(self) -> np.ndarray:
        """The columns, most distinctive first (by ``separation``; ties keep the columns' order)."""
        return np.argsort(-self.separation, kind="stable")

    def distinctive(self, cluster: int, n_columns: int = 3) -> list[tuple[str, float]]:
        """The ``n_columns`` columns of ``cluster`` with the largest ``|z|``, as ``(name, z)``."""
        z = self.z[cluster]
        if self.sizes[cluster] == 0:
            return []
        best = np.argsort(-np.abs(z), kind="stable")[:n_columns]
        return [(self.feature_names[f], float(z[f])) for f in best]

    def lines(self, n_columns: int = 3) -> list[str]:
        """One line a cluster, its most distinctive columns first:
        ``"cluster 2 (40 points): alcohol +1.8 sd, proline +1.5 sd, hue -1.2 sd"``."""
        out = []
        for c in range(len(self.sizes)):
            head = f"cluster {c} ({self.sizes[c]} point{'s' if self.sizes[c] != 1 else ''})"
            if self.sizes[c] == 0:
                out.append(f"{head}: empty")
                continue
            out.append(f"{head}: " + ", ".join(f"{name} {z:+.1f} sd"
                                              for name, z in self.distinctive(c, n_columns)))
        return out


def _feature_names(X, feature_names, model, d) -> list[str] | None:
    if feature_names is None:
        columns = getattr(X, "columns", None)
        if columns is not None:
            feature_names = list(columns)
        elif getattr(model, "feature_names_in_", None) is not None:
            feature_names = list(model.feature_names_in_)
    if feature_names is None:
        return None
    names = [str(f) for f in feature_names]
    if len(names) != d:
        raise ValueError(f"{len(names)} feature names for data of {d} columns.")
    return names


def cluster_profile_scores(model_or_labels, X, *, feature_names: Sequence[str] | None = None,
                           n_clusters: int | None = None) -> ClusterProfiles:
    """How far each cluster's mean lies from the overall mean, in standard deviations, per column.

    Parameters
    ----------
    model_or_labels : fitted DEC (or any deepclust method), or array-like of shape (n_samples,)
        The clustering: a model (its largest soft assignment of each row of
        ``X``) or the cluster index of each row.
    X : {array-like, sparse matrix, DataFrame, ShardedArray} of shape (n_samples, n_features)
        The data; the means and standard deviations are those of these rows.
    feature_names : sequence of str, optional
        The name of each column. None: a DataFrame's columns, else the
        model's ``feature_names_in_``, else ``x0``, ``x1``, ...
    n_clusters : int, optional
        With labels: the number of clusters (clusters with no row are kept,
        empty). None: one more than the largest label.

    Returns
    -------
    ClusterProfiles
        ``z`` (clusters x columns), the names, the cluster sizes and each
        column's ``separation``; ``.lines()`` says each cluster's most
        distinctive columns.
    """
    model = model_or_labels if hasattr(model_or_labels, "fit") else None
    rows, labels, k = _resolve(model_or_labels, X, n_clusters)
    names = _feature_names(X, feature_names, model, rows.shape[1]) or [f"x{i}" for i in range(rows.shape[1])]
    means, mean, std, sizes = _cluster_means(rows, labels, k)
    # A column constant over the data says nothing of any cluster: z = 0, not a division by zero.
    scale = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, np.inf)
    z = (means - mean) / scale
    separation = np.clip((sizes[:, None] * np.nan_to_num(z) ** 2).sum(axis=0) / sizes.sum(), 0.0, 1.0)
    return ClusterProfiles(z=z, feature_names=names, sizes=sizes, separation=separation)


def cluster_profiles(model_or_labels, X, *, feature_names: Sequence[str] | None = None,
                     n_clusters: int | None = None, max_columns: int = 30, profiles=None):
    """A heat map of each cluster's mean against the overall mean, in standard deviations, per column.

    Each cell is z = (mean_c - mean) / std of a cluster (row) and a column,
    over the data given, on a diverging colour scale centred at 0 (red: the
    cluster's values are higher than the data's, blue: lower). Columns are
    ordered by how distinctive they are of the clustering (the share of their
    variance between the clusters, see :func:`cluster_profile_scores`), and
    only the ``max_columns`` most distinctive are drawn.

    Parameters
    ----------
    model_or_labels : fitted DEC (or any deepclust method), or array-like of shape (n_samples,)
        The clustering: a model or the cluster index of each row of ``X``.
    X : {array-like, sparse matrix, DataFrame, ShardedArray} of shape (n_samples, n_features)
    feature_names : sequence of str, optional
        The name of each column; None: a DataFrame's columns, else the
        model's ``feature_names_in_``, else ``x0``, ``x1``, ...
    n_clusters : int, optional
        With labels: the number of clusters; None: one more than the largest label.
    max_columns : int, default=30
        At most this many columns, the most distinctive, so that the labels stay legible.
    profiles : ClusterProfiles, optional
        Scores already computed by :func:`cluster_profile_scores` (then
        ``model_or_labels`` and ``X`` are not read again).

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from deepclust import plotting
    >>> fig = plotting.cluster_profiles(model, frame)  # doctest: +SKIP
    >>> fig.savefig("profiles.png")  # doctest: +SKIP
    """
    if max_columns < 1:
        raise ValueError(f"max_columns must be at least 1, got {max_columns}.")
    if profiles is None:
        profiles = cluster_profile_scores(model_or_labels, X, feature_names=feature_names,
                                          n_clusters=n_clusters)
    order = profiles.order()[:max_columns]
    z = np.ma.masked_invalid(profiles.z[:, order])
    k, shown = z.shape
    limit = max(float(np.abs(z).max()) if z.count() else 0.0, 0.5)
    from matplotlib import colormaps

    cmap = colormaps["RdBu_r"].with_extremes(bad="#dddddd")  # grey: an empty cluster
    fig = _figure(max(5.0, 0.42 * shown + 2.5), max(2.6, 0.42 * k + 1.8))
    ax = fig.subplots()
    image = ax.imshow(z, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    names = [profiles.feature_names[f] for f in order]
    ax.set_xticks(np.arange(shown), [n if len(n) <= 24 else n[:23] + "\u2026" for n in names],
                  rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(np.arange(k), [f"{c} ({profiles.sizes[c]})" for c in range(k)], fontsize=8)
    ax.set_ylabel("cluster (points)")
    if k * shown <= 300:
        for (r, col), value in np.ndenumerate(profiles.z[:, order]):
            if np.isfinite(value):
                ax.text(col, r, f"{value:+.1f}", ha="center", va="center", fontsize=6.5,
                        color="white" if abs(value) > 0.6 * limit else "black")
    fig.colorbar(image, ax=ax, label="z (sd from the overall mean)", shrink=0.9)
    total = len(profiles.feature_names)
    what = f"the {shown} most distinctive of {total} columns" if shown < total else "columns by distinctiveness"
    fig.suptitle(f"Cluster profiles ({what})")
    return fig


# ------------------------------------------------------------------------ text


def _stop_words(stop_words) -> frozenset:
    if stop_words is None:
        return frozenset()
    if isinstance(stop_words, str):
        if stop_words != "english":
            raise ValueError(f"stop_words must be 'english', None or a collection of words, got {stop_words!r}.")
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        return frozenset(ENGLISH_STOP_WORDS)
    if not isinstance(stop_words, Collection):
        raise ValueError(f"stop_words must be 'english', None or a collection of words, got {stop_words!r}.")
    return frozenset(str(w).lower() for w in stop_words)


def distinctive_terms(rows, labels, k: int, terms: Sequence[str], *, n_terms: int = 10,
                      stop_words="english") -> list[list[tuple[str, float]]]:
    """Each cluster's ``n_terms`` terms whose mean weight in the cluster most exceeds their mean
    weight over all rows (``mean_c - mean``, only terms with a positive excess), stop words (compared
    in lower case) left out, as ``(term, excess)``; an empty cluster has none."""
    means, mean, _, sizes = _cluster_means(rows, labels, k)
    stop = _stop_words(stop_words)
    keep = np.array([t.lower() not in stop for t in terms], dtype=bool)
    out = []
    for c in range(k):
        if sizes[c] == 0:
            out.append([])
            continue
        excess = np.where(keep, means[c] - mean, -np.inf)
        # an excess within rounding of 0 is a term as heavy in the cluster as overall: not distinctive
        floor = 1e-9 * max(float(np.abs(mean).max()), 1e-300)
        best = [t for t in np.argsort(-excess, kind="stable")[:n_terms] if excess[t] > floor]
        out.append([(terms[t], float(excess[t])) for t in best])
    return out
