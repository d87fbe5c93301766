"""Dataset loaders, read from small files in the real format that the tests write themselves."""

import gzip
import struct

import numpy as np
import pytest

from deepclust import datasets


def write_idx(path, array):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    array = np.asarray(array)
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.tobytes())


def write_fashion(folder, n_train=12, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(folder / f"{part}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{part}-labels-idx1-ubyte.gz", labels)
        out[part] = images, labels
    return out


def test_read_idx_roundtrip(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", a)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "a.gz"), a)
    b = np.linspace(-1, 1, 6).astype(">f4").reshape(3, 2)
    write_idx(tmp_path / "b.gz", b)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "b.gz"), b)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "junk").write_bytes(b"not an idx file")
    with pytest.raises(ValueError, match="not an IDX file"):
        datasets.read_idx(tmp_path / "junk")
    write_idx(tmp_path / "a.gz", np.zeros((4, 5), dtype=np.uint8))
    raw = gzip.decompress((tmp_path / "a.gz").read_bytes())
    (tmp_path / "cut").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match="truncated"):
        datasets.read_idx(tmp_path / "cut")


def test_load_fashion_mnist_from_data_dir(tmp_path):
    written = write_fashion(tmp_path / "fm")
    X, y = datasets.load_fashion_mnist(data_dir=tmp_path / "fm", scale=False)
    assert X.shape == (17, 784) and X.dtype == np.float32
    assert y.shape == (17,) and y.dtype == np.int64
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_array_equal(y[:12], written["train"][1])
    np.testing.assert_allclose(X[12:] * 255, written["t10k"][0].reshape(5, -1), atol=1e-3)
    Xt, yt = datasets.load_fashion_mnist(subset="test", data_dir=tmp_path / "fm")
    assert Xt.shape == (5, 784)
    np.testing.assert_allclose(np.mean(Xt.astype(np.float64) ** 2), 1.0, rtol=1e-4)


def test_load_fashion_mnist_uses_deepclust_data(tmp_path, monkeypatch):
    write_fashion(tmp_path / "fashion-mnist")
    monkeypatch.setenv("DEEPCLUST_DATA", str(tmp_path))
    monkeypatch.setattr(datasets, "_DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    X, _ = datasets.load_fashion_mnist(subset="train")
    assert X.shape == (12, 784)


def test_load_fashion_mnist_missing_files_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        datasets.load_fashion_mnist(data_dir=tmp_path / "empty")
    with pytest.raises(ValueError, match="subset"):
        datasets.load_fashion_mnist(subset="validation")


def test_load_digits_and_scaling():
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(np.mean(X.astype(np.float64) ** 2), 1.0, rtol=1e-4)
    raw, _ = datasets.load_digits(scale=False)
    assert raw.max() == 16.0
    with pytest.raises(ValueError, match="all zeros"):
        datasets.scale_to_unit_energy(np.zeros((3, 2)))
