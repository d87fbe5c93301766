"""Data that stays on disk: memory-mapped arrays are read a batch at a time, and give the fit an
in-memory copy of the same data gives."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepclust import DEC, autoencoder
from deepclust._data import BatchSource, is_memory_mapped

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


@pytest.mark.parametrize("settings", [FAST, FAST_LAYERWISE], ids=["end-to-end", "layerwise"])
def test_memory_mapped_fit_equals_in_memory_fit(on_disk, settings):
    X, mapped, _ = on_disk
    memory = DEC(n_clusters=3, random_state=0, **settings).fit(X)
    disk = DEC(n_clusters=3, random_state=0, **settings).fit(mapped)
    np.testing.assert_array_equal(disk.labels_, memory.labels_)
    np.testing.assert_allclose(disk.cluster_centers_, memory.cluster_centers_, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(disk.predict(mapped), memory.predict(X))


@pytest.mark.parametrize("kind", ["memmap", "sparse"])
def test_layerwise_codes_computed_per_batch_when_too_large_to_keep(on_disk, monkeypatch, kind):
    """Out-of-core data whose layer codes would exceed the memory budget: each layer trains on
    codes recomputed batch by batch. The arithmetic is the same, so the fit barely moves."""
    X, mapped, y = on_disk
    data = mapped if kind == "memmap" else sp.csr_matrix(X)
    kept = DEC(n_clusters=3, random_state=0, **FAST_LAYERWISE).fit(data)
    monkeypatch.setattr(autoencoder, "CODES_IN_MEMORY_BYTES", 0)
    built = []
    original = autoencoder.MappedSource.__init__

    def spy(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(autoencoder.MappedSource, "__init__", spy)
    streamed = DEC(n_clusters=3, random_state=0, **FAST_LAYERWISE).fit(data)
    assert len(built) == len(FAST_LAYERWISE["hidden_dims"]) + 1  # one per layer's codes
    assert np.mean(streamed.labels_ == kept.labels_) > 0.98
    np.testing.assert_allclose(streamed.transform(data), kept.transform(data), rtol=1e-3, atol=1e-3)
