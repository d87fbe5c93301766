"""STL-10 as the DEC paper uses it: HOG features and an 8x8 colour map of each 96x96 image."""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from ..data.atomic import atomic_file
from ._files import Remote, data_folder, locate
from ._scaling import scale_to_unit_energy

__all__ = ["load_stl10_hog"]

logger = logging.getLogger(__name__)

_ARCHIVE = "stl10_binary.tar.gz"
_FOLDER = "stl10_binary"  # the archive's folder, where its files are extracted
# 2.6 GB; the SHA-256 is TensorFlow Datasets' (url_checksums/stl10.txt), the archive whose MD5
# torchvision lists (91f7769df0f17e558f3565bffb0c7dfb).
_REMOTES = {_ARCHIVE: Remote(("http://ai.stanford.edu/~acoates/stl10/" + _ARCHIVE,),
                             "sha256:f31fd99273a1acb8609c8db427cebb1de3f71de77758cdc0e22956e1289b9866")}
_IMAGE = (3, 96, 96)
_IMAGE_BYTES = 3 * 96 * 96
# The paper gives no HOG settings: Dalal and Triggs' 9 orientations and 2x2-cell L2-Hys blocks,
# on 16x16-pixel cells (6x6 cells, 5x5 blocks: 900 values for a 96x96 image).
_HOG = {"orientations": 9, "pixels_per_cell": (16, 16), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}
_N_HOG = 5 * 5 * 2 * 2 * 9
_N_COLOUR = 8 * 8 * 3


