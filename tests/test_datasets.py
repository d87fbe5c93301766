"""Dataset loaders, read from small files in the real format that the tests write themselves."""

import bz2
import gzip
import socket
import struct

import numpy as np
import pytest
import scipy.sparse as sp

from deepclust import datasets
from deepclust.data.download import DownloadError
from deepclust.datasets import _files


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every download goes to a loopback port nobody listens on: these tests never reach the
    internet, and a missing file fails at once, as offline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(_files, "_MIRROR_OVERRIDE", f"http://127.0.0.1:{port}")


def write_idx(path, array):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    array = np.asarray(array)
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.tobytes())


def write_mnist(folder, n_train=12, n_test=5, seed=0):
    """The four IDX files of MNIST or Fashion-MNIST (same names), random images and labels."""
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


write_fashion = write_mnist


def write_usps(folder, n_train=9, n_test=4, seed=0):
    """usps.bz2 and usps.t.bz2 as LIBSVM writes them: 'label index:value ...', 1-based indices,
    labels 1..10, values in [-1, 1]; zeros left out as svmlight allows."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, n in (("usps.bz2", n_train), ("usps.t.bz2", n_test)):
        X = rng.uniform(-1, 1, size=(n, 256)).round(6).astype(np.float32)
        X[rng.random(X.shape) < 0.1] = 0.0
        y = rng.integers(1, 11, size=n)
        lines = [f"{label} " + " ".join(f"{j + 1}:{v:.6f}" for j, v in enumerate(row) if v != 0)
                 for label, row in zip(y, X)]
        (folder / name).write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
        out[name] = X, y
    return out


def test_read_idx_roundtrip(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", a)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "a.gz"), a)
    b = np.linspace(-1, 1, 6).astype(">f4").reshape(3, 2)
    write_idx(tmp_path / "b.gz", b)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "b.gz"), b)


def test_read_idx_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):  # a missing file is no damaged one
        datasets.read_idx(tmp_path / "nothing.gz")
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
    monkeypatch.setattr(datasets.mnist, "_DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    X, _ = datasets.load_fashion_mnist(subset="train")
    assert X.shape == (12, 784)


def test_load_fashion_mnist_missing_files_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.mnist, "_DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
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


def test_scale_to_unit_energy_keeps_sparse_input_sparse():
    rng = np.random.default_rng(0)
    dense = rng.random((20, 30)) * (rng.random((20, 30)) < 0.2)
    scaled = datasets.scale_to_unit_energy(sp.csr_matrix(dense))
    assert sp.issparse(scaled) and scaled.format == "csr" and scaled.dtype == np.float32
    np.testing.assert_allclose(scaled.toarray(), datasets.scale_to_unit_energy(dense), rtol=1e-6)
    with pytest.raises(ValueError, match="all zeros"):
        datasets.scale_to_unit_energy(sp.csr_matrix((3, 2)))


def test_load_mnist_from_data_dir(tmp_path):
    written = write_mnist(tmp_path / "mn")
    X, y = datasets.load_mnist(data_dir=tmp_path / "mn", scale=False, download=False)
    assert X.shape == (17, 784) and X.dtype == np.float32
    assert y.shape == (17,) and y.dtype == np.int64
    np.testing.assert_array_equal(y, np.concatenate([written["train"][1], written["t10k"][1]]))
    np.testing.assert_allclose(X[:12] * 255, written["train"][0].reshape(12, -1), atol=1e-3)
    Xt, yt = datasets.load_mnist(subset="test", data_dir=tmp_path / "mn")
    assert Xt.shape == (5, 784)
    np.testing.assert_array_equal(yt, written["t10k"][1])
    np.testing.assert_allclose(np.mean(Xt.astype(np.float64) ** 2), 1.0, rtol=1e-4)


def test_load_mnist_uses_deepclust_data(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist", n_train=3, n_test=2)
    monkeypatch.setenv("DEEPCLUST_DATA", str(tmp_path))
    X, _ = datasets.load_mnist()
    assert X.shape == (5, 784)


def test_load_usps_from_data_dir(tmp_path):
    written = write_usps(tmp_path / "u")
    X, y = datasets.load_usps(data_dir=tmp_path / "u", scale=False, download=False)
    assert X.shape == (13, 256) and X.dtype == np.float32
    assert y.shape == (13,) and y.dtype == np.int64
    np.testing.assert_allclose(X, np.concatenate([written["usps.bz2"][0], written["usps.t.bz2"][0]]),
                               atol=1e-6)
    np.testing.assert_array_equal(y, np.concatenate([written["usps.bz2"][1], written["usps.t.bz2"][1]]) - 1)
    assert -1.0 <= X.min() and X.max() <= 1.0 and set(y.tolist()) <= set(range(10))
    Xt, _ = datasets.load_usps(subset="test", data_dir=tmp_path / "u")
    assert Xt.shape == (4, 256)
    np.testing.assert_allclose(np.mean(Xt.astype(np.float64) ** 2), 1.0, rtol=1e-4)


def test_load_usps_rejects_other_files(tmp_path):
    write_usps(tmp_path)
    (tmp_path / "usps.t.bz2").write_bytes(bz2.compress(b"11 1:0.5 2:-0.5\n"))
    with pytest.raises(ValueError, match="labels must be 1 to 10"):
        datasets.load_usps(subset="test", data_dir=tmp_path)
    (tmp_path / "usps.t.bz2").write_bytes(bz2.compress(b"3 257:0.5\n"))
    with pytest.raises(ValueError, match="not a USPS svmlight file"):
        datasets.load_usps(subset="test", data_dir=tmp_path)
    with pytest.raises(ValueError, match="subset"):
        datasets.load_usps(subset="everything", data_dir=tmp_path)


LOADERS_WITH_FILES = {
    "mnist": (datasets.load_mnist, ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]),
    "fashion": (datasets.load_fashion_mnist, ["train-images-idx3-ubyte.gz"]),
    "usps": (datasets.load_usps, ["usps.bz2", "usps.t.bz2"]),
    "reuters": (datasets.load_reuters, ["lyrl2004_vectors_train.dat.gz", "rcv1v2.topics.qrels.gz"]),
    "reuters10k": (datasets.load_reuters10k, ["lyrl2004_vectors_test_pt3.dat.gz"]),
    "stl10": (datasets.load_stl10_hog, ["stl10_binary.tar.gz", "train_X.bin"]),
}


@pytest.mark.parametrize("name", sorted(LOADERS_WITH_FILES))
def test_missing_files_with_download_false_say_what_to_do(tmp_path, monkeypatch, name):
    if name == "stl10":
        pytest.importorskip("skimage")
    loader, files = LOADERS_WITH_FILES[name]
    monkeypatch.setattr(datasets.mnist, "_DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError) as info:
        loader(data_dir=tmp_path / "empty", download=False)
    message = str(info.value)
    assert "download=True" in message and str(tmp_path / "empty") in message
    assert all(f in message for f in files), message
    assert not isinstance(info.value, DownloadError)
    assert not (tmp_path / "empty").exists()  # nothing was tried


@pytest.mark.parametrize("name", sorted(LOADERS_WITH_FILES))
def test_missing_files_offline_say_where_to_put_them(tmp_path, monkeypatch, name):
    if name == "stl10":
        pytest.importorskip("skimage")
    loader, files = LOADERS_WITH_FILES[name]
    monkeypatch.setattr(datasets.mnist, "_DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError) as info:
        loader(data_dir=tmp_path / "empty")
    message = str(info.value)
    assert isinstance(info.value, DownloadError)  # what a caller of fetch catches works too
    assert "could not be downloaded" in message
    assert f"offline, download the file on another one and put it at '{tmp_path / 'empty'}" in message
    # Every missing file is named, not only the first that failed, with the folder they go in.
    assert all(f in message for f in files), message
    assert f" in '{tmp_path / 'empty'}'" in message
    assert not (tmp_path / "empty").exists()  # no partial file, and no empty folder, left


def test_offline_every_missing_file_is_named_once_with_the_folder(tmp_path):
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz"]
    folder = tmp_path / "mn"
    write_mnist(folder)
    (folder / names[1]).unlink()
    (folder / names[3]).unlink()
    with pytest.raises(DownloadError) as info:
        datasets.load_mnist(data_dir=folder)
    message = str(info.value)
    assert message.startswith(f"MNIST: {names[1]}, {names[3]} not found in '{folder}' and could not be "
                              f"downloaded ({names[1]} failed; the others were not tried).")
    assert message.endswith(f"Download them on another machine and put them in '{folder}', then call again.")
    assert names[0] not in message and names[2] not in message  # the files that are there are not named
    assert sorted(p.name for p in folder.iterdir()) == [names[2], names[0]]


def _half(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _garbled(path):
    """Deflate data that does not decode (a zlib.error), with the gzip header intact."""
    data = bytearray(path.read_bytes())
    data[20:40] = b"\xff" * 20
    path.write_bytes(bytes(data))


HTML = b"<!DOCTYPE html><html><body>Moved</body></html>\n"


@pytest.mark.parametrize("damage", [_half, _garbled, lambda p: p.write_bytes(HTML)],
                         ids=["truncated", "garbled", "html"])
def test_a_damaged_gzip_idx_file_is_named(tmp_path, damage):
    write_mnist(tmp_path / "mn", n_train=40)
    path = tmp_path / "mn" / "train-images-idx3-ubyte.gz"
    damage(path)
    for read in (lambda: datasets.read_idx(path), lambda: datasets.load_mnist(data_dir=tmp_path / "mn")):
        with pytest.raises(ValueError) as info:
            read()
        assert str(info.value).startswith(f"'{path}' is damaged or truncated: it cannot be decompressed")
        assert "Delete it and load again to download it again" in str(info.value)


@pytest.mark.parametrize("damage", [_half, lambda p: p.write_bytes(HTML)], ids=["truncated", "html"])
def test_a_damaged_bz2_usps_file_is_named(tmp_path, damage):
    write_usps(tmp_path, n_train=60)
    damage(tmp_path / "usps.bz2")
    with pytest.raises(ValueError) as info:
        datasets.load_usps(data_dir=tmp_path)
    assert str(info.value).startswith(f"'{tmp_path / 'usps.bz2'}' is damaged or truncated")
    assert "Delete it" in str(info.value)
    X, _ = datasets.load_usps(subset="test", data_dir=tmp_path)  # the other file is fine
    assert X.shape == (4, 256)


TILDE_LOADERS = {
    "mnist": (datasets.load_mnist, "train-images-idx3-ubyte.gz"),
    "fashion": (datasets.load_fashion_mnist, "train-images-idx3-ubyte.gz"),
    "usps": (datasets.load_usps, "usps.bz2"),
    "reuters": (datasets.load_reuters, "rcv1v2.topics.qrels.gz"),
    "stl10": (datasets.load_stl10_hog, "stl10_binary.tar.gz"),
}


@pytest.mark.parametrize("name", sorted(TILDE_LOADERS))
def test_data_dir_with_a_tilde_is_the_home_directory(tmp_path, monkeypatch, name):
    if name == "stl10":
        pytest.importorskip("skimage")
    loader, a_file = TILDE_LOADERS[name]
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)  # where a literal "~" folder would appear
    monkeypatch.setattr(datasets.mnist, "_DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    for download in (False, True):  # offline: the error names the home's folder
        with pytest.raises(FileNotFoundError) as info:
            loader(data_dir="~/d", download=download)
        assert f"'{home / 'd'}'" in str(info.value) and a_file in str(info.value)
    assert not (tmp_path / "~").exists() and not (home / "d").exists()
    if name in ("mnist", "fashion"):
        write_mnist(home / "d")
    elif name == "usps":
        write_usps(home / "d")
    else:
        return  # their files are read as the others': tested in their own modules
    X, _ = loader(data_dir="~/d", download=False)
    assert len(X) == (17 if name != "usps" else 13)
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize("variable, folder, default, under", [
    ("DEEPCLUST_DATA", "deepclust.datasets:data_home", ".deepclust/data", ""),
    ("DEEPCLUST_CACHE", "deepclust.data.shards:default_cache_dir", ".deepclust/cache", "shards"),
])
def test_folder_variables_expand_tilde_and_ignore_an_empty_value(tmp_path, monkeypatch, variable, folder,
                                                                 default, under):
    """``~`` in $DEEPCLUST_DATA / $DEEPCLUST_CACHE is the home directory, and an empty value is the
    default, not the current directory (where downloads or converted copies would then land)."""
    import importlib

    module, name = folder.split(":")
    where = getattr(importlib.import_module(module), name)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, "~/mine")
    assert where() == home / "mine" / under
    monkeypatch.setenv(variable, "")
    assert where() == home / default / under
    monkeypatch.delenv(variable)
    assert where() == home / default / under


def test_loader_reads_from_a_tilde_data_home(tmp_path, monkeypatch):
    write_fashion(tmp_path / "home" / "d" / "fashion-mnist")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # were "~" not expanded, a "~" folder would be made here, not in the repo
    monkeypatch.setenv("DEEPCLUST_DATA", "~/d")
    monkeypatch.setattr(datasets.mnist, "_DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    X, _ = datasets.load_fashion_mnist(subset="train")
    assert X.shape == (12, 784)


def test_topic_corpus_is_sparse_unit_tfidf_of_the_most_frequent_terms():
    from deepclust.datasets import make_topic_corpus

    X, y = make_topic_corpus(300, 3, vocabulary_size=500, n_terms=100, topic_words=50, random_state=1)
    assert sp.isspmatrix_csr(X) and X.dtype == np.float32 and X.shape == (300, 100)
    assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1, 2}
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms[norms > 0], 1, rtol=1e-5)
    assert X.min() >= 0 and X.nnz < 0.5 * X.shape[0] * X.shape[1]
    again, y_again = make_topic_corpus(300, 3, vocabulary_size=500, n_terms=100, topic_words=50, random_state=1)
    assert (again != X).nnz == 0 and np.array_equal(y, y_again)


def test_embedded_blobs_are_standardised_with_equal_clusters():
    from deepclust.datasets import make_embedded_blobs

    X, y = make_embedded_blobs(n_samples=100, n_clusters=4, n_features=20, random_state=2)
    assert X.shape == (100, 20) and X.dtype == np.float32
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-5)
    assert np.bincount(y).tolist() == [25, 25, 25, 25]
