"""Data-parallel training over the ranks of a ``torch.distributed`` process group.

When a process group of more than one rank is initialised (``torchrun`` plus
``torch.distributed.init_process_group``), ``fit`` trains data-parallel: every
rank passes its own shard of the data, each step's gradients are averaged over
the ranks (so a step sees ``batch_size`` samples in all, ``batch_size / world``
on each rank), and every quantity that the algorithm computes over the whole
dataset is summed over the ranks: the input's energy, the layers' activation
ranges, the cluster frequencies f_j of the target distribution (eq. 3), the
fraction of points that changed cluster, the cluster sizes. k-means runs on the
gathered embedding (n x embedding_dim, small) on rank 0 and its centroids are
broadcast. Every rank therefore holds the same network and centroids, as one
process on all the data would.

Under NCCL, which has no CPU collectives, the few CPU tensors exchanged (counts, seeds, the
precision's index) travel through the rank's current GPU.

Limits: every rank needs at least one sample (and all of them together at least n_clusters);
``labels_`` and the other per-sample results cover the rank's own shard; a step averages the ranks'
batch means, ``ceil(batch_size / world)`` samples each (with shards of unequal
size, the last batches of an epoch differ in size, so this is not exactly the
mean over all the step's samples); an error raised on one rank only (bad input
in its shard) leaves the others waiting until the launcher's timeout stops the
job. Batch norm (DBC's network) normalises each rank's batch with that batch's
own statistics, and its running statistics are the ranks' mean before every
full-data pass: close to, but not, one process's. DCN and checkpoints are
refused.

Without a process group, or with one rank, every function here does nothing.
"""

from __future__ import annotations

import math

import torch

__all__ = ["active", "all_reduce", "average_buffers", "average_gradients", "broadcast", "gather_rows", "rank",
           "world_size"]


def world_size() -> int:
    """Ranks of the initialised process group (1 without one)."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def active() -> bool:
    """Whether fit trains data-parallel: a process group of more than one rank."""
    return world_size() > 1


def per_rank_batch(batch_size: int) -> int:
    """Samples per step on each rank, so that a step sees ``batch_size`` over all ranks."""
    return max(1, math.ceil(batch_size / world_size()))


def _communicable(t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` on a device the process group communicates on: NCCL has no CPU collectives,
    so under it a CPU tensor (a count, a seed, the precision's index) goes to this rank's GPU."""
    import torch.distributed as dist

    out = t.detach().clone().contiguous()
    if out.device.type == "cpu" and dist.get_backend() == "nccl":
        out = out.to(torch.device("cuda", torch.cuda.current_device()))
    return out


def all_reduce(t: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """``t`` reduced over the ranks ("sum", "min" or "max"); a new tensor on ``t``'s device, ``t``
    is unchanged."""
    if not active():
        return t
    import torch.distributed as dist

    out = _communicable(t)
    dist.all_reduce(out, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}[op])
    return out.to(t.device)


def broadcast(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Rank ``src``'s ``t`` on every rank (a new tensor on ``t``'s device)."""
    if not active():
        return t
    import torch.distributed as dist

    out = _communicable(t)
    dist.broadcast(out, src)
    return out.to(t.device)


def _average_in_place(tensors: list[torch.Tensor]) -> None:
    """Replace each tensor by its mean over the ranks (one flat all-reduce)."""
    if not tensors:
        return
    import torch.distributed as dist

    flat = _communicable(torch.cat([t.reshape(-1).float() for t in tensors]))
    dist.all_reduce(flat)
    flat = flat.to(tensors[0].device) / world_size()
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


def average_gradients(params) -> None:
    """Replace each parameter's gradient by its mean over the ranks (one flat all-reduce)."""
    if active():
        _average_in_place([p.grad for p in params if p.grad is not None])


def average_buffers(module: torch.nn.Module) -> None:
    """Replace the running statistics of each batch norm in ``module`` by their mean over the
    ranks, so that every rank's full-data pass uses the same network. Nothing to do (and no
    communication) for a network without batch norm."""
    if active():
        norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
        _average_in_place([b for m in module.modules() if isinstance(m, norms)
                           for b in (m.running_mean, m.running_var) if b is not None])


def gather_rows(t: torch.Tensor) -> torch.Tensor:
    """The rows of ``t`` from every rank, in rank order (shards may differ in size)."""
    if not active():
        return t
    import torch.distributed as dist

    n = _communicable(torch.tensor([t.shape[0]], dtype=torch.int64, device=t.device))
    sizes = [torch.zeros_like(n) for _ in range(world_size())]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    padded = torch.zeros((max(sizes), *t.shape[1:]), dtype=t.dtype, device=n.device)
    padded[:t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes)]).to(t.device)
