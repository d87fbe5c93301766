"""The DEC estimator: clustering quality, the contract, inputs, reproducibility, errors."""

import logging
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import deepclust.data.batches
from deepclust import DEC
from deepclust.data.batches import BatchSource
from deepclust.nn.autoencoder import Autoencoder

from .conftest import FAST, FAST_LAYERWISE


def test_fit_recovers_blobs(blobs):
    X, y = blobs
    dec = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    assert adjusted_rand_score(y, dec.labels_) > 0.9
    assert dec.cluster_centers_.shape == (3, FAST["embedding_dim"])
    assert dec.n_features_in_ == X.shape[1]
    assert dec.labels_.shape == (X.shape[0],)


def test_fitted_attributes_and_history(blobs):
    X, _ = blobs
    dec = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    assert 0 < dec.n_iter_ <= FAST["max_iter"]
    assert dec.history_[0]["iteration"] == 0
    assert np.isnan(dec.history_[0]["loss"])
    for entry in dec.history_[1:]:
        assert set(entry) == {"iteration", "loss", "delta_label", "n_empty", "smallest", "seconds"}
        assert np.isfinite(entry["loss"]) and entry["loss"] >= 0
        assert 0.0 <= entry["delta_label"] <= 1.0
    assert dec.history_[-1]["iteration"] == dec.n_iter_
    # The pretraining loss went down.
    assert dec.pretrain_history_[-1] < dec.pretrain_history_[0]


def test_labels_equal_predict_on_training_data(blobs):
    X, _ = blobs
    dec = DEC(n_clusters=3, random_state=0, **FAST)
    labels = dec.fit_predict(X)
    np.testing.assert_array_equal(labels, dec.labels_)
    np.testing.assert_array_equal(dec.predict(X), dec.labels_)


def test_predict_proba_transform_score(blobs):
    X, _ = blobs
    dec = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    q = dec.predict_proba(X)
    assert q.shape == (X.shape[0], 3)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(q.argmax(axis=1), dec.predict(X))
    Z = dec.transform(X)
    assert Z.shape == (X.shape[0], FAST["embedding_dim"])
    assert Z.dtype == np.float32
    # float32 is the network's precision, also for float64 input.
    assert dec.transform(X.astype(np.float64)).dtype == np.float32
    assert dec.predict_proba(X.astype(np.float64)).dtype == np.float32
    score = dec.score(X)
    assert np.isfinite(score) and score <= 0.0
    # score is -KL(P || Q) with X's own target distribution (eqs. 2-3).
    q64 = q.astype(np.float64)
    w = q64**2 / q64.sum(axis=0)
    p = w / w.sum(axis=1, keepdims=True)
    expected = -np.mean(np.sum(p * (np.log(p) - np.log(q64)), axis=1))
    np.testing.assert_allclose(score, expected, rtol=1e-3, atol=1e-6)


def test_dec_sharpens_the_kmeans_initialisation(blobs):
    X, _ = blobs
    init = DEC(n_clusters=3, random_state=0, **{**FAST, "max_iter": 0}).fit(X)
    dec = DEC(n_clusters=3, autoencoder=init.autoencoder_, random_state=0, **FAST).fit(X)
    # Self-training makes the soft assignments more confident.
    assert dec.predict_proba(X).max(axis=1).mean() > init.predict_proba(X).max(axis=1).mean()


def test_max_iter_zero_is_kmeans_on_the_embedding(blobs):
    X, _ = blobs
    dec = DEC(n_clusters=3, random_state=0, **{**FAST, "max_iter": 0}).fit(X)
    assert dec.n_iter_ == 0
    km = KMeans(3, n_init=FAST["n_init"], random_state=0).fit(dec.transform(X))
    assert adjusted_rand_score(km.labels_, dec.labels_) > 0.99


def test_same_seed_same_labels_and_global_rng_untouched(blobs):
    X, _ = blobs
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = DEC(n_clusters=3, random_state=7, **FAST).fit(X)
    np.testing.assert_array_equal(torch.rand(3), expected_next)  # fit did not consume the global RNG
    b = DEC(n_clusters=3, random_state=7, **FAST).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_different_seeds_give_different_networks(blobs):
    X, _ = blobs
    a = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    b = DEC(n_clusters=3, random_state=1, **FAST).fit(X)
    assert not np.allclose(a.transform(X), b.transform(X))


