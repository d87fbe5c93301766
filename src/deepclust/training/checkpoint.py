"""Training checkpoints: everything a fit needs to stop and resume where it was.

With ``checkpoint_dir`` set, a fit writes ``checkpoint.pt`` in that directory
every ``checkpoint_every`` iterations and at each phase boundary (each
pretraining stage, the end of pretraining, the k-means initialisation, the end
of the clustering phase). A checkpoint holds the network, the centroids, the
optimiser and learning-rate schedule, the random number generators and the
position in the current epoch's batch order, the phase and iteration, the
histories so far, and the fit's identity: the estimator's settings and a
fingerprint of the data. Fitting again with the same directory, settings and
data resumes from it; on CPU with a fixed ``random_state`` the resumed fit ends
with the labels an uninterrupted one gives.

A file is written beside the old one, flushed to disk and renamed over it, so
``checkpoint.pt`` is always the last complete checkpoint, whatever happens
during a write. Like model files, checkpoints hold only tensors, numbers and
strings and are read with ``torch.load(weights_only=True)``: loading one
cannot run code.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from ..data.atomic import atomic_file, check_writable
from ..io import _json_default
from ..data.shards import ShardedArray

logger = logging.getLogger(__name__)

FORMAT = "deepclust-checkpoint"
FORMAT_VERSION = 1
FILENAME = "checkpoint.pt"

# Settings that may change between a fit and its resumption: they do not change the result.
_FREE_SETTINGS = ("verbose", "device", "checkpoint_dir", "checkpoint_every")


def data_fingerprint(X) -> str:
    """SHA-256 of the data as the network reads it (float32 values and, if sparse, structure)."""
    digest = hashlib.sha256()
    if sp.issparse(X):
        # A copy: canonicalising must not reorder the caller's (shared) index arrays.
        X = sp.csr_matrix(X, dtype=np.float32, copy=True)
        X.sum_duplicates()
        X.sort_indices()
        parts = [b"csr", np.asarray(X.shape, dtype=np.int64), X.indptr.astype(np.int64),
                 X.indices.astype(np.int64), X.data]
    else:
        if not isinstance(X, ShardedArray):  # read a block at a time below, never whole
            X = np.asarray(X)
        parts = [b"dense", np.asarray(X.shape, dtype=np.int64)]
        # Float32 row blocks, so a large float64 input is never copied whole.
        step = max(1, 2**24 // max(X.shape[1] if X.ndim > 1 else 1, 1))
        parts = itertools.chain(parts, (np.ascontiguousarray(X[i:i + step], dtype=np.float32)
                                        for i in range(0, X.shape[0], step)))
    for part in parts:
        digest.update(part if isinstance(part, bytes) else np.ascontiguousarray(part).data)
    return digest.hexdigest()


def module_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 of a module's state (to tell one given autoencoder from another)."""
    digest = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# What each kind of checkpoint's loop state must hold.
_LOOP_KEYS = {
    "clustering": {"centers", "labels", "history", "optimizer", "batches", "running", "steps",
                   "finished"},
    "pretrain": {"prior"},
    "pretrain-mid-stage": {"prior", "optimizer", "scheduler", "batches", "losses", "running",
                           "count"},
}


# Phases of other methods that train_steps (training/loop.py) runs: a checkpoint inside one holds
# that loop's state (after its first iteration) and whatever the method adds. A method registers
# its phases with register_phase when its module is imported.
_STEP_PHASES: set = set()


def register_phase(name: str) -> str:
    """Accept checkpoints of a method's own phase ``name``, trained by ``train_steps``."""
    _STEP_PHASES.add(name)
    return name