def load_stl10_hog(*, unlabeled: bool = False, scale: bool = True,
                   data_dir: str | os.PathLike | None = None,
                   download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """STL-10 images as HOG features plus an 8x8 colour map (13,000 images, 1,092 features).

    STL-10 (Coates, Lee and Ng, 2011) has 96x96 colour images of 10 classes: 5,000 training
    and 8,000 test images with labels, and 100,000 without. Following the DEC paper (section
    4.1), each image becomes its HOG descriptor (:func:`skimage.feature.hog`: 9 orientations,
    16x16-pixel cells, 2x2-cell L2-Hys blocks, the gradient of the strongest colour channel;
    900 values) followed by its 8x8 colour map (the image averaged over 12x12-pixel blocks, 64
    RGB values in [0, 1]; 192 values). The paper does not give its HOG settings, so these
    features are like its 1,428, not the same.

    The binary version's files (``train_X.bin``, ``train_y.bin``, ``test_X.bin``,
    ``test_y.bin`` and, with ``unlabeled=True``, ``unlabeled_X.bin``) are looked for in
    ``data_dir / "stl10_binary"`` (default :func:`data_home` ``/stl10/stl10_binary``). Missing
    ones are extracted from ``stl10_binary.tar.gz`` in ``data_dir``, which is downloaded first
    (2.6 GB, checked against its SHA-256) if it is not there; it can be deleted once extracted.
    Needs scikit-image (``pip install deepclust[datasets]``). Computing the features takes a
    few milliseconds an image.

    Parameters
    ----------
    unlabeled : bool, default=False
        Also return the 100,000 unlabelled images (label -1), after the labelled ones.
    scale : bool, default=True
        Apply the paper's normalisation (:func:`scale_to_unit_energy`).
    data_dir : path-like, default=None
        The folder holding ``stl10_binary/`` or the archive (a leading ``~`` is the home
        directory); None means ``data_home() / "stl10"``.
    download : bool, default=True
        Download the archive if neither its extracted files nor it are there.

    Returns
    -------
    X : ndarray of shape (n, 1092), float32
        n is 13,000 (the 5,000 training images, then the 8,000 test images), or 113,000 with
        ``unlabeled``.
    y : ndarray of shape (n,), int64
        The class, 0 (airplane) to 9 (truck); -1 for unlabelled images.

    Raises
    ------
    ImportError
        When scikit-image is not installed.
    FileNotFoundError
        When the files are missing and cannot be downloaded (offline, or ``download=False``);
        the message says where to put them.
    ValueError
        When a file is not an STL-10 binary file.
    """
    hog = _import_hog()
    root = data_folder(data_dir, "stl10")
    folder = root / _FOLDER
    parts = [("train_X.bin", "train_y.bin"), ("test_X.bin", "test_y.bin")]
    if unlabeled:
        parts.append(("unlabeled_X.bin", None))
    names = [name for part in parts for name in part if name]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        archive = locate("STL-10", _REMOTES, [root], download=download,
                         hint=f"Or extract its {', '.join(missing)} into {str(folder)!r}.") / _ARCHIVE
        _extract(archive, missing, folder)
    Xs, ys = [], []
    for images_name, labels_name in parts:
        images = _read_images(folder / images_name)
        labels = (_read_labels(folder / labels_name, len(images)) if labels_name
                  else np.full(len(images), -1, dtype=np.int64))
        logger.info("STL-10: computing the features of %d images of %s", len(images), images_name)
        Xs.append(_features(images, hog))
        ys.append(labels)
    X, y = np.concatenate(Xs), np.concatenate(ys)
    return (scale_to_unit_energy(X) if scale else X), y


def _import_hog():
    try:
        from skimage.feature import hog
    except ImportError as exc:
        raise ImportError("load_stl10_hog needs scikit-image for its HOG features: "
                          "pip install deepclust[datasets]") from exc
    return hog


def _extract(archive: Path, names: list[str], folder: Path) -> None:
    """Copy the archive's members named ``names`` (whatever their folder) into ``folder``."""
    logger.info("Extracting %s from %s", ", ".join(names), archive)
    folder.mkdir(parents=True, exist_ok=True)
    wanted, done = set(names), []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:  # one pass: the archive is a 2.6 GB gzip stream
                name = PurePosixPath(member.name).name
                if member.isfile() and name in wanted:
                    with tar.extractfile(member) as src, atomic_file(folder / name) as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    wanted.discard(name)
                    done.append(folder / name)
                    if not wanted:
                        return
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        _remove(done)
        raise ValueError(f"{str(archive)!r} is not a readable STL-10 archive ({exc}). Delete it "
                         "to download it again.") from exc
    _remove(done)
    raise ValueError(f"{str(archive)!r} has no {', '.join(sorted(wanted))}: it is not the STL-10 "
                     "binary archive. Delete it to download it again.")


def _remove(paths: list[Path]) -> None:
    """What was extracted from a bad archive is not kept."""
    for path in paths:
        path.unlink(missing_ok=True)


def _read_images(path: Path) -> np.ndarray:
    """``(n, 96, 96, 3)`` uint8 images, memory-mapped, from a ``*_X.bin`` file."""
    size = path.stat().st_size
    if size == 0 or size % _IMAGE_BYTES:
        raise ValueError(f"{str(path)!r} is not an STL-10 image file: its {size} bytes are not a "
                         f"whole number of {_IMAGE_BYTES}-byte images.")
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    # Each image is stored channel by channel, each channel column by column (MATLAB's
    # order): axes (channel, column, row), turned here into (row, column, channel).
    return raw.reshape(-1, *_IMAGE).transpose(0, 3, 2, 1)


def _read_labels(path: Path, n_images: int) -> np.ndarray:
    labels = np.fromfile(path, dtype=np.uint8)
    if len(labels) != n_images:
        raise ValueError(f"{str(path)!r} holds {len(labels)} labels for {n_images} images.")
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise ValueError(f"{str(path)!r} is not an STL-10 label file: labels must be 1 to 10, "
                         f"found {labels.min()} to {labels.max()}.")
    return labels.astype(np.int64) - 1


def _features(images: np.ndarray, hog) -> np.ndarray:
    """HOG descriptor then 8x8 colour map of each ``(96, 96, 3)`` uint8 image."""
    out = np.empty((len(images), _N_HOG + _N_COLOUR), dtype=np.float32)
    for i, image in enumerate(images):  # one at a time: the unlabelled images are 2.8 GB
        pixels = image.astype(np.float32) / 255.0
        out[i, :_N_HOG] = hog(pixels, channel_axis=-1, **_HOG)
        out[i, _N_HOG:] = pixels.reshape(8, 12, 8, 12, 3).mean(axis=(1, 3)).ravel()
    return out
