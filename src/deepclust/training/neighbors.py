"""Exact distances to the k-th nearest neighbour, computed in chunks.

IMSAT's self-augmentation perturbs each point within its own radius, a fraction of the
distance to its k-th nearest neighbour in the input. The distances are exact (a brute-force
search), in blocks of rows, so memory stays O(chunk x n), never O(n x n): dense data on the
device by matrix products; sparse data (CSR, e.g. tf-idf) by sparse-times-dense products on the
host, whose cost grows with the non-zeros rather than with n x n_features; memory-mapped or
sharded data one block at a time on both sides.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from ..data.batches import BatchSource

__all__ = ["kth_neighbor_distances"]

# Elements of one block of the distance matrix (float32): 64 Mi elements, 256 MiB.
_BLOCK_ELEMENTS = 2**26


def kth_neighbor_distances(source: BatchSource, k: int, *, block_elements: int | None = None) -> torch.Tensor:
    """Euclidean distance from each row of ``source`` to its ``k``-th nearest other row.

    A point is not its own neighbour (its exact duplicates are, at distance 0). With fewer than
    ``k + 1`` rows, the farthest other row is used; a single row gets 0. ``block_elements``
    bounds the elements of one block of the distance matrix (default 64 Mi). Returns a float32
    tensor of shape ``(n_samples,)`` on the source's device.
    """
    n = len(source)
    if n < 2:
        return torch.zeros(n, dtype=torch.float32, device=source.device)
    k = min(int(k), n - 1)
    rows = max(1, (block_elements or _BLOCK_ELEMENTS) // n)
    if source._csr is not None:  # float64 blocks, and three of them at once: a quarter of the rows
        out = _sparse(source._csr, k, max(1, rows // 4))
        return torch.from_numpy(out).to(source.device)
    if source.in_memory:
        data = source._dense
        norms = (data * data).sum(dim=1)
        out = [_smallest(q, qn, start, data, norms, 0, k)[:, k - 1]
               for start, q, qn in zip(range(0, n, rows), data.split(rows), norms.split(rows))]
        return torch.cat(out).sqrt()
    # Out of core: both sides a block at a time, keeping the k smallest as the reference blocks go by.
    out = []
    for start, q in zip(range(0, n, rows), source.chunks(rows)):
        qn = (q * q).sum(dim=1)
        best = None
        for ref_start, ref in zip(range(0, n, rows), source.chunks(rows)):
            values = _smallest(q, qn, start, ref, (ref * ref).sum(dim=1), ref_start, k)
            if best is not None:
                merged = torch.cat([best, values], dim=1)
                values = merged.topk(min(k, merged.shape[1]), dim=1, largest=False).values
            best = values
        out.append(best[:, k - 1])
    return torch.cat(out).sqrt()


def _smallest(q, q_norms, q_start, ref, ref_norms, ref_start, k):
    """The ``k`` smallest squared distances (fewer if the block is narrower) of the query rows
    (rows ``q_start`` on of the data) to the reference rows (``ref_start`` on), self excluded."""
    d2 = (q_norms[:, None] + ref_norms[None, :] - 2.0 * (q @ ref.T)).clamp_(min=0.0)
    own = torch.arange(q_start, q_start + len(q), device=q.device) - ref_start
    inside = (own >= 0) & (own < len(ref))
    d2[torch.nonzero(inside).squeeze(1), own[inside]] = float("inf")
    return d2.topk(min(k, d2.shape[1]), dim=1, largest=False).values


def _sparse(X: sp.csr_matrix, k: int, rows: int) -> np.ndarray:
    """:func:`kth_neighbor_distances` of a CSR matrix: the sparse matrix times each block of query
    rows, densified (cost grows with the non-zeros), in float64 for the squared norms' sake."""
    X = X.astype(np.float64)
    norms = np.asarray(X.multiply(X).sum(axis=1)).ravel()
    out = np.empty(X.shape[0], dtype=np.float32)
    for start in range(0, X.shape[0], rows):
        stop = min(start + rows, X.shape[0])
        products = np.asarray(X @ X[start:stop].T.toarray()).T  # sparse times dense: (block, n)
        d2 = norms[start:stop, None] + norms[None, :] - 2.0 * products
        np.maximum(d2, 0.0, out=d2)
        d2[np.arange(stop - start), np.arange(start, stop)] = np.inf
        out[start:stop] = np.sqrt(np.partition(d2, k - 1, axis=1)[:, k - 1])
    return out