def _check_position(position: dict, loop: dict, meta: dict) -> None:
    phase = position["phase"]
    stage, iteration = position["stage"], position["iteration"]
    if not (isinstance(stage, int) and isinstance(iteration, int) and stage >= 0 and iteration >= 0):
        raise ValueError(f"bad position {position}")
    if phase in _STEP_PHASES:
        missing = (_LOOP_KEYS["pretrain-mid-stage"] - {"prior"} if iteration > 0 else set()) - set(loop)
        if missing:
            raise KeyError(f"the {phase} state lacks {sorted(missing)}")
        return
    if phase not in ("pretrain", "clustering"):
        raise ValueError(f"unknown phase {phase!r}")
    kind = "pretrain-mid-stage" if phase == "pretrain" and iteration > 0 else phase
    missing = _LOOP_KEYS[kind] - set(loop)
    if missing:
        raise KeyError(f"the {phase} state lacks {sorted(missing)}")
    if "kmeans_seed" not in meta or (phase == "clustering" and "pretrain_history" not in meta):
        raise KeyError("the fit's seeds or pretraining history are missing")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: damaged, or from a different fit."""


class Checkpointer:
    """Writes and reads one fit's checkpoints in ``directory``.

    Parameters
    ----------
    directory : path-like
        Created if missing.
    every : int
        Write a checkpoint every this many iterations of a training loop (the
        clustering phase writes at the first target update at or after each
        multiple), besides the phase boundaries.
    identity : dict
        JSON-serialisable settings and data fingerprint of the fit; a
        checkpoint with a different identity is refused.
    generator : torch.Generator
        The fit's generator (batch order), saved and restored with the global
        torch generator (initialisation, dropout).
    device : torch.device
        Where the training runs; CUDA generators are saved too.
    """

    def __init__(self, directory, every: int, identity: dict, generator: torch.Generator,
                 device: torch.device):
        self.directory = Path(directory)
        self.path = self.directory / FILENAME
        self.every = int(every)
        self.identity = json.loads(json.dumps(identity, default=_json_default))  # as read back
        self.generator = generator
        self.device = device
        self.resume: dict | None = None  # the checkpoint this fit resumes from, once loaded
        self.model: torch.nn.Module | None = None  # the network whose weights are saved
        self.meta: dict = {}  # JSON-serialisable fit state saved with every checkpoint

    # ------------------------------------------------------------------ read

    def load(self) -> dict | None:
        """Read the directory's checkpoint, if any, and check it belongs to this fit.

        The directory is created now, so that an unusable one fails before any training.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            check_writable(self.directory)
        except OSError as exc:
            raise OSError(
                f"checkpoint_dir={str(self.directory)!r} cannot hold checkpoints: {exc}. Give a "
                "writable directory."
            ) from exc
        # A write interrupted by a crash leaves its temporary file; the checkpoint itself is whole.
        for stale in self.directory.glob(f".{FILENAME}.*.tmp"):
            stale.unlink(missing_ok=True)
        if not self.path.exists():
            return None
        from ..io import read_payload

        payload = read_payload(self.path, FORMAT, "deepclust checkpoint", CheckpointError,
                               ". Delete it to start afresh.")
        if payload.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{str(self.path)!r} has checkpoint format version {payload.get('format_version')}; "
                f"this deepclust reads version {FORMAT_VERSION}. Delete it to start afresh."
            )
        try:
            identity = json.loads(payload["identity"])
            payload["position"] = json.loads(payload["position"])
            payload["meta"] = json.loads(payload["meta"])
            for key in ("model", "rng", "loop"):
                if not isinstance(payload[key], dict):
                    raise TypeError(f"{key} is not a dict")
            _check_position(payload["position"], payload["loop"], payload["meta"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{str(self.path)!r} is a damaged deepclust checkpoint: {exc}") from exc
        if identity != self.identity:
            raise CheckpointError(self._mismatch(identity))
        self.resume = payload
        return payload

    def _mismatch(self, saved: dict) -> str:
        what = []
        if saved.get("data") != self.identity.get("data"):
            what.append("the data differ")
        if saved.get("estimator") != self.identity.get("estimator"):
            what.append(f"it is a {saved.get('estimator')} fit")
        old, new = saved.get("params", {}), self.identity.get("params", {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                what.append(f"{key}={old.get(key)!r} there, {new.get(key)!r} here")
        if saved.get("autoencoder") != self.identity.get("autoencoder"):
            what.append("the given autoencoder differs")
        if saved.get("precision") != self.identity.get("precision"):
            what.append(f"it trained in {saved.get('precision')} arithmetic, this fit in "
                        f"{self.identity.get('precision')} (precision='auto' resolves by machine)")
        if saved.get("deepclust_version") != self.identity.get("deepclust_version"):
            what.append(f"it was written by deepclust {saved.get('deepclust_version')}")
        return (
            f"checkpoint_dir={str(self.directory)!r} holds the checkpoint of a different fit "
            f"({'; '.join(what) or 'its identity differs'}). Fit with the same settings and data to "
            "resume it, or use another (or an empty) checkpoint_dir to start afresh."
        )

    def position(self, phase: str) -> tuple[int, int, dict] | None:
        """``(stage, iteration, loop state)`` if the fit resumes inside ``phase``, else None."""
        if self.resume is None or self.resume["position"]["phase"] != phase:
            return None
        pos = self.resume["position"]
        return int(pos["stage"]), int(pos["iteration"]), self.resume["loop"]

    @property
    def phase(self) -> str | None:
        return None if self.resume is None else self.resume["position"]["phase"]

    def restore(self, model: torch.nn.Module) -> None:
        """Load the checkpoint's network weights into ``model`` and restore the generators."""
        if self.resume is None:
            return
        try:
            model.load_state_dict(self.resume["model"])
            rng = self.resume["rng"]
            torch.set_rng_state(rng["torch"])
            self.generator.set_state(rng["generator"])
            if self.device.type == "cuda" and "cuda" in rng:
                torch.cuda.set_rng_state(rng["cuda"], self.device)
        except (KeyError, RuntimeError, TypeError) as exc:
            raise CheckpointError(f"{str(self.path)!r} is a damaged deepclust checkpoint: {exc}") from exc

    # ----------------------------------------------------------------- write

    def due(self, iteration: int, previous: int | None = None) -> bool:
        """Whether a checkpoint is due after ``iteration`` (crossing a multiple of ``every``)."""
        if previous is None:
            previous = iteration - 1
        return iteration // self.every > previous // self.every

    def save(self, phase: str, stage: int, iteration: int, loop: dict) -> bool:
        """Write a checkpoint atomically: temporary file, fsync, rename over the last one.

        A state with a non-finite weight or centroid is not written (the last good checkpoint
        stays; the training loop reports the divergence): returns whether it was written.
        """
        state = self.model.state_dict()
        if not all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point()) or (
                "centers" in loop and not bool(torch.isfinite(loop["centers"]).all())):
            logger.warning("not checkpointing %s iteration %d: the network is not finite", phase, iteration)
            return False
        rng = {"torch": torch.get_rng_state(), "generator": self.generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "identity": json.dumps(self.identity),
            "position": json.dumps({"phase": phase, "stage": int(stage), "iteration": int(iteration)}),
            "meta": json.dumps(self.meta, allow_nan=True),
            "model": {k: v.detach().cpu() for k, v in state.items()},
            "rng": rng,
            "loop": _to_cpu(loop),
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.path) as fh:
            torch.save(payload, fh)
        return True


def _to_cpu(value):
    """Tensors on the CPU and numpy scalars (e.g. an optimiser's lr=np.float64) as Python
    numbers: what ``torch.load(weights_only=True)`` reads back."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value
