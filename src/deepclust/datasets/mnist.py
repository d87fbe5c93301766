"""MNIST and Fashion-MNIST: four gzip-compressed IDX files each, 70,000 28x28 grey images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._files import Remote, data_folder, locate
from ._idx import read_idx
from ._scaling import scale_to_unit_energy

__all__ = ["load_fashion_mnist", "load_mnist"]

_DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# SHA-256s as published in TensorFlow Datasets' url_checksums (mnist.txt, fashion_mnist.txt);
# they are the files whose MD5s torchvision lists (f68b3c2d..., 8d4fb7e6..., ...).
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_MNIST_REMOTES = {
    name: Remote(tuple(mirror + name for mirror in _MNIST_MIRRORS), "sha256:" + digest)
    for name, digest in [
        ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ]
}
_FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
_FASHION_REMOTES = {
    name: Remote(tuple(mirror + name for mirror in _FASHION_MIRRORS), "sha256:" + digest)
    for name, digest in [
        ("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        ("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        ("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        ("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ]
}


def load_mnist(*, subset: str = "all", scale: bool = True, data_dir: str | os.PathLike | None = None,
               download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MNIST handwritten digits (70,000 28x28 images, 784 features, 10 classes).

    The four IDX ``.gz`` files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, 11 MB in all) are looked for
    in ``data_dir`` (default :func:`data_home` ``/mnist``); missing ones are downloaded there
    from the MNIST mirrors (PyTorch's, TensorFlow's, then yann.lecun.com) and checked against
    their SHA-256.

    Parameters
    ----------
    subset : {"all", "train", "test"}, default="all"
        "all" concatenates the 60,000 training and 10,000 test images, as the clustering
        literature does.
    scale : bool, default=True
        Apply the paper's normalisation (:func:`scale_to_unit_energy`); otherwise pixels are
        in [0, 1].
    data_dir : path-like, default=None
        The folder holding the files (a leading ``~`` is the home directory); None means
        ``data_home() / "mnist"``.
    download : bool, default=True
        Download missing files. With False, missing files are an error.

    Returns
    -------
    X : ndarray of shape (n, 784), float32
        n is 70,000, 60,000 or 10,000 according to ``subset``.
    y : ndarray of shape (n,), int64
        The digit, 0 to 9.

    Raises
    ------
    FileNotFoundError
        When files are missing and cannot be downloaded (offline, or ``download=False``);
        the message says where to put them.
    """
    folders = [data_folder(data_dir, "mnist")]
    return _load_idx_dataset("MNIST", _MNIST_REMOTES, folders, subset, scale, download)


def load_fashion_mnist(*, subset: str = "all", scale: bool = True, data_dir: str | os.PathLike | None = None,
                       download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (70,000 28x28 images of clothes, 784 features, 10 classes).

    The four IDX ``.gz`` files (named as MNIST's, 30 MB in all) are looked for in ``data_dir``
    (default :func:`data_home` ``/fashion-mnist``) and then in Debian's
    ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``); missing
    ones are downloaded into ``data_dir`` from Zalando Research's mirrors and checked against
    their SHA-256.

    Parameters
    ----------
    subset : {"all", "train", "test"}, default="all"
        "all" concatenates the 60,000 training and 10,000 test images, as the clustering
        literature does.
    scale : bool, default=True
        Apply the paper's normalisation (:func:`scale_to_unit_energy`); otherwise pixels are
        in [0, 1].
    data_dir : path-like, default=None
        The folder holding the files (a leading ``~`` is the home directory); None means
        ``data_home() / "fashion-mnist"``.
    download : bool, default=True
        Download missing files. With False, missing files are an error.

    Returns
    -------
    X : ndarray of shape (n, 784), float32
        n is 70,000, 60,000 or 10,000 according to ``subset``.
    y : ndarray of shape (n,), int64
        The class, 0 (T-shirt/top) to 9 (ankle boot).

    Raises
    ------
    FileNotFoundError
        When files are missing and cannot be downloaded (offline, or ``download=False``);
        the message says where to put them.
    """
    folders = [data_folder(data_dir, "fashion-mnist"), _DEBIAN_FASHION_MNIST]
    return _load_idx_dataset("Fashion-MNIST", _FASHION_REMOTES, folders, subset, scale, download,
                             hint="On Debian/Ubuntu: apt-get install dataset-fashion-mnist.")


def _load_idx_dataset(what, remotes, folders, subset, scale, download, hint=""):
    if subset not in ("all", "train", "test"):
        raise ValueError(f"subset={subset!r}; use 'all', 'train' or 'test'.")
    parts = ["train", "test"] if subset == "all" else [subset]
    needed = {name: remotes[name] for part in parts for name in _FILES[part]}
    folder = locate(what, needed, folders, download=download, hint=hint)
    Xs, ys = [], []
    for part in parts:
        images, labels = (read_idx(folder / name) for name in _FILES[part])
        if len(images) != len(labels):
            raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels in {part!r}.")
        Xs.append(images.reshape(len(images), -1).astype(np.float32) / 255.0)
        ys.append(labels.astype(np.int64))
    X, y = np.concatenate(Xs), np.concatenate(ys)
    return (scale_to_unit_energy(X) if scale else X), y
