"""Saving and loading fitted models without pickle.

A model file is written by ``torch.save`` but holds only tensors, strings and
numbers: the estimator's parameters and its non-tensor attributes as one JSON
string, the network weights and the array attributes as tensors. It is read
back with ``torch.load(weights_only=True)``, whose unpickler refuses any
other object, so loading a file cannot execute code from it.
"""

from __future__ import annotations

import json
import os
from numbers import Integral
from pathlib import Path

import numpy as np
import torch

from ._atomic import atomic_file
from ._base import resolve_device
from ._version import __version__
from .autoencoder import build_autoencoder

FORMAT = "deepclust-model"
# 2: the autoencoder's state holds its input_scale (the input normalisation).
FORMAT_VERSION = 2

# Attributes saved as arrays; everything else JSON-serialisable is saved in the config.
_ARRAY_ATTRS = ("labels_", "cluster_centers_")
_OPTIONAL_ARRAY_ATTRS = ("cluster_counts_",)  # a method's own (DCN's)
# embedding_snapshots_ is saved as three stacked arrays (absent from files written before it).
_SNAPSHOT_ARRAYS = ("iteration", "embedding", "centers")
_JSON_ATTRS = (
    "n_features_in_", "n_iter_", "history_", "pretrain_history_", "fit_times_", "layerwise_schedule_",
    "precision_", "pretrain_schedule_", "image_shape_",
)


def _estimators() -> dict:
    from .dbc import DBC
    from .dcn import DCN
    from .dec import DEC
    from .idec import IDEC

    return {"DEC": DEC, "IDEC": IDEC, "DCN": DCN, "DBC": DBC}


def _json_params(est) -> dict:
    params = est.get_params(deep=False)
    params["autoencoder"] = None  # the fitted network is saved as autoencoder_
    for name, value in params.items():
        if isinstance(value, tuple):  # hidden_dims, image_shape, channels
            params[name] = list(value)
    params["device"] = str(params["device"])
    if params.get("checkpoint_dir") is not None:
        params["checkpoint_dir"] = os.fspath(params["checkpoint_dir"])
    if isinstance(params["random_state"], Integral):
        params["random_state"] = int(params["random_state"])
    elif params["random_state"] is not None:
        params["random_state"] = None  # a RandomState instance cannot be stored
    return params


def _json_default(value):
    """numpy scalars (e.g. from a grid over np.arange) as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def read_payload(path, fmt: str, what: str, error=ValueError, advice: str = "") -> dict:
    """Read a deepclust file with ``torch.load(weights_only=True)`` (tensors, numbers and strings
    only: nothing in it can run) and check it is a dict of format ``fmt``, else raise ``error``."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (zip), EOFError, ...
        raise error(
            f"{str(path)!r} is not a loadable {what} (corrupted, truncated, or containing objects "
            f"other than tensors): {exc}{advice}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise error(f"{str(path)!r} is not a {what}.")
    return payload


def save_model(est, path, inputs: dict | None = None) -> None:
    """Write ``est`` to ``path`` (atomically). ``inputs``, JSON data only, is how the command line
    read a folder of images or text for the fit (see ``deepclust._folders``): kept in the file so
    that the model alone reads a new folder the same way; :func:`load_model` returns it."""
    config = {
        "estimator": type(est).__name__,
        "deepclust_version": __version__,
        "params": _json_params(est),
        "dims": list(est.autoencoder_.dims),
        "architecture": est.autoencoder_.config(),
        "attributes": {name: getattr(est, name) for name in _JSON_ATTRS if hasattr(est, name)},
    }
    if hasattr(est, "feature_names_in_"):
        config["attributes"]["feature_names_in_"] = [str(f) for f in est.feature_names_in_]
    if inputs is not None:
        config["inputs"] = inputs
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(config, allow_nan=True, default=_json_default),
        "state_dict": {k: v.detach().cpu() for k, v in est.autoencoder_.state_dict().items()},
        "arrays": {name: torch.from_numpy(np.asarray(getattr(est, name))) for name in _ARRAY_ATTRS},
    }
    payload["arrays"].update(
        {name: torch.from_numpy(np.asarray(getattr(est, name)))
         for name in _OPTIONAL_ARRAY_ATTRS if hasattr(est, name)})
    payload["arrays"].update(_snapshot_arrays(est))
    # Written beside the target and renamed: a crash never leaves a half-written model.
    with atomic_file(path) as fh:
        torch.save(payload, fh)


