"""select_n_clusters: the G table, the rule, reproducibility, labels for evaluation only, errors.

There is no test that the chosen k is the true one: the rule needs G's drop after the natural k to
stand out of G's noise, which takes about a thousand points and thousands of clustering iterations
per k (minutes a selection), more than a unit test can afford. benchmarks/select_n_clusters.py
measures that on digits and on non-linearly embedded blobs; here, the mechanics: the table, the
fits behind it, the rule applied to it.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

from deepclust import DCN, DEC, IDEC, select_n_clusters
from deepclust.methods.dec import kl_divergence, target_distribution
from deepclust.selection import (
    NClustersSelection,
    _drops,
    _split_noise,
    _warn_if_unreliable,
    choose_n_clusters,
    generalizability,
    pool_selections,
)

# The tiny selections here are noise; the warnings that say so are tested on their own below.
pytestmark = pytest.mark.filterwarnings("ignore:select_n_clusters:UserWarning")

# A network small enough that a whole selection takes about a second.
TINY = dict(hidden_dims=(16,), embedding_dim=2, pretrain="end-to-end", pretrain_epochs=5, n_init=2,
            max_iter=40, batch_size=32)


@pytest.fixture
def data():
    X, y = make_blobs(n_samples=150, centers=3, n_features=4, cluster_std=0.8, random_state=0)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def _select(X, **kwargs):
    kwargs = {"estimator": DEC(**TINY), "n_splits": 1, "random_state": 0, **kwargs}
    return select_n_clusters(X, kwargs.pop("candidates", [2, 3, 4]), **kwargs)


def test_labels_that_cannot_be_scored_are_refused_before_any_fit(data):
    # NaN or None in y failed after the first k's fits, with scikit-learn's message.
    X, y = data
    with pytest.raises(ValueError, match=r"y has 5 missing labels \(NaN or None, e.g. at rows \[0, 1, 2, 3, 4\]"):
        _select(X, y=np.where(np.arange(len(y)) < 5, np.nan, y))
    with pytest.raises(ValueError, match="y has 1 missing labels"):
        _select(X, y=np.array([None, *y[1:]], dtype=object))
    with pytest.raises(ValueError, match="cannot be compared"):
        _select(X, y=np.array(["a", *y[1:]], dtype=object))


def test_returns_one_row_per_candidate_in_increasing_k(data):
    X, _ = data
    result = _select(X, candidates=[4, 2, 3], n_splits=2)
    assert isinstance(result, NClustersSelection)
    assert [row["k"] for row in result.table] == [2, 3, 4]
    assert result.n_clusters in (2, 3, 4)
    assert result.models is None
    for row in result.table:
        assert set(row) == {"k", "L_train", "L_validation", "G", "G_splits", "drop"}
        assert row["L_train"] > 0 and row["L_validation"] > 0
        assert len(row["G_splits"]) == 2
        assert row["G"] == pytest.approx(np.mean(row["G_splits"]))
    g = [row["G"] for row in result.table]
    assert [row["drop"] for row in result.table[:-1]] == pytest.approx([a - b for a, b in zip(g, g[1:])])
    assert result.table[-1]["drop"] is None
    assert len(result.splits) == 2
    for train, validation in result.splits:
        assert len(validation) == math.ceil(0.5 * len(X))
        assert np.intersect1d(train, validation).size == 0
        assert np.union1d(train, validation).size == len(X)


def test_single_split_G_is_the_ratio_of_the_losses(data):
    X, _ = data
    for row in _select(X).table:
        assert row["G"] == pytest.approx(row["L_train"] / row["L_validation"])


def test_each_split_loss_uses_its_own_target(data):
    """L on a split is KL(P || Q) with P from that split's Q (eqs. 2, 3), by an independent path."""
    X, _ = data
    result = _select(X, return_models=True)
    train, validation = result.splits[0]
    for row in result.table:
        model = result.models[row["k"]]
        assert model.n_clusters == row["k"]
        for rows, key in ((train, "L_train"), (validation, "L_validation")):
            q = torch.as_tensor(model.predict_proba(X[rows]), dtype=torch.float64)
            expected = float(kl_divergence(target_distribution(q), torch.log(q)))
            assert row[key] == pytest.approx(expected, rel=1e-4)


