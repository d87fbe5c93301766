"""Clustering metrics: unsupervised accuracy (eq. 10 of the DEC paper), NMI and ARI.

These compare a clustering with ground-truth labels, for evaluation only.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = [
    "cluster_accuracy",
    "normalized_mutual_info_score",
    "adjusted_rand_score",
]


def cluster_accuracy(y_true, y_pred, *, return_mapping: bool = False):
    """Unsupervised clustering accuracy (eq. 10 of the DEC paper).

    The fraction of points whose cluster, mapped to a class by the best
    one-to-one mapping m, equals their true class:
    ``ACC = max_m (1/n) sum_i 1{y_true_i = m(y_pred_i)}``. The mapping is
    found with the Hungarian algorithm. When there are more clusters than
    classes, the unmatched clusters count as errors; when there are fewer,
    the unmatched classes do.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth labels (any hashable values).
    y_pred : array-like of shape (n_samples,)
        Cluster labels (any hashable values).
    return_mapping : bool, default=False
        Also return the mapping from cluster to class.

    Returns
    -------
    accuracy : float
        In [0, 1]; invariant to relabelling the clusters.
    mapping : dict
        Only when ``return_mapping``: ``{cluster: class}`` for every matched
        cluster.

    Examples
    --------
    >>> from deepclust.metrics import cluster_accuracy
    >>> cluster_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    y_true = column_or_1d(y_true, warn=False)
    y_pred = column_or_1d(y_pred, warn=False)
    check_consistent_length(y_true, y_pred)
    if y_true.shape[0] == 0:
        raise ValueError("cluster_accuracy needs at least one sample; got empty y_true and y_pred.")
    classes, t = np.unique(y_true, return_inverse=True)
    clusters, c = np.unique(y_pred, return_inverse=True)
    counts = np.zeros((clusters.size, classes.size), dtype=np.int64)
    np.add.at(counts, (c, t), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    accuracy = float(counts[rows, cols].sum() / y_true.shape[0])
    if return_mapping:
        mapping = {_py(clusters[r]): _py(classes[k]) for r, k in zip(rows, cols)}
        return accuracy, mapping
    return accuracy


def _py(value):
    """A numpy scalar as the Python value; elements of object arrays are already Python."""
    return value.item() if isinstance(value, np.generic) else value
