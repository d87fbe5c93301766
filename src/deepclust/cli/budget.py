"""``fit --pretrain-epochs`` and ``fit --time-budget``: a fit's length in epochs, or sized to a time.

The budget is planned from a measurement on the data itself: the time of a few dozen training steps
of the method's network at the data's width and batch size, and of an embedding pass's batches. A
layer-wise pretraining step trains one layer pair, so a layer costs at most what a step of the whole
network does (counting a full step for it errs long); a clustering iteration is a step of the encoder
(of the whole network for a method that keeps the reconstruction loss), plus its share of the pass
over all the data every ``update_interval`` iterations. The plan scales the method's own schedule
down to fit, never up: a budget longer than a default fit leaves every setting as it was.
"""

from __future__ import annotations

import math
import time


# A plan below these would not be a fit worth having; they bound its scaling from below.
_MIN_EPOCHS, _MIN_CLUSTERING_ITER = 1, 100
# The measurement: up to 50 timed steps after 3 of warm-up, stopping early after 3 s of them.
_MEASURED_STEPS, _WARMUP_STEPS, _MEASURE_S = 50, 3, 3.0


def pretrain_epochs_params(cls, params: dict, epochs: int, n: int) -> dict:
    """The parameters that set a pretraining of ``epochs`` epochs: for layer-wise pretraining
    ``epochs`` a layer and six times as many of fine-tuning (the 7 : 42 ratio of the "auto"
    schedule), as iteration counts; for end-to-end pretraining ``pretrain_epochs``."""
    from ..data.batches import batches_per_epoch
    from ..training.pretrain_stage import resolve_pretrain

    takes = set(cls._get_param_names())
    per_epoch = batches_per_epoch(n, params.get("batch_size", cls().batch_size))
    pretrain = resolve_pretrain(params.get("pretrain", cls().get_params().get("pretrain", "end-to-end")), per_epoch)
    if pretrain == "layerwise" and "layerwise_iter" in takes:
        return {"layerwise_iter": epochs * per_epoch, "finetune_iter": 6 * epochs * per_epoch}
    if "pretrain_epochs" not in takes:
        raise ValueError(f"--pretrain-epochs: {cls.__name__} has no pretraining length to set.")
    return {"pretrain_epochs": epochs}


def _schedule(est, n: int) -> dict:
    """The method's own schedule on ``n`` points, in iterations (its "auto" values resolved)."""
    from ..data.batches import batches_per_epoch
    from ..training import pretrain_stage as ps

    per_epoch = batches_per_epoch(n, est.batch_size)
    if ps.resolve_pretrain(est.pretrain, per_epoch) == "layerwise" and hasattr(est, "layerwise_iter"):
        layer, finetune = ps.layerwise_iterations(est.layerwise_iter, est.finetune_iter, per_epoch)
        return {"kind": "layerwise", "per_epoch": per_epoch, "max_iter": est.max_iter,
                "layer": layer, "finetune": finetune}
    e2e = ps.end_to_end_iterations(est.pretrain_epochs, per_epoch, getattr(est, "pretrain_optimizer", "adam"))
    return {"kind": "end-to-end", "per_epoch": per_epoch, "max_iter": est.max_iter, "e2e": e2e}


