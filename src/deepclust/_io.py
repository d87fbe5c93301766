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


def save_model(est, path) -> None:
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
    if version == 1 and isinstance(payload.get("state_dict"), dict):
        # Version 1 predates the autoencoder's input normalisation: its networks took X as given.
        payload["state_dict"].setdefault("input_scale", torch.tensor(1.0))
    try:
        config = json.loads(payload["config"])
        cls = _estimators()[config["estimator"]]
        params = config["params"]
        params = {name: tuple(v) if isinstance(v, list) else v for name, v in params.items()}
        architecture = config.get("architecture", {"kind": "mlp", "dims": config["dims"]})
        if "batch_norm" in cls._get_param_names() and "batch_norm" not in params:
            # Saved before DBC had batch norm (now its default): its network has none.
            params["batch_norm"] = bool(architecture.get("batch_norm", False))
        est = cls(**params)
        # The constructor validates the scale (load_state_dict alone would not).
        ae = build_autoencoder(architecture, float(payload["state_dict"]["input_scale"]))
        ae.load_state_dict(payload["state_dict"])
        attrs = config["attributes"]
        arrays = {k: v.numpy() for k, v in payload["arrays"].items()}
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{str(path)!r} is a damaged deepclust model file: {exc}") from exc
    est.device_ = resolve_device(device)
    est.autoencoder_ = ae.to(est.device_).eval()
    # Only the known attributes are restored: a crafted file cannot replace methods.
    for name in (*_JSON_ATTRS, "feature_names_in_"):
        if name in attrs:
            value = attrs[name]
            if name == "feature_names_in_":
                value = np.asarray(value, dtype=object)
            elif name == "image_shape_":
                value = tuple(value)
            setattr(est, name, value)
    for name in _ARRAY_ATTRS:
        if name not in arrays:
            raise ValueError(f"{str(path)!r} is a damaged deepclust model file: {name} is missing.")
        setattr(est, name, arrays[name])
    for name in _OPTIONAL_ARRAY_ATTRS:
        if name in arrays:
            if arrays[name].shape != (est.cluster_centers_.shape[0],):
                raise ValueError(f"{str(path)!r} is a damaged deepclust model file: {name} has "
                                 f"shape {arrays[name].shape}.")
            setattr(est, name, arrays[name])
    try:
        _restore_snapshots(est, arrays)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r} is a damaged deepclust model file: {exc}") from exc
    return est
