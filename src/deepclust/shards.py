"""Data in several ``.npy`` files on disk, read as one array without loading it.

:class:`ShardedArray` opens every shard memory-mapped and reads only the rows
that are asked for, so ``fit``, ``predict`` and ``transform`` stream over a
dataset far larger than memory, a mini-batch at a time, exactly as they do
over one memory-mapped ``.npy`` file::

    from deepclust import DEC, ShardedArray

    X = ShardedArray("features/")          # features/part-000.npy, part-001.npy, ...
    labels = DEC(n_clusters=20).fit_predict(X)

Under data-parallel training (``torchrun``) each rank can open its own shards,
e.g. ``ShardedArray(sorted(Path("features").glob("*.npy"))[rank::world_size])``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import OrderedDict
from collections.abc import Iterable
from numbers import Integral
from pathlib import Path

import numpy as np

__all__ = ["ShardedArray"]

# Rows per block when a check or a copy walks the whole array.
_BLOCK_FLOATS = 2**24
# Shards kept memory-mapped at once (each open map holds a file handle; the rest are reopened on demand).
_OPEN_SHARDS = 64


def _natural_key(path: Path):
    """Sort part-2 before part-10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def shard_files(folder: Path, pattern: str = "*.npy") -> list[Path]:
    """The shards of a folder: its files matching ``pattern`` (case-insensitive), hidden files
    (``.name``, e.g. macOS's ``._part-0.npy``) left out, in natural order."""
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and fnmatch.fnmatch(p.name.lower(), pattern.lower())]
    return sorted(files, key=_natural_key)


class _Shard:
    """One .npy file's header (read at once) and its rows, memory-mapped on demand."""

    def __init__(self, path: Path):
        if path.suffix.lower() != ".npy":
            advice = (" Convert parquet shards with pandas: np.save(name, np.ascontiguousarray("
                      "pd.read_parquet(path).to_numpy(dtype='float32')))." if path.suffix.lower() == ".parquet"
                      else "")
            raise ValueError(f"{str(path)!r} is not a .npy file: ShardedArray memory-maps .npy shards only."
                             + advice)
        try:
            with open(path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
                self.offset = fh.tell()
        except OSError as exc:
            raise OSError(f"Cannot read shard {str(path)!r}: {exc}") from exc
        except (ValueError, SyntaxError, EOFError) as exc:
            raise ValueError(f"{str(path)!r} is not a readable .npy file: {exc}") from exc
        if dtype.hasobject:
            raise ValueError(f"{str(path)!r} holds Python objects, which deepclust does not load (they "
                             "could run code). Save a numeric array.")
        if len(shape) != 2:
            raise ValueError(f"Shard {str(path)!r} has shape {shape}; every shard must be 2-D "
                             "(n_rows, n_features).")
        if dtype.kind not in "fiub":
            raise TypeError(f"Shard {str(path)!r} holds {dtype} values; deepclust needs numbers "
                            "(float, int or bool).")
        if fortran and shape[0] > 1 and shape[1] > 1:
            raise ValueError(f"Shard {str(path)!r} is stored column by column (Fortran order), so each row "
                             "is spread over the whole file; save it row by row: "
                             "np.save(name, np.ascontiguousarray(array)).")
        expected = self.offset + int(np.prod(shape)) * dtype.itemsize
        if path.stat().st_size < expected:
            raise ValueError(f"{str(path)!r} is truncated: its header promises {shape} {dtype} values "
                             f"({expected} bytes) but the file has {path.stat().st_size}.")
        self.path, self.shape, self.dtype = path, (int(shape[0]), int(shape[1])), dtype

    def open(self) -> np.ndarray:
        if self.shape[0] == 0:
            return np.empty(self.shape, dtype=self.dtype)
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape)


