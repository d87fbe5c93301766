"""Reading the command line's data files: numeric tables and label lists.

Supported: ``.npy``, ``.npz``, ``.csv`` and ``.parquet`` (with pandas and pyarrow installed).
Every failure is a ``ValueError`` (or ``FileNotFoundError``) whose message says what was wrong
with which file, so the command line can print it as one line.
"""

from __future__ import annotations

import csv
import warnings
import zipfile
from pathlib import Path

import numpy as np

TABLE_SUFFIXES = (".npy", ".npz", ".csv", ".parquet")
# .npy files larger than this are memory-mapped rather than loaded (data that may not fit in memory).
MMAP_BYTES = 1 << 30


def _existing(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist.")
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a file.")
    return path


def _load_numpy(path: Path, suffix: str, exclude: str | None = None):
    """``(array, other arrays)`` of a .npy or .npz file, never unpickling anything."""
    try:
        if suffix == ".npy":
            if path.stat().st_size <= MMAP_BYTES:
                return np.load(path, allow_pickle=False), {}
            # A large file stays on disk, read a batch at a time; a column-major one would be read
            # from all over the file for every batch, so it is loaded instead.
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            return (array if array.flags.c_contiguous else np.array(array)), {}
        return _npz_array(path, None, exclude)
    except ValueError as exc:
        if any(m in str(exc) for m in ("allow_pickle", "Object arrays", "Python objects")):
            raise ValueError(f"{str(path)!r} is not a numeric {suffix} array file: it is either "
                             "something else or holds Python objects, which deepclust does not "
                             "load (they could run code). Save a numeric array.") from exc
        if str(exc).startswith(repr(str(path))):  # our own message
            raise
        raise ValueError(f"{str(path)!r} is not a readable {suffix} file: {exc}") from exc
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, SyntaxError, UnicodeDecodeError) as exc:
        # not an .npy/.npz, truncated, a damaged zip or header, ...
        raise ValueError(f"{str(path)!r} is not a readable {suffix} file: {exc}") from exc


def _npz_array(path: Path, key: str | None, exclude: str | None = None):
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        candidates = [n for n in names if n != exclude]
        if not candidates:
            raise ValueError(f"{str(path)!r} holds no arrays of features.")
        if key is None:
            key = "X" if "X" in candidates else candidates[0]
        if key not in names:
            raise ValueError(f"{str(path)!r} has no array {key!r}; it has {names}.")
        return archive[key], {name: archive[name] for name in names if name != key}


def _is_number(name) -> bool:
    # float() takes 1_000 and non-ASCII digits (١, １); pandas reads them as text
    if isinstance(name, str) and ("_" in name or not name.isascii()):
        return False
    try:
        float(name)
    except (TypeError, ValueError):
        return False
    return True


# Column names that usually hold labels or a saved index rather than features.
_LABEL_LIKE = {"label", "labels", "class", "target", "y", "cluster", "species", "category"}


def warn_label_like(source, columns) -> None:
    """Warn when feature columns are named like labels (the user likely forgot --label-column)."""
    suspicious = [str(c) for c in columns if str(c).lower() in _LABEL_LIKE]
    if suspicious:
        warnings.warn(f"{str(source)!r}: column(s) {suspicious} look like labels but are used as features; "
                      "pass --label-column to keep a label column out of the fit.", UserWarning, stacklevel=3)


SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}


def detect_separator(path, lines: int = 20) -> str:
    """The field separator of a CSV file: tab or ``;`` when every one of its first ``lines``
    non-empty lines splits on it into the same number (two or more) of fields, else ``,``.

    A file of one column, or one whose lines split evenly on several of them, reads as ``,``
    unless tab or ``;`` also splits it evenly (a ``;`` file's decimal commas are not a reason to
    read it as a comma file)."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as file:
            head = []
            for line in file:
                if line.strip():
                    head.append(line)
                if len(head) >= lines:
                    break
    except (OSError, UnicodeDecodeError):
        return ","  # the reader then says what is wrong with the file
    for sep in ("\t", ";"):
        try:
            counts = {len(row) for row in csv.reader(head, delimiter=sep)}
        except csv.Error:
            continue
        if head and len(counts) == 1 and counts.pop() >= 2:
            return sep
    return ","


def _first_line_kind(path: Path, sep: str = ",") -> str:
    """How the first line of a CSV file is read: ``"data"``, ``"names"`` or ``"pandas"``.

    The raw first line is parsed with the reader's own delimiter (``,``) and quoting, before pandas
    renames anything (it makes a repeated ``0.5`` into ``0.5.1``, which is no longer a number):

    * every field a number, and the fields exactly ``0,1,...,d-1`` with d >= 2: pandas' default
      column names (``pd.DataFrame(X).to_csv(index=False)``), a header naming nothing: ``"pandas"``
      (``_frame`` reads it as a row after all when every column holds integers, where it could as
      well be one);
    * every other line of numbers only: a data row (``"data"``); a header of numbers such as
      wavelengths ``400,410,420`` cannot be told apart from data and is read as a row, so give such
      columns text names (``nm400``). A single column's ``0`` is data too: a headerless list of
      labels often starts with cluster 0;
    * anything else (a text field, an empty one, an empty line): a header of names (``"names"``).
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:  # pandas skips a BOM too
            fields = next(csv.reader(file, delimiter=sep), [])
    except csv.Error:  # e.g. a field over the csv module's size limit: let pandas judge the file
        return "names"
    fields = [f.strip() for f in fields]
    if not fields or not all(_is_number(f) for f in fields):
        return "names"
    if len(fields) >= 2 and fields == [str(i) for i in range(len(fields))]:
        return "pandas"
    return "data"