def test_freeze_encoder_only_moves_centroids(blobs):
    X, _ = blobs
    init = DEC(n_clusters=3, random_state=0, **{**FAST, "max_iter": 0}).fit(X)
    frozen = DEC(
        n_clusters=3, autoencoder=init.autoencoder_, freeze_encoder=True, random_state=0, **FAST
    ).fit(X)
    np.testing.assert_array_equal(frozen.transform(X), init.transform(X))
    assert not np.allclose(frozen.cluster_centers_, init.cluster_centers_)
    # The given autoencoder is copied, never modified.
    full = DEC(n_clusters=3, autoencoder=init.autoencoder_, random_state=0, **FAST).fit(X)
    np.testing.assert_array_equal(init.transform(X), frozen.transform(X))
    assert not np.allclose(full.transform(X), init.transform(X))
    assert all(p.requires_grad for p in frozen.autoencoder_.parameters())


def test_layerwise_pretraining_runs(blobs):
    X, y = blobs
    dec = DEC(
        n_clusters=3, pretrain="layerwise", hidden_dims=(16,), embedding_dim=3,
        layerwise_iter=150, finetune_iter=150, layerwise_lr_step=100, batch_size=32,
        n_init=3, max_iter=60, random_state=0,
    ).fit(X)
    assert np.isfinite(dec.pretrain_history_).all()
    assert adjusted_rand_score(y, dec.labels_) > 0.5


def test_fixed_update_interval_and_tol(blobs):
    X, _ = blobs
    dec = DEC(n_clusters=3, random_state=0, **{**FAST, "max_iter": 50}, update_interval=7, tol=0.0)
    dec.fit(X)
    # tol=0 never converges, so it runs to max_iter with an update every 7 iterations.
    assert dec.n_iter_ == 50
    assert [h["iteration"] for h in dec.history_] == [0, 7, 14, 21, 28, 35, 42, 49, 50]


def test_sparse_input_matches_dense(blobs):
    X, _ = blobs
    X = np.where(np.abs(X) < 0.5, 0.0, X).astype(np.float32)
    dense = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    for fmt in (sp.csr_matrix, sp.csc_matrix, sp.csr_array):
        sparse = DEC(n_clusters=3, random_state=0, **FAST).fit(fmt(X))
        np.testing.assert_array_equal(sparse.labels_, dense.labels_)
        np.testing.assert_allclose(sparse.transform(fmt(X)), dense.transform(X), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(sparse.predict(fmt(X)), dense.predict(X))


def test_sparse_input_is_never_densified_whole(blobs, monkeypatch):
    X, _ = blobs
    Xs = sp.random(300, 50, density=0.05, format="csr", dtype=np.float32, random_state=0)
    calls = []
    original = sp.csr_matrix.toarray

    def spy(self, *args, **kwargs):
        calls.append(self.shape[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", spy)
    # Full-data passes read chunks of at most _FULL_PASS_ROWS rows; make that smaller than X.
    monkeypatch.setattr(deepclust.data.batches, "_FULL_PASS_ROWS", 100)
    DEC(n_clusters=3, random_state=0, **FAST).fit(Xs)
    assert calls, "sparse rows were never densified"
    # Batches and chunks are densified, never the whole matrix at once.
    assert max(calls) <= 100
    assert FAST["batch_size"] in calls


def test_pandas_dataframe_input(blobs):
    pd = pytest.importorskip("pandas")
    X, _ = blobs
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    dec = DEC(n_clusters=3, random_state=0, **FAST).fit(df)
    np.testing.assert_array_equal(dec.feature_names_in_, df.columns)
    np.testing.assert_array_equal(dec.labels_, DEC(n_clusters=3, random_state=0, **FAST).fit(X).labels_)
    np.testing.assert_array_equal(dec.predict(df), dec.labels_)


def test_clone_and_pipeline(blobs):
    X, y = blobs
    X_raw = X * np.array([1, 10, 100, 0.1, 5, 1000], dtype=np.float32) + 50
    dec = DEC(n_clusters=3, random_state=0, **FAST)
    cloned = clone(dec)
    assert cloned.get_params() == dec.get_params()
    assert not hasattr(cloned, "labels_")
    pipe = make_pipeline(StandardScaler(), DEC(n_clusters=3, random_state=0, **FAST))
    labels = pipe.fit_predict(X_raw)
    assert adjusted_rand_score(y, labels) > 0.9
    np.testing.assert_array_equal(pipe.predict(X_raw), labels)
    assert pipe.transform(X_raw).shape == (X.shape[0], FAST["embedding_dim"])


def test_verbose_shows_progress_bars(blobs, capsys):
    X, _ = blobs
    DEC(n_clusters=3, random_state=0, verbose=True, **FAST).fit(X)
    err = capsys.readouterr().err
    assert "pretrain" in err and "clustering" in err
    DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_logs_how_clustering_stopped(blobs, caplog):
    X, _ = blobs
    with caplog.at_level(logging.INFO, logger="deepclust"):
        DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    assert any("clustering stopped" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), "NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), "infinity"),
        (np.empty((0, 3)), "0 sample"),
        (np.arange(10.0), "2D array"),
        (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), "numeric|convert|float"),
    ],
    ids=["nan", "inf", "empty", "1d", "strings"],
)
def test_bad_training_data_raises_clearly(bad, match):
    with pytest.raises(ValueError, match=match):
        DEC(n_clusters=2, **FAST).fit(bad)


