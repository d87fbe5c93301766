"""One rank of the data-parallel tests (tests/test_distributed.py), launched by torchrun.

Usage: python -m torch.distributed.run --standalone --nproc-per-node 2 tests/_ddp_worker.py OUT MODE
"""

import os
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

from deepclust import DBC, DEC
from deepclust.nn.autoencoder import Autoencoder

# MODE "exact": a given (untrained) network, contiguous equal shards and full-batch steps, so one
# process on all the data computes the same sums in another order. MODE "train": the default
# pipeline (end-to-end pretraining, mini-batches) on strided shards. MODE "uneven": the same with
# shards of different sizes and random_state=None. MODE "bn": DBC's batch-normalised network, as
# "train". MODE "tiny": as "train", the second rank holding 2 points (fewer than n_clusters).
EXACT = dict(batch_size=240, max_iter=30, update_interval=5, n_init=3, tol=0.0)
TRAIN = dict(hidden_dims=(32,), embedding_dim=3, pretrain="end-to-end", pretrain_epochs=10, n_init=3,
             max_iter=60, batch_size=32)


def data():
    X, y = make_blobs(n_samples=240, centers=3, n_features=6, cluster_std=1.0, random_state=0)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def network():
    torch.manual_seed(0)
    return Autoencoder((6, 32, 3), input_scale=1.0)


def shard(n: int, rank: int, world: int, mode: str) -> np.ndarray:
    if mode == "exact":
        return np.array_split(np.arange(n), world)[rank]
    if mode == "uneven":
        return np.array_split(np.arange(n), [n // 2 + 10 * world])[rank]
    if mode == "tiny":  # the last rank holds 2 points, fewer than the 3 clusters
        return np.array_split(np.arange(n), [n - 2])[rank]
    return np.arange(n)[rank::world]


def fit(X, mode: str) -> DEC:
    if mode == "bn":
        return DBC(n_clusters=3, random_state=0, image_shape=(1, 1, 6), channels=(8,), **{
            k: v for k, v in TRAIN.items() if k not in ("hidden_dims", "pretrain")}).fit(X)
    if mode == "exact":
        return DEC(n_clusters=3, random_state=0, autoencoder=network(), **EXACT).fit(X)
    return DEC(n_clusters=3, random_state=None if mode == "uneven" else 0, **TRAIN).fit(X)


def run(out: Path, mode: str, rank: int, world: int) -> None:
    """One fit of ``mode`` on this rank's shard; its results in ``out``."""
    import torch.distributed as dist

    X, _ = data()
    rows = shard(len(X), rank, world, mode)
    if mode == "uneven":  # last of the modes run in one launch: it patches the precision measurement
        # random_state=None draws from numpy's global generator: seed it differently on each rank,
        # so the ranks draw different seeds (and must agree on rank 0's) while the run, and so the
        # test, is the same every time (a fresh draw fell at or under 0.95 ACC in 3% of fits).
        np.random.seed(1000 + rank)
        # precision="auto" is measured on each rank: make the ranks measure differently (rank 0
        # float32, rank 1 bfloat16); every rank must train with rank 0's choice.
        from deepclust.training import precision as _precision

        _precision.native_bfloat16 = lambda device: True
        _precision.bfloat16_speedup = lambda threads: 0.5 if rank == 0 else 4.0
    model = fit(X[rows], mode)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"rows_{rank}.npy", rows)
    np.save(out / f"labels_{rank}.npy", model.labels_)
    np.save(out / f"centers_{rank}.npy", model.cluster_centers_)
    np.save(out / f"n_iter_{rank}.npy", np.array([model.n_iter_]))
    np.save(out / f"embedding_{rank}.npy", model.transform(X[:5]))
    np.save(out / f"precision_{rank}.npy", np.array([model.precision_]))
    model.save(out / f"model_{rank}.pt")
    dist.barrier()  # every rank's files are written


def main(out: Path, modes: str) -> None:
    """Each of the comma-separated ``modes`` in turn, in one process group (one launch of torchrun
    costs every rank the start of Python and torch), its results in ``out / mode``."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    for mode in modes.split(","):
        run(out / mode, mode, rank, world)
    # Leave without the C++ teardown of the gloo group: on torch 2.13 it sometimes aborts
    # ("terminate called without an active exception") after all the work is done.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