def _trailing_blank_lines(path: Path) -> int:
    """The number of empty lines that end the file (after the line ending of its last line).

    Only the file's end is read, a block at a time, so a large file costs no second pass."""
    with path.open("rb") as file:
        position = file.seek(0, 2)
        tail = b""
        while position > 0:
            step = min(1 << 16, position)
            position -= step
            file.seek(position)
            tail = file.read(step) + tail
            if tail.strip(b"\r\n"):
                break
        else:
            return 0  # nothing but line endings: pandas says the file is empty
    run = tail[len(tail.rstrip(b"\r\n")):].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return max(run.count(b"\n") - 1, 0)  # the first one ends the last line of text


def _read_csv(pd, path: Path, header, sep: str = ","):
    """The CSV file as a frame. Blank lines inside the file stay rows (of NaN, refused later):
    dropping them would shift the rows. Those that merely end the file are not rows."""
    frame = pd.read_csv(path, header=header, skip_blank_lines=False, sep=sep)
    blank = _trailing_blank_lines(path)
    if blank and len(frame) >= blank and frame.iloc[len(frame) - blank:].isna().all(axis=None):
        rows = len(frame) - blank
        # read again rather than cut, so that the columns' types are not those NaN gave them
        frame = (pd.read_csv(path, header=header, skip_blank_lines=False, nrows=rows, sep=sep) if rows
                 else frame.iloc[:0])
    return frame


