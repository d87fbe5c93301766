"""The autoencoder's two pretraining schemes (DEC paper, section 3.2).

* :func:`pretrain_end_to_end`: the whole autoencoder trained on the mean squared
  reconstruction error with Adam (or SGD), or
* :func:`pretrain_layerwise`: the paper's greedy layer-wise denoising
  autoencoder (eqs. 6-9) followed by end-to-end fine-tuning without dropout,
  with SGD and a step learning-rate schedule.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from . import distributed
from ..data.batches import (
    BatchSource,
    MappedSource,
    batches_per_epoch,
    chunk_rows,
    map_chunks,
    rows_differ,
    running_range,
)
from .loop import train_steps
from .._utils import caller_stacklevel
from ..nn.autoencoder import Autoencoder, reconstruction_mse

logger = logging.getLogger(__name__)

__all__ = ["adam", "pretrain_end_to_end", "pretrain_layerwise"]

# Layer-wise pretraining keeps a layer's codes for every sample in memory unless the data is
# out of core (memory-mapped or sparse) and the codes would take more than this many bytes.
CODES_IN_MEMORY_BYTES = 256 * 2**20

# Warn when at least this fraction of a layer's ReLU units never fire after layer-wise pretraining.
_DEAD_UNITS_WARNING = 0.9


def _squared_error(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(1/2n) sum_i ||x_i - y_i||^2, the least-squares loss of eqs. 7-9 as the paper's Caffe code
    computes it. Summed over features, not averaged: SGD at the paper's lr 0.1 assumes that scale."""
    return 0.5 * (y - x).pow(2).sum(dim=1).mean()


class _Stages:
    """Where a checkpointed pretraining resumes, and its checkpoint callbacks.

    Stages are numbered in order (each layer, then fine-tuning; or the one
    end-to-end stage); a checkpoint at ``(stage, 0)`` means every earlier
    stage is complete.
    """

    def __init__(self, checkpoint, ae: Autoencoder):
        self.checkpoint = checkpoint
        position = checkpoint.position("pretrain") if checkpoint is not None else None
        self.stage, self.iteration, loop = position if position is not None else (0, 0, {})
        self.loop = loop
        self.losses: list[float] = list(loop.get("prior", []))
        if checkpoint is not None:
            checkpoint.model = ae
            if position is not None:
                checkpoint.restore(ae)

    def done(self, i: int) -> bool:
        return i < self.stage

    def train_args(self, i: int, losses: list[float]) -> dict:
        """``_train``'s resume and checkpoint arguments for stage ``i``."""
        if self.checkpoint is None:
            return {}
        prior = list(losses)
        return {
            "resume": (self.iteration, self.loop) if i == self.stage else None,
            "checkpoint": lambda it, state: self.checkpoint.save(
                "pretrain", i, it, {**state, "prior": prior}),
            "due": self.checkpoint.due,
        }

    def finished(self, i: int, losses: list[float]) -> None:
        """Stage ``i`` is complete: checkpoint the start of the next one."""
        if self.checkpoint is not None:
            self.checkpoint.save("pretrain", i + 1, 0, {"prior": list(losses)})


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam at ``lr``, with PyTorch's fused kernel where this torch has one for the parameters'
    device: the same update up to rounding, in a fraction of the for-loop version's time on CPU
    (see ``benchmarks/RESULTS.md``)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # torch < 2.4 on CPU, or an unsupported device
        return torch.optim.Adam(params, lr=lr)


def pretrain_end_to_end(
    ae: Autoencoder,
    source: BatchSource,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    verbose: bool = False,
    checkpoint=None,
    compute_dtype: torch.dtype = torch.float32,
    optimizer: str = "adam",
    n_iter: int | None = None,
    augment: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
) -> list[float]:
    """Train the whole autoencoder on the mean squared reconstruction error.

    For ``epochs`` epochs, or ``n_iter`` mini-batch steps when given.

    ``optimizer="adam"``: Adam at ``lr`` from PyTorch's default
    initialisation. ``optimizer="sgd"``: SGD with momentum 0.9 at ``lr``
    from weights uniform in +-1/sqrt(fan_in) and zero biases, the recipe of
    the DEC-keras reproduction. ``checkpoint`` (a fit's checkpointer,
    optional) saves the training state as it goes and resumes from it.
    ``compute_dtype`` is the dtype of the matrix products (float32, or
    bfloat16 under autocast). ``augment(batch, iteration)`` (optional)
    transforms each mini-batch, e.g. :class:`~deepclust.training.augment.ImageAugmenter`.
    Returns the mean reconstruction loss of each epoch.
    """
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer={optimizer!r}; use 'adam' or 'sgd'.")
    ae.train()
    stages = _Stages(checkpoint, ae)
    if stages.done(0):
        return stages.losses
    if n_iter is None:
        n_iter = epochs * batches_per_epoch(len(source), batch_size)
    if optimizer == "sgd":
        if stages.stage == 0 and stages.iteration == 0:  # a fresh start, not a resumed one
            for layer in ae.modules():  # weights keep their U(+-1/sqrt(fan_in)) initialisation
                if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.zeros_(layer.bias)
        opt = torch.optim.SGD(ae.parameters(), lr=lr, momentum=0.9)
    else:
        opt = adam(ae.parameters(), lr)
    losses = train_steps(
        lambda x: reconstruction_mse(ae, ae(x), x), source,
        n_iter=n_iter, batch_size=batch_size, optimizer=opt, scheduler=None,
        generator=generator, desc="pretrain (end-to-end)", verbose=verbose,
        compute_dtype=compute_dtype, augment=augment, **stages.train_args(0, []),
    )
    stages.finished(0, losses)
    return losses


