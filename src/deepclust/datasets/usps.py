"""USPS handwritten digits, from the LIBSVM data sets page (bzip2-compressed svmlight files)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._files import Remote, data_folder, locate, readable
from ._scaling import scale_to_unit_energy

__all__ = ["load_usps"]

_N_FEATURES = 256  # 16x16 pixels
_FILES = {"train": "usps.bz2", "test": "usps.t.bz2"}
_LIBSVM = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"
# LIBSVM publishes no checksums; these MD5s are torchvision's (torchvision/datasets/usps.py).
_REMOTES = {
    "usps.bz2": Remote((_LIBSVM + "usps.bz2",), "md5:ec16c51db3855ca6c91edd34d0e9b197"),
    "usps.t.bz2": Remote((_LIBSVM + "usps.t.bz2",), "md5:8ea070ee2aca1ac39742fdd1ef5ed118"),
}


def load_usps(*, subset: str = "all", scale: bool = True, data_dir: str | os.PathLike | None = None,
              download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """USPS handwritten digits (9,298 16x16 images, 256 features, 10 classes).

    The LIBSVM copy of the US Postal Service digits: ``usps.bz2`` (7,291 training images) and
    ``usps.t.bz2`` (2,007 test images), svmlight text with labels 1 to 10 and pixels in
    [-1, 1], 6 MB in all. They are looked for in ``data_dir`` (default :func:`data_home`
    ``/usps``); missing ones are downloaded there from the LIBSVM data sets page and checked
    against their MD5 (LIBSVM publishes none; torchvision's).

    Parameters
    ----------
    subset : {"all", "train", "test"}, default="all"
        "all" concatenates the 7,291 training and 2,007 test images, as the clustering
        literature does.
    scale : bool, default=True
        Apply the paper's normalisation (:func:`scale_to_unit_energy`); otherwise pixels are
        LIBSVM's, in [-1, 1].
    data_dir : path-like, default=None
        The folder holding the files (a leading ``~`` is the home directory); None means
        ``data_home() / "usps"``.
    download : bool, default=True
        Download missing files. With False, missing files are an error.

    Returns
    -------
    X : ndarray of shape (n, 256), float32
        n is 9,298, 7,291 or 2,007 according to ``subset``; rows are 16x16 images, row-major.
    y : ndarray of shape (n,), int64
        The digit, 0 to 9 (LIBSVM's label minus one).

    Raises
    ------
    FileNotFoundError
        When files are missing and cannot be downloaded (offline, or ``download=False``);
        the message says where to put them.
    ValueError
        When a file is not a USPS svmlight file, or is a damaged or truncated bzip2 file.
    """
    if subset not in ("all", "train", "test"):
        raise ValueError(f"subset={subset!r}; use 'all', 'train' or 'test'.")
    names = [_FILES[part] for part in (("train", "test") if subset == "all" else (subset,))]
    folders = [data_folder(data_dir, "usps")]
    folder = locate("USPS", {name: _REMOTES[name] for name in names}, folders, download=download)
    Xs, ys = zip(*(_read(folder / name) for name in names))
    X, y = np.concatenate(Xs), np.concatenate(ys)
    return (scale_to_unit_energy(X) if scale else X), y


def _read(path: Path):
    from sklearn.datasets import load_svmlight_file  # opens .bz2 itself

    with readable(path):  # a damaged .bz2: a ValueError naming it
        try:
            X, labels = load_svmlight_file(str(path), n_features=_N_FEATURES, zero_based=False,
                                           dtype=np.float32)
        except ValueError as exc:
            raise ValueError(f"{str(path)!r} is not a USPS svmlight file: {exc}") from exc
    if not np.all(np.isin(labels, np.arange(1, 11))):
        raise ValueError(f"{str(path)!r} is not a USPS svmlight file: labels must be 1 to 10, "
                         f"found {sorted(set(labels.tolist()) - set(range(1, 11)))[:5]}.")
    return X.toarray(), labels.astype(np.int64) - 1
