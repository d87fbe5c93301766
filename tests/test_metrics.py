"""Unsupervised clustering accuracy (eq. 10) and the re-exported NMI / ARI."""

import itertools

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics

from deepclust import metrics
from deepclust.metrics import adjusted_rand_score, cluster_accuracy, normalized_mutual_info_score


def _brute_force_accuracy(y_true, y_pred):
    """max over all one-to-one cluster -> class mappings, by enumeration."""
    y_true, y_pred = list(y_true), list(y_pred)
    classes, clusters = sorted(set(y_true)), sorted(set(y_pred))
    best = 0
    if len(clusters) <= len(classes):
        for targets in itertools.permutations(classes, len(clusters)):
            m = dict(zip(clusters, targets))
            best = max(best, sum(m[c] == t for c, t in zip(y_pred, y_true)))
    else:
        for sources in itertools.permutations(clusters, len(classes)):
            m = dict(zip(sources, classes))
            best = max(best, sum(m.get(c) == t for c, t in zip(y_pred, y_true)))
    return best / len(y_true)


def test_permuted_labelling_is_perfect():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, size=100)
    perm = np.array([3, 0, 4, 1, 2])
    assert cluster_accuracy(y, perm[y]) == 1.0
    assert cluster_accuracy(y, y) == 1.0


def test_docstring_example():
    assert cluster_accuracy([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0


@pytest.mark.parametrize(
    "y_true, y_pred, expected",
    [
        ([0, 0, 0, 1, 1, 1], [1, 1, 0, 0, 0, 0], 5 / 6),
        ([0, 1, 2, 0, 1, 2], [0, 0, 0, 0, 0, 0], 2 / 6),  # one cluster: best class
        ([0, 0, 1, 1], [0, 1, 0, 1], 0.5),
        ([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 0, 1], 5 / 6),
        ([0, 0, 0, 0], [0, 1, 2, 3], 0.25),  # four clusters, one class
        ([7], [3], 1.0),
    ],
)
def test_known_values(y_true, y_pred, expected):
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(expected)
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(_brute_force_accuracy(y_true, y_pred))


def test_matches_brute_force_on_random_labellings():
    rng = np.random.default_rng(1)
    for n_classes, n_clusters in [(3, 3), (2, 4), (4, 2), (3, 5), (5, 3)]:
        for _ in range(3):
            y_true = rng.integers(0, n_classes, size=30)
            y_pred = rng.integers(0, n_clusters, size=30)
            assert cluster_accuracy(y_true, y_pred) == pytest.approx(
                _brute_force_accuracy(y_true, y_pred)
            )


def test_invariant_to_relabelling_clusters():
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 4, size=60)
    y_pred = rng.integers(0, 4, size=60)
    acc = cluster_accuracy(y_true, y_pred)
    for perm in ([1, 2, 3, 0], [3, 2, 1, 0]):
        assert cluster_accuracy(y_true, np.array(perm)[y_pred]) == acc
    assert cluster_accuracy(y_true, y_pred + 100) == acc


def test_return_mapping():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2]
    y_pred = [5, 5, 5, 9, 9, 7, 7, 9]
    acc, mapping = cluster_accuracy(y_true, y_pred, return_mapping=True)
    assert acc == pytest.approx(7 / 8)
    assert acc == cluster_accuracy(y_true, y_pred)
    assert mapping == {5: 0, 9: 1, 7: 2}
    # Plain Python values, not numpy scalars.
    assert all(type(k) is int and type(v) is int for k, v in mapping.items())
    # The mapping reproduces the accuracy.
    mapped = [mapping.get(c) for c in y_pred]
    assert np.mean([m == t for m, t in zip(mapped, y_true)]) == acc


def test_more_clusters_than_classes():
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [0, 0, 1, 2, 2, 3]
    acc, mapping = cluster_accuracy(y_true, y_pred, return_mapping=True)
    assert acc == pytest.approx(4 / 6)  # unmatched clusters 1 and 3 count as errors
    assert mapping == {0: 0, 2: 1}
    # Each class receives at most one cluster.
    assert len(set(mapping.values())) == len(mapping)


def test_fewer_clusters_than_classes():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 0, 1, 1]
    acc, mapping = cluster_accuracy(y_true, y_pred, return_mapping=True)
    assert acc == pytest.approx(4 / 6)  # one of classes 0/1 is unmatched
    assert len(mapping) == 2
    assert mapping[1] == 2
    assert mapping[0] in (0, 1)


def test_string_labels():
    y_true = ["cat", "cat", "dog", "dog", "bird"]
    y_pred = ["b", "b", "a", "a", "a"]
    acc, mapping = cluster_accuracy(y_true, y_pred, return_mapping=True)
    assert acc == pytest.approx(4 / 5)
    assert mapping == {"b": "cat", "a": "dog"}
    assert all(type(k) is str and type(v) is str for k, v in mapping.items())
    # Mixed kinds: string classes and integer clusters.
    acc2, mapping2 = cluster_accuracy(y_true, [1, 1, 0, 0, 2], return_mapping=True)
    assert acc2 == 1.0
    assert mapping2 == {1: "cat", 0: "dog", 2: "bird"}


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda v: np.array(v, dtype=object), id="object-array"),
        pytest.param(pd.Series, id="pandas-series"),
        pytest.param(lambda v: pd.Series(v, dtype="category"), id="pandas-category"),
        pytest.param(lambda v: np.array(v)[:, None], id="column-vector"),
    ],
)
def test_string_labels_in_other_containers(wrap):
    y_true = ["cat", "cat", "dog", "dog", "bird"]
    y_pred = ["b", "b", "a", "a", "a"]
    acc, mapping = cluster_accuracy(wrap(y_true), wrap(y_pred), return_mapping=True)
    assert acc == pytest.approx(4 / 5)
    assert mapping == {"b": "cat", "a": "dog"}


def test_empty_raises():
    with pytest.raises(ValueError):
        cluster_accuracy([], [])
    with pytest.raises(ValueError):
        cluster_accuracy(np.array([], dtype=int), np.array([], dtype=int), return_mapping=True)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        cluster_accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError):
        cluster_accuracy([0], [0, 0])


def test_two_dimensional_input_raises():
    with pytest.raises(ValueError):
        cluster_accuracy(np.zeros((3, 2)), np.zeros((3, 2)))


def test_nmi_and_ari_are_sklearns():
    assert normalized_mutual_info_score is sklearn.metrics.normalized_mutual_info_score
    assert adjusted_rand_score is sklearn.metrics.adjusted_rand_score
    assert set(metrics.__all__) == {
        "cluster_accuracy", "normalized_mutual_info_score", "adjusted_rand_score",
    }
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 3, size=50)
    y_pred = rng.integers(0, 4, size=50)
    assert metrics.normalized_mutual_info_score(y_true, y_pred) == (
        sklearn.metrics.normalized_mutual_info_score(y_true, y_pred)
    )
    assert metrics.adjusted_rand_score(y_true, y_pred) == (
        sklearn.metrics.adjusted_rand_score(y_true, y_pred)
    )
    assert metrics.normalized_mutual_info_score(y_true, (y_true + 1) % 3) == pytest.approx(1.0)
    assert metrics.adjusted_rand_score(y_true, (y_true + 1) % 3) == pytest.approx(1.0)
