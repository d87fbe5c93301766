"""Parquet shards of a :class:`~deepclust.data.shards.ShardedArray`: their feature columns, one
column of several files (e.g. the labels), and the conversion of a file, a block of rows at a
time, into a ``.npy`` copy in a cache directory, which is memory-mapped in its place (a row of
parquet cannot be read without decoding the whole row group around it)."""

from __future__ import annotations

import glob
import hashlib
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .atomic import atomic_file
from .._utils import repeated

# Cached copies of a parquet file's earlier versions are removed once unused this long.
_UNUSED_FOR_S = 24 * 3600
# Bumped when the conversion of parquet shards changes, so that old cached copies are not reused.
_CACHE_FORMAT = 1

# Rows per block when a check or a copy walks the whole array.
_BLOCK_FLOATS = 2**24


def default_cache_dir() -> Path:
    """Where converted parquet shards are kept: ``$DEEPCLUST_CACHE/shards``, by default
    ``~/.deepclust/cache/shards``. A leading ``~`` in ``$DEEPCLUST_CACHE`` is the home directory;
    an empty value counts as unset (not as the current directory)."""
    return Path(os.environ.get("DEEPCLUST_CACHE") or Path.home() / ".deepclust" / "cache").expanduser() / "shards"


def _pyarrow_parquet(path: Path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(f"Reading the parquet shard {str(path)!r} needs pyarrow: pip install pyarrow "
                          "(or convert the shards to .npy).") from None
    return pq


def _parquet_file(path: Path):
    pq = _pyarrow_parquet(path)
    try:
        return pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)  # stream, no whole-file buffers
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        if not path.is_file():
            raise
        raise ValueError(f"{str(path)!r} is not a readable parquet file: {exc}") from exc


def feature_columns(path: Path, columns=None, exclude=()) -> list[str]:
    """The feature columns of a parquet file: ``columns`` (checked), or every column but
    ``exclude`` and the index pandas stored (``__index_level_0__`` or a named index), which
    reading the file with pandas would not give as data either. All must hold numbers."""
    import pyarrow.types as pat

    schema = _parquet_file(path).schema_arrow
    names = list(schema.names)
    if repeated(names):
        raise ValueError(f"The parquet shard {str(path)!r} has several columns named {repeated(names)}; give "
                         "each column its own name.")
    if columns is None:
        index = {c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
        columns = [c for c in names if c not in index and c not in exclude]
    else:
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"The parquet shard {str(path)!r} has no column(s) {missing}; its columns are "
                             f"{names}.")
    bad = [f"{c} ({schema.field(c).type})" for c in columns
           if not any(test(schema.field(c).type) for test in (pat.is_integer, pat.is_floating, pat.is_boolean,
                                                               pat.is_decimal))]
    if bad:
        raise TypeError(f"The parquet shard {str(path)!r} has non-numeric column(s) {', '.join(bad)}; "
                        "deepclust needs numbers. Pass columns=[...] with the feature columns only.")
    return list(columns)


def _parquet_dtype(schema, columns) -> np.dtype:
    """float32 when every column fits in it exactly (floats up to 32 bits, ints up to 16, bools);
    float64 otherwise (validation then checks the float32 range, as for any float64 data)."""
    import pyarrow.types as pat

    def exact(t) -> bool:
        return pat.is_boolean(t) or (not pat.is_decimal(t) and t.bit_width <= (32 if pat.is_floating(t) else 16))

    return np.dtype(np.float32 if all(exact(schema.field(c).type) for c in columns) else np.float64)


@contextmanager
def _conversion_lock(target: Path):
    """One process converts a shard; others wait for it and then reuse its file (POSIX; elsewhere
    each converts, which atomic replacement keeps safe, only slower). Yields whether it holds the
    lock."""
    try:
        import fcntl
    except ImportError:
        yield False
        return
    path = target.with_name(f".{target.name}.lock")
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            if target.is_file():  # waiters recheck the target once they hold the lock: safe to remove
                path.unlink(missing_ok=True)
            fcntl.flock(lock, fcntl.LOCK_UN)


