import os
import shutil

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

from deepclust.training.checkpoint import Checkpointer

# Small networks so a fit takes a fraction of a second: end-to-end pretraining
# for most tests, and layer-wise pretraining (the default on small data) with its "auto"
# schedule (200 iterations a layer + 400 fine-tuning on small data).
FAST = dict(hidden_dims=(32,), embedding_dim=3, pretrain="end-to-end", pretrain_epochs=10, n_init=3,
            max_iter=60, batch_size=32)
FAST_LAYERWISE = dict(hidden_dims=(32,), embedding_dim=3, pretrain="layerwise", n_init=3, max_iter=60, batch_size=32)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The test networks are tiny: intra-op threads only add synchronisation, and on a
    busy machine OpenMP threads waiting for each other make training ~100x slower. The
    subprocesses (the CLI, benchmarks) inherit OMP_NUM_THREADS=1: beside another pytest-xdist
    worker, two threads each made them 2-3 times as slow."""
    n = torch.get_num_threads()
    before = os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    torch.set_num_threads(n)
    if before is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = before


@pytest.fixture(autouse=True, scope="session")
def _cache_in_tmp(tmp_path_factory):
    """Converted parquet shards go to a temporary folder, not the user's ~/.deepclust (the CLI's
    subprocesses inherit the variable)."""
    before = os.environ.get("DEEPCLUST_CACHE")
    os.environ["DEEPCLUST_CACHE"] = str(tmp_path_factory.mktemp("deepclust-cache"))
    yield
    if before is None:
        os.environ.pop("DEEPCLUST_CACHE", None)
    else:
        os.environ["DEEPCLUST_CACHE"] = before


@pytest.fixture
def blobs():
    X, y = make_blobs(n_samples=240, centers=3, n_features=6, cluster_std=1.0, random_state=0)
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.fixture
def every_checkpoint(monkeypatch, tmp_path):
    """Keep a copy of each checkpoint a fit writes (the real file is written as usual)."""
    copies = []
    save = Checkpointer.save

    def save_and_copy(self, *args, **kwargs):
        save(self, *args, **kwargs)
        copy = tmp_path / f"copy{len(copies):03d}.pt"
        shutil.copyfile(self.path, copy)
        copies.append(copy)

    monkeypatch.setattr(Checkpointer, "save", save_and_copy)
    return copies
