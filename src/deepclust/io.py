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
import re
from numbers import Integral
from pathlib import Path

import numpy as np
import torch

from . import registry
from ._version import __version__
from .data.atomic import atomic_file
from .nn.build import build_network
from .training.device import resolve_device

FORMAT = "deepclust-model"
# 2: the autoencoder's state holds its input_scale (the input normalisation).
FORMAT_VERSION = 2
_REFIT = ". Fit the model again (deepclust fit, or the estimator's save) to write a new one."

def json_params(est) -> dict:
    """The estimator's parameters as JSON values (a given network is None: the fitted one is saved)."""
    params = est.get_params(deep=False)
    for name, value in params.items():
        if isinstance(value, torch.nn.Module):
            params[name] = None
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
    only: nothing in it can run) and check it is a dict of format ``fmt``, else raise ``error``: one
    sentence that the file is damaged or foreign, its reason in a few words, then ``advice``
    (PyTorch's own advice, to load it with ``weights_only=False`` or to file an issue, is left out:
    neither helps with a damaged file, and the first would run whatever the file holds)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (zip), EOFError, ...
        raise error(
            f"{str(path)!r} is not a loadable {what}: it is damaged (corrupted, truncated) or not a "
            f"deepclust file ({_load_failure(exc)}){advice or '.'}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise error(f"{str(path)!r} is not a {what}{advice or '.'}")
    return payload


_TORCH_ADVICE = ("Weights only load failed", "Please file an issue", "Check the documentation of torch.load",
                 "This is an internal miniz error", "If you are seeing this error")


def _load_failure(exc: BaseException) -> str:
    """What ``torch.load`` found wrong, in a few words, without its advice."""
    import pickle

    text = str(exc).replace("WeightsUnpickler error:", "")
    sentences = [s.strip() for s in re.split(r"(?<=\.)\s+|\n+", text) if s.strip()]
    kept = [s.rstrip(".") for s in sentences if not s.startswith(_TORCH_ADVICE)
            and "weights_only" not in s and "trusted source" not in s and "checkpoint" not in s]
    detail = "; ".join(kept)[:160]
    if isinstance(exc, pickle.UnpicklingError):
        return "it holds objects other than tensors" + (f": {detail}" if detail else "")
    if isinstance(exc, EOFError) and not detail:
        return "it ends before its data does: empty or cut short"
    return detail or type(exc).__name__


def save_model(est, path, inputs: dict | None = None) -> None:
    """Write ``est`` to ``path`` (atomically). ``inputs``, JSON data only, is how the command line
    read a folder of images or text for the fit (see ``deepclust.data.folders``): kept in the file so
    that the model alone reads a new folder the same way; :func:`load_model` returns it."""
    network = getattr(est, est._saved_network)
    config = {
        "estimator": type(est).__name__,
        "deepclust_version": __version__,
        "params": json_params(est),
        "dims": list(network.dims),
        "architecture": network.config(),
        "attributes": {name: getattr(est, name) for name in est._saved_json if hasattr(est, name)},
    }
    if hasattr(est, "feature_names_in_"):
        config["attributes"]["feature_names_in_"] = [str(f) for f in est.feature_names_in_]
    if inputs is not None:
        config["inputs"] = inputs
    arrays = (*est._saved_arrays, *(a for a in est._saved_optional_arrays if hasattr(est, a)))
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(config, allow_nan=True, default=_json_default),
        "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()},
        "arrays": {name: torch.from_numpy(np.asarray(getattr(est, name))) for name in arrays},
    }
    payload["arrays"].update(est._extra_arrays())
    # Written beside the target and renamed: a crash never leaves a half-written model.
    with atomic_file(path) as fh:
        torch.save(payload, fh)


