"""Data in several ``.npy`` or ``.parquet`` files on disk, read as one array without loading it.

:class:`ShardedArray` opens every shard memory-mapped and reads only the rows
that are asked for, so ``fit``, ``predict`` and ``transform`` stream over a
dataset far larger than memory, a mini-batch at a time, exactly as they do
over one memory-mapped ``.npy`` file::

    from deepclust import DEC, ShardedArray

    X = ShardedArray("features/")          # features/part-000.npy, part-001.npy, ...
    labels = DEC(n_clusters=20).fit_predict(X)

Parquet is a columnar format: a row of it cannot be read without decoding the
whole row group around it, so each ``.parquet`` shard is converted once, a
block of rows at a time, into a ``.npy`` file in a cache directory, and that
file is memory-mapped.

Under data-parallel training (``torchrun``) each rank can open its own shards,
e.g. ``ShardedArray(sorted(Path("features").glob("*.npy"))[rank::world_size])``.
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
from collections import OrderedDict
from collections.abc import Iterable
from numbers import Integral
from pathlib import Path

import numpy as np

# The parquet side (the columns, the conversion into cached .npy copies) is a module of its own;
# its names are imported here, where they have always been imported from.
from .parquet import _BLOCK_FLOATS, default_cache_dir, feature_columns, parquet_to_npy, read_parquet_column

__all__ = ["ShardedArray"]

SHARD_SUFFIXES = (".npy", ".parquet")
# Shards kept memory-mapped at once (each open map holds a file handle; the rest are reopened on demand).
_OPEN_SHARDS = 64


def _natural_key(path: Path):
    """Sort part-2 before part-10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def shard_files(folder: Path, pattern: str | None = None) -> list[Path]:
    """The shards of a folder: its files matching ``pattern`` (case-insensitive; None: every
    ``.npy`` and ``.parquet`` file), in natural order. Hidden files (``.name``, e.g. macOS's
    ``._part-0.npy``) and ``_name`` files (Spark's ``_SUCCESS``, Dask's ``_metadata``) are left out."""
    def wanted(name: str) -> bool:
        if pattern is None:
            return name.endswith(SHARD_SUFFIXES)
        return fnmatch.fnmatch(name, pattern.lower())

    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_"))
             and wanted(p.name.lower())]
    return sorted(files, key=_natural_key)


def _npy_header(path: Path):
    """``(shape, fortran_order, dtype, data offset)`` of a ``.npy`` file, from its header only."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            return shape, fortran, dtype, fh.tell()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise OSError(f"Cannot read shard {str(path)!r}: {exc}") from exc
    except (ValueError, SyntaxError, EOFError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable .npy file: {exc}") from exc


class _Shard:
    """One .npy file's header (read at once) and its rows, memory-mapped on demand."""

    def __init__(self, path: Path):
        if path.suffix.lower() != ".npy":
            raise ValueError(f"{str(path)!r} is neither a .npy nor a .parquet file: ShardedArray reads "
                             ".npy and .parquet shards.")
        try:
            self._header = _npy_header(path)
        except FileNotFoundError as exc:
            raise OSError(f"Cannot read shard {str(path)!r}: {exc}") from exc
        shape, fortran, dtype, self.offset = self._header
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
        if any(not isinstance(d, int) or d < 0 for d in shape):
            raise ValueError(f"{str(path)!r} is not a readable .npy file: its header gives the shape {shape}.")
        expected = self.offset + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if path.stat().st_size < expected:
            raise ValueError(f"{str(path)!r} is truncated: its header promises {shape} {dtype} values "
                             f"({expected} bytes) but the file has {path.stat().st_size}.")
        self.path, self.shape, self.dtype = path, (int(shape[0]), int(shape[1])), dtype

    def open(self) -> np.ndarray:
        if self.shape[0] == 0:
            return np.empty(self.shape, dtype=self.dtype)
        try:
            # np.save over the file since: its rows are no longer where the header read then says
            changed = _npy_header(self.path) != self._header
        except FileNotFoundError:
            changed = False  # the error below says so
        except ValueError:  # no longer a readable header (another OSError, say EIO, propagates)
            changed = True
        if changed:
            raise ValueError(f"The shard {str(self.path)!r} was rewritten since it was opened (its header "
                             "changed). Open the shards again (ShardedArray(...)).")
        try:
            return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape)
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"The shard {str(self.path)!r} is gone since it was opened: it was deleted, or, as the cached "
                "copy of a parquet shard, replaced by the copy of a newer version of that file. Open the "
                "shards again (ShardedArray(...)).") from exc