def test_choice_is_the_k_before_the_largest_drop_of_G(data):
    X, _ = data
    result = _select(X, candidates=[2, 3, 4, 5])
    g = [row["G"] for row in result.table]
    drops = [a - b for a, b in zip(g, g[1:])]
    if max(drops) > 0:
        assert result.n_clusters == result.table[drops.index(max(drops))]["k"]
    else:
        assert result.n_clusters == 5


def _rows(ks, gs):
    return [{"k": k, "G": g} for k, g in zip(ks, gs)]


def test_rule_on_given_tables():
    # The paper's Figure 6: a plateau, a sharp drop from 9 to 10, a slower slide after it.
    assert choose_n_clusters(_rows(range(5, 13), [0.97, 0.98, 0.96, 0.97, 0.96, 0.85, 0.83, 0.80])) == 9
    # Not the highest G: that is at the plateau's small end.
    assert choose_n_clusters(_rows([2, 3, 4, 5], [0.99, 0.96, 0.95, 0.80])) == 4
    # Candidates need not be consecutive: the drop is between neighbouring candidates.
    assert choose_n_clusters(_rows([2, 4, 8, 16], [0.9, 0.9, 0.7, 0.65])) == 4
    # A tie goes to the smaller k.
    assert choose_n_clusters(_rows([2, 3, 4, 5], [1.0, 0.9, 0.9, 0.8])) == 2
    # G never drops: nothing overfits within the candidates, so the largest k.
    assert choose_n_clusters(_rows([2, 3, 4], [0.8, 0.9, 0.9])) == 4
    # NaN rows (a validation loss of 0) are left out.
    assert choose_n_clusters(_rows([2, 3, 4, 5], [math.nan, 0.9, 0.7, 0.69])) == 3
    assert choose_n_clusters(_rows([2, 5], [math.nan, 0.8])) == 5
    assert choose_n_clusters(_rows([2, 5], [math.nan, math.nan])) == 2
    assert choose_n_clusters(_rows([3], [0.7])) == 3
    # A NaN row between two others: the drop is measured across it.
    assert choose_n_clusters(_rows([2, 3, 4, 5], [0.95, math.nan, 0.70, 0.69])) == 2
    # A tie goes to the smaller k, whatever the rows' order.
    assert choose_n_clusters(_rows([4, 3, 2], [0.25, 0.5, 0.75])) == 2  # both drops exactly 0.25
    # Rows in any order are read in increasing k.
    assert choose_n_clusters(_rows([5, 2, 4, 3], [0.69, 0.9, 0.7, 0.91])) == 3
    # The drop column is the rule's: measured across a NaN row, None there and on the last finite row.
    assert _drops(_rows([2, 3, 4, 5], [0.95, math.nan, 0.70, 0.69])) == pytest.approx(
        {2: 0.25, 3: None, 4: 0.01, 5: None})
    with pytest.raises(ValueError, match="The table is empty"):
        choose_n_clusters([])
    assert generalizability(1.0, 2.0) == 0.5
    assert math.isnan(generalizability(1.0, 0.0))


def _table(g_splits):
    table = [{"k": k, "G": float(np.mean(g)), "G_splits": g} for k, g in zip(range(2, 2 + len(g_splits)), g_splits)]
    drops = _drops(table)
    for row in table:
        row["drop"] = drops[row["k"]]
    return table


def test_warns_when_the_choice_is_within_the_noise_between_splits():
    noisy = _table([[0.9, 1.0], [0.88, 0.98], [0.80, 0.91], [0.79, 0.89]])  # drops ~0.01-0.08, spread 0.1
    with pytest.warns(UserWarning, match="the largest drop of G, 0.075 after k=3, is no larger than the noise"):
        _warn_if_unreliable(noisy, choose_n_clusters(noisy))
    clear = _table([[0.95, 0.96], [0.95, 0.97], [0.80, 0.81], [0.79, 0.80]])  # drop 0.155, spread 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_unreliable(clear, choose_n_clusters(clear))
        _warn_if_unreliable(_table([[0.9], [0.7]]), 2)  # one split: no spread to compare with