def parquet_to_npy(path: Path, cache_dir: Path, columns: list[str]) -> Path:
    """Convert one parquet file's ``columns`` (in that order, found by name) to a row-major ``.npy``
    file in ``cache_dir``, a record batch at a time (memory O(batch), whatever the file's row groups),
    and return its path. The file's name carries a digest of the source's absolute path and the
    columns, then one of its inode, size, modification and change times, so a changed source gets a
    new conversion and an unchanged one is converted once. Reusing a copy marks it used (its
    modification time); a new conversion removes the copies of the source's earlier versions (same
    path and columns) unused for a day, so a file rewritten every day does not fill the disk while a
    job still reading an earlier version keeps it. Missing values become NaN (which validation then
    reports with the shard and row)."""
    path = Path(path)
    stat = path.stat()  # before reading: a file replaced meanwhile then gets a key of its own next time
    source = (str(path.resolve()), list(columns))
    version = (_CACHE_FORMAT, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    prefix = f"{path.stem}-{_digest(source, 12)}-"
    target = Path(cache_dir) / f"{prefix}{_digest(version, 16)}.npy"
    if target.is_file():
        _mark_used(target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _conversion_lock(target) as locked:
        if target.is_file():  # another process converted it while this one waited
            return target
        if locked:  # no other conversion of this version is writing: what one killed midway left
            # (as large as the copy, never used again) goes now; without a lock (no fcntl),
            # _remove_earlier_versions removes it once untouched for the grace period
            for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
                stale.unlink(missing_ok=True)
        pf = _parquet_file(path)
        dtype = _parquet_dtype(pf.schema_arrow, columns)
        n_rows = pf.metadata.num_rows
        with atomic_file(target) as fh:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                      "shape": (n_rows, len(columns))}
            np.lib.format.write_array_header_2_0(fh, header)
            written = 0
            rows = max(1, _BLOCK_FLOATS // 4 // max(len(columns), 1))
            for batch in pf.iter_batches(batch_size=rows, columns=columns, use_threads=False):
                block = np.empty((batch.num_rows, len(columns)), dtype=dtype)
                for j, name in enumerate(columns):
                    # zero_copy_only=False: nulls come out as NaN (ints with nulls as floats).
                    block[:, j] = batch.column(name).to_numpy(zero_copy_only=False)
                fh.write(memoryview(block).cast("B"))
                written += len(block)
            if written != n_rows:
                raise ValueError(f"The parquet shard {str(path)!r} promises {n_rows} rows in its metadata but "
                                 f"holds {written}.")
    _remove_earlier_versions(target, prefix)
    return target


def _digest(value, length: int) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:length]


def _mark_used(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:  # a read-only or shared cache: the copy is still valid
        pass


def _remove_earlier_versions(target: Path, prefix: str) -> None:
    """Delete the cached copies of the same source and columns, other than ``target``, that nobody
    has converted or reused for ``_UNUSED_FOR_S`` seconds: they were made from versions of the file
    that no longer exist. The grace period keeps the copy a running job still reads (a subset, a
    pickled array or an evicted map reopens its file by name) and a newer copy made by a process
    that converted the file while this one was converting an older version."""
    cutoff = time.time() - _UNUSED_FOR_S
    earlier = [*target.parent.glob(f"{glob.escape(prefix)}*.npy"),
               *target.parent.glob(f".{glob.escape(prefix)}*.npy.*.tmp")]  # conversions killed midway
    for old in earlier:
        if old == target:
            continue
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:  # removed meanwhile, or another user's file in a shared cache directory
            pass


def read_parquet_column(files, column: str) -> np.ndarray:
    """One column (e.g. the labels) of several parquet files, concatenated in order."""
    parts = []
    for path in files:
        pf = _parquet_file(Path(path))
        if column not in pf.schema_arrow.names:
            raise ValueError(f"The parquet shard {str(path)!r} has no column {column!r}; its columns are "
                             f"{pf.schema_arrow.names}.")
        values = pf.read(columns=[column]).column(0)
        if values.null_count:
            raise ValueError(f"The column {column!r} of {str(path)!r} has {values.null_count} missing values.")
        parts.append(values.to_numpy(zero_copy_only=False))
    kinds = {"text" if part.dtype.kind in "OUS" else "number" for part in parts if len(part)}
    if len(kinds) > 1:
        raise ValueError(f"The column {column!r} holds text in some shards and numbers in others; give it "
                         "one type in every shard.")
    return np.concatenate(parts) if parts else np.empty(0)
