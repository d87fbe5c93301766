"""Batches of float32 tensors from dense, memory-mapped or sparse arrays.

Every training loop and full-data pass in deepclust reads its data through
:class:`BatchSource`, so every kind of input shares one code path: dense data
in memory is copied to the device once; a memory-mapped array (``np.load(path,
mmap_mode="r")``, ``np.memmap``) stays on disk and only the rows of the
current batch or chunk are read; sparse data stays a CSR matrix on the host and
only the rows of the current batch are densified.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch

from ..training import distributed
from .shards import ShardedArray, check_block


class BatchSource:
    """Row access to a 2-D array as float32 tensors on ``device``.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Validated input. Sparse input is kept sparse.
    device : torch.device
        Where the batches are returned.
    check : bool, default=False
        For a :class:`~deepclust.data.shards.ShardedArray`: check every block that
        :meth:`chunks` reads for values fitting would refuse (NaN, inf,
        beyond float32), so that a single pass both validates and uses the
        data (see ``check_sharded(scan=False)``).
    """

    _check = False  # see ``check``; a tensor's or a mapped source's rows are never checked

    def __init__(self, X, device: torch.device, check: bool = False):
        self.device = device
        self._check = check and isinstance(X, ShardedArray)
        self.n_samples, self.n_features = X.shape
        self._csr = self._mapped = self._dense = None
        if sp.issparse(X):
            self._csr = sp.csr_matrix(X, dtype=np.float32)
        elif is_memory_mapped(X) or isinstance(X, ShardedArray):
            self._mapped = X  # read a batch at a time: memory O(batch), not O(n_samples)
        else:
            # torch.tensor copies, so read-only inputs are safe; it refuses negative strides
            # (X[::-1]), which a contiguous copy does not have.
            self._dense = torch.tensor(np.ascontiguousarray(X), dtype=torch.float32, device=device)

    @property
    def in_memory(self) -> bool:
        """Whether the data was copied whole to the device (dense, not memory-mapped)."""
        return self._dense is not None

    @classmethod
    def from_tensor(cls, data: torch.Tensor) -> BatchSource:
        """Wrap a dense float32 tensor that already lives on its device."""
        self = cls.__new__(cls)
        self.device = data.device
        self.n_samples, self.n_features = data.shape
        self._csr, self._mapped, self._dense = None, None, data
        return self

    def __len__(self) -> int:
        return self.n_samples

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` (a 1-D CPU int64 tensor) as a dense device tensor."""
        if self._dense is not None:
            return self._dense[idx.to(self.device)]
        return self._rows(idx.numpy())

    def chunks(self, batch_size: int) -> Iterator[torch.Tensor]:
        """Consecutive row blocks, in order, covering every sample once."""
        for start in range(0, self.n_samples, batch_size):
            stop = min(start + batch_size, self.n_samples)
            if self._dense is not None:
                yield self._dense[start:stop]
            else:
                yield self._rows(slice(start, stop), check_from=start if self._check else None)

    def _rows(self, rows, check_from: int | None = None) -> torch.Tensor:
        """Rows of the host data (sparse or memory-mapped) as a dense float32 device tensor; with
        ``check_from``, the rows (a slice starting there) are checked first."""
        if self._csr is not None:
            block = self._csr[rows].toarray()
        else:
            block = self._mapped[rows]
            if check_from is not None:
                check_block(self._mapped, np.asarray(block), check_from)
            block = np.array(block, dtype=np.float32)  # a writable copy of the rows
        return torch.from_numpy(block).to(self.device, non_blocking=True)


class MappedSource(BatchSource):
    """The rows of ``source`` passed through ``fn`` (without gradients), a batch at a time.

    For data too large to keep transformed in memory: layer-wise pretraining
    trains each layer on the codes of the layers below it, and on out-of-core
    data those codes are recomputed for every batch instead of stored for all
    n samples.
    """

    def __init__(self, source: BatchSource, fn, n_features: int):
        self.device, self.n_samples, self.n_features = source.device, source.n_samples, int(n_features)
        self._csr = self._mapped = self._dense = None
        self._source, self._fn = source, fn

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._fn(self._source.take(idx))

    def chunks(self, batch_size: int) -> Iterator[torch.Tensor]:
        # No more rows at a time than the source's own width allows (a wide sparse input).
        for x in self._source.chunks(min(batch_size, chunk_rows(self._source.n_features))):
            with torch.no_grad():
                yield self._fn(x)


def is_memory_mapped(X) -> bool:
    """Whether ``X`` is a view of a memory map (``np.load(..., mmap_mode=...)``, ``np.memmap``)."""
    base = X
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


# Rows per chunk of a full-data pass, capped so that a densified chunk of a
# wide sparse matrix stays around 128 MB of float32.
_FULL_PASS_ROWS = 4096
_FULL_PASS_FLOATS = 2**25


def map_chunks(source: BatchSource, fn, rows: int) -> torch.Tensor:
    """``fn`` of consecutive blocks of ``rows`` rows of ``source``, stacked into one tensor.

    The result is written into one tensor allocated at the first block: concatenating a list of
    block outputs at the end would leave each small output between the blocks' large temporaries,
    and on glibc the process's memory then grows with the number of samples (by a large fraction
    of the output's own size).
    """
    out, start = None, 0
    for x in source.chunks(rows):
        y = fn(x)
        if out is None:
            out = torch.empty((source.n_samples, *y.shape[1:]), dtype=y.dtype, device=y.device)
        out[start:start + len(y)] = y
        start += len(y)
    return out


