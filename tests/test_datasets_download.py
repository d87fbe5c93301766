"""The loaders' real download path: small files in the real formats, served over HTTP on
loopback, fetched with their checksums checked, then read."""

import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest
import scipy.sparse as sp

from deepclust import datasets
from deepclust.data.download import DownloadError
from deepclust.datasets import _files, mnist, reuters, stl10, usps

from .test_datasets import write_mnist, write_usps
from .test_datasets_reuters import write_rcv1


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A folder served at a loopback URL that every download is pointed to."""
    folder = tmp_path / "served"
    folder.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=folder))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setattr(_files, "_MIRROR_OVERRIDE", f"http://127.0.0.1:{httpd.server_address[1]}")
    yield folder, httpd
    httpd.shutdown()
    httpd.server_close()


def pin(monkeypatch, remotes, folder, algorithm="sha256"):
    """Make a loader's checksum table expect the files in ``folder``."""
    for name in remotes:
        digest = hashlib.new(algorithm, (folder / name).read_bytes()).hexdigest()
        monkeypatch.setitem(remotes, name, remotes[name]._replace(checksum=f"{algorithm}:{digest}"))


def _dense(X):
    return X.toarray() if sp.issparse(X) else X  # REUTERS is sparse


def _mnist(folder, monkeypatch):
    write_mnist(folder)
    pin(monkeypatch, mnist._MNIST_REMOTES, folder)
    return datasets.load_mnist, (17, 784)


def _fashion(folder, monkeypatch):
    write_mnist(folder)
    pin(monkeypatch, mnist._FASHION_REMOTES, folder)
    monkeypatch.setattr(mnist, "_DEBIAN_FASHION_MNIST", folder / "nowhere")
    return datasets.load_fashion_mnist, (17, 784)


def _usps(folder, monkeypatch):
    write_usps(folder)
    pin(monkeypatch, usps._REMOTES, folder, "md5")  # LIBSVM's files are known by their MD5
    return datasets.load_usps, (13, 256)


def _reuters(folder, monkeypatch):
    write_rcv1(folder)
    pin(monkeypatch, reuters._REMOTES, folder)
    return datasets.load_reuters, (24, 12)


def _stl10(folder, monkeypatch):
    pytest.importorskip("skimage")
    from .test_datasets_stl10 import write_stl10_archive

    write_stl10_archive(folder / "stl10_binary.tar.gz")
    pin(monkeypatch, stl10._REMOTES, folder)
    return datasets.load_stl10_hog, (5, 1092)


@pytest.mark.parametrize("setup", [_mnist, _fashion, _usps, _reuters, _stl10], ids=lambda f: f.__name__[1:])
def test_missing_files_are_downloaded_checked_and_read(served, tmp_path, monkeypatch, setup):
    folder, httpd = served
    loader, shape = setup(folder, monkeypatch)
    X, y = loader(data_dir=tmp_path / "data")
    assert X.shape == shape and X.dtype == np.float32 and y.shape == (shape[0],) and y.dtype == np.int64
    fetched = sorted(p.name for p in (tmp_path / "data").iterdir() if p.is_file() and p.suffix != ".npz")
    assert fetched == sorted(p.name for p in folder.iterdir())
    assert len(httpd.requests) == len(fetched)
    X_again, _ = loader(data_dir=tmp_path / "data", download=False)  # all there now
    assert len(httpd.requests) == len(fetched)
    np.testing.assert_array_equal(_dense(X_again), _dense(X))


def test_a_download_with_another_checksum_is_refused_and_not_kept(served, tmp_path):
    folder, _ = served
    write_mnist(folder)  # not the real MNIST files: their checksums do not match
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_mnist(data_dir=tmp_path / "data")
    assert isinstance(info.value, DownloadError)
    assert "has SHA-256" in str(info.value) and "not 440fcabf" in str(info.value)
    assert not (tmp_path / "data").exists()  # no file, and no folder it made for them


def test_the_next_mirror_is_tried_when_one_fails(served, tmp_path, monkeypatch):
    folder, httpd = served
    write_usps(folder)
    pin(monkeypatch, usps._REMOTES, folder, "md5")
    base = _files._MIRROR_OVERRIDE
    monkeypatch.setattr(_files, "_MIRROR_OVERRIDE", None)
    for name in usps._REMOTES:
        urls = (f"{base}/gone/{name}", f"{base}/{name}")  # a 404, then the file
        monkeypatch.setitem(usps._REMOTES, name, usps._REMOTES[name]._replace(urls=urls))
    X, _ = datasets.load_usps(data_dir=tmp_path / "data")
    assert X.shape == (13, 256)
    assert httpd.requests == ["/gone/usps.bz2", "/usps.bz2", "/gone/usps.t.bz2", "/usps.t.bz2"]