def load(path, device="auto"):
    """Load a model written by ``save``.

    Parameters
    ----------
    path : str or path-like
        The model file, or the folder that ``deepclust fit --out`` wrote (its ``model.pt``).
    device : str or torch.device, default="auto"
        Where to put the network; "auto" picks CUDA when available.

    Returns
    -------
    estimator : a registered method's estimator (DEC, IDEC, ...)
        A fitted estimator that predicts exactly what the saved one did.

    Raises
    ------
    ValueError
        If the file is not a deepclust model, is corrupted, or would need
        code to be executed to load.
    """
    return load_model(path, device)[0]


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
    if path.is_dir():  # the folder that ``deepclust fit --out`` wrote
        if not (path / "model.pt").is_file():
            raise FileNotFoundError(f"No model file at {str(path)!r}: a folder holds none unless it has the "
                                    "model.pt that deepclust fit writes.")
        path = path / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    payload = read_payload(path, FORMAT, "deepclust model file", advice=_REFIT)
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
            OverflowError, NotImplementedError) as exc:
        raise ValueError(f"{str(path)!r} is not a valid deepclust model file (damaged, or not written "
                         f"by deepclust): {exc}{_REFIT}") from exc


def _restore(payload: dict, version: int, device):
    """The estimator and the inputs of a payload; any error here means the file is not valid."""
    from .data.folders import check_inputs

    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TypeError("state_dict is not a dict of tensors")
    if version == 1:
        # Version 1 predates the autoencoder's input normalisation: its networks took X as given.
        state.setdefault("input_scale", torch.tensor(1.0))
    config = json.loads(payload["config"])
    if not isinstance(config, dict) or not isinstance(config.get("params"), dict):
        raise TypeError("its config is not a JSON object with the estimator's params")
    cls = registry.get(config["estimator"])
    params = {name: tuple(v) if isinstance(v, list) else v for name, v in config["params"].items()}
    architecture = config.get("architecture", {"kind": "mlp", "dims": config["dims"]})
    if not isinstance(architecture, dict):
        raise TypeError("its architecture is not a JSON object")
    if "batch_norm" in cls._get_param_names() and "batch_norm" not in params:
        # Saved before DBC had batch norm (now its default): its network has none.
        params["batch_norm"] = bool(architecture.get("batch_norm", False))
    est = cls(**params)
    # The constructor validates what the state holds beyond weights (load_state_dict alone would not).
    network = build_network(architecture, state)
    network.load_state_dict(state)
    n_features = int(network.dims[0])

    attrs = config["attributes"]
    if not isinstance(attrs, dict):
        raise TypeError("its attributes are not a JSON object")
    types = {**cls._saved_json, "feature_names_in_": list}
    unknown = sorted(set(attrs) - set(types))
    if unknown:
        raise ValueError(f"it holds attributes {unknown} that a {cls.__name__} does not have")
    for name, kind in types.items():
        value = attrs.get(name)
        if name in attrs and (not isinstance(value, kind) or isinstance(value, bool)):
            raise TypeError(f"the attribute {name} is a {type(value).__name__}")
    if attrs.get("n_features_in_", n_features) != n_features:
        raise ValueError(f"n_features_in_ is {attrs['n_features_in_']} but the network takes {n_features} "
                         "features")
    names = attrs.get("feature_names_in_")
    if names is not None and (len(names) != n_features or not all(isinstance(f, str) for f in names)):
        raise ValueError(f"feature_names_in_ is not a list of {n_features} names")

    stored = payload["arrays"]
    if not isinstance(stored, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in stored.items()):
        raise TypeError("its arrays are not a dict of tensors")
    arrays = {k: v.numpy() for k, v in stored.items()}
    for name in cls._saved_arrays:
        if name not in arrays:
            raise KeyError(f"{name} is missing")
    labels = arrays["labels_"]
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels_ has shape {labels.shape} ({labels.dtype}), not one integer label a point")

    inputs = config.get("inputs")
    if inputs is not None:
        inputs = check_inputs(inputs, "its record of the data the model was fitted on", n_features,
                              mismatch="the file contradicts itself")

    est.device_ = device
    setattr(est, cls._saved_network, network.to(device).eval())
    # Only the known attributes are restored: a crafted file cannot replace methods.
    for name in types:
        if name in attrs:
            value = attrs[name]
            setattr(est, name, np.asarray(value, dtype=object) if name == "feature_names_in_" else value)
    for name in (*cls._saved_arrays, *cls._saved_optional_arrays):
        if name in arrays:
            setattr(est, name, arrays[name])
    est.n_features_in_ = n_features
    est._check_restored()
    est._restore_extra_arrays(arrays)
    return est, inputs