def test_fewer_samples_than_clusters():
    X = np.random.default_rng(0).normal(size=(4, 3))
    with pytest.raises(ValueError, match=r"n_samples=4 should be >= n_clusters=5"):
        DEC(n_clusters=5, **FAST).fit(X)


@pytest.mark.parametrize(
    "params",
    [
        {"n_clusters": 0}, {"n_clusters": 2.5}, {"pretrain": "greedy"}, {"alpha": 0.0},
        {"alpha": 1e39}, {"alpha": 1e-40},  # beyond float32: labels from NaN before
        {"batch_size": 0}, {"tol": 1.5}, {"update_interval": "sometimes"}, {"lr": -1.0},
        {"hidden_dims": (32, 0)}, {"hidden_dims": "wide"}, {"device": "tpu:9"},
    ],
)
def test_bad_parameters_raise_clearly(blobs, params):
    X, _ = blobs
    with pytest.raises((ValueError, TypeError), match=next(iter(params))):
        DEC(**{**FAST, "n_clusters": 3, **params}).fit(X)


def test_cuda_requested_without_cuda(blobs):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    X, _ = blobs
    with pytest.raises(ValueError, match="CUDA is not available"):
        DEC(n_clusters=3, device="cuda", **FAST).fit(X)


@pytest.mark.parametrize("device", ["mps", "xpu", "hpu", "meta"])
def test_a_device_torch_cannot_use_is_a_clear_error(blobs, device):
    # Only CUDA was checked: mps / xpu / hpu failed deep in torch with a RuntimeError /
    # AssertionError / ModuleNotFoundError.
    X, _ = blobs
    try:
        torch.empty(0, device=device)
        if device != "meta":
            pytest.skip(f"{device} is available here")
    except Exception:  # noqa: BLE001 (whatever torch raises for a device it lacks)
        pass
    with pytest.raises(ValueError, match=rf"device='{device}'.*use 'auto' or 'cpu'"):
        DEC(n_clusters=3, device=device, **FAST).fit(X)


def test_a_fit_that_raises_leaves_the_estimator_as_it_was(blobs):
    X, _ = blobs
    # Before, n_features_in_ was set before the later checks: a failed first fit left an estimator
    # that passed check_is_fitted, and a failed refit mixed the old model with the new width.
    dec = DEC(n_clusters=3, **FAST)
    with pytest.raises(ValueError, match="n_samples=2"):
        dec.fit(X[:2, :5])
    with pytest.raises(NotFittedError):
        dec.predict(X)
    assert not [name for name in vars(dec) if name.endswith("_")]
    dec = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    labels, state = dec.predict(X), dict(vars(dec))
    for bad in (X[:2, :5], X[:, :5] * np.nan):
        with pytest.raises(ValueError):
            dec.fit(bad)
        assert vars(dec).keys() == state.keys() and all(vars(dec)[k] is state[k] for k in state)
        assert dec.n_features_in_ == X.shape[1] and np.array_equal(dec.predict(X), labels)


