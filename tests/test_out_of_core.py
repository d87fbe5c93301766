"""Data that stays on disk: memory-mapped arrays are read a batch at a time, and give the fit an
in-memory copy of the same data gives."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepclust import DEC, ShardedArray, load
from deepclust.training import pretraining
from deepclust.data.batches import BatchSource, is_memory_mapped
from deepclust.metrics import adjusted_rand_score

from .conftest import FAST, FAST_LAYERWISE


@pytest.fixture
def on_disk(blobs, tmp_path):
    X, y = blobs
    np.save(tmp_path / "X.npy", X)
    return X, np.load(tmp_path / "X.npy", mmap_mode="r"), y


def test_memory_mapped_input_is_read_in_batches(on_disk):
    X, mapped, _ = on_disk
    assert is_memory_mapped(mapped) and is_memory_mapped(mapped[10:20]) and not is_memory_mapped(X)
    source = BatchSource(mapped, torch.device("cpu"))
    assert not source.in_memory and BatchSource(X, torch.device("cpu")).in_memory
    idx = torch.tensor([5, 0, 17, 5])
    np.testing.assert_array_equal(source.take(idx).numpy(), X[[5, 0, 17, 5]])
    np.testing.assert_array_equal(torch.cat(list(source.chunks(7))).numpy(), X)


@pytest.mark.parametrize("kind", ["memmap", "shards"])
@pytest.mark.parametrize("settings", [FAST, FAST_LAYERWISE], ids=["end-to-end", "layerwise"])
def test_on_disk_fit_equals_in_memory_fit(on_disk, settings, kind, tmp_path):
    """One memory-mapped .npy file, or a folder of .npy shards of uneven sizes (one empty)."""
    X, data, _ = on_disk
    if kind == "shards":
        for i, (a, b) in enumerate([(0, 7), (7, 7), (7, 150), (150, 151), (151, len(X))]):
            np.save(tmp_path / f"part-{i}.npy", X[a:b])
        data = ShardedArray(sorted(tmp_path.glob("part-*.npy")))
    memory = DEC(n_clusters=3, random_state=0, **settings).fit(X)
    disk = DEC(n_clusters=3, random_state=0, **settings).fit(data)
    np.testing.assert_array_equal(disk.labels_, memory.labels_)
    np.testing.assert_allclose(disk.cluster_centers_, memory.cluster_centers_, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(disk.predict(data), memory.predict(X))
    np.testing.assert_allclose(disk.transform(data), memory.transform(X), rtol=1e-6, atol=1e-6)
    assert disk.n_features_in_ == X.shape[1] and disk.score(data) == pytest.approx(memory.score(X), rel=1e-5)
    disk.save(tmp_path / "m.pt")
    np.testing.assert_array_equal(load(tmp_path / "m.pt").predict(data), memory.predict(X))


@pytest.mark.parametrize("kind", ["memmap", "sparse"])
def test_layerwise_codes_computed_per_batch_when_too_large_to_keep(on_disk, monkeypatch, kind):
    """Out-of-core data whose layer codes would exceed the memory budget: each layer trains on
    codes recomputed batch by batch. The arithmetic is the same, so the fit barely moves."""
    X, mapped, y = on_disk
    data = mapped if kind == "memmap" else sp.csr_matrix(X)
    kept = DEC(n_clusters=3, random_state=0, **FAST_LAYERWISE).fit(data)
    monkeypatch.setattr(pretraining, "CODES_IN_MEMORY_BYTES", 0)
    built = []
    original = pretraining.MappedSource.__init__

    def spy(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(pretraining.MappedSource, "__init__", spy)
    streamed = DEC(n_clusters=3, random_state=0, **FAST_LAYERWISE).fit(data)
    assert len(built) == len(FAST_LAYERWISE["hidden_dims"]) + 1  # one per layer's codes
    assert np.mean(streamed.labels_ == kept.labels_) > 0.98
    np.testing.assert_allclose(streamed.transform(data), kept.transform(data), rtol=1e-3, atol=1e-3)


def test_kmeans_initialisation_on_a_sample(blobs):
    """kmeans_sample_size: k-means fits on a sample of the embedding and every point takes its nearest
    centroid; "auto" keeps every point of a small dataset, so the default fit is unchanged."""
    X, y = blobs
    kw = dict(n_clusters=3, random_state=0, **{**FAST, "max_iter": 0})
    full = DEC(kmeans_sample_size=None, **kw).fit(X)
    auto = DEC(**kw).fit(X)
    np.testing.assert_array_equal(auto.labels_, full.labels_)
    np.testing.assert_array_equal(auto.cluster_centers_, full.cluster_centers_)
    sampled = DEC(kmeans_sample_size=60, **kw).fit(X)
    assert not np.array_equal(sampled.cluster_centers_, full.cluster_centers_)  # fitted on 60 points
    np.testing.assert_allclose(sampled.cluster_centers_[np.argsort(sampled.cluster_centers_[:, 0])],
                               full.cluster_centers_[np.argsort(full.cluster_centers_[:, 0])], atol=0.5)
    z = sampled.transform(X)
    nearest = ((z[:, None] - sampled.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(sampled.labels_, nearest)  # max_iter=0: the initial labels
    assert adjusted_rand_score(y, sampled.labels_) > 0.9
    rows = DEC(kmeans_sample_size=60, **kw)._kmeans_rows(len(X), 7)
    assert len(rows) == 60 and len(set(rows)) == 60 and np.all(np.diff(rows) > 0)
    assert DEC(**kw)._kmeans_rows(100_000, 7) is None and len(DEC(**kw)._kmeans_rows(100_001, 7)) == 100_000
    with pytest.raises(ValueError, match="kmeans_sample_size"):
        DEC(kmeans_sample_size=0, **kw).fit(X)