def test_more_splits_lower_the_noise_the_drop_is_measured_against():
    # The same drop (0.06 after k=3) and the same spread of each k's G over the splits (0.1):
    # with 2 splits that spread is the noise (|G_1 - G_2|); with 8 the mean G is surer, the noise is
    # their standard deviation x 2 / sqrt(8), and the drop stands out of it.
    two = _table([[0.95, 1.05], [0.95, 1.05], [0.89, 0.99], [0.89, 0.99]])
    with pytest.warns(UserWarning, match=r"no larger than the noise of G between the splits \(0.1:"):
        _warn_if_unreliable(two, choose_n_clusters(two))
    eight = _table([[0.95, 1.05] * 4, [0.95, 1.05] * 4, [0.89, 0.99] * 4, [0.89, 0.99] * 4])
    assert choose_n_clusters(eight) == 3 and eight[1]["drop"] == pytest.approx(0.06)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_unreliable(eight, 3)  # noise 0.0535 * 2 / sqrt(8) = 0.038 < 0.06
    assert _split_noise([0.9, 1.0]) == pytest.approx(0.1)  # two splits: their spread, as before
    assert _split_noise([0.9, math.nan]) is None and _split_noise([0.9]) is None


def test_no_false_warning_when_the_next_G_is_nan():
    # k=3's validation loss was 0 (G NaN): the drop after k=2 is measured to k=4, not NaN.
    table = _table([[0.95, 0.96], [math.nan, math.nan], [0.70, 0.71], [0.69, 0.70]])
    assert choose_n_clusters(table) == 2 and table[0]["drop"] == pytest.approx(0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_unreliable(table, 2)


def test_warns_when_the_splits_do_not_tell_the_largest_drop_from_the_next():
    # Measured (benchmarks/RESULTS.md, blobs with 5 clusters, seed 1, 10,000 iterations per k): the
    # drops after 5 and after 6 are 0.070 and 0.075; the rule took 6, each split by a margin of 0.002
    # and 0.007, which their spread (0.005) does not tell from 0.
    measured = _table([[0.9900, 0.9812], [0.9565, 0.9626], [0.9423, 0.9496], [0.9327, 0.9463],
                       [0.8595, 0.8797], [0.7843, 0.8059], [0.7580, 0.7685], [0.7177, 0.7526],
                       [0.7166, 0.7207], [0.6407, 0.6979], [0.6321, 0.7010]])
    assert choose_n_clusters(measured) == 6
    with pytest.warns(UserWarning, match=r"the drop of G after k=5, 0.0699, is nearly as large as the one "
                                         r"after the chosen k=6, 0.0745: the margin between the two, 0.0046,"):
        _warn_if_unreliable(measured, 6)
    # k=3's drop (0.07) beats k=2's (0.05) on both splits by margins of 0.02 and 0.03 (noise 0.01):
    # no warning. With margins of 0.005 and 0.04 (mean 0.0225, noise 0.035) it warns.
    steady = _table([[0.95, 0.96], [0.90, 0.91], [0.83, 0.835], [0.80, 0.81]])
    assert choose_n_clusters(steady) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_unreliable(steady, 3)
    unsteady = _table([[0.95, 0.96], [0.89, 0.92], [0.825, 0.84], [0.80, 0.81]])
    assert choose_n_clusters(unsteady) == 3
    with pytest.warns(UserWarning, match=r"after k=2, 0.05, .* margin between the two, 0.0225, is no larger "
                                         r"than its noise between the splits \(0.035:"):
        _warn_if_unreliable(unsteady, 3)
    # A NaN G in one split leaves the row out, as the rule does: the splits agree on everything else.
    holed = _table([[1.0, 1.0], [math.nan, 0.5], [0.8, 0.8], [0.7, 0.7], [0.62, 0.62]])
    assert choose_n_clusters(holed) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_unreliable(holed, 2)
        # A second drop that is not a drop (G rises) is no rival.
        _warn_if_unreliable(_table([[1.0, 1.0], [0.7, 0.7], [0.5, 0.95]]), 2)
    # One split has no spread to compare the margin with.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_unreliable(_table([[0.95], [0.90], [0.84], [0.80]]), 3)


def test_select_n_clusters_warnings_point_at_the_caller(data):
    X, _ = data
    with pytest.warns(UserWarning, match="select_n_clusters: ") as caught:
        _select(X, n_splits=2, candidates=[2, 3], estimator=DEC(**{**TINY, "max_iter": 1}))
    assert all(w.filename == __file__ for w in caught if str(w.message).startswith("select_n_clusters:"))


def test_warns_when_G_never_drops():
    rising = _table([[0.8, 0.8], [0.9, 0.9]])
    with pytest.warns(UserWarning, match=r"G never drops over the candidates \[2, 3\], so the largest, k=3"):
        _warn_if_unreliable(rising, choose_n_clusters(rising))
    # k = 4's G is NaN (a validation loss of 0): the rule returns the largest k with a finite G, and
    # the warning says so rather than "the largest"
    with_nan = _table([[0.8, 0.8], [0.9, 0.9], [np.nan, np.nan]])
    assert choose_n_clusters(with_nan) == 3
    with pytest.warns(UserWarning, match=r"so the largest with a finite G, k=3, was chosen"):
        _warn_if_unreliable(with_nan, 3)
    no_g = _table([[np.nan, np.nan], [np.nan, np.nan]])
    with pytest.warns(UserWarning, match=r"G is finite at 0 of the candidates \[2, 3\].*no drop"):
        _warn_if_unreliable(no_g, choose_n_clusters(no_g))


def test_a_table_with_a_repeated_k_is_refused():
    with pytest.raises(ValueError, match=r"more than one row for k in \[3\]"):
        choose_n_clusters([{"k": 3, "G": 1.0}, {"k": 3, "G": 0.5}, {"k": 4, "G": 0.6}])


def test_pretrains_once_per_split_and_fits_each_k_from_that_network(data, monkeypatch):
    X, _ = data
    fits = []
    original = DEC.fit

    def spy(self, X, y=None):
        fits.append((self.n_clusters, self.max_iter, self.autoencoder))
        return original(self, X, y)

    monkeypatch.setattr(DEC, "fit", spy)
    result = _select(X, candidates=[2, 3], n_splits=2, return_models=True)
    pretraining = [f for f in fits if f[1] == 0]
    assert len(pretraining) == 2 and all(f[2] is None for f in pretraining)
    clustering = [f for f in fits if f[1] != 0]
    assert len(clustering) == 4
    # Both k of a split start from the same pretrained network, a different one per split.
    assert clustering[0][2] is clustering[1][2] and clustering[2][2] is clustering[3][2]
    assert clustering[0][2] is not clustering[2][2]
    # ...which each fit copies: the fitted networks share no weights.
    a, b = result.models[2].autoencoder_, result.models[3].autoencoder_
    assert a is not b and a is not clustering[0][2]
    assert not any(pa.data_ptr() == pb.data_ptr() for pa, pb in zip(a.parameters(), b.parameters()))
    assert all(model.pretrain_history_ == [] for model in result.models.values())


def test_every_k_trains_the_estimators_max_iter_iterations(data):
    """tol is set to 0, so no k stops early: G compares k at the same length of training."""
    X, _ = data
    # With tol 0.5 a fit would stop at its first check, after update_interval=10 iterations.
    estimator = DEC(**{**TINY, "tol": 0.5, "update_interval": 10})
    assert estimator.fit(X).n_iter_ < TINY["max_iter"]
    result = _select(X, estimator=estimator, return_models=True)
    for model in result.models.values():
        assert model.tol == 0
        assert model.n_iter_ == TINY["max_iter"]
    assert estimator.tol == 0.5  # the given estimator is not modified


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # k=4 on 3 blobs
def test_a_given_autoencoder_skips_pretraining(data, monkeypatch):
    X, _ = data
    pretrained = DEC(2, random_state=0, **TINY).set_params(max_iter=0).fit(X).autoencoder_
    calls = []
    original = DEC.fit

    def spy(self, X, y=None):
        calls.append(self.max_iter)
        return original(self, X, y)

    monkeypatch.setattr(DEC, "fit", spy)
    result = _select(X, estimator=DEC(autoencoder=pretrained, **TINY))
    assert 0 not in calls and len(calls) == 3
    assert len(result.table) == 3


def test_reproducible_with_random_state(data):
    X, _ = data
    first, second = _select(X, random_state=3), _select(X, random_state=3)
    assert first.table == second.table
    assert first.n_clusters == second.n_clusters
    other = _select(X, random_state=4)
    assert not np.array_equal(first.splits[0][1], other.splits[0][1])


def test_labels_are_only_reported(data):
    X, y = data
    without, with_y = _select(X), _select(X, y=y)
    assert with_y.n_clusters == without.n_clusters
    for a, b in zip(without.table, with_y.table):
        assert {key: b[key] for key in a} == a
        assert 0 <= b["nmi"] <= 1
    # Wrong labels change the NMI, never the choice.
    shuffled = _select(X, y=np.random.RandomState(0).permutation(y))
    assert shuffled.n_clusters == without.n_clusters
    assert [r["G"] for r in shuffled.table] == [r["G"] for r in without.table]


def test_works_with_idec(data):
    X, _ = data
    result = _select(X, estimator=IDEC(**TINY), candidates=[2, 3])
    assert all(row["L_validation"] > 0 for row in result.table)


@pytest.mark.parametrize("kwargs, message", [
    ({"candidates": []}, "candidates is empty"),
    ({"candidates": 3}, "must be a sequence of ints"),
    ({"candidates": [1, 2]}, "must be >= 2"),
    ({"candidates": [0, 2]}, "must be >= 2"),
    ({"candidates": [2, 3, 3]}, r"repeats \[3\]"),
    ({"candidates": [2, 2.5]}, "must hold ints; got 2.5"),
    ({"candidates": [2, 200]}, "k=200 but the training split has only n_train=75"),
    ({"validation_size": 0}, "validation_size=0 must be a float in"),
    ({"validation_size": 1.0}, "validation_size=1.0 must be a float in"),
    ({"validation_size": 0.01}, "holds out 2 of the 150 points, fewer than the largest candidate k=4"),
    ({"n_splits": 0}, "n_splits=0 must be an int >= 1"),
    ({"estimator": DEC(checkpoint_dir="somewhere")}, "checkpoint_dir='somewhere'"),
    ({"y": [0, 1]}, "inconsistent numbers of samples"),
])
def test_bad_arguments_raise_value_error(data, kwargs, message):
    X, _ = data
    with pytest.raises(ValueError, match=message):
        _select(X, **kwargs)


def test_estimator_must_be_dec(data):
    X, _ = data
    with pytest.raises(TypeError, match="must be a DEC"):
        _select(X, estimator=DCN())


def test_sharded_data_stays_on_disk_and_gives_the_same_table(data, tmp_path, monkeypatch):
    """A ShardedArray is split into views of its rows (never loaded whole), and the selection equals
    the one on the same rows in memory."""
    from deepclust import ShardedArray

    X, y = data
    for i, (a, b) in enumerate([(0, 70), (70, 71), (71, len(X))]):
        np.save(tmp_path / f"part-{i}.npy", X[a:b])
    S = ShardedArray(tmp_path)
    monkeypatch.setattr(ShardedArray, "__array__", lambda *a, **k: pytest.fail("loaded the whole array"))
    sharded, in_memory = _select(S, y=y, n_splits=2), _select(X, y=y, n_splits=2)
    assert sharded.table == in_memory.table and sharded.n_clusters == in_memory.n_clusters


def test_pooling_runs_gives_one_table_over_all_their_splits(data):
    X, y = data
    two, one = _select(X, y=y, n_splits=2, random_state=3), _select(X, y=y, n_splits=1, random_state=4)
    pooled = pool_selections([two, one])
    assert isinstance(pooled, NClustersSelection)
    assert [row["k"] for row in pooled.table] == [2, 3, 4]
    for row, a, b in zip(pooled.table, two.table, one.table):
        assert row["G_splits"] == a["G_splits"] + b["G_splits"]
        assert row["G"] == pytest.approx(np.mean(a["G_splits"] + b["G_splits"]))
        for key in ("L_train", "L_validation", "nmi"):  # means over the three splits, not the two runs
            assert row[key] == pytest.approx((2 * a[key] + b[key]) / 3)
    g = [row["G"] for row in pooled.table]
    assert [row["drop"] for row in pooled.table[:-1]] == pytest.approx([a - b for a, b in zip(g, g[1:])])
    assert pooled.n_clusters == choose_n_clusters(pooled.table)
    assert len(pooled.splits) == 3 and pooled.splits[2][1] is one.splits[0][1]
    # One run pooled alone is itself; without labels in one of them, the pooled table has no NMI.
    assert pool_selections([two]).table == two.table
    assert "nmi" not in pool_selections([two, _select(X, random_state=5)]).table[0]


def _measured(g_splits):
    table = _table(g_splits)
    return NClustersSelection(n_clusters=choose_n_clusters(table), table=table)


def test_pooled_measured_runs_choose_and_warn_like_one_run_of_all_splits():
    # Measured (benchmarks/RESULTS.md, blobs with 5 clusters, seed 1, 1,400 points, 10,000 iterations
    # per k): the two splits of seed 1 chose 6, the two of split seed 101 chose 5; pooled, the four
    # choose 5 by a drop of 0.080 against 0.064 after 6, which their margins do not yet tell apart.
    seed_1 = _measured([[0.9900, 0.9812], [0.9565, 0.9626], [0.9423, 0.9496], [0.9327, 0.9463],
                        [0.8595, 0.8797], [0.7843, 0.8059], [0.7580, 0.7685], [0.7177, 0.7526],
                        [0.7166, 0.7207], [0.6407, 0.6979], [0.6321, 0.7010]])
    seed_101 = _measured([[0.9864, 0.9786], [0.9505, 0.9133], [0.9335, 0.9352], [0.9342, 0.9327],
                          [0.8539, 0.8325], [0.7962, 0.7839], [0.7669, 0.7562], [0.7156, 0.7329],
                          [0.7138, 0.7293], [0.6785, 0.7146], [0.6507, 0.6855]])
    assert (seed_1.n_clusters, seed_101.n_clusters) == (6, 5)
    with pytest.warns(UserWarning, match=r"the drop of G after k=6, 0.0638, is nearly as large as the one "
                                         r"after the chosen k=5, 0.0801") as caught:
        pooled = pool_selections([seed_1, seed_101])
    assert pooled.n_clusters == 5 and pooled.splits == []
    assert pooled.table[3]["G_splits"] == [0.9327, 0.9463, 0.9342, 0.9327]
    assert caught[0].filename == __file__  # the warning points at the caller, as select_n_clusters' do


def test_pool_selections_refuses_what_it_cannot_pool(data):
    X, _ = data
    first = _select(X, random_state=3)
    with pytest.raises(ValueError, match="selections is empty"):
        pool_selections([])
    with pytest.raises(TypeError, match="got a single one"):
        pool_selections(first)
    with pytest.raises(TypeError, match=r"selections\[1\] is a dict"):
        pool_selections([first, {"table": first.table}])
    with pytest.raises(ValueError, match=r"selections\[0\] tried the candidates \[2, 3, 4\] and "
                                         r"selections\[1\] \[2, 3\]"):
        pool_selections([first, _select(X, candidates=[2, 3], random_state=4)])
    with pytest.raises(ValueError, match=r"selections\[0\] and selections\[1\] share a split \(the same validation "
                                         r"points\).* different random_state"):
        pool_selections([first, _select(X, random_state=3)])
    bare = NClustersSelection(n_clusters=2, table=[{"k": k, "G": 0.9} for k in (2, 3, 4)])
    with pytest.raises(ValueError, match=r"selections\[1\].table has a row without G_splits"):
        pool_selections([first, bare])
    with pytest.raises(ValueError, match=r"data of \[120, 150\] points"):
        pool_selections([first, _select(X[:120], random_state=4)])
    with pytest.raises(ValueError, match=r"hold out \[45, 75\] validation points; .* same validation_size"):
        pool_selections([first, _select(X, validation_size=0.3, random_state=4)])
    with pytest.raises(ValueError, match=r"selections\[1\] has \[2\] G per row \(G_splits\) and 1 splits"):
        pool_selections([first, NClustersSelection(n_clusters=2, splits=first.splits[:1], table=[
            {"k": k, "G": 0.9, "G_splits": [0.9, 0.8]} for k in (2, 3, 4)])])
    # Rebuilt from saved tables (no splits): the same run twice is recognised by its G.
    saved = NClustersSelection(n_clusters=first.n_clusters, table=first.table)
    with pytest.raises(ValueError, match=r"share a split \(the same G at every k\)"):
        pool_selections([saved, NClustersSelection(n_clusters=first.n_clusters, table=first.table)])
    # G_splits may be an array (a table rebuilt from pandas, say).
    as_arrays = [{**row, "G_splits": np.asarray(row["G_splits"])} for row in first.table]
    assert pool_selections([NClustersSelection(n_clusters=2, table=as_arrays)]).n_clusters == first.n_clusters
    # ... and a NaN G (a validation loss of 0) in the repeat: NaN != NaN let it through before
    with_nan = [{**row, "G": np.nan, "G_splits": np.array([np.nan])} if row["k"] == 3 else dict(row)
                for row in as_arrays]
    with pytest.raises(ValueError, match=r"share a split \(the same G at every k\)"):
        pool_selections([NClustersSelection(n_clusters=2, table=with_nan),
                         NClustersSelection(n_clusters=2, table=[dict(row) for row in with_nan])])