def test_reversed_and_strided_views_fit_like_their_copies(blobs):
    # torch.tensor refused X[::-1] ("At least one stride ... is negative").
    X, _ = blobs
    for view in (X[::-1], X[:, ::-1], X[::2]):
        assert not view.flags.c_contiguous
        a = DEC(n_clusters=3, random_state=0, **FAST).fit(view)
        b = DEC(n_clusters=3, random_state=0, **FAST).fit(view.copy())
        np.testing.assert_array_equal(a.labels_, b.labels_)
        np.testing.assert_array_equal(a.predict(view), b.predict(view.copy()))


class _FailingDEC(DEC):
    """DEC whose clustering phase fails at its third step, as a device error or an interrupt could."""

    def _after_step(self, z, centers):
        super()._after_step(z, centers)
        self._steps = getattr(self, "_steps", 0) + 1
        if self._steps == 3:
            raise KeyboardInterrupt


def test_a_fit_interrupted_while_training_keeps_the_previous_model(blobs):
    X, _ = blobs
    dec = _FailingDEC(n_clusters=3, random_state=0, **FAST)
    dec._steps = 10  # the first fit gets past step 3
    dec.fit(X)
    centers, labels, network = dec.cluster_centers_.copy(), dec.predict(X), dec.autoencoder_
    dec._steps = 0
    with pytest.raises(KeyboardInterrupt):
        dec.fit(X[::-1])
    assert dec._steps == 0 and dec.autoencoder_ is network  # all as it was when the fit began
    np.testing.assert_array_equal(dec.cluster_centers_, centers)
    np.testing.assert_array_equal(dec.predict(X), labels)
    fresh = _FailingDEC(n_clusters=3, random_state=0, **FAST)
    with pytest.raises(KeyboardInterrupt):
        fresh.fit(X)
    with pytest.raises(NotFittedError):
        fresh.predict(X)


@pytest.mark.parametrize("method", ["DEC", "IDEC", "DCN"])
def test_fit_warnings_point_at_the_caller(blobs, method):
    # fit runs its body in _fit (to undo a failed fit), and DCN's _fit in the base's: the warnings
    # point past these frames, at the line that called fit, not inside deepclust.
    import deepclust

    X, _ = blobs
    dominant = X.copy()
    dominant[:, 0] *= 1000
    with pytest.warns(RuntimeWarning, match="varies") as caught:
        getattr(deepclust, method)(n_clusters=3, random_state=0, **FAST).fit(dominant)
    assert [w.filename for w in caught if "varies" in str(w.message)] == [__file__]
    # and past scikit-learn's frames: fit_predict, a Pipeline
    with pytest.warns(RuntimeWarning, match="varies") as caught:
        getattr(deepclust, method)(n_clusters=3, random_state=0, **FAST).fit_predict(dominant)
        make_pipeline(getattr(deepclust, method)(n_clusters=3, random_state=0, **FAST)).fit(dominant)
    assert [w.filename for w in caught if "varies" in str(w.message)] == [__file__, __file__]


def test_feature_names_out_name_the_embedding_columns(blobs):
    X, _ = blobs
    pipe = make_pipeline(StandardScaler(), DEC(n_clusters=3, random_state=0, **FAST)).set_output(transform="pandas")
    embedding = pipe.fit_transform(X)
    names = [f"dec{i}" for i in range(FAST["embedding_dim"])]
    assert list(embedding.columns) == names and embedding.shape == (len(X), FAST["embedding_dim"])
    np.testing.assert_allclose(embedding.to_numpy(), pipe[-1].transform(pipe[0].transform(X)), rtol=1e-5, atol=1e-6)
    assert list(pipe[-1].get_feature_names_out()) == names
    with pytest.raises(NotFittedError):
        DEC(n_clusters=3).get_feature_names_out()


