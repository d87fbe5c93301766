"""The command line's tables (CSV and parquet files): which columns are features, how they are
scaled, and the record of it kept in the model so that ``predict`` and ``report`` read a table
exactly as ``fit`` did.

``fit`` reads a table, keeps the label column, an ID column (``--id-column``) and any
``--drop-columns`` out of the features, and scales the features (``--scale``):

* ``standard``: each column minus its mean, over its standard deviation (a constant column is
  only centred), as scikit-learn's ``StandardScaler``;
* ``minmax``: each column minus its minimum, over its range (a constant column is only shifted);
* ``none``: the values as they are;
* ``auto`` (the default): ``standard`` when the columns' scales differ, else ``none``. They differ
  when the largest column standard deviation is more than :data:`SCALE_RATIO` (10) times the
  median one (constant columns left out): such a column adds over 100 times a typical column's
  share to the squared distances the clustering uses, so it alone decides the clusters unless the
  table has hundreds of columns. Columns in one unit (pixels, counts of one kind, ratios) stay
  within that and keep their relative weights, which carry meaning there. The median is used, not
  the smallest, so that near-constant columns (an image's border pixels) do not count as another
  scale; a table whose columns split into two equal groups of very different scales can have its
  median in the larger group and is then kept as it is: give ``--scale standard``.

The record (a JSON object whose ``kind`` is ``"table"``) holds the feature columns by name, the
scaling and its numbers (``mean`` / ``std`` or ``min`` / ``max``), the ID column and the dropped
columns; :func:`check_record` checks one read back from a model file.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["SCALE_RATIO", "SCALINGS", "check_record", "read_table_for_fit", "read_table_for_model"]

SCALINGS = ("auto", "standard", "minmax", "none")
SCALE_RATIO = 10.0
TABLE_SUFFIXES = (".csv", ".parquet")


def _name(column) -> str:
    return repr(column) if isinstance(column, str) else f"{column} (counted from 0)"


def _load(path, sep, label_column, dropna):
    """``(frame, named, y, notes)``: the table with its label column taken out."""
    from .readers import _existing, _frame, _missing

    path = _existing(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ValueError(f"{str(path)!r}: --id-column, --drop-columns and --scale other than 'auto' or "
                         "'none' apply to a .csv or .parquet table (columns with names).")
    frame, pandas_header = _frame(path, sep)
    if len(frame) == 0:
        raise ValueError(f"{str(path)!r} has no rows.")
    named = not pandas_header and all(isinstance(c, str) for c in frame.columns)
    y = None
    if label_column is not None:
        if label_column not in frame.columns:
            raise ValueError(f"{str(path)!r} has no column {label_column!r}; its columns are "
                             f"{[str(c) for c in frame.columns][:20]}.")
        y = frame.pop(label_column).to_numpy()
        if _missing(y).any() and not dropna:
            raise ValueError(f"{str(path)!r}: the label column {label_column!r} has missing values.")
    return path, frame, named, y


def _columns(path, frame, names, what) -> list:
    """``names`` as the frame's columns (a headerless table's columns are numbers: "2" names column
    2), or a ValueError naming those it lacks."""
    names = [int(c) if c not in frame.columns and str(c).isdigit() and int(c) in frame.columns else c
             for c in names]
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise ValueError(f"{str(path)!r} has no column {', '.join(_name(c) for c in missing[:5])} "
                         f"({what}); its columns are {[str(c) for c in frame.columns][:20]}.")
    return names


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def _id_like(series) -> bool:
    """Unique integers in sequence (0..n-1, 1..n, any start, any order), or unique text."""
    values = series.to_numpy()
    if len(values) < 3 or series.isna().any():
        return False
    if values.dtype.kind in "iu":
        return len(np.unique(values)) == len(values) and int(values.max()) - int(values.min()) == len(values) - 1
    if values.dtype.kind not in "biuf":
        return series.nunique() == len(values)
    return False


def _features(path, frame, dropna, also=None):
    """The feature columns as float64 (n, d), the rows kept, and a note on dropped rows; ``also``
    marks more rows with a missing value (a label or an ID) that ``dropna`` leaves out too."""
    non_numeric = [c for c, t in frame.dtypes.items() if t.kind not in "biuf"]
    if non_numeric:
        ids = [c for c in non_numeric if _id_like(frame[c])]
        hint = (f" {_name(ids[0])} holds a different text in every row, like an ID: pass --id-column "
                f"{ids[0]} to keep it out of the fit (predict then writes it beside each row's cluster)."
                if ids else " Drop them with --drop-columns, or name the label column with --label-column.")
        raise ValueError(f"{str(path)!r} has non-numeric columns {[str(c) for c in non_numeric[:10]]}: "
                         f"deepclust clusters numeric features.{hint}")
    X = frame.to_numpy(dtype=np.float64)
    bad = np.isnan(X)
    if also is not None:
        bad = np.column_stack([bad, also])
    rows = np.arange(len(X))
    note = None
    if bad.any():
        bad_rows = np.flatnonzero(bad.any(axis=1))
        if not dropna:
            cells = [f"row {r} column {_name(frame.columns[int(np.flatnonzero(bad[r])[0])])}"
                     for r in bad_rows[:3]]
            raise ValueError(f"{str(path)!r} has missing values (empty cells or NaN) in {len(bad_rows)} "
                             f"row(s), first {', '.join(cells)} (rows counted from 0 after the header): "
                             "fill them in, or pass --dropna to leave those rows out.")
        keep = ~bad.any(axis=1)
        if not keep.any():
            raise ValueError(f"{str(path)!r}: every row has a missing value; --dropna would leave none.")
        X, rows = X[keep], rows[keep]
        note = f"--dropna: left out {len(bad_rows)} row(s) with missing values, kept {len(rows)}"
    return X, rows, note


def read_table_for_fit(path, *, label_column=None, id_column=None, drop_columns=(), scale="auto",
                       dropna=False, sep=None):
    """``(X, y, ids, rows, record, notes)`` of a table for ``fit``.

    ``X`` is a frame of the scaled features when the columns have names (so the estimator keeps
    them as ``feature_names_in_``), else an array; ``ids`` the ID column's values (or None);
    ``rows`` the rows of the file kept (all, unless ``dropna``); ``record`` what :func:`apply`
    needs to read another table the same way; ``notes`` lines saying what was done.
    """
    import pandas as pd

    from .readers import _missing

    path, frame, named, y = _load(path, sep, label_column, dropna)
    ids = None
    if id_column is not None:
        (id_column,) = _columns(path, frame, [id_column], "--id-column")
        ids = frame.pop(id_column)
        if ids.isna().any() and not dropna:
            raise ValueError(f"{str(path)!r}: the ID column {_name(id_column)} has missing values in "
                             f"{int(ids.isna().sum())} row(s); fill them in, or pass --dropna to leave those "
                             "rows out.")
    drop = _columns(path, frame, list(drop_columns or ()), "--drop-columns")
    frame = frame.drop(columns=drop)
    if frame.shape[1] == 0:
        raise ValueError(f"{str(path)!r} has no feature columns left.")
    index_like = [str(c) for c in frame.columns if str(c).startswith("Unnamed: ")]
    if index_like:
        raise ValueError(f"{str(path)!r} has unnamed columns {index_like[:5]}, usually a saved row index "
                         "(pandas' to_csv without index=False): clustering on it would be wrong. Drop it "
                         "(--drop-columns), or name it with --id-column.")
    from .readers import warn_label_like

    warn_label_like(path, frame.columns)
    for column in frame.columns:
        if frame[column].dtype.kind in "iu" and _id_like(frame[column]):  # text ones are refused below
            warnings.warn(f"{str(path)!r}: column {_name(column)} holds unique integers in sequence, like a "
                          f"row ID, and is used as a feature; pass --id-column {column} (or --drop-columns) "
                          "to keep it out of the fit.", UserWarning, stacklevel=2)
    columns = list(frame.columns)
    also = None  # rows whose label or ID is missing: --dropna leaves them out too
    if dropna and (y is not None or ids is not None):
        also = np.zeros(len(frame), dtype=bool)
        also |= _missing(y) if y is not None else also
        also |= ids.isna().to_numpy() if ids is not None else also
    X, rows, note = _features(path, frame, dropna, also)
    notes = [note] if note else []
    if y is not None:
        y = y[rows]
        if _missing(y).any():
            raise ValueError(f"{str(path)!r}: the label column {label_column!r} has missing values.")
    if ids is not None:
        ids = ids.to_numpy()[rows]
    record = {"kind": "table", "columns": [c if isinstance(c, str) else int(c) for c in columns],
              "named": bool(named), "id_column": id_column, "drop_columns": drop, "scale": "none"}
    std = X.std(axis=0)
    positive = std[std > 0]
    ratio = float(positive.max() / np.median(positive)) if positive.size >= 2 else 1.0
    chosen = scale
    if scale == "auto":
        chosen = "standard" if ratio > SCALE_RATIO else "none"
    if chosen == "standard":
        record.update(scale="standard", mean=X.mean(axis=0).tolist(), std=std.tolist())
    elif chosen == "minmax":
        record.update(scale="minmax", min=X.min(axis=0).tolist(), max=X.max(axis=0).tolist())
    largest = f"the largest standard deviation ({_name(columns[int(np.argmax(std))])}) is {_times(ratio)} the median"
    if scale == "auto" and chosen == "standard":
        notes.append(f"--scale auto: standardised {len(columns)} columns (their scales differ: {largest}, "
                     f"over {SCALE_RATIO:g}x)")
    elif scale == "auto":
        notes.append(f"--scale auto: kept {len(columns)} columns as they are ({largest}, within {SCALE_RATIO:g}x)")
    elif chosen != "none":
        notes.append(f"--scale {chosen}: scaled {len(columns)} columns")
    X = _scaled(X, record)
    if named:
        X = pd.DataFrame(X, columns=columns)
    return X, y, ids, rows, record, notes


def read_table_for_model(path, record, *, label_column=None, dropna=False, sep=None):
    """``(X, y, ids, rows)`` of a table read as the model's ``record`` says: its feature columns
    by name (other columns ignored), scaled with the fit's numbers; ``ids`` the ID column's values
    when the table has it, else None."""
    import pandas as pd

    path, frame, named, y = _load(path, sep, label_column, dropna)
    columns = record["columns"]
    if record["named"] and not named:  # a headerless table: its columns in the fit's order
        if frame.shape[1] != len(columns):
            raise ValueError(f"{str(path)!r} has no header of column names and {frame.shape[1]} columns, but the "
                             f"model was fitted on the {len(columns)} columns {columns[:10]}; give a table with them.")
        X, rows, _ = _features(path, frame, dropna)
        return by_position(X, record), (None if y is None else y[rows]), None, rows
    _columns(path, frame, columns, "the model was fitted on it")
    id_column = record.get("id_column")
    ids = frame[id_column] if id_column is not None and id_column in frame.columns else None
    X, rows, _ = _features(path, frame[columns], dropna)
    if y is not None:
        y = y[rows]
    if ids is not None:
        ids = ids.to_numpy()[rows]
    X = _scaled(X, record)
    if record["named"]:
        X = pd.DataFrame(X, columns=columns)
    return X, y, ids, rows


def by_position(X, record):
    """An array's columns taken as the record's, in its order, and scaled as it says (the estimator
    then warns that X has no feature names, when the fit's had them)."""
    if X.shape[1] != len(record["columns"]):
        return X  # the estimator says how many features it takes
    if hasattr(X, "toarray"):
        X = X.toarray()
    return _scaled(np.asarray(X, dtype=np.float64), record)


def _scaled(X, record):
    if record["scale"] == "standard":
        std = np.asarray(record["std"], dtype=np.float64)
        return (X - np.asarray(record["mean"], dtype=np.float64)) / np.where(std > 0, std, 1.0)
    if record["scale"] == "minmax":
        low = np.asarray(record["min"], dtype=np.float64)
        span = np.asarray(record["max"], dtype=np.float64) - low
        return (X - low) / np.where(span > 0, span, 1.0)
    return X


def describe_record(record: dict) -> str:
    """What a table record does, in a few words (for fit.json and messages)."""
    kept = [f"id column {record['id_column']!r}"] if record.get("id_column") is not None else []
    if record.get("drop_columns"):
        kept.append(f"dropped {record['drop_columns']}")
    return ", ".join([f"{len(record['columns'])} columns, scaling {record['scale']}", *kept])


def check_record(record, damaged, n_features=None, mismatch=""):
    """Check a table record read back from a model file; ``damaged(what)`` makes the error."""
    columns = record.get("columns")
    if not isinstance(columns, list) or not columns or not all(
            isinstance(c, str) or (isinstance(c, int) and not isinstance(c, bool)) for c in columns):
        raise damaged("columns is not a non-empty list of column names")
    if len(set(columns)) != len(columns):
        raise damaged("columns repeats names")
    if not isinstance(record.get("named"), bool):
        raise damaged("named is not true or false")
    if record.get("id_column") is not None and not isinstance(record["id_column"], (str, int)):
        raise damaged("id_column is not a column name or null")
    if not isinstance(record.get("drop_columns"), list):
        raise damaged("drop_columns is not a list")
    scale = record.get("scale")
    keys = {"standard": ("mean", "std"), "minmax": ("min", "max"), "none": ()}
    if scale not in keys:
        raise damaged(f'scale is {scale!r}, not "standard", "minmax" or "none"')
    for key in keys[scale]:
        values = record.get(key)
        if not isinstance(values, list) or len(values) != len(columns) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values):
            raise damaged(f"{key} is not a list of {len(columns)} finite numbers, one for each column")
    if scale == "standard" and min(record["std"]) < 0:
        raise damaged("std holds negative values")
    if scale == "minmax" and any(hi < lo for lo, hi in zip(record["min"], record["max"], strict=True)):
        raise damaged("max is below min for some column")
    if n_features is not None and len(columns) != n_features:
        raise ValueError(f"the table record names {len(columns)} columns, but the model takes {n_features}: "
                         f"{mismatch}.")
    return record


def frame_column_error(X):
    """A ValueError naming the first column of a data frame ``X`` that does not hold numbers, or
    None (``X`` is not a frame, or every column converts to float)."""
    if not (hasattr(X, "columns") and hasattr(X, "dtypes")):
        return None
    for column in X.columns:
        try:
            np.asarray(X[column], dtype=np.float64)
        except (ValueError, TypeError) as exc:
            return ValueError(f"Column {column!r} of X does not hold numbers ({exc}); drop it, or encode it "
                              "as numbers first.")
    return None