class ShardedArray:
    """The rows of several 2-D ``.npy`` files, in order, as one read-only array.

    Each shard is memory-mapped (``np.load(path, mmap_mode="r")``); indexing
    reads only the rows asked for, so memory stays O(rows read), not
    O(n_samples x n_features). deepclust's estimators accept it wherever they
    accept an array (``fit``, ``predict``, ``transform``, ...) and stream over
    it a batch at a time.

    Parameters
    ----------
    shards : str, path or iterable of paths
        A directory (its files matching ``pattern``, in natural order:
        ``part-2`` before ``part-10``), a single ``.npy`` file, or the shard
        files in the order their rows should appear.
    pattern : str, default="*.npy"
        Which files of a directory are shards.

    Attributes
    ----------
    files : list of Path
        The shards, in row order.
    shape : tuple of int
        ``(total rows, n_features)``.
    dtype : numpy dtype
        The shards' common dtype (``np.result_type`` of theirs).

    Notes
    -----
    ``np.asarray(sharded)`` loads every row into memory; use it only for data
    that fits. Loading never unpickles anything.
    """

    ndim = 2

    def __init__(self, shards: str | os.PathLike | Iterable[str | os.PathLike], *, pattern: str = "*.npy"):
        if isinstance(shards, (str, os.PathLike)):
            path = Path(shards)
            if path.is_dir():
                files = shard_files(path, pattern)
                if not files:
                    raise ValueError(f"No shard files matching {pattern!r} in directory {str(path)!r}.")
            elif path.is_file():
                files = [path]
            else:
                raise FileNotFoundError(f"{str(path)!r} does not exist.")
        else:
            files = [Path(p) for p in shards]
            if not files:
                raise ValueError("ShardedArray needs at least one shard file.")
            for p in files:
                if not p.is_file():
                    raise FileNotFoundError(f"Shard {str(p)!r} does not exist or is not a file.")
        shards = [_Shard(p) for p in files]  # headers only: no file stays open
        widths = {a.shape[1] for a in shards}
        if len(widths) > 1:
            detail = ", ".join(f"{p.name}: {a.shape[1]}" for p, a in zip(files, shards))
            raise ValueError(f"The shards have different numbers of features ({detail}); every shard "
                             "must have the same columns.")
        self.files = files
        self._shards = shards
        self._open: OrderedDict[int, np.ndarray] = OrderedDict()
        self._offsets = np.cumsum([0] + [a.shape[0] for a in shards]).astype(np.int64)
        self.shape = (int(self._offsets[-1]), int(shards[0].shape[1]))
        self.dtype = np.result_type(*(a.dtype for a in shards))

    def _array(self, s: int) -> np.ndarray:
        """Shard ``s`` memory-mapped; at most ``_OPEN_SHARDS`` stay open, the least recently used closes."""
        array = self._open.pop(s, None)
        if array is None:
            array = self._shards[s].open()
            while len(self._open) >= _OPEN_SHARDS:
                self._open.popitem(last=False)
        self._open[s] = array
        return array

    def __getstate__(self):  # picklable (e.g. to a worker process): the maps reopen there
        state = dict(self.__dict__)
        state["_open"] = OrderedDict()
        return state

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return (f"ShardedArray({len(self.files)} shards, shape={self.shape}, dtype={self.dtype}, "
                f"first={str(self.files[0])!r})")

    def __getitem__(self, key):
        """Rows as numpy indexes a 2-D array's first axis: an int (one row, 1-D), a slice, a 1-D
        array of ints or a boolean mask (rows, 2-D); ``X[rows, cols]`` takes columns of those
        rows when one of the two is an int or a slice. Always a new in-memory array."""
        if isinstance(key, tuple):
            if len(key) != 2:
                raise IndexError(f"ShardedArray is 2-D; got an index of {len(key)} dimensions.")
            rows, cols = key
            if not isinstance(rows, (Integral, slice)) and not isinstance(cols, (Integral, slice)):
                raise IndexError("Index rows and columns separately, X[rows][:, cols]: pairing two index "
                                 "arrays element by element is not supported.")
            if isinstance(rows, Integral) and not isinstance(rows, bool):
                return self[rows][cols]
            return self[rows][:, cols]
        if isinstance(key, (bool, np.bool_)) or key is Ellipsis or key is None:
            raise IndexError(f"Unsupported index {key!r}: use an int, a slice, an array of ints or a boolean mask.")
        if isinstance(key, np.ndarray) and key.ndim == 0 and key.dtype.kind in "iu":
            key = int(key)
        if isinstance(key, Integral):
            i = int(key)
            if not -self.shape[0] <= i < self.shape[0]:
                raise IndexError(f"Row {i} is out of range for {self.shape[0]} rows.")
            i %= max(self.shape[0], 1)
            s = int(np.searchsorted(self._offsets, i, side="right")) - 1
            return np.array(self._array(s)[i - self._offsets[s]])
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step == 1:
                return self._range(start, max(start, stop))
            return self._gather(np.arange(start, stop, step, dtype=np.int64))
        idx = np.asarray(key)
        if idx.ndim != 1:
            raise IndexError(f"Row indices must be 1-D; got shape {idx.shape}.")
        if idx.dtype == bool:
            if idx.shape != (self.shape[0],):
                raise IndexError(f"A boolean row mask must have shape ({self.shape[0]},), got {idx.shape}.")
            idx = np.flatnonzero(idx)
        elif idx.dtype.kind not in "iu" and idx.size:
            raise IndexError(f"Rows must be integers, a slice or a boolean mask; got {idx.dtype}.")
        if idx.dtype.kind == "u" and idx.size and int(idx.max()) >= self.shape[0]:
            raise IndexError(f"Row {int(idx.max())} is out of range for {self.shape[0]} rows.")
        return self._gather(idx.astype(np.int64))

    def _range(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1: one contiguous read per shard they span."""
        out = np.empty((stop - start, self.shape[1]), dtype=self.dtype)
        first = int(np.searchsorted(self._offsets, start, side="right")) - 1
        for s in range(max(first, 0), len(self._shards)):
            lo, hi = self._offsets[s], self._offsets[s + 1]
            if lo >= stop:
                break
            a, b = max(start, lo), min(stop, hi)
            if a < b:
                out[a - start:b - start] = self._array(s)[a - lo:b - lo]
        return out

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        n = self.shape[0]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = idx[(idx < -n) | (idx >= n)][0]
            raise IndexError(f"Row {int(bad)} is out of range for {n} rows.")
        idx = np.where(idx < 0, idx + n, idx)
        out = np.empty((idx.size, self.shape[1]), dtype=self.dtype)
        shard = np.searchsorted(self._offsets, idx, side="right") - 1
        for s in np.unique(shard):
            at = np.flatnonzero(shard == s)
            local = idx[at] - self._offsets[s]
            order = np.argsort(local, kind="stable")  # read each shard front to back
            out[at[order]] = self._array(int(s))[local[order]]
        return out

    def blocks(self, rows: int | None = None):
        """Consecutive row blocks covering every row once (a streaming pass)."""
        rows = rows or max(1, _BLOCK_FLOATS // max(self.shape[1], 1))
        for start in range(0, self.shape[0], rows):
            yield self._range(start, min(start + rows, self.shape[0]))

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("A ShardedArray cannot be viewed as one array without copying its rows.")
        out = self._range(0, self.shape[0])
        return out if dtype is None else out.astype(dtype, copy=False)


def check_sharded(X: ShardedArray) -> ShardedArray:
    """Refuse what ``validate_data`` refuses in an array, reading the shards one block at a time."""
    if X.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required: "
                         "the shards hold no rows.")
    if X.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    largest = float(np.finfo(np.float32).max)
    start = 0
    for block in X.blocks():
        if block.dtype.kind == "f":
            finite = np.isfinite(block)
            if not finite.all():
                row = start + int(np.flatnonzero(~finite.all(axis=1))[0])
                raise ValueError(f"Input X contains NaN or infinity (first at row {row}, in "
                                 f"{_shard_of(X, row)}). Remove or impute those values first.")
            if block.size and block.dtype.itemsize > 4 and float(np.abs(block).max()) > largest:
                raise ValueError("X has values beyond float32's range; the network computes in float32. "
                                 "Scale X down first (e.g. StandardScaler).")
        start += len(block)
    return X


def _shard_of(X: ShardedArray, row: int) -> str:
    s = int(np.searchsorted(X._offsets, row, side="right")) - 1
    return f"{X.files[s].name}, its row {row - int(X._offsets[s])}"
