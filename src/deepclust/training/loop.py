"""The mini-batch training loop the methods' phases share: shuffled epochs, a precision
(float32 or bfloat16 autocast), a progress bar and a log line every few seconds, a non-finite
loss caught at the end of each epoch, and checkpoints with exact resumption."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from . import distributed
from ..data.batches import BatchSource, ShuffledBatches, batches_per_epoch
from .precision import autocast

logger = logging.getLogger(__name__)

__all__ = ["train_steps"]

# At most one progress line this often, at the end of an epoch (INFO on "deepclust", for a log file).
_LOG_EVERY_S = 5.0


def train_steps(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    source: BatchSource,
    *,
    n_iter: int,
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    scheduler,
    generator: torch.Generator,
    desc: str,
    verbose: bool,
    resume: tuple[int, dict] | None = None,
    checkpoint: Callable[[int, dict], None] | None = None,
    due: Callable[[int], bool] | None = None,
    compute_dtype: torch.dtype = torch.float32,
    augment: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
    loss_name: str = "reconstruction loss",
    advice: str = "Standardise the input (e.g. StandardScaler) or lower the learning rate",
    indexed: bool = False,
) -> list[float]:
    """Run ``n_iter`` mini-batch steps; return the mean loss of each epoch.

    ``augment(batch, iteration)``, when given, transforms each mini-batch
    before the loss sees it (the autoencoder then reconstructs the
    transformed batch). ``indexed=True`` calls ``loss_fn(batch, iteration, rows)`` instead: the
    iteration seeds a loss's own augmentation (so a resumed fit draws the same), the rows (the
    batch's indices into the data) read per-row data such as IMSAT's radii. ``loss_name`` and ``advice`` word the error raised when the loss is not finite.

    ``compute_dtype`` is the dtype of the steps' matrix products (see
    ``deepclust.training.precision``); the loss and the parameters stay float32.

    The loss is only read back to the host once per epoch (and before a
    checkpoint), so the loop does not synchronise with the device at every
    step. ``resume=(iteration, state)`` continues from a checkpoint's loop
    state; ``checkpoint(iteration, state)`` is called after each iteration for
    which ``due(iteration)`` holds, with a finite loss so far.
    """
    per_epoch = batches_per_epoch(len(source), batch_size)
    batches = ShuffledBatches(len(source), batch_size, generator)
    losses: list[float] = []
    running, count, start = None, 0, 0
    if resume is not None and resume[0] > 0:
        start, state = resume
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        batches.load_state_dict(state["batches"])
        losses, running, count = list(state["losses"]), state["running"], int(state["count"])

    def check(value: float, it: int) -> None:
        if not math.isfinite(value):
            first = it - count + 1  # the loss is summed on the device and read back here
            where = f"iteration {it}" if first >= it else f"iterations {first} to {it}"
            raise FloatingPointError(
                f"{desc}: the {loss_name} became {value} at {where} of {n_iter}. {advice}; "
                "the last checkpoint, if any, was written before it."
            )

    bar = tqdm(total=n_iter, initial=start, desc=desc, disable=not verbose, leave=False)
    logged = time.perf_counter()
    for it in range(start, n_iter):
        rows = next(batches)
        x = source.take(rows)
        if augment is not None:
            x = augment(x, it)
        with autocast(source.device, compute_dtype):
            loss = loss_fn(x, it, rows) if indexed else loss_fn(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        distributed.average_gradients([p for group in optimizer.param_groups for p in group["params"]])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        running = loss.detach() if running is None else running + loss.detach()
        count += 1
        if count == per_epoch or it == n_iter - 1:
            mean = running.item() / count
            check(mean, it + 1)
            losses.append(mean)
            bar.set_postfix(loss=f"{mean:.4g}")
            running, count = None, 0
            if time.perf_counter() - logged >= _LOG_EVERY_S:  # a line every few seconds for a log file
                logged = time.perf_counter()
                logger.info("%s: iteration %d of %d, %s %.4g", desc, it + 1, n_iter, loss_name, mean)
        bar.update()
        if checkpoint is not None and it + 1 < n_iter and due(it + 1):
            if running is not None:
                check(running.item(), it + 1)  # never checkpoint a diverged network
            checkpoint(it + 1, {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else {},
                "batches": batches.state_dict(),
                "losses": list(losses), "running": running, "count": count,
            })
    bar.close()
    return losses