def _snapshot_arrays(est) -> dict:
    snapshots = getattr(est, "embedding_snapshots_", [])
    k, e = est.cluster_centers_.shape
    m = len(getattr(est, "snapshot_indices_", ()))
    shapes = {"iteration": (0,), "embedding": (0, m, e), "centers": (0, k, e)}
    arrays = {"snapshot_indices_": torch.as_tensor(
        np.asarray(getattr(est, "snapshot_indices_", np.empty(0)), dtype=np.int64))}
    for key in _SNAPSHOT_ARRAYS:
        values = [np.asarray(s[key]) for s in snapshots]
        stacked = np.stack(values) if values else np.empty(shapes[key])
        arrays[f"snapshot_{key}"] = torch.from_numpy(
            stacked.astype(np.int64 if key == "iteration" else np.float32))
    return arrays


def _restore_snapshots(est, arrays: dict) -> None:
    """``embedding_snapshots_`` and ``snapshot_indices_`` from the saved arrays (empty if none)."""
    est.snapshot_indices_ = np.asarray(arrays.get("snapshot_indices_", np.empty(0)), dtype=np.int64)
    if "snapshot_iteration" not in arrays:
        est.embedding_snapshots_ = []
        return
    its, embs, cents = (arrays[f"snapshot_{key}"] for key in _SNAPSHOT_ARRAYS)
    if (not (len(its) == len(embs) == len(cents)) or embs.ndim != 3 or cents.ndim != 3
            or embs.shape[1] != len(est.snapshot_indices_)
            or cents.shape[1:] != est.cluster_centers_.shape or embs.shape[2] != cents.shape[2]):
        raise ValueError("the embedding snapshots' arrays do not match the model")
    est.embedding_snapshots_ = [
        {"iteration": int(i), "embedding": emb, "centers": cen}
        for i, emb, cen in zip(its, embs, cents)
    ]


def load(path, device="auto"):
    """Load a model written by ``save``.

    Parameters
    ----------
    path : str or path-like
        The model file.
    device : str or torch.device, default="auto"
        Where to put the network; "auto" picks CUDA when available.

    Returns
    -------
    estimator : DEC, IDEC, DCN or DBC
        A fitted estimator that predicts exactly what the saved one did.

    Raises
    ------
    ValueError
        If the file is not a deepclust model, is corrupted, or would need
        code to be executed to load.
    """
    return load_model(path, device)[0]


# The JSON attributes' types (a crafted file could hold anything JSON can).
_JSON_TYPES = {
    "n_features_in_": int, "n_iter_": int, "history_": list, "pretrain_history_": list, "fit_times_": dict,
    "layerwise_schedule_": (dict, list, type(None)), "precision_": str,
    "pretrain_schedule_": (dict, type(None)), "image_shape_": (list, type(None)), "feature_names_in_": list,
}