def _measure(est, X) -> tuple[float, float]:
    """Seconds of one training step of the whole network on a batch of X, and of one batch's
    embedding without gradients, on the fit's device."""
    import numpy as np
    import scipy.sparse as sp
    import torch

    from ..training.device import resolve_device

    device = resolve_device(est.device)
    rows = min(len(X), est.batch_size)
    batch = X[np.arange(rows)] if not isinstance(X, np.ndarray) else X[:rows]
    batch = batch.toarray() if sp.issparse(batch) else np.asarray(batch)
    xb = torch.as_tensor(batch, dtype=torch.float32, device=device)
    if rows < est.batch_size:  # the steps' cost at the fit's batch size
        xb = xb.repeat(-(-est.batch_size // rows), 1)[: est.batch_size]
    est._check_network(xb.shape[1])  # DBC's image shape, checked as its fit would
    ae = est._new_autoencoder(xb.shape[1], 1.0).to(device)
    optimizer = torch.optim.SGD(ae.parameters(), lr=1e-6)

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(ae.decode(ae.encode(xb)), xb).backward()
        optimizer.step()

    def timed(fn, count):
        for _ in range(_WARMUP_STEPS):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        done = 0
        while done < count and (done < 3 or time.perf_counter() - start < _MEASURE_S):
            fn()
            done += 1
            if device.type == "cuda":
                torch.cuda.synchronize()
        return (time.perf_counter() - start) / done

    t_step = timed(step, _MEASURED_STEPS)
    with torch.no_grad():
        t_embed = timed(lambda: ae.encode(xb), _MEASURED_STEPS)
    return t_step, t_embed


def _seconds(plan: dict, n: int, est, t_step: float, t_embed: float) -> float:
    """The plan's estimated cost (k-means and the final passes aside)."""
    if plan["kind"] == "layerwise":
        pretrain = (plan["layer"] + plan["finetune"]) * t_step  # all layers together cost a full step
    else:
        pretrain = plan["e2e"] * t_step
    interval = (max(40, math.ceil(plan["per_epoch"] / 2)) if est.update_interval == "auto"
                else est.update_interval)
    joint = est._loss_weights()[0] > 0
    per_iter = (1.0 if joint else 0.5) * t_step + plan["per_epoch"] * t_embed / interval
    return pretrain + plan["max_iter"] * per_iter


def plan_budget(cls, params: dict, X, minutes: float) -> tuple[dict, str]:
    """The parameters that fit ``minutes`` (never above the method's own schedule), and the plan
    as one line."""
    est = cls(**params)
    if not hasattr(est, "pretrain"):  # a recipe without DEC's autoencoder schedules (IMSAT, DEPICT)
        raise ValueError(f"--time-budget plans the schedules of DEC's family; {cls.__name__} has no plan yet: set "
                         "its length with --max-iter or --param (its epochs).")
    if not hasattr(est, "update_interval"):  # N2D: pretraining, then UMAP, no clustering phase
        raise ValueError(f"--time-budget plans a clustering phase, which {cls.__name__} does not have; "
                         "set its pretraining length with --pretrain-epochs instead.")
    n = len(X)
    default = _schedule(est, n)
    t_step, t_embed = _measure(est, X)
    budget = 60 * minutes
    full = _seconds(default, n, est, t_step, t_embed)
    scale = min(1.0, budget / full) if full > 0 else 1.0
    plan = dict(default)
    per_epoch = default["per_epoch"]
    plan["max_iter"] = min(default["max_iter"], max(_MIN_CLUSTERING_ITER, int(default["max_iter"] * scale)))
    if default["kind"] == "layerwise":
        for key, ratio in (("layer", 1), ("finetune", 6)):
            plan[key] = min(default[key], max(ratio * _MIN_EPOCHS * per_epoch, int(default[key] * scale)))
        changed = {"layerwise_iter": plan["layer"], "finetune_iter": plan["finetune"]}
        what = (f"{_epochs(plan['layer'] / per_epoch)} a layer, {_epochs(plan['finetune'] / per_epoch)} of "
                "fine-tuning")
    else:
        epochs = min(default["e2e"] / per_epoch, max(_MIN_EPOCHS, math.floor(default["e2e"] / per_epoch * scale)))
        plan["e2e"] = int(epochs * per_epoch)
        changed = {"pretrain_epochs": max(1, int(epochs))}
        what = f"{_epochs(epochs)} of end-to-end pretraining"
    estimate = _seconds(plan, n, est, t_step, t_embed)
    if scale >= 1.0:
        changed = {}  # the default fit fits: nothing changes
        what = "the method's own schedule: " + what
    changed["max_iter"] = plan["max_iter"]
    line = (f"plan: {what}, at most {plan['max_iter']:,} clustering iterations: about "
            f"{_minutes(estimate)} (measured: {1000 * t_step:.1f} ms a training step of {est.batch_size} "
            f"rows; plus k-means, and less where fewer than tol of the points change cluster sooner)")
    if estimate > 1.2 * budget:
        line += (f"; the shortest fit worth having takes longer than the {minutes:g} minutes asked for: "
                 "lower --n-clusters or the network's size (--param hidden_dims=...) to go faster")
    return changed, line


def _epochs(count: float) -> str:
    return f"{count:.3g} epoch" + ("" if f"{count:.3g}" == "1" else "s")


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} minutes"