def test_predict_before_fit():
    X = np.zeros((5, 3))
    for method in ("predict", "predict_proba", "transform", "score"):
        with pytest.raises(NotFittedError):
            getattr(DEC(n_clusters=2), method)(X)


def test_feature_count_mismatch_at_predict(blobs):
    X, _ = blobs
    dec = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    for method in ("predict", "predict_proba", "transform", "score"):
        with pytest.raises(ValueError, match="features"):
            getattr(dec, method)(X[:, :4])


def test_autoencoder_with_wrong_input_width(blobs):
    X, _ = blobs
    other = DEC(n_clusters=3, random_state=0, **{**FAST, "max_iter": 0}).fit(X[:, :4])
    with pytest.raises(ValueError, match="autoencoder takes 4 features but X has 6"):
        DEC(n_clusters=3, autoencoder=other.autoencoder_, **FAST).fit(X)


def test_diverging_training_raises_floating_point_error():
    X, y = make_blobs(n_samples=120, centers=3, n_features=4, random_state=0)
    with pytest.raises(FloatingPointError, match="learning rate"):
        DEC(n_clusters=3, random_state=0, **{**FAST, "pretrain_lr": 1e4}).fit(X.astype(np.float32))
    # A huge input scale alone no longer diverges: the autoencoder normalises its input.
    model = DEC(n_clusters=3, random_state=0, **FAST).fit((X * 1e18).astype(np.float32))
    assert adjusted_rand_score(y, model.labels_) > 0.9


def test_a_network_that_diverges_in_the_last_steps_is_not_returned():
    """The last steps' loss is finite (computed before their update), but the updated network
    maps every point to inf or NaN: fit raises instead of returning labels read off NaN."""
    X, _ = make_blobs(n_samples=120, centers=3, n_features=4, random_state=0)
    with pytest.raises(FloatingPointError, match="embedding became non-finite by iteration 1"):
        DEC(n_clusters=3, random_state=0, **{**FAST, "lr": 1e30, "max_iter": 1, "update_interval": 1,
                                            "tol": 0.0}).fit(X.astype(np.float32))


def test_fit_refuses_an_autoencoder_whose_embedding_is_constant(blobs):
    X, _ = blobs
    torch.manual_seed(0)
    dead = Autoencoder((X.shape[1], 8, 2))
    with torch.no_grad():  # every first-layer ReLU off for every input
        dead.encoder[0].weight.zero_()
        dead.encoder[0].bias.fill_(-1.0)
    with pytest.raises(FloatingPointError, match="given autoencoder maps every sample to the same"):
        DEC(n_clusters=3, autoencoder=dead, random_state=0, **FAST).fit(sp.csr_matrix(X))
    with torch.no_grad():
        dead.encoder[0].bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite"):
        DEC(n_clusters=3, autoencoder=dead, random_state=0, **FAST).fit(X)


@pytest.mark.parametrize("pretrain", ["end-to-end", "layerwise"])
def test_identical_samples_are_not_mistaken_for_a_collapsed_embedding(pretrain):
    X = np.ones((20, 3), dtype=np.float32)
    length = {"layerwise_iter": 20, "finetune_iter": 20} if pretrain == "layerwise" else {}
    model = DEC(n_clusters=1, random_state=0, **{**FAST, "pretrain": pretrain, **length}).fit(X)
    assert np.all(model.labels_ == 0)


def test_a_layerwise_setting_given_to_end_to_end_pretraining_is_refused(blobs):
    with pytest.raises(ValueError, match=r"layerwise_iter, layerwise_lr set layer-wise pretraining, which "
                                         r"end-to-end pretraining ignores \(pretrain='end-to-end'\)"):
        DEC(n_clusters=3, **{**FAST, "layerwise_iter": 5, "layerwise_lr": 0.1}).fit(blobs[0])


def _schedule(X, **params):
    return DEC(**params)._layerwise_schedule(BatchSource(X, torch.device("cpu")))


