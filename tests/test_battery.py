"""The battery every registered method passes, parametrised over :mod:`deepclust.registry`.

A method added to the registry gets these tests without a line here: scikit-learn's estimator
checks (opting out of one only through its class's ``_expected_failed_checks``, each with a
reason), the save / load round trip, a failed fit that leaves the previous model, resume from a
checkpoint to the labels of an uninterrupted fit, hostile input, and the command line's fit /
predict / report. Each method's ``_test_params`` keep a fit to about a second; each method's
model is fitted once per module and shared.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import deepclust
from deepclust import registry
from deepclust.training.checkpoint import FILENAME

from .conftest import FAST_LAYERWISE
from .test_cli import run

NAMES = registry.names()


def _new(name, **params):
    cls = registry.get(name)
    return cls(**{"n_clusters": 3, "random_state": 0, "device": "cpu", **cls._test_params, **params})


@parametrize_with_checks(
    # every method, and DEC with layer-wise pretraining (its default on small data)
    [_new(name) for name in NAMES] + [_new("DEC", **FAST_LAYERWISE)],
    expected_failed_checks=lambda est: type(est)._expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def data():
    # 16 features: DBC's "auto" image shape reads them as 4 x 4 images.
    X, y = make_blobs(n_samples=200, centers=3, n_features=16, cluster_std=1.0, random_state=0)
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(data):
    """One fitted model per method, shared by the tests of this module (which do not change it)."""
    return {name: _new(name).fit(data[0]) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_predict_exactly_what_the_model_did(fitted, data, tmp_path, name):
    model, X = fitted[name], data[0]
    model.save(tmp_path / "m.pt")
    loaded = deepclust.load(tmp_path / "m.pt", device="cpu")
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.labels_, model.labels_)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    assert loaded.score(X) == model.score(X)
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("name", NAMES)
def test_a_fit_that_raises_leaves_the_previous_model(fitted, data, monkeypatch, name):
    model, X = fitted[name], data[0]
    before = {k: v for k, v in vars(model).items()}
    labels = model.predict(X)
    cls = type(model)
    recipe = cls._fit_recipe

    def interrupted(self, source, run):
        recipe(self, source, run)
        self.labels_ = np.zeros_like(self.labels_)  # half-way through setting the new model
        raise KeyboardInterrupt

    monkeypatch.setattr(cls, "_fit_recipe", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X[::-1])
    monkeypatch.undo()
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.full_like(X, np.nan))
    assert vars(model).keys() == before.keys() and all(vars(model)[k] is v for k, v in before.items())
    np.testing.assert_array_equal(model.predict(X), labels)
    fresh = _new(name)
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(cls, "_fit_recipe", interrupted)
        fresh.fit(X)
    assert not hasattr(fresh, "labels_")  # unfitted, as it was


@pytest.mark.parametrize("name", NAMES)
def test_a_resumed_fit_ends_with_the_labels_of_an_uninterrupted_one(fitted, data, tmp_path, every_checkpoint,
                                                                    name):
    if "checkpoint_dir" not in registry.get(name)._get_param_names():
        pytest.skip(f"{name} does not checkpoint")
    X = data[0]
    _new(name, checkpoint_dir=tmp_path / "run").fit(X)
    middle = every_checkpoint[len(every_checkpoint) // 2]  # a checkpoint written mid-fit
    (tmp_path / "resume").mkdir()
    shutil.copyfile(middle, tmp_path / "resume" / FILENAME)
    resumed = _new(name, checkpoint_dir=tmp_path / "resume").fit(X)
    np.testing.assert_array_equal(resumed.labels_, fitted[name].labels_)
    network = registry.get(name)._saved_network
    for a, b in zip(getattr(fitted[name], network).parameters(), getattr(resumed, network).parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


_HOSTILE = [
    (np.full((20, 16), np.nan), "NaN"),
    (np.full((20, 16), np.inf), "infinity"),
    (np.zeros((0, 16)), "0 sample"),
    (np.zeros(16), "2D array"),
    ([["a"] * 16] * 20, "float"),
]


@pytest.mark.parametrize("name", NAMES)
def test_hostile_input_gets_a_clear_error(fitted, data, name):
    model = fitted[name]
    for X, message in _HOSTILE:
        with pytest.raises(ValueError, match=message):
            _new(name).fit(X)
        with pytest.raises(ValueError, match=message):
            model.predict(X)
    with pytest.raises(ValueError, match="16 features"):
        model.predict(data[0][:, :5])
    with pytest.raises(ValueError, match="n_clusters=3"):
        _new(name).fit(data[0][:2])


@pytest.mark.parametrize("name", NAMES)
def test_the_command_line_fits_predicts_and_reports_with_the_method(data, tmp_path, name):
    """``deepclust fit --method NAME``, ``predict`` and ``report`` (through ``deepclust.cli.main``;
    test_cli_data runs the same commands as real subprocesses)."""
    X, y = data
    np.save(tmp_path / "X.npy", X)
    params = [f"--param={key}={value!r}" for key, value in registry.get(name)._test_params.items()
              if key not in ("pretrain", "max_iter")]
    takes = registry.get(name)._get_param_names()
    short = ["--max-iter", "60"] if "max_iter" in takes and "max_iter" not in registry.get(name)._test_params \
        else []
    fit = run("fit", tmp_path / "X.npy", "--method", name, "--n-clusters", "3", "--out", tmp_path / "m",
              *short, "--snapshots", "50", *params)
    assert fit.returncode == 0, fit.stderr
    assert f"{name} clustered 200 rows" in fit.stdout
    predict = run("predict", tmp_path / "m", tmp_path / "X.npy", "--out", tmp_path / "labels.csv")
    assert predict.returncode == 0, predict.stderr
    labels = np.loadtxt(tmp_path / "labels.csv", delimiter=",", skiprows=1, usecols=1)
    model = deepclust.load(tmp_path / "m" / "model.pt", device="cpu")
    assert type(model).__name__ == name
    np.testing.assert_array_equal(labels, model.predict(X))
    report = run("report", tmp_path / "m", tmp_path / "X.npy", "--out", tmp_path / "r.html")
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "r.html").read_text()
    assert type(model).__name__ in page and "<img" in page
