"""STL-10 HOG features from a small stl10_binary.tar.gz in the real format: uint8 images stored
channel by channel, each channel column by column, labels 1..10."""

import io
import sys
import tarfile

import numpy as np
import pytest

from deepclust import datasets

from .test_datasets import no_network  # noqa: F401 (autouse: no download reaches the internet)

skimage_feature = pytest.importorskip("skimage.feature")


def stl10_bytes(images):
    """(n, 96, 96, 3) row-major RGB images as the .bin files store them."""
    return np.ascontiguousarray(images.transpose(0, 3, 2, 1)).tobytes()


def write_stl10_archive(path, n_train=3, n_test=2, n_unlabeled=2, seed=0):
    rng = np.random.default_rng(seed)
    images = {part: rng.integers(0, 256, size=(n, 96, 96, 3), dtype=np.uint8)
              for part, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled))}
    # Red above, blue below: a transposed reading would put red on the left instead.
    images["train"][0] = 0
    images["train"][0, :48, :, 0] = 255
    images["train"][0, 48:, :, 2] = 255
    labels = {part: rng.integers(1, 11, size=n_, dtype=np.uint8) for part, n_ in (("train", n_train),
                                                                                  ("test", n_test))}
    members = {"class_names.txt": b"airplane\nbird\n", "unlabeled_X.bin": stl10_bytes(images["unlabeled"])}
    for part in ("train", "test"):
        members[f"{part}_X.bin"] = stl10_bytes(images[part])
        members[f"{part}_y.bin"] = labels[part].tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"stl10_binary/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return images, labels


def features(image):
    pixels = image.astype(np.float32) / 255
    hog = skimage_feature.hog(pixels, orientations=9, pixels_per_cell=(16, 16), cells_per_block=(2, 2),
                              block_norm="L2-Hys", channel_axis=-1)
    colour = pixels.reshape(8, 12, 8, 12, 3).mean(axis=(1, 3))
    return hog, colour


def test_load_stl10_hog_from_the_archive(tmp_path):
    images, labels = write_stl10_archive(tmp_path / "stl" / "stl10_binary.tar.gz")
    X, y = datasets.load_stl10_hog(data_dir=tmp_path / "stl", scale=False, download=False)
    assert X.shape == (5, 900 + 192) and X.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, np.concatenate([labels["train"], labels["test"]]) - 1)
    for row, image in zip(X, np.concatenate([images["train"], images["test"]])):
        hog, colour = features(image)
        np.testing.assert_allclose(row[:900], hog, atol=1e-6)
        np.testing.assert_allclose(row[900:], colour.ravel(), atol=1e-6)
    colour_map = X[0, 900:].reshape(8, 8, 3)
    np.testing.assert_allclose(colour_map[:4, :, 0], 1.0)  # red rows on top
    np.testing.assert_allclose(colour_map[4:, :, 2], 1.0)  # blue rows below
    assert sorted(p.name for p in (tmp_path / "stl" / "stl10_binary").iterdir()) == [
        "test_X.bin", "test_y.bin", "train_X.bin", "train_y.bin"]


def test_load_stl10_hog_unlabeled_and_scaled_from_extracted_files(tmp_path):
    archive = tmp_path / "stl10_binary.tar.gz"
    images, _ = write_stl10_archive(archive)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    archive.unlink()  # the extracted files are enough
    X, y = datasets.load_stl10_hog(unlabeled=True, data_dir=tmp_path, download=False)
    assert X.shape == (7, 1092) and X.dtype == np.float32
    np.testing.assert_array_equal(y[5:], [-1, -1])
    assert set(y[:5].tolist()) <= set(range(10))
    np.testing.assert_allclose(np.mean(X.astype(np.float64) ** 2), 1.0, rtol=1e-4)
    raw, _ = datasets.load_stl10_hog(unlabeled=True, data_dir=tmp_path, scale=False)
    np.testing.assert_allclose(raw[6, 900:], features(images["unlabeled"][1])[1].ravel(), atol=1e-6)


def test_load_stl10_hog_rejects_damaged_files(tmp_path):
    (tmp_path / "stl10_binary.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="not a readable STL-10 archive"):
        datasets.load_stl10_hog(data_dir=tmp_path)
    with tarfile.open(tmp_path / "stl10_binary.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("stl10_binary/train_X.bin")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ValueError, match="has no test_X.bin, test_y.bin, train_y.bin"):
        datasets.load_stl10_hog(data_dir=tmp_path)
    assert list((tmp_path / "stl10_binary").iterdir()) == []  # its train_X.bin was not kept
    write_stl10_archive(tmp_path / "stl10_binary.tar.gz")
    datasets.load_stl10_hog(data_dir=tmp_path)
    folder = tmp_path / "stl10_binary"
    (folder / "test_y.bin").write_bytes(bytes([1, 11]))
    with pytest.raises(ValueError, match="labels must be 1 to 10"):
        datasets.load_stl10_hog(data_dir=tmp_path)
    (folder / "test_y.bin").write_bytes(bytes([1]))
    with pytest.raises(ValueError, match="1 labels for 2 images"):
        datasets.load_stl10_hog(data_dir=tmp_path)
    (folder / "test_X.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(ValueError, match="not an STL-10 image file"):
        datasets.load_stl10_hog(data_dir=tmp_path)


def test_load_stl10_hog_without_scikit_image_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.feature", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install deepclust\[datasets\]"):
        datasets.load_stl10_hog(data_dir=tmp_path)