def test_layerwise_auto_schedule_scales_with_the_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 64)).astype(np.float32)
    # Small data: the floors (200 a layer, 400 fine-tuning); lr = 0.4 / d for the normalised input,
    # whatever the scale of X; sparse input gives the same schedule.
    small = {"layer_iter": 200, "finetune_iter": 400, "lr": pytest.approx(0.4 / 64), "lr_step": 400}
    assert _schedule(X) == small
    assert _schedule(1000 * X) == small
    assert _schedule(sp.csr_matrix(X)) == _schedule(X)
    assert _schedule(X[:, :8])["lr"] == 0.01  # at most 0.01
    # Fashion-MNIST's size: 7 and 42 epochs of 274 batches; layers at one rate, fine-tuning's
    # rate / 10 for its last quarter. Without layer stages too (never every iteration).
    assert _schedule(X, layerwise_iter=0, finetune_iter=900)["lr_step"] == 675
    assert _schedule(X, layerwise_iter=0, finetune_iter=1)["lr_step"] == 1
    big = np.full((70_000, 2), 0.1, dtype=np.float32)
    assert _schedule(big) == {"layer_iter": 1918, "finetune_iter": 11508, "lr": 0.01, "lr_step": 8631}
    # Never more than the paper's schedule; explicit settings are kept.
    assert _schedule(big, batch_size=1) == {"layer_iter": 50_000, "finetune_iter": 100_000, "lr": 0.01,
                                            "lr_step": 20_000}
    assert _schedule(X, layerwise_iter=5, finetune_iter=6, layerwise_lr=0.1, layerwise_lr_step=7) == {
        "layer_iter": 5, "finetune_iter": 6, "lr": 0.1, "lr_step": 7}


@pytest.mark.parametrize("pretrain", ["layerwise", "end-to-end"])
def test_the_autoencoder_normalises_the_input_so_the_scale_of_x_does_not_matter(blobs, pretrain):
    X, y = blobs
    params = {**FAST_LAYERWISE, "pretrain": pretrain, "pretrain_epochs": 10}
    fits = {scale: DEC(n_clusters=3, random_state=0, **params).fit(scale * X) for scale in (1e-3, 1.0, 1e3)}
    # The same clustering at every scale (the network sees the same normalised data).
    np.testing.assert_array_equal(fits[1e-3].labels_, fits[1.0].labels_)
    np.testing.assert_array_equal(fits[1e3].labels_, fits[1.0].labels_)
    for scale, model in fits.items():
        # The paper's normalisation: (1/d)||x||^2 = 1 on average over the training data.
        x = model.autoencoder_.normalise(torch.as_tensor(scale * X))
        assert float((x ** 2).sum(dim=1).mean()) / X.shape[1] == pytest.approx(1.0, rel=1e-4)
        assert adjusted_rand_score(y, model.labels_) > 0.9
        # Reconstructions come back in the data's units.
        recon = model.autoencoder_(torch.as_tensor(scale * X)).detach().numpy()
        assert np.abs(recon).mean() == pytest.approx(np.abs(scale * X).mean(), rel=0.5)


def test_data_too_small_for_float32_normalisation_is_a_clear_error(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="too small to normalise in float32"):
        DEC(n_clusters=3, random_state=0, **FAST).fit((X * 1e-42).astype(np.float32))


