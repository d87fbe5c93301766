"""Saving and loading fitted models: exact round trip, atomic writes, safe loading."""

import json
import os
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError

import deepclust
import deepclust.io
from deepclust import DBC, DEC

from .conftest import FAST


@pytest.fixture
def fitted(blobs):
    X, _ = blobs
    return DEC(n_clusters=3, random_state=0, device="cpu", **FAST).fit(X), X


@pytest.fixture
def model_file(fitted, tmp_path):
    dec, _ = fitted
    path = tmp_path / "model.pt"
    dec.save(path)
    return path


class _RunsCode:
    """Unpickling this creates a marker file: what an attack would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _OpensFile:
    """Unpickling this creates the marker with a builtin instead of a shell."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# --------------------------------------------------------------- round trip


def test_round_trip_predicts_identically(fitted, tmp_path):
    dec, X = fitted
    path = tmp_path / "model.pt"
    dec.save(path)
    loaded = deepclust.load(path, device="cpu")
    assert type(loaded) is DEC
    assert loaded is not dec

    np.testing.assert_array_equal(loaded.predict(X), dec.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), dec.predict_proba(X))
    np.testing.assert_array_equal(loaded.transform(X), dec.transform(X))
    X64 = X.astype(np.float64)
    np.testing.assert_array_equal(loaded.transform(X64), dec.transform(X64))
    assert loaded.transform(X64).dtype == np.float32
    assert loaded.score(X) == dec.score(X)

    np.testing.assert_array_equal(loaded.labels_, dec.labels_)
    assert loaded.labels_.dtype == dec.labels_.dtype
    np.testing.assert_array_equal(loaded.cluster_centers_, dec.cluster_centers_)
    assert loaded.cluster_centers_.dtype == dec.cluster_centers_.dtype
    assert loaded.n_iter_ == dec.n_iter_
    np.testing.assert_equal(loaded.history_, dec.history_)  # NaN == NaN here
    assert np.isnan(loaded.history_[0]["loss"])
    assert loaded.pretrain_history_ == dec.pretrain_history_
    assert loaded.n_features_in_ == dec.n_features_in_ == X.shape[1]
    assert not hasattr(loaded, "feature_names_in_")
    assert loaded.device_ == torch.device("cpu")

    params, loaded_params = dec.get_params(), loaded.get_params()
    params.pop("autoencoder")
    assert loaded_params.pop("autoencoder") is None
    assert loaded_params == params

    # The network itself: same architecture and bit-identical weights.
    assert loaded.autoencoder_.dims == dec.autoencoder_.dims
    assert not loaded.autoencoder_.training
    for (k1, v1), (k2, v2) in zip(
        dec.autoencoder_.state_dict().items(), loaded.autoencoder_.state_dict().items()
    ):
        assert k1 == k2
        torch.testing.assert_close(v1, v2, rtol=0, atol=0)


def test_round_trip_accepts_str_path_and_default_device(model_file, fitted):
    dec, X = fitted
    loaded = deepclust.load(str(model_file))
    np.testing.assert_array_equal(loaded.predict(X), dec.predict(X))


def test_loaded_model_can_be_saved_again(model_file, fitted, tmp_path):
    dec, X = fitted
    loaded = deepclust.load(model_file, device="cpu")
    again = tmp_path / "again.pt"
    loaded.save(again)
    reloaded = deepclust.load(again, device="cpu")
    np.testing.assert_array_equal(reloaded.predict_proba(X), dec.predict_proba(X))
    np.testing.assert_equal(reloaded.history_, dec.history_)


def test_round_trip_keeps_feature_names(blobs, tmp_path):
    X, _ = blobs
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    dec = DEC(n_clusters=3, random_state=0, device="cpu", **FAST).fit(df)
    path = tmp_path / "named.pt"
    dec.save(path)
    loaded = deepclust.load(path, device="cpu")
    np.testing.assert_array_equal(loaded.feature_names_in_, dec.feature_names_in_)
    np.testing.assert_array_equal(loaded.predict(df), dec.predict(df))
    # Feature-name checks still apply to the loaded model.
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(df[df.columns[::-1]])