class ShardedArray:
    """The rows of several 2-D ``.npy`` or ``.parquet`` files, in order, as one read-only array.

    Each ``.npy`` shard is memory-mapped (``np.load(path, mmap_mode="r")``);
    indexing reads only the rows asked for, so memory stays O(rows read), not
    O(n_samples x n_features). deepclust's estimators accept it wherever they
    accept an array (``fit``, ``predict``, ``transform``, ...) and stream over
    it a batch at a time.

    A ``.parquet`` shard (a table of numeric columns; needs pyarrow) cannot
    be read a row at a time, so it is converted once, a block of rows at a
    time, into a ``.npy`` file in ``cache_dir`` (float32 when every column
    fits in it exactly, else float64; missing values become NaN, which
    fitting then refuses naming the shard and row), and that file is
    memory-mapped. Columns are read by name, in the first parquet shard's
    order (or ``columns``'), leaving out the index pandas stores with a
    frame; every shard must have the same columns. The conversion is reused
    while the parquet file is unchanged (same path, inode, size and times),
    redone when it changes, and done by one process when several ask at
    once. Converting a changed file removes the copies of its earlier
    versions that have not been used for a day; the copies of files that
    were deleted or renamed stay until the cache directory is deleted.

    Parameters
    ----------
    shards : str, path or iterable of paths
        A directory (its files matching ``pattern``, in natural order:
        ``part-2`` before ``part-10``), a single ``.npy`` or ``.parquet``
        file, or the shard files in the order their rows should appear.
    pattern : str or None, default=None
        Which files of a directory are shards (case-insensitive, e.g.
        ``"part-*.npy"``); None: every ``.npy`` and ``.parquet`` file. Files
        whose names start with ``.`` or ``_`` (Spark's ``_SUCCESS``) never are.
    columns : list of str, default=None
        The feature columns of parquet shards (e.g. all but a label
        column); None: every column. Does not apply to ``.npy`` shards.
    cache_dir : str or path, default=None
        Where converted parquet shards are kept; None:
        ``$DEEPCLUST_CACHE/shards``, by default ``~/.deepclust/cache/shards``.

    Attributes
    ----------
    files : list of Path
        The shards as given (``.npy`` or ``.parquet``), in row order.
    shape : tuple of int
        ``(total rows, n_features)``.
    dtype : numpy dtype
        The shards' common dtype (``np.result_type`` of theirs).
    columns : list of str or None
        The parquet shards' feature columns, in the order read; None for
        ``.npy`` shards. An estimator fitted on named columns records them
        (``feature_names_in_``) and refuses data whose names differ.

    Notes
    -----
    ``np.asarray(sharded)`` loads every row into memory; use it only for data
    that fits. Loading never unpickles anything.
    """

    ndim = 2

    def __init__(self, shards: str | os.PathLike | Iterable[str | os.PathLike], *, pattern: str | None = None,
                 columns: Iterable[str] | None = None, cache_dir: str | os.PathLike | None = None):
        if isinstance(shards, (str, os.PathLike)):
            path = Path(shards)
            if path.is_dir():
                files = shard_files(path, pattern)
                if not files:
                    what = f"matching {pattern!r}" if pattern else "(.npy or .parquet)"
                    raise ValueError(f"No shard files {what} in directory {str(path)!r}.")
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
        if isinstance(columns, str):
            raise TypeError(f"columns={columns!r} must be a list of column names, e.g. [{columns!r}].")
        columns = None if columns is None else list(columns)
        parquet = [p.suffix.lower() == ".parquet" for p in files]
        if columns is not None and not all(parquet):
            raise ValueError("columns= selects the columns of parquet shards; .npy shards have no column "
                             "names (save only the feature columns instead).")
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        if columns is not None and len(set(columns)) != len(columns):
            raise ValueError(f"columns={columns!r} names a column more than once.")
        if any(parquet):
            # The first parquet shard names the columns; every other must have the same ones (read by
            # name, so a shard that stores them in another order is read in the same order).
            first = files[parquet.index(True)]
            given, columns = columns, feature_columns(first, columns)
            for p in (p for p, pq in zip(files, parquet) if pq and p != first):
                own = feature_columns(p, given)
                if set(own) != set(columns):
                    raise ValueError(f"The parquet shard {str(p)!r} has the columns {own}, the first one "
                                     f"({first.name}) {columns}; every shard must have the same columns "
                                     "(or pass columns=[...]).")
        # headers only: no file stays open
        shards = [_Shard(parquet_to_npy(p, cache, columns) if pq else p) for p, pq in zip(files, parquet)]
        widths = {a.shape[1] for a in shards}
        if len(widths) > 1:
            detail = ", ".join(f"{p.name}: {a.shape[1]}" for p, a in zip(files, shards))
            raise ValueError(f"The shards have different numbers of features ({detail}); every shard "
                             "must have the same columns.")
        self.files = files
        self.columns = columns if any(parquet) else None  # feature names, checked again at predict
        self._shards = shards
        self._open: OrderedDict[int, np.ndarray] = OrderedDict()
        self._offsets = np.cumsum([0] + [a.shape[0] for a in shards]).astype(np.int64)
        self._rows = None  # for a subset: the shards' rows it holds, in its order
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

    def subset(self, rows) -> ShardedArray:
        """A ShardedArray of some of these rows (ints, in any order, or a boolean mask), read from the
        same shards when asked for: a training / validation split of data that does not fit in
        memory, without copying it."""
        picked = np.arange(self.shape[0], dtype=np.int64)[rows]  # numpy's own checks of the index
        if picked.ndim != 1:
            raise IndexError(f"subset takes 1-D row indices or a mask; got shape {picked.shape}.")
        view = object.__new__(ShardedArray)
        view.__dict__.update(self.__getstate__())
        view._rows = picked if self._rows is None else self._rows[picked]
        view.shape = (int(picked.size), self.shape[1])
        return view

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
            if self._rows is not None:
                i = int(self._rows[i])
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
        if self._rows is not None:
            return self._read(self._rows[start:stop])
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
        return self._read(idx if self._rows is None else self._rows[idx])

    def _read(self, idx: np.ndarray) -> np.ndarray:
        """The shards' rows ``idx`` (non-negative, in range), each shard read front to back."""
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