def _frame(path: Path, sep: str | None = None):
    """``(frame, pandas_header)`` of a CSV or parquet file; ``pandas_header`` is True when the CSV
    file's header is pandas' default column names ``0,1,...`` (see ``_first_line_kind``). ``sep``
    is the CSV file's separator; None detects it (:func:`detect_separator`)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ValueError(f"Reading {str(path)!r} needs pandas: pip install pandas.") from exc

    if path.suffix.lower() == ".csv":
        try:
            sep = detect_separator(path) if sep is None else sep
            kind = _first_line_kind(path, sep)
            frame = _read_csv(pd, path, None if kind == "data" else 0, sep)
            if kind == "pandas" and (len(frame) == 0 or all(t.kind in "iu" for t in frame.dtypes)):
                # All integers (or no other row): 0,1,...,d-1 is as likely a row (of 0 / 1 data, say)
                # as a header. Keep it as a row: reading a header as data adds a row the warning
                # names, while reading data as a header would lose one without trace.
                kind, frame = "data", _read_csv(pd, path, None, sep)
                warnings.warn(
                    f"{str(path)!r}: its first line {','.join(map(str, range(frame.shape[1])))} could be "
                    "pandas' default column names or a row of integer data; it was read as a row. If it is "
                    "a header, write the file without it (to_csv(..., header=False)) or with names.",
                    UserWarning, stacklevel=3)
            return frame, kind == "pandas"
        except pd.errors.EmptyDataError as exc:
            raise ValueError(f"{str(path)!r} is empty.") from exc
        except pd.errors.ParserError as exc:  # ragged rows and the like
            raise ValueError(f"{str(path)!r} is not a well-formed CSV file: {exc}".strip()) from exc
        except UnicodeDecodeError as exc:
            raise ValueError(f"{str(path)!r} is not a text CSV file ({exc.reason}).") from exc
    try:
        return pd.read_parquet(path), False
    except ImportError as exc:
        raise ValueError(
            f"Reading {str(path)!r} needs a parquet engine: pip install pyarrow."
        ) from exc
    except Exception as exc:  # pyarrow raises its own error types for damaged files
        raise ValueError(f"{str(path)!r} is not a readable parquet file: {exc}") from exc


def read_table(path, label_column: str | None = None):
    """``(X, y)`` from a data file: X float (n, d); y the label column's values, or None.

    For ``.npz`` files the array ``X`` (or the first one) is X and ``label_column`` names
    another array; CSV and parquet files need numeric columns apart from the label column.

    A CSV file's first line is a header of column names unless all its fields are numbers: then it
    is the first row of data, except for pandas' default names ``0,1,...,d-1`` (what
    ``pd.DataFrame(X).to_csv(index=False)`` writes), a header that names nothing, so X comes back
    without column names, as for a headerless file; but when every column holds integers such a
    line could as well be a row (of 0 / 1 data, say), and it is read as one, with a warning. A
    header of numbers such as wavelengths ``400,410,420`` is read as a row: give those columns
    text names. Empty lines ending the file are ignored; one inside it
    is a row of missing values, refused later rather than dropped (which would shift the rows).
    """
    path = _existing(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(
            f"{str(path)!r}: unsupported file type {suffix or '(none)'!r}; use one of "
            f"{', '.join(TABLE_SUFFIXES)}."
        )
    y = None
    if suffix in (".npy", ".npz"):
        if suffix == ".npy" and label_column is not None:
            raise ValueError(f"{str(path)!r}: a .npy file has no columns; --label-column needs "
                             ".npz, .csv or .parquet.")
        X, others = _load_numpy(path, suffix, exclude=label_column)
        if label_column is not None:
            if label_column not in others:
                raise ValueError(f"{str(path)!r} has no array {label_column!r} for the labels; "
                                 f"it has {sorted(others)}.")
            y = others[label_column]
    else:
        frame, pandas_header = _frame(path)
        if len(frame) == 0:
            raise ValueError(f"{str(path)!r} has no rows.")
        if label_column is not None:
            if label_column not in frame.columns:
                raise ValueError(f"{str(path)!r} has no column {label_column!r}; its columns are "
                                 f"{[str(c) for c in frame.columns][:20]}.")
            y = frame.pop(label_column).to_numpy()
        index_like = [str(c) for c in frame.columns if str(c).startswith("Unnamed: ")]
        if index_like:
            raise ValueError(
                f"{str(path)!r} has unnamed columns {index_like[:5]}, usually a saved row index "
                "(pandas' to_csv without index=False): clustering on it would be wrong. Drop it."
            )
        non_numeric = [str(c) for c, t in frame.dtypes.items() if t.kind not in "biuf"]
        if non_numeric:
            raise ValueError(
                f"{str(path)!r} has non-numeric columns {non_numeric[:10]}: deepclust clusters "
                "numeric features. Drop them, or name the label column with --label-column."
            )
        warn_label_like(path, frame.columns)
        # Columns keep their names, so a model fitted on them refuses reordered columns later.
        named = not pandas_header and all(isinstance(c, str) for c in frame.columns)
        X = frame.astype(np.float64) if named else frame.to_numpy()
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"{str(path)!r}: the labels {label_column!r} are {y.ndim}-D, not 1-D.")
        if _missing(y).any():
            raise ValueError(f"{str(path)!r}: the label column {label_column!r} has missing values.")
    if hasattr(X, "columns"):
        if X.shape[1] == 0:
            raise ValueError(f"{str(path)!r} has no feature columns.")
        return X, y
    if not isinstance(X, np.memmap):
        X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{str(path)!r} holds {X.dtype} values, not numbers.")
    if X.ndim != 2:
        raise ValueError(f"{str(path)!r} holds a {X.ndim}-D array; deepclust needs a 2-D table "
                         "(one row per sample).")
    if y is not None and len(y) != len(X):
        raise ValueError(f"{str(path)!r}: {len(y)} labels for {len(X)} rows.")
    if isinstance(X, np.memmap) and X.dtype in (np.float32, np.float64):
        return X, y  # stays on disk
    return X.astype(np.float64, copy=False), y


def _missing(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and v != v) for v in values], dtype=bool)
    return np.zeros(len(values), dtype=bool)


def read_labels(path, column: str | None = None) -> np.ndarray:
    """A 1-D array of labels from ``.npy``, or a column of a CSV file: ``column``, else
    ``cluster`` or ``label``, else the file's only column.

    The CSV file's first line is read as in ``read_table``: a header unless it is all numbers
    (``label`` is a header; ``0`` starts a headerless list of labels), and empty lines ending the
    file are ignored.
    """
    path = _existing(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if column is not None:
            raise ValueError(f"{str(path)!r}: a .npy file has no columns to choose from.")
        labels, _ = _load_numpy(path, suffix)
    elif suffix == ".csv":
        frame, _ = _frame(path)
        if frame.shape[1] == 0:
            raise ValueError(f"{str(path)!r} has no columns.")
        if column is None:
            named = [c for c in ("cluster", "label") if c in frame.columns]
            if named:
                column = named[0]
            elif frame.shape[1] == 1:
                column = frame.columns[0]
            else:
                raise ValueError(f"{str(path)!r} has several columns and none is 'cluster' or "
                                 "'label': name the one that holds the labels.")
        if column not in frame.columns:
            raise ValueError(f"{str(path)!r} has no column {column!r}.")
        labels = frame[column].to_numpy()
    else:
        raise ValueError(f"{str(path)!r}: labels are read from .npy or .csv files.")
    labels = np.array(labels)  # a copy, not a view of the memory-mapped file
    if labels.ndim != 1:
        raise ValueError(f"{str(path)!r} holds a {labels.ndim}-D array; labels are 1-D.")
    if _missing(labels).any():
        raise ValueError(f"{str(path)!r} has missing labels (empty cells or NaN).")
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise ValueError(f"{str(path)!r} holds fractional numbers, not labels.")
    return labels
