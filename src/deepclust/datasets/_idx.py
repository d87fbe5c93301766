"""The IDX format of MNIST and Fashion-MNIST: a magic number, the shape, then the values."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ._files import readable

__all__ = ["read_idx"]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not.

    Parameters
    ----------
    path : path-like
        The file; a ``.gz`` suffix means gzip-compressed.

    Returns
    -------
    array : ndarray
        Of the shape and type the header announces (big-endian types stay big-endian).

    Raises
    ------
    ValueError
        When the file is not an IDX file or is shorter or longer than its header says, or is
        a damaged or truncated gzip file (the message names it).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with readable(path), opener(path, "rb") as fh:
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