def test_save_before_fit_raises(tmp_path):
    path = tmp_path / "unfitted.pt"
    with pytest.raises(NotFittedError):
        DEC(n_clusters=3, **FAST).save(path)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------- atomicity


def test_save_leaves_no_temporary_files(fitted, tmp_path):
    dec, _ = fitted
    path = tmp_path / "model.pt"
    dec.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    # Overwriting an existing model is also clean.
    dec.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    deepclust.load(path, device="cpu")


def test_failed_save_leaves_previous_file_intact(fitted, tmp_path):
    dec, _ = fitted
    path = tmp_path / "model.pt"
    dec.save(path)
    before = path.read_bytes()
    # A model file that cannot be written must not clobber the one in place:
    # here the path's parent is a file, so nothing can be created next to it
    # (torch reports that as a RuntimeError, Python's open as an OSError).
    with pytest.raises((OSError, RuntimeError)):
        dec.save(path / "inner.pt")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


# ------------------------------------------------------------ bad inputs


def test_load_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        deepclust.load(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError):
        deepclust.load(tmp_path)  # a directory is not a model file


def test_load_truncated_file_raises_value_error(model_file):
    data = model_file.read_bytes()
    model_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a loadable deepclust model file"):
        deepclust.load(model_file)


def test_load_empty_file_raises_value_error(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a loadable deepclust model file"):
        deepclust.load(path)


def test_load_garbage_raises_value_error(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError):
        deepclust.load(path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("payload_cls", [_RunsCode, _OpensFile])
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_load_refuses_to_execute_code(tmp_path, payload_cls, writer):
    marker = tmp_path / "pwned"
    evil = {"format": "deepclust-model", "format_version": deepclust.io.FORMAT_VERSION,
            "config": payload_cls(marker)}
    path = tmp_path / "evil.pt"
    if writer == "torch.save":
        torch.save(evil, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(evil, f)
    # Sanity check that the file really is hostile: unpickling it unguarded runs the payload.
    probe = tmp_path / "probe"
    probe_path = tmp_path / "probe.pt"
    torch.save({"x": payload_cls(probe)}, probe_path)
    torch.load(probe_path, weights_only=False)
    assert probe.exists()

    with pytest.raises(ValueError, match="not a loadable deepclust model file"):
        deepclust.load(path)
    assert not marker.exists()


def test_load_non_deepclust_torch_file_raises_value_error(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"a": 1}, path)
    with pytest.raises(ValueError, match="not a deepclust model file"):
        deepclust.load(path)
    torch.save(torch.zeros(3), path)
    with pytest.raises(ValueError, match="not a deepclust model file"):
        deepclust.load(path)


def _rewrite(path, edit):
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, path)


def test_version_1_files_load_as_networks_without_input_scaling(tmp_path, blobs):
    X, _ = blobs
    dec = DEC(n_clusters=3, random_state=0, device="cpu", **FAST).fit(X)
    with torch.no_grad():
        dec.autoencoder_.input_scale.fill_(1.0)  # what a version-1 network was
    path = tmp_path / "v1.pt"
    dec.save(path)
    _rewrite(path, lambda p: (p.update(format_version=1), p["state_dict"].pop("input_scale")))
    loaded = deepclust.load(path)
    np.testing.assert_array_equal(loaded.transform(X), dec.transform(X))
    assert loaded.layerwise_schedule_ is None  # end-to-end pretraining


def test_load_other_format_version_raises_value_error(model_file):
    _rewrite(model_file, lambda p: p.update(format_version=99))
    with pytest.raises(ValueError, match="format version 99"):
        deepclust.load(model_file)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda p: p.pop("state_dict"), id="no-weights"),
        pytest.param(lambda p: p["state_dict"].popitem(), id="missing-weight"),
        pytest.param(lambda p: p.update(config="{not json"), id="bad-json"),
        pytest.param(
            lambda p: p.update(config=p["config"].replace('"DEC"', '"Nope"')), id="unknown-estimator"
        ),
        pytest.param(
            lambda p: p["state_dict"].update(
                {k: torch.zeros(1) for k in list(p["state_dict"])[:1]}
            ),
            id="wrong-shape",
        ),
        pytest.param(
            lambda p: p["state_dict"].update(input_scale=torch.tensor(0.0)), id="zero-input-scale",
        ),
    ],
)
def test_load_damaged_model_raises_value_error(model_file, edit):
    _rewrite(model_file, edit)
    with pytest.raises(ValueError, match="deepclust model file"):
        deepclust.load(model_file)