def _check_not_collapsed(
    lo: torch.Tensor, hi: torch.Tensor, stage: str, lr: float, *, relu: bool,
    samples_differ: Callable[[], bool],
) -> None:
    """Check a layer's codes from their per-unit minimum ``lo`` and maximum ``hi`` over the data.

    Raise when the codes are not finite, or when every sample got the same
    code; warn when most ReLU units never fire. With too high a learning
    rate, SGD can push the ReLUs of a layer below zero for all inputs; the
    loss then stays finite (the decoder outputs its bias), so only the codes
    reveal it, and clustering such an embedding would silently give one
    cluster. ``samples_differ`` is only called when a problem is found: codes
    of identical samples are identical whatever the training.
    """
    advice = (f"The learning rate {lr:g} may be too high for this data: lower layerwise_lr "
              "(e.g. by 10x), standardise the input (e.g. StandardScaler: a large offset shared by "
              "every sample hides the differences between them), or use pretrain='end-to-end'.")
    if not bool(torch.isfinite(lo).all() and torch.isfinite(hi).all()):
        raise FloatingPointError(f"Layer-wise pretraining, {stage}: the codes are not finite. {advice}")
    collapsed = bool((hi - lo).max() == 0)
    dead = float((hi <= 0).float().mean()) if relu else 0.0
    if not (collapsed or dead >= _DEAD_UNITS_WARNING) or not samples_differ():
        return
    if collapsed:
        raise FloatingPointError(
            f"Layer-wise pretraining, {stage}: every sample got the same code (all units dead), "
            f"so the embedding cannot separate anything. {advice}"
        )
    warnings.warn(
        f"Layer-wise pretraining, {stage}: {dead:.1%} of the units output 0 for every sample, "
        f"so the embedding is likely degenerate. {advice}",
        RuntimeWarning, stacklevel=caller_stacklevel(),
    )


def _layer_ranges(ae: Autoencoder, source: BatchSource) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-unit (min, max) of every encoder layer's output over the data, in one pass."""
    ranges: list = [(None, None)] * ae.n_layers
    with torch.no_grad():
        for x in source.chunks(chunk_rows(source.n_features)):
            ranges = [running_range(*r, h) for r, h in zip(ranges, ae.layer_outputs(x))]
    return [(distributed.all_reduce(lo, "min"), distributed.all_reduce(hi, "max")) for lo, hi in ranges]