def load_model(path, device="auto"):
    """``(estimator, inputs)`` of a model file: :func:`load`'s estimator, and the folder reading
    the command line saved with it (checked), or None (a model fitted on a table, or saved by an
    older deepclust, which kept it in ``inputs.json`` only).

    Raises
    ------
    ValueError
        If the file is not a valid deepclust model: whatever is wrong in it, never another error.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    payload = read_payload(path, FORMAT, "deepclust model file")
    version = payload.get("format_version")
    if version not in (1, FORMAT_VERSION):
        raise ValueError(
            f"{str(path)!r} has model format version {version}; this deepclust reads versions 1 "
            f"to {FORMAT_VERSION}."
        )
    device = resolve_device(device)  # the caller's mistake, not the file's: checked apart
    try:
        return _restore(payload, version, device)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError,
            OverflowError) as exc:
        raise ValueError(f"{str(path)!r} is not a valid deepclust model file (damaged, or not written "
                         f"by deepclust): {exc}") from exc


def _restore(payload: dict, version: int, device):
    """The estimator and the inputs of a payload; any error here means the file is not valid."""
    from ._folders import check_inputs

    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TypeError("state_dict is not a dict of tensors")
    if version == 1:
        # Version 1 predates the autoencoder's input normalisation: its networks took X as given.
        state.setdefault("input_scale", torch.tensor(1.0))
    config = json.loads(payload["config"])
    if not isinstance(config, dict) or not isinstance(config.get("params"), dict):
        raise TypeError("its config is not a JSON object with the estimator's params")
    cls = _estimators()[config["estimator"]]
    params = {name: tuple(v) if isinstance(v, list) else v for name, v in config["params"].items()}
    architecture = config.get("architecture", {"kind": "mlp", "dims": config["dims"]})
    if not isinstance(architecture, dict):
        raise TypeError("its architecture is not a JSON object")
    if "batch_norm" in cls._get_param_names() and "batch_norm" not in params:
        # Saved before DBC had batch norm (now its default): its network has none.
        params["batch_norm"] = bool(architecture.get("batch_norm", False))
    est = cls(**params)
    # The constructor validates the scale (load_state_dict alone would not).
    ae = build_autoencoder(architecture, float(state["input_scale"]))
    ae.load_state_dict(state)
    n_features, embedding_dim = int(ae.dims[0]), int(ae.dims[-1])

    attrs = config["attributes"]
    if not isinstance(attrs, dict):
        raise TypeError("its attributes are not a JSON object")
    for name, types in _JSON_TYPES.items():
        value = attrs.get(name)
        if name in attrs and (not isinstance(value, types) or isinstance(value, bool)):
            raise TypeError(f"the attribute {name} is a {type(value).__name__}")
    if not all(isinstance(h, dict) for h in attrs.get("history_", ())):
        raise TypeError("history_ is not a list of JSON objects")
    if attrs.get("n_features_in_", n_features) != n_features:
        raise ValueError(f"n_features_in_ is {attrs['n_features_in_']} but the network takes {n_features} "
                         "features")
    shape = attrs.get("image_shape_")
    if shape is not None and (len(shape) != 3 or not all(isinstance(v, int) and v >= 1 for v in shape)
                              or int(np.prod(shape)) != n_features):
        raise ValueError(f"image_shape_ {shape!r} is not (channels, height, width) of the network's "
                         f"{n_features} features")
    names = attrs.get("feature_names_in_")
    if names is not None and (len(names) != n_features or not all(isinstance(f, str) for f in names)):
        raise ValueError(f"feature_names_in_ is not a list of {n_features} names")

    stored = payload["arrays"]
    if not isinstance(stored, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in stored.items()):
        raise TypeError("its arrays are not a dict of tensors")
    arrays = {k: v.numpy() for k, v in stored.items()}
    for name in _ARRAY_ATTRS:
        if name not in arrays:
            raise KeyError(f"{name} is missing")
    centers, labels = arrays["cluster_centers_"], arrays["labels_"]
    if (centers.ndim != 2 or centers.shape[0] < 1 or centers.shape[1] != embedding_dim
            or centers.dtype.kind != "f"):
        raise ValueError(f"cluster_centers_ has shape {centers.shape} ({centers.dtype}), not (n_clusters, "
                         f"{embedding_dim}) floats for the network's {embedding_dim}-dimensional embedding")
    if centers.shape[0] != est.n_clusters:
        raise ValueError(f"cluster_centers_ holds {centers.shape[0]} centres but n_clusters is "
                         f"{est.n_clusters}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels_ has shape {labels.shape} ({labels.dtype}), not one integer label a point")
    if labels.size and (labels.min() < 0 or labels.max() >= centers.shape[0]):
        raise ValueError(f"labels_ holds clusters outside 0 to {centers.shape[0] - 1}")
    for name in _OPTIONAL_ARRAY_ATTRS:
        if name in arrays and arrays[name].shape != (centers.shape[0],):
            raise ValueError(f"{name} has shape {arrays[name].shape}")
    if arrays.get("snapshot_indices_", np.empty(0, np.int64)).ndim != 1:
        raise ValueError("snapshot_indices_ is not one-dimensional")

    inputs = config.get("inputs")
    if inputs is not None:
        inputs = check_inputs(inputs, "its record of the folder the model was fitted on", n_features,
                              mismatch="the file contradicts itself")

    est.device_ = device
    est.autoencoder_ = ae.to(device).eval()
    # Only the known attributes are restored: a crafted file cannot replace methods.
    for name in (*_JSON_ATTRS, "feature_names_in_"):
        if name in attrs:
            value = attrs[name]
            if name == "feature_names_in_":
                value = np.asarray(value, dtype=object)
            elif name == "image_shape_" and value is not None:  # None: DBC given a fully connected network
                value = tuple(value)
            setattr(est, name, value)
    for name in (*_ARRAY_ATTRS, *_OPTIONAL_ARRAY_ATTRS):
        if name in arrays:
            setattr(est, name, arrays[name])
    try:
        _restore_snapshots(est, arrays)
    except ValueError as exc:
        raise ValueError(f"snapshots: {exc}") from exc
    return est, inputs