def chunk_rows(width: int) -> int:
    """Rows per chunk of a full-data pass over rows ``width`` floats wide."""
    return max(1, min(_FULL_PASS_ROWS, _FULL_PASS_FLOATS // max(width, 1)))


class ShuffledBatches:
    """Endless mini-batch indices: each epoch is a fresh permutation.

    The last batch of an epoch may be smaller, so every sample is seen once
    per epoch, as in the paper's Caffe data layer. The position in the
    current epoch is part of :meth:`state_dict`, so a checkpointed run
    resumes with the very batches it would have drawn.
    """

    def __init__(self, n_samples: int, batch_size: int, generator: torch.Generator):
        self.n_samples, self.batch_size, self.generator = int(n_samples), int(batch_size), generator
        self._perm: torch.Tensor | None = None
        self._pos = 0

    def __iter__(self) -> ShuffledBatches:
        return self

    def __next__(self) -> torch.Tensor:
        if self._perm is None or self._pos >= self.n_samples:
            self._perm = torch.randperm(self.n_samples, generator=self.generator)
            self._pos = 0
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx

    def state_dict(self) -> dict:
        perm = self._perm if self._perm is not None else torch.empty(0, dtype=torch.int64)
        return {"perm": perm.clone(), "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        perm, pos = state["perm"], int(state["pos"])
        if perm.numel() == 0:
            self._perm, self._pos = None, 0
            return
        if (perm.dtype != torch.int64 or perm.shape != (self.n_samples,) or not 0 <= pos
                or not bool(torch.equal(perm.sort().values, torch.arange(self.n_samples)))):
            raise ValueError("the saved batch order is not a permutation of this data's rows")
        self._perm, self._pos = perm.clone(), pos


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
    energy, offset, _ = data_moments(source)
    return energy, offset


def data_moments(source: BatchSource) -> tuple[float, float, torch.Tensor]:
    """``(mean ||x||^2, ||mean x||^2, per-feature variances)``, from one chunked pass in float64."""
    # float64 (squares of float32 data can overflow float32), on the data's device (on the host
    # for MPS, which has no float64). The variances are summed around the first sample (rank 0's
    # when training data-parallel), so a large offset does not cancel them.
    device = torch.device("cpu") if source.device.type == "mps" else source.device
    shift = torch.zeros(source.n_features, dtype=torch.float64, device=device)
    if len(source):
        shift = source.take(torch.zeros(1, dtype=torch.int64))[0].to(device).double()
    shift = distributed.broadcast(shift)
    # sum ||x||^2, sum x, sum (x - shift), sum (x - shift)^2, n: summed over the ranks below
    sums = torch.zeros(3 * source.n_features + 2, dtype=torch.float64, device=device)
    total, col_sum, shifted_sum, shifted_sq = sums[0:1], *sums[1:-1].view(3, -1)
    for x in source.chunks(chunk_rows(source.n_features)):
        x = x.to(device).double()
        total += torch.sum(x * x)
        col_sum += x.sum(dim=0)
        d = x - shift
        shifted_sum += d.sum(dim=0)
        shifted_sq += (d * d).sum(dim=0)
    sums[-1] = len(source)
    sums = distributed.all_reduce(sums)
    total, col_sum, shifted_sum, shifted_sq = sums[0], *sums[1:-1].view(3, -1)
    n = max(float(sums[-1]), 1.0)
    variances = (shifted_sq / n - (shifted_sum / n) ** 2).clamp_min(0.0).cpu()
    return float(total) / n, float(torch.sum((col_sum / n) ** 2)), variances


def dominant_feature(variances: torch.Tensor, *, share: float = 0.5, ratio: float = 1e4):
    """``(feature, its variance / the median feature's)`` when one feature holds more than
    ``share`` of the total variance and over ``ratio`` times the median positive variance
    (features on wildly different scales), else None."""
    positive = variances[variances > 0]
    if variances.numel() < 2 or positive.numel() < 2:
        return None
    top = int(variances.argmax())
    median = float(positive.median())
    if variances[top] > share * variances.sum() and variances[top] > ratio * median:
        return top, float(variances[top]) / median
    return None


def rows_differ(source: BatchSource) -> bool:
    """Whether the samples are not all identical, from one chunked pass in O(n_features) memory."""
    lo = hi = None
    for x in source.chunks(chunk_rows(source.n_features)):
        lo, hi = running_range(lo, hi, x)
    return lo is not None and bool((hi - lo).max() > 0)


def finite_rows(t: torch.Tensor, what: str) -> torch.Tensor:
    """``t``, or a ValueError naming the rows of X whose ``what`` overflowed float32."""
    bad = ~torch.isfinite(t).all(dim=1)
    if bool(bad.any()):
        rows = torch.nonzero(bad).flatten()[:5].tolist()
        raise ValueError(
            f"The {what} of {int(bad.sum())} row(s) of X (e.g. rows {rows}) is not finite: their "
            "values are so far from the training data's that they overflow the network's float32 "
            "arithmetic. Scale X like the training data (e.g. with the same StandardScaler)."
        )
    return t