def check_sharded(X: ShardedArray, *, scan: bool = True) -> ShardedArray:
    """Refuse what ``validate_data`` refuses in an array, reading the shards one block at a time.

    With ``scan=False`` only the shape is checked, for a caller that reads every row anyway and
    checks each block as it goes (:func:`check_block`), so the data is read once, not twice.
    """
    if X.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required: "
                         "the shards hold no rows.")
    if X.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    if scan:
        start = 0
        for block in X.blocks():
            check_block(X, block, start)
            start += len(block)
    return X


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_block(X: ShardedArray, block: np.ndarray, start: int) -> None:
    """Refuse non-finite values, or values float32 cannot hold, in rows ``start:start + len(block)`` of X."""
    if block.dtype.kind != "f":
        return
    finite = np.isfinite(block)
    if not finite.all():
        row = start + int(np.flatnonzero(~finite.all(axis=1))[0])
        raise ValueError(f"Input X contains NaN or infinity (first at row {row}, in "
                         f"{_shard_of(X, row)}). Remove or impute those values first.")
    if block.size and block.dtype.itemsize > 4 and float(np.abs(block).max()) > _FLOAT32_MAX:
        raise ValueError("X has values beyond float32's range; the network computes in float32. "
                         "Scale X down first (e.g. StandardScaler).")


def _shard_of(X: ShardedArray, row: int) -> str:
    if X._rows is not None:
        row = int(X._rows[row])
    s = int(np.searchsorted(X._offsets, row, side="right")) - 1
    return f"{X.files[s].name}, its row {row - int(X._offsets[s])}"
