"""Datasets of the DEC paper's experiments, as ``(X, y)`` float32 / int64 arrays.

Labels are returned for evaluation only; nothing in deepclust fits on them.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["load_digits", "load_fashion_mnist", "read_idx", "scale_to_unit_energy"]

_DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def data_home() -> Path:
    """Where deepclust looks for dataset files: ``$DEEPCLUST_DATA`` or ``~/.deepclust/data``."""
    return Path(os.environ.get("DEEPCLUST_DATA", Path.home() / ".deepclust" / "data"))


def scale_to_unit_energy(X: np.ndarray) -> np.ndarray:
    """Scale X by one constant so that the mean of (1/d)·||x_i||² is 1 (paper, section 4.1)."""
    X = np.asarray(X, dtype=np.float32)
    energy = float(np.mean(np.square(X, dtype=np.float64)))
    if energy == 0.0:
        raise ValueError("X is all zeros; it cannot be scaled to unit energy.")
    return (X / np.sqrt(energy)).astype(np.float32)


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{str(path)!r} is not an IDX file (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{str(path)!r} is truncated or damaged: the header announces shape {shape} "
            f"({expected} bytes) but the file holds {len(raw) - header}."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def load_digits(*, scale: bool = True):
    """scikit-learn's 8x8 handwritten digits (1,797 images, 64 features, 10 classes).

    Parameters
    ----------
    scale : bool, default=True
        Apply the paper's normalisation (:func:`scale_to_unit_energy`).

    Returns
    -------
    X : ndarray of shape (1797, 64), float32
    y : ndarray of shape (1797,), int64
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    X, y = _sk_load_digits(return_X_y=True)
    X = X.astype(np.float32)
    return (scale_to_unit_energy(X) if scale else X), y.astype(np.int64)


def load_fashion_mnist(*, subset: str = "all", scale: bool = True, data_dir=None):
    """Fashion-MNIST (70,000 28x28 images, 784 features, 10 classes).

    The four IDX ``.gz`` files are looked for in ``data_dir`` (default
    :func:`data_home` ``/fashion-mnist``) and then in Debian's
    ``/usr/share/datasets/fashion-mnist`` (``apt-get install
    dataset-fashion-mnist``).

    Parameters
    ----------
    subset : {"all", "train", "test"}, default="all"
        "all" concatenates the 60,000 training and 10,000 test images, as the
        clustering literature does.
    scale : bool, default=True
        Apply the paper's normalisation (:func:`scale_to_unit_energy`);
        otherwise pixels are in [0, 1].

    Returns
    -------
    X : ndarray of shape (n, 784), float32
    y : ndarray of shape (n,), int64
    """
    if subset not in ("all", "train", "test"):
        raise ValueError(f"subset={subset!r}; use 'all', 'train' or 'test'.")
    parts = ["train", "test"] if subset == "all" else [subset]
    candidates = [Path(data_dir) if data_dir else data_home() / "fashion-mnist", _DEBIAN_FASHION_MNIST]
    for folder in candidates:
        if all((folder / name).is_file() for p in parts for name in _FASHION_FILES[p]):
            break
    else:
        raise FileNotFoundError(
            "Fashion-MNIST files not found in "
            + " or ".join(repr(str(c)) for c in candidates)
            + ". On Debian/Ubuntu: apt-get install dataset-fashion-mnist; otherwise put "
            "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
            "and t10k-labels-idx1-ubyte.gz in one of those folders."
        )
    Xs, ys = [], []
    for p in parts:
        images, labels = (read_idx(folder / name) for name in _FASHION_FILES[p])
        if len(images) != len(labels):
            raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels in {p!r}.")
        Xs.append(images.reshape(len(images), -1).astype(np.float32) / 255.0)
        ys.append(labels.astype(np.int64))
    X, y = np.concatenate(Xs), np.concatenate(ys)
    return (scale_to_unit_energy(X) if scale else X), y