def _config(edit):
    """An edit of the payload's JSON config (``edit`` changes the dict in place)."""
    def apply(payload):
        config = json.loads(payload["config"])
        edit(config)
        payload["config"] = json.dumps(config)
    return apply


def _arrays(**changes):
    return lambda p: p["arrays"].update(changes)


@pytest.mark.parametrize(
    "edit, detail",
    [
        pytest.param(_arrays(labels_=5), "arrays are not a dict of tensors", id="labels-a-number"),
        pytest.param(lambda p: p.update(arrays=[1, 2]), "arrays are not a dict of tensors", id="arrays-a-list"),
        pytest.param(lambda p: p["arrays"].pop("labels_"), "labels_ is missing", id="no-labels"),
        pytest.param(_arrays(labels_=torch.zeros(3, 3, dtype=torch.int64)), "labels_ has shape (3, 3)",
                     id="labels-2d"),
        pytest.param(_arrays(labels_=torch.zeros(240)), "not one integer label a point", id="labels-float"),
        pytest.param(_arrays(labels_=torch.full((240,), 7)), "outside 0 to 2", id="labels-out-of-range"),
        pytest.param(_arrays(cluster_centers_=torch.zeros(3)), "cluster_centers_ has shape (3,)",
                     id="centers-1d"),
        pytest.param(_arrays(cluster_centers_=torch.zeros(3, 4)), "cluster_centers_ has shape (3, 4)",
                     id="centers-wrong-embedding-dim"),
        pytest.param(_arrays(cluster_centers_=torch.zeros(3, 3, dtype=torch.int64)), "int64",
                     id="centers-integers"),
        pytest.param(_arrays(cluster_centers_=torch.zeros(4, 3)), "4 centres but n_clusters is 3",
                     id="centers-more-than-n-clusters"),
        pytest.param(_arrays(cluster_centers_=torch.zeros(3, 3, dtype=torch.bfloat16)), "BFloat16",
                     id="centers-bfloat16"),
        pytest.param(_arrays(snapshot_indices_=torch.zeros(2, 2, dtype=torch.int64)), "snapshot_indices_",
                     id="snapshot-indices-2d"),
        pytest.param(lambda p: p.update(state_dict=[1]), "state_dict is not a dict of tensors",
                     id="weights-a-list"),
        pytest.param(lambda p: p.update(config="[1, 2]"), "config is not a JSON object", id="config-a-list"),
        pytest.param(_config(lambda c: c.update(attributes=5)), "attributes are not a JSON object",
                     id="attributes-a-number"),
        pytest.param(_config(lambda c: c.update(architecture=[6, 3])), "architecture is not a JSON object",
                     id="architecture-a-list"),
        pytest.param(_config(lambda c: c["attributes"].update(image_shape_=[1, 1, 6])),
                     "attributes ['image_shape_'] that a DEC does not have", id="another-method's-attribute"),
        pytest.param(_config(lambda c: c["attributes"].update(n_features_in_="six")), "n_features_in_ is a str",
                     id="n-features-a-string"),
        pytest.param(_config(lambda c: c["attributes"].update(n_features_in_=7)),
                     "n_features_in_ is 7 but the network takes 6", id="n-features-not-the-network's"),
        pytest.param(_config(lambda c: c["attributes"].update(history_=5)), "history_ is a int",
                     id="history-a-number"),
        pytest.param(_config(lambda c: c["attributes"].update(history_=[1, 2])), "history_ is not a list of",
                     id="history-of-numbers"),
        pytest.param(_config(lambda c: c["attributes"].update(feature_names_in_=["a"])),
                     "feature_names_in_ is not a list of 6 names", id="feature-names-too-few"),
        pytest.param(_config(lambda c: c.update(params=None)), "params", id="params-null"),
        pytest.param(_config(lambda c: c.update(inputs={"kind": "text"})), "a text reading needs vocabulary",
                     id="inputs-without-vocabulary"),
    ],
)
def test_load_malformed_model_raises_value_error_naming_the_fault(model_file, edit, detail):
    """Whatever a file holds in place of the model's structures, load refuses it with a
    ValueError that names the file and the fault: never another exception, nor a model that
    loads and then predicts nonsense."""
    _rewrite(model_file, edit)
    with pytest.raises(ValueError, match="not a valid deepclust model file") as raised:
        deepclust.load(model_file)
    assert str(model_file) in str(raised.value)
    assert detail in str(raised.value)