def test_layerwise_warns_when_a_common_offset_dominates_the_data(blobs):
    X, _ = blobs
    with pytest.warns(RuntimeWarning, match="offset.*StandardScaler"):
        DEC(n_clusters=3, random_state=0, **FAST_LAYERWISE).fit(X + 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        DEC(n_clusters=3, random_state=0, **FAST_LAYERWISE).fit(X + 3)
        DEC(n_clusters=3, random_state=0, **FAST).fit(X + 1000)


def test_auto_pretraining_is_layerwise_on_small_data_and_end_to_end_on_larger(blobs):
    def kind(n_samples, **params):
        X = np.zeros((n_samples, 4), dtype=np.float32)
        return DEC(**params)._pretrain_kind(BatchSource(X, torch.device("cpu")))

    assert (DEC().pretrain, DEC().pretrain_epochs) == ("auto", "auto")
    # End to end where 100 epochs reach its 1,000 iterations: 10 batches of 256, 2,305 points and up.
    assert kind(1797) == kind(2304) == "layerwise" and kind(2305) == kind(70_000) == "end-to-end"
    assert kind(1797, batch_size=128) == "end-to-end" and kind(70_000, pretrain="layerwise") == "layerwise"
    X, _ = blobs  # 300 points: layer-wise, with its schedule recorded
    assert DEC(n_clusters=3, random_state=0, **{**FAST_LAYERWISE, "pretrain": "auto"}).fit(X).pretrain_schedule_ is None
    with pytest.raises(ValueError, match=r"layerwise_iter set layer-wise pretraining, which end-to-end pretraining "
                                         r"ignores \(pretrain='auto', end-to-end on data of this size\)"):
        DEC(n_clusters=3, batch_size=16, layerwise_iter=5, **{k: v for k, v in FAST.items()
                                                                 if k not in ("pretrain", "batch_size")}).fit(X)


def test_the_layerwise_schedule_is_recorded(blobs, tmp_path):
    X, _ = blobs
    model = DEC(n_clusters=3, random_state=0, **FAST_LAYERWISE).fit(X)
    assert model.layerwise_schedule_ == _schedule(X, **FAST_LAYERWISE)
    assert model.layerwise_schedule_["layer_iter"] == 200  # the floor of "auto" on small data
    model.save(tmp_path / "m.pt")
    assert deepclust.load(tmp_path / "m.pt").layerwise_schedule_ == model.layerwise_schedule_
    assert DEC(n_clusters=3, random_state=0, **FAST).fit(X).layerwise_schedule_ is None
    for name in ("layerwise_lr", "layerwise_iter", "finetune_iter", "layerwise_lr_step"):
        with pytest.raises(ValueError, match=name):
            DEC(n_clusters=3, **{**FAST_LAYERWISE, name: "fast"}).fit(X)


def test_end_to_end_schedule_resolves_auto_for_the_data(blobs, tmp_path):
    def schedule(n_samples, **params):
        X = np.zeros((n_samples, 4), dtype=np.float32)
        return DEC(**params)._end_to_end_schedule(BatchSource(X, torch.device("cpu")))

    # Fixed epochs: whole batches per epoch, the last one short; "auto" lr per optimiser.
    assert schedule(1000, pretrain_epochs=3) == {"optimizer": "adam", "lr": 1e-3, "n_iter": 12}
    assert schedule(1000, pretrain_epochs=3, pretrain_optimizer="sgd")["lr"] == 0.2
    assert schedule(1000, pretrain_epochs=3, pretrain_lr=0.05)["lr"] == 0.05
    # "auto" with Adam: 100 epochs, at least 1,000 and at most 2,500 iterations.
    assert schedule(1797, pretrain_epochs="auto")["n_iter"] == 1_000
    assert schedule(5_000, pretrain_epochs="auto")["n_iter"] == 100 * 20
    assert schedule(20_000, pretrain_epochs="auto")["n_iter"] == schedule(70_000)["n_iter"] == 2_500
    # with SGD, DEC-keras's recipe: 300 epochs, at least 4,000 and at most 100,000 iterations.
    sgd = {"pretrain_epochs": "auto", "pretrain_optimizer": "sgd"}
    assert schedule(1797, **sgd)["n_iter"] == 4_000
    assert schedule(70_000, **sgd)["n_iter"] == 300 * 274
    assert schedule(200_000, **sgd)["n_iter"] == 100_000
    with pytest.raises(ValueError, match="pretrain_epochs"):
        DEC(n_clusters=3, **{**FAST, "pretrain_epochs": "long"}).fit(blobs[0])
    # The schedule used is a fitted attribute, saved with the model.
    X, _ = blobs
    model = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    assert model.pretrain_schedule_ == {"optimizer": "adam", "lr": 1e-3,
                                        "n_iter": 10 * -(-len(X) // FAST["batch_size"])}
    model.save(tmp_path / "m.pt")
    assert deepclust.load(tmp_path / "m.pt").pretrain_schedule_ == model.pretrain_schedule_
    assert DEC(n_clusters=3, random_state=0, **FAST_LAYERWISE).fit(X).pretrain_schedule_ is None
