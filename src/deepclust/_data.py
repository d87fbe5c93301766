"""Batches of float32 tensors from dense or sparse arrays.

Every training loop and full-data pass in deepclust reads its data through
:class:`BatchSource`, so dense and sparse inputs share one code path: dense
data is copied to the device once, sparse data stays a CSR matrix on the host
and only the rows of the current batch are densified.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch


class BatchSource:
    """Row access to a 2-D array as float32 tensors on ``device``.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Validated input. Sparse input is kept sparse.
    device : torch.device
        Where the batches are returned.
    """

    def __init__(self, X, device: torch.device):
        self.device = device
        self.n_samples, self.n_features = X.shape
        if sp.issparse(X):
            self._csr = sp.csr_matrix(X, dtype=np.float32)
            self._dense = None
        else:
            self._csr = None
            # torch.tensor copies, so read-only and memory-mapped inputs are safe.
            self._dense = torch.tensor(np.asarray(X), dtype=torch.float32, device=device)

    @classmethod
    def from_tensor(cls, data: torch.Tensor) -> BatchSource:
        """Wrap a dense float32 tensor that already lives on its device."""
        self = cls.__new__(cls)
        self.device = data.device
        self.n_samples, self.n_features = data.shape
        self._csr, self._dense = None, data
        return self

    def __len__(self) -> int:
        return self.n_samples

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` (a 1-D CPU int64 tensor) as a dense device tensor."""
        if self._dense is not None:
            return self._dense[idx.to(self.device)]
        rows = self._csr[idx.numpy()].toarray()
        return torch.from_numpy(rows).to(self.device, non_blocking=True)

    def chunks(self, batch_size: int) -> Iterator[torch.Tensor]:
        """Consecutive row blocks, in order, covering every sample once."""
        for start in range(0, self.n_samples, batch_size):
            stop = min(start + batch_size, self.n_samples)
            if self._dense is not None:
                yield self._dense[start:stop]
            else:
                rows = self._csr[start:stop].toarray()
                yield torch.from_numpy(rows).to(self.device, non_blocking=True)


# Rows per chunk of a full-data pass, capped so that a densified chunk of a
# wide sparse matrix stays around 128 MB of float32.
_FULL_PASS_ROWS = 4096
_FULL_PASS_FLOATS = 2**25


def chunk_rows(width: int) -> int:
    """Rows per chunk of a full-data pass over rows ``width`` floats wide."""
    return max(1, min(_FULL_PASS_ROWS, _FULL_PASS_FLOATS // max(width, 1)))


def shuffled_batches(
    n_samples: int, batch_size: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """Endless mini-batch indices: each epoch is a fresh permutation.

    The last batch of an epoch may be smaller, so every sample is seen once
    per epoch, as in the paper's Caffe data layer.
    """
    while True:
        perm = torch.randperm(n_samples, generator=generator)
        yield from perm.split(int(batch_size))


def batches_per_epoch(n_samples: int, batch_size: int) -> int:
    """Number of mini-batches in one pass over ``n_samples`` points."""
    return -(-n_samples // batch_size)


def running_range(
    lo: torch.Tensor | None, hi: torch.Tensor | None, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold the per-column minimum and maximum of ``x`` into ``(lo, hi)`` (``None`` to start)."""
    cmin, cmax = x.amin(dim=0), x.amax(dim=0)
    if lo is None:
        return cmin, cmax
    return torch.minimum(lo, cmin), torch.maximum(hi, cmax)


def energy_and_offset(source: BatchSource) -> tuple[float, float]:
    """``(mean ||x||^2, ||mean x||^2)`` over the samples, from one chunked pass.

    Their difference is the spread of the samples around their mean (the total
    variance); when it is a tiny part of the energy, a common offset dominates.
    """
    # float64 (squares of float32 data can overflow float32); MPS has no float64, so its chunks
    # are summed on the host.
    total = 0.0
    col_sum = torch.zeros(source.n_features, dtype=torch.float64)
    for x in source.chunks(chunk_rows(source.n_features)):
        x = (x.cpu() if x.device.type == "mps" else x).double()
        total += float(torch.sum(x * x))
        col_sum += x.sum(dim=0).cpu()
    n = max(len(source), 1)
    return total / n, float(torch.sum((col_sum / n) ** 2))


def rows_differ(source: BatchSource) -> bool:
    """Whether the samples are not all identical, from one chunked pass in O(n_features) memory."""
    lo = hi = None
    for x in source.chunks(chunk_rows(source.n_features)):
        lo, hi = running_range(lo, hi, x)
    return lo is not None and bool((hi - lo).max() > 0)