@pytest.mark.parametrize(
    "edit, detail",
    [
        pytest.param(_config(lambda c: c["attributes"].update(image_shape_=5)), "image_shape_ is a int",
                     id="image-shape-a-number"),
        pytest.param(_config(lambda c: c["attributes"].update(image_shape_=[1, 2, 2])),
                     "image_shape_ [1, 2, 2] is not (channels, height, width) of the network's 6",
                     id="image-shape-wrong-size"),
    ],
)
def test_load_malformed_dbc_model_raises_value_error_naming_the_fault(blobs, tmp_path, edit, detail):
    """A method's own attributes are checked too (DBC's image shape)."""
    path = tmp_path / "dbc.pt"
    DBC(n_clusters=3, random_state=0, device="cpu", **DBC._test_params).fit(blobs[0]).save(path)
    assert deepclust.load(path).image_shape_ == (1, 1, 6)
    _rewrite(path, edit)
    with pytest.raises(ValueError, match="not a valid deepclust model file") as raised:
        deepclust.load(path)
    assert detail in str(raised.value)


def test_the_original_file_of_the_malformed_cases_loads(model_file, fitted):
    """The edits above break a file that loads (so each case tests its fault, not another)."""
    dec, X = fitted
    _rewrite(model_file, lambda p: None)
    np.testing.assert_array_equal(deepclust.load(model_file).predict(X), dec.predict(X))


def test_folder_inputs_are_kept_in_the_model_file(fitted, tmp_path):
    """The command line keeps how it read a folder in the model file itself (JSON in the config,
    loaded with weights_only=True): a lone model.pt reads a new folder as at fit time."""
    dec, X = fitted
    inputs = {"kind": "text", "vocabulary": ["a", "b", "c", "d", "e", "f"], "idf": [1.0, 1.5, 2, 2, 1, 3]}
    deepclust.io.save_model(dec, tmp_path / "m.pt", inputs=inputs)
    loaded, read = deepclust.io.load_model(tmp_path / "m.pt")
    assert read == inputs
    np.testing.assert_array_equal(loaded.predict(X), dec.predict(X))
    np.testing.assert_array_equal(deepclust.load(tmp_path / "m.pt").predict(X), dec.predict(X))
    dec.save(tmp_path / "plain.pt")  # a model fitted in Python records none
    assert deepclust.io.load_model(tmp_path / "plain.pt")[1] is None
    # A record that does not give the model's features is refused.
    deepclust.io.save_model(dec, tmp_path / "other.pt", inputs={**inputs, "vocabulary": ["a", "b"],
                                                                  "idf": [1.0, 1.0]})
    with pytest.raises(ValueError, match="into 2 features, but the model takes 6: the file contradicts itself"):
        deepclust.load(tmp_path / "other.pt")


def test_numpy_scalar_parameters_save_and_load(blobs, tmp_path):
    X, _ = blobs
    dec = DEC(n_clusters=np.int64(3), random_state=np.int64(0), **{**FAST, "batch_size": np.int64(32)}).fit(X)
    dec.save(tmp_path / "np.pt")
    loaded = deepclust.load(tmp_path / "np.pt")
    assert loaded.n_clusters == 3 and loaded.random_state == 0
    np.testing.assert_array_equal(loaded.predict(X), dec.predict(X))
