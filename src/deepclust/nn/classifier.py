"""A multilayer perceptron with a softmax head: the network of the direct clustering methods
(IMSAT), which read a point's cluster straight from the network's output."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ClusterHead", "frozen_batch_statistics"]


class ClusterHead(nn.Module):
    """``d -> hidden_dims -> k``: linear layers with batch normalisation and ReLU, then a linear
    layer to ``k`` logits (the softmax of which is p(y | x)).

    The hidden layers' weights are drawn from N(0, (0.1 / sqrt(fan_in))^2) and the last layer's
    from N(0, (1e-4 / sqrt(fan_in))^2), biases zero: IMSAT's initialisation, under which the
    first predictions are close to uniform.

    Parameters
    ----------
    dims : sequence of int
        ``(n_features, *hidden_dims, n_clusters)``.
    """

    def __init__(self, dims: Sequence[int]):
        super().__init__()
        dims = [int(d) for d in dims]
        if len(dims) < 2 or min(dims) < 1:
            raise ValueError(f"dims={dims!r} must be (n_features, *hidden_dims, n_clusters), positive ints")
        self.dims = dims
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-2], dims[1:-1]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in dims[1:-1])
        self.head = nn.Linear(dims[-2], dims[-1])
        for layer, scale in [*((h, 0.1) for h in self.hidden), (self.head, 1e-4)]:
            nn.init.normal_(layer.weight, std=scale / math.sqrt(layer.in_features))
            nn.init.zeros_(layer.bias)

    def config(self) -> dict:
        return {"kind": "cluster-head", "dims": list(self.dims)}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's output (the input itself without hidden layers)."""
        for linear, norm in zip(self.hidden, self.norms):
            x = F.relu(norm(linear(x)))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits."""
        return self.head(self.features(x))


@contextlib.contextmanager
def frozen_batch_statistics(module: nn.Module):
    """Batch normalisation normalises by the batch's statistics (in training mode) but leaves its
    running averages as they are: for the extra forward passes of a step, such as VAT's
    perturbed inputs, which should not count as data."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None)
             for m in norms]
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(norms, saved):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


def build_cluster_head(config: dict, state: dict) -> ClusterHead:
    """The untrained :class:`ClusterHead` of a saved ``config()`` (deepclust.nn.build)."""
    return ClusterHead(config["dims"])