def _paper_init(module: nn.Module) -> None:
    """Weights from N(0, 0.01^2) and zero biases (section 4.3)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.01)
            nn.init.zeros_(m.bias)


def _sgd_step_schedule(params, lr: float, lr_step: int):
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=lr_step, gamma=0.1)
    return optimizer, scheduler


def pretrain_layerwise(
    ae: Autoencoder,
    source: BatchSource,
    *,
    layer_iter: int,
    finetune_iter: int,
    lr: float,
    lr_step: int,
    dropout: float,
    batch_size: int,
    generator: torch.Generator,
    verbose: bool = False,
    checkpoint=None,
    compute_dtype: torch.dtype = torch.float32,
) -> list[float]:
    """The paper's greedy layer-wise denoising pretraining, then fine-tuning.

    Layer i is a denoising autoencoder (eqs. 6-9): its input, the clean output
    of layers ``0..i-1``, goes through dropout (except for the first layer,
    whose input is the data itself, as in the paper's code), is encoded, dropped
    out again and decoded; it is trained for ``layer_iter`` iterations on the
    squared error ``(1/2)||x - y||^2`` against the clean input. The stacked
    autoencoder is then fine-tuned end to end for ``finetune_iter``
    iterations without dropout. Both stages
    use SGD (momentum 0.9) with ``lr`` divided by 10 every ``lr_step``
    iterations.

    Everything is in the network's normalised units (``ae.input_scale``).
    ``checkpoint`` (a fit's checkpointer, optional) saves the training state
    as it goes and resumes from it. ``compute_dtype`` is the dtype of the
    training steps' matrix products (float32, or bfloat16 under autocast);
    the codes passed from layer to layer are computed in float32. Returns the
    mean loss of each epoch of every stage, one after another (each layer's
    stage is on its own scale).
    """
    _paper_init(ae)
    ae.train()
    stages = _Stages(checkpoint, ae)
    if stages.stage > ae.n_layers:  # layers and fine-tuning done
        return stages.losses
    losses = stages.losses
    current = source
    # Asked only when a layer looks collapsed, and at most once.
    samples_differ = functools.cache(lambda: rows_differ(source))
    last = ae.n_layers - 1
    for i in range(ae.n_layers):
        if stages.stage >= ae.n_layers:  # every layer is trained: on to fine-tuning
            break
        enc, dec = ae.encoder[i], ae.decoder[last - i]
        enc_act = F.relu if i < last else (lambda t: t)
        # Layer 0 reconstructs the data (linear output); deeper layers
        # reconstruct ReLU codes, so their decoder keeps the ReLU.
        dec_act = (lambda t: t) if i == 0 else F.relu

        # The paper's code corrupts the input of every layer but the first (the data),
        # and every hidden code.
        in_drop = dropout if i > 0 else 0.0
        # Layer 0 reads the data and normalises it; deeper layers read codes already in network units.
        prep = ae.normalise if i == 0 else (lambda t: t)

        def dae_loss(x, enc=enc, dec=dec, enc_act=enc_act, dec_act=dec_act, in_drop=in_drop, prep=prep):
            x = prep(x)
            h = enc_act(enc(F.dropout(x, in_drop, training=True)))
            y = dec_act(dec(F.dropout(h, dropout, training=True)))
            return _squared_error(y, x)

        trained_before = stages.done(i)  # by the run this one resumes
        if not trained_before:
            params = list(enc.parameters()) + list(dec.parameters())
            optimizer, scheduler = _sgd_step_schedule(params, lr, lr_step)
            losses += train_steps(
                dae_loss, current, n_iter=layer_iter, batch_size=batch_size,
                optimizer=optimizer, scheduler=scheduler, generator=generator,
                desc=f"pretrain layer {i + 1}/{ae.n_layers}", verbose=verbose,
                compute_dtype=compute_dtype, **stages.train_args(i, losses),
            )
            logger.info("layer %d pretrained, loss %.4g", i + 1, losses[-1] if losses else float("nan"))
        def clean_codes(x, enc=enc, enc_act=enc_act, prep=prep):
            return enc_act(enc(prep(x)))

        rows = chunk_rows(current.n_features)
        if source.in_memory or source.n_samples * enc.out_features * 4 <= CODES_IN_MEMORY_BYTES:
            # no_grad, not inference_mode: the codes are the next layer's training input.
            # Layer i's clean codes from layer i-1's: one layer per pass, not the whole stack again.
            with torch.no_grad():
                codes = map_chunks(current, clean_codes, rows)
            lo, hi = codes.amin(dim=0), codes.amax(dim=0)
            next_source = BatchSource.from_tensor(codes)
        else:  # out-of-core data: the codes are recomputed batch by batch, never stored whole
            next_source = MappedSource(current, clean_codes, enc.out_features)
            lo = hi = None
            for x in next_source.chunks(rows):
                lo, hi = running_range(lo, hi, x)
        lo, hi = distributed.all_reduce(lo, "min"), distributed.all_reduce(hi, "max")
        if not trained_before:
            _check_not_collapsed(lo, hi, f"layer {i + 1}/{ae.n_layers}", lr, relu=i < last,
                                 samples_differ=samples_differ)
            stages.finished(i, losses)
        current = next_source

    optimizer, scheduler = _sgd_step_schedule(ae.parameters(), lr, lr_step)
    losses += train_steps(
        lambda x: _squared_error(ae.normalise(ae(x)), ae.normalise(x)), source,
        n_iter=finetune_iter, batch_size=batch_size, optimizer=optimizer,
        scheduler=scheduler, generator=generator, desc="fine-tune", verbose=verbose,
        compute_dtype=compute_dtype, **stages.train_args(ae.n_layers, losses),
    )
    if finetune_iter:
        for i, (lo, hi) in enumerate(_layer_ranges(ae, source)):
            _check_not_collapsed(lo, hi, f"layer {i + 1}/{ae.n_layers} after fine-tuning", lr,
                                 relu=i < last, samples_differ=samples_differ)
    stages.finished(ae.n_layers, losses)
    return losses
