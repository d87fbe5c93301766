"""The autoencoder stage of a recipe: a given network, or one pretrained for the data.

:class:`AutoencoderPretraining` resolves the "auto" schedules from the data, warns about data
the normalisation cannot help, builds the network (``_new_autoencoder``, which a recipe may
override), pretrains it layer-wise or end to end (:mod:`deepclust.training.pretraining`) with
checkpoints, and embeds and checks every point.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._utils import caller_stacklevel
from ..data.batches import (
    BatchSource,
    batches_per_epoch,
    chunk_rows,
    data_moments,
    dominant_feature,
    map_chunks,
    rows_differ,
)
from ..nn.autoencoder import Autoencoder
from .pretraining import pretrain_end_to_end, pretrain_layerwise

logger = logging.getLogger(__name__)

# The "auto" layer-wise schedule (see DEC's layerwise_* parameters), for the autoencoder's
# normalised input ((1/d)||x||^2 = 1): lr = min(_AUTO_MAX_LAYERWISE_LR, _AUTO_LAYERWISE_LR_SCALE / d);
# iterations = a number of epochs, at least a floor and at most the paper's count; the rate
# is divided by 10 every 2 layers' worth of iterations or three quarters of fine-tuning,
# whichever is longer, at most the paper's 20,000: each layer trains at one rate and a short
# fine-tuning anneals once, for its last quarter (a step after its first third left the
# reconstruction loss of Fashion-MNIST flat for the remaining two thirds).
_AUTO_MAX_LAYERWISE_LR = 0.01
_AUTO_LAYERWISE_LR_SCALE = 0.4
_AUTO_LAYER_EPOCHS, _AUTO_MIN_LAYER_ITER, _PAPER_LAYER_ITER = 7, 200, 50_000
_AUTO_FINETUNE_EPOCHS, _AUTO_MIN_FINETUNE_ITER, _PAPER_FINETUNE_ITER = 42, 400, 100_000
_PAPER_LR_STEP = 20_000
# End-to-end pretraining's "auto" learning rates. SGD: DEC-keras's lr 1 on pixels in [0, 1] is
# about 0.2 on the autoencoder's normalised input ((1/d)||x||^2 = 1 is ~4.8 times Fashion-MNIST's
# energy in [0, 1], and the loss and its gradients scale with the energy).
_AUTO_ADAM_PRETRAIN_LR = 1e-3
_AUTO_SGD_PRETRAIN_LR = 0.2
# End-to-end pretraining's "auto" length, with Adam: 100 epochs, at least _AUTO_MIN_E2E_ITER and at
# most _AUTO_MAX_E2E_ITER iterations (benchmarks/suite.py's candidates, RESULTS.md). With SGD:
# DEC-keras's 300 epochs, at least _AUTO_MIN_SGD_ITER and at most the paper's 100,000.
_AUTO_E2E_EPOCHS, _AUTO_MIN_E2E_ITER, _AUTO_MAX_E2E_ITER = 100, 1_000, 2_500
_AUTO_SGD_EPOCHS, _AUTO_MIN_SGD_ITER = 300, 4_000
# Warn before layer-wise pretraining when the samples' spread is below this fraction of their energy.
_MIN_SPREAD = 0.01

# The parameters of the stage (see DEC's docstring), for a recipe's _parameter_constraints.
PRETRAIN_PARAMETERS = {
    "hidden_dims": [list, tuple],
    "embedding_dim": [Interval(Integral, 1, None, closed="left")],
    "pretrain": [StrOptions({"auto", "end-to-end", "layerwise"})],
    "pretrain_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
    "pretrain_lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
    "pretrain_optimizer": [StrOptions({"adam", "sgd"})],
    "layerwise_iter": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
    "finetune_iter": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
    "layerwise_lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
    "layerwise_lr_step": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "autoencoder": [Autoencoder, None],
}


def resolve_pretrain(pretrain: str, per_epoch: int) -> str:
    """``pretrain="auto"`` for data of ``per_epoch`` batches an epoch: "end-to-end" where 100 epochs
    reach end-to-end pretraining's minimum of iterations (more than 2,304 points at a batch of 256), else
    "layerwise" (few points: end-to-end Adam would need hundreds of epochs over them, and
    layer-wise pretraining's dropout regularises); any other value as it is."""
    if pretrain != "auto":
        return pretrain
    return "end-to-end" if _AUTO_E2E_EPOCHS * per_epoch >= _AUTO_MIN_E2E_ITER else "layerwise"


def end_to_end_iterations(pretrain_epochs, per_epoch: int, optimizer: str = "adam") -> int:
    """End-to-end pretraining's iterations: ``pretrain_epochs`` epochs of ``per_epoch`` batches;
    "auto" is, with Adam, 100 epochs within 1,000 to 2,500 iterations, with SGD DEC-keras's 300
    epochs within 4,000 to 100,000."""
    if pretrain_epochs != "auto":
        return int(pretrain_epochs) * per_epoch
    if optimizer == "sgd":
        return min(_PAPER_FINETUNE_ITER, max(_AUTO_MIN_SGD_ITER, _AUTO_SGD_EPOCHS * per_epoch))
    return min(_AUTO_MAX_E2E_ITER, max(_AUTO_MIN_E2E_ITER, _AUTO_E2E_EPOCHS * per_epoch))


def layerwise_iterations(layerwise_iter, finetune_iter, per_epoch: int) -> tuple[int, int]:
    """Layer-wise pretraining's iterations a layer and of fine-tuning, each "auto" resolved for data
    of ``per_epoch`` batches an epoch (7 and 42 epochs, at least 200 and 400, at most the paper's)."""
    def iterations(value, epochs, floor, paper):
        return int(value) if value != "auto" else min(paper, max(floor, epochs * per_epoch))

    return (iterations(layerwise_iter, _AUTO_LAYER_EPOCHS, _AUTO_MIN_LAYER_ITER, _PAPER_LAYER_ITER),
            iterations(finetune_iter, _AUTO_FINETUNE_EPOCHS, _AUTO_MIN_FINETUNE_ITER, _PAPER_FINETUNE_ITER))


def layerwise_lr_step(lr_step, layer_iter: int, finetune_iter: int) -> int:
    """The layer-wise learning rate's step, "auto" resolved: two layers' worth of iterations or three
    quarters of fine-tuning, whichever is longer, at most the paper's 20,000."""
    if lr_step != "auto":
        return int(lr_step)
    return min(_PAPER_LR_STEP, max(1, 2 * layer_iter, math.ceil(3 * finetune_iter / 4)))


class AutoencoderPretraining:
    """Mixin: the autoencoder stage, for a recipe with :data:`PRETRAIN_PARAMETERS`."""

    def _new_autoencoder(self, n_features: int, input_scale: float) -> Autoencoder:
        """The untrained network for ``n_features`` inputs: the MLP of ``hidden_dims``."""
        return Autoencoder((n_features, *self._check_hidden_dims(), self.embedding_dim), input_scale)

    def _check_hidden_dims(self) -> tuple[int, ...]:
        dims = tuple(self.hidden_dims)
        if not all(isinstance(d, Integral) and not isinstance(d, bool) and d >= 1 for d in dims):
            raise ValueError(
                f"hidden_dims={self.hidden_dims!r} must be a sequence of positive ints, "
                "e.g. (500, 500, 2000)."
            )
        return tuple(int(d) for d in dims)

    def _pretrain_kind(self, source: BatchSource) -> str:
        """The pretraining this fit runs: ``pretrain``, with "auto" resolved for the data."""
        return resolve_pretrain(self.pretrain, batches_per_epoch(self._n_everywhere(source), self.batch_size))

    def _initial_autoencoder(
        self, source, device, generator, checkpoint=None
    ) -> Autoencoder:
        self.layerwise_schedule_ = self.pretrain_schedule_ = None
        if self.autoencoder is not None:
            if self.autoencoder.dims[0] != source.n_features:
                raise ValueError(
                    f"The autoencoder takes {self.autoencoder.dims[0]} features but X has "
                    f"{source.n_features}."
                )
            self.pretrain_history_ = []
            ae = copy.deepcopy(self.autoencoder).to(device)
            if checkpoint is not None:
                checkpoint.model = ae
                checkpoint.meta["pretrain_history"] = []
                checkpoint.restore(ae)
            return ae
        kind = self._pretrain_kind(source)
        self._check_pretrain_settings(kind)
        # The paper's normalisation, (1/d)||x||^2 = 1 on average, inside the network.
        energy, offset, variances = data_moments(source)
        dominant = dominant_feature(variances)
        if dominant is not None:
            feature, ratio = dominant
            names = getattr(self, "feature_names_in_", None)  # a frame's column: named
            feature = feature if names is None else repr(str(names[feature]))
            warnings.warn(
                f"Feature {feature} varies {math.sqrt(ratio):.3g} times more than the typical "
                "feature and holds most of X's variance: distances in X, and so the clusters, "
                "will follow it almost alone. If the features are in unrelated units, standardise "
                "X first (e.g. StandardScaler).",
                RuntimeWarning, stacklevel=caller_stacklevel(),
            )
        input_scale = math.sqrt(source.n_features / energy) if energy > 0 else 1.0
        try:
            ae = self._new_autoencoder(source.n_features, input_scale)
        except ValueError as exc:  # the scale does not fit in float32
            raise ValueError(
                f"X's values are too small to normalise in float32 (mean squared norm {energy:.3g}); "
                "multiply X by a large constant first."
            ) from exc
        ae = ae.to(device)
        if (kind == "layerwise" and energy > 0 and energy - offset < _MIN_SPREAD * energy
                and rows_differ(source)):
            spread = 100 * max(energy - offset, 0.0) / energy
            warnings.warn(
                f"The samples' spread around their mean is {spread:.2g}% of their energy: a "
                "large offset common to every sample dominates X. Layer-wise pretraining "
                "normalises the energy, not the offset, and may give an uninformative embedding; "
                "standardise X first (e.g. StandardScaler) or use pretrain='end-to-end'.",
                RuntimeWarning, stacklevel=caller_stacklevel(),
            )
        if kind == "layerwise":
            self.layerwise_schedule_ = self._layerwise_schedule(source)
        else:
            self.pretrain_schedule_ = self._end_to_end_schedule(source)
        if checkpoint is not None and checkpoint.phase == "clustering":  # pretrained before
            checkpoint.model = ae
            checkpoint.restore(ae)
            self.pretrain_history_ = list(checkpoint.resume["meta"]["pretrain_history"])
        elif kind == "end-to-end":
            logger.info("pretraining started (end-to-end): %s", self.pretrain_schedule_)
            self.pretrain_history_ = pretrain_end_to_end(
                ae, source, epochs=0, n_iter=self.pretrain_schedule_["n_iter"],
                batch_size=self._batch_per_rank(), lr=self.pretrain_schedule_["lr"], generator=generator,
                verbose=self.verbose, checkpoint=checkpoint,
                compute_dtype=self._compute_dtype("pretrain"), optimizer=self.pretrain_schedule_["optimizer"],
                augment=self._augmenter(generator, "pretrain"),
            )
        else:
            logger.info("pretraining started (layer-wise): %s", self.layerwise_schedule_)
            self.pretrain_history_ = pretrain_layerwise(
                ae, source, **self.layerwise_schedule_, dropout=self.dropout,
                batch_size=self._batch_per_rank(), generator=generator, verbose=self.verbose,
                checkpoint=checkpoint, compute_dtype=self._compute_dtype("pretrain"),
            )
        if checkpoint is not None:
            checkpoint.meta["pretrain_history"] = list(self.pretrain_history_)
        return ae

    def _check_pretrain_settings(self, kind: str) -> None:
        """Refuse a layer-wise setting given to end-to-end pretraining, which would ignore it."""
        if kind != "end-to-end":
            return
        given = [name for name in ("layerwise_iter", "finetune_iter", "layerwise_lr", "layerwise_lr_step")
                 if getattr(self, name, "auto") != "auto"]
        if given:
            raise ValueError(
                f"{', '.join(given)} set layer-wise pretraining, which end-to-end pretraining ignores "
                f"(pretrain={self.pretrain!r}"
                + (", end-to-end on data of this size" if self.pretrain == "auto" else "")
                + "): set pretrain='layerwise', or leave them out and set end-to-end's length with "
                "pretrain_epochs."
            )

    def _end_to_end_schedule(self, source: BatchSource) -> dict:
        """Resolve end-to-end pretraining's "auto" settings for this data (see DEC's docstring)."""
        per_epoch = batches_per_epoch(self._n_everywhere(source), self.batch_size)
        n_iter = end_to_end_iterations(self.pretrain_epochs, per_epoch, self.pretrain_optimizer)
        if self.pretrain_lr != "auto":
            lr = float(self.pretrain_lr)
        else:
            lr = _AUTO_SGD_PRETRAIN_LR if self.pretrain_optimizer == "sgd" else _AUTO_ADAM_PRETRAIN_LR
        return {"optimizer": self.pretrain_optimizer, "lr": lr, "n_iter": int(n_iter)}

    def _layerwise_schedule(self, source: BatchSource) -> dict:
        """Resolve the "auto" layer-wise settings for this data (see DEC's docstring)."""
        per_epoch = batches_per_epoch(self._n_everywhere(source), self.batch_size)
        layer_iter, finetune_iter = layerwise_iterations(self.layerwise_iter, self.finetune_iter, per_epoch)
        lr_step = layerwise_lr_step(self.layerwise_lr_step, layer_iter, finetune_iter)
        if self.layerwise_lr == "auto":
            lr = min(_AUTO_MAX_LAYERWISE_LR, _AUTO_LAYERWISE_LR_SCALE / source.n_features)
        else:
            lr = float(self.layerwise_lr)
        return {"layer_iter": int(layer_iter), "finetune_iter": int(finetune_iter),
                "lr": float(lr), "lr_step": int(lr_step)}

    def _embed(self, ae: Autoencoder, source: BatchSource) -> torch.Tensor:
        """Embedding of every point, in order, without building a graph."""
        was_training = ae.training
        ae.eval()
        try:
            with torch.no_grad():
                return map_chunks(source, ae.encode, chunk_rows(source.n_features))
        finally:  # also when a shard's block is refused mid-pass
            ae.train(was_training)

    def _check_embedding_spread(self, z: torch.Tensor, source: BatchSource) -> None:
        """Refuse to cluster an embedding that is not finite or maps distinct samples to one point."""
        if self.autoencoder is not None:
            cause, advice = "The given autoencoder", "Check how it was trained."
        elif self.pretrain_schedule_ is not None:  # end to end
            cause, advice = "The pretrained autoencoder", (
                "Lower pretrain_lr or standardise the input (e.g. StandardScaler)."
            )
        else:
            cause, advice = "The pretrained autoencoder", (
                "Lower layerwise_lr or standardise the input (e.g. StandardScaler)."
            )
        if not bool(torch.isfinite(z).all()):
            raise FloatingPointError(f"{cause} gives non-finite embeddings (NaN or inf). {advice}")
        if z.shape[0] < 2 or bool((z.amax(dim=0) - z.amin(dim=0)).max() > 0):
            return
        if rows_differ(source):
            raise FloatingPointError(
                f"{cause} maps every sample to the same embedding (its units are dead), so "
                f"clustering it would put everything in one cluster. {advice}"
            )
