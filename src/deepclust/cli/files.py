"""The command line's files: reading a data file or folder and a model, and checking where the
outputs go before any work."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..data.atomic import atomic_file, check_writable


_INPUTS = "inputs.json"  # how a folder of images or text was read at fit time (also kept in model.pt)


def _read_data(data: str, label_column, inputs=None, image_size=None, model=None):
    """``(X, labels or None, inputs or None, files or None)`` of a data file, or of a folder of
    images or text (``files``: each row's file in the folder).

    ``model`` is the model file that ``predict`` or ``report`` apply (None for ``fit``) and
    ``inputs`` how it read a folder at fit time: a folder of images or text is refused when the
    model has no such record, as features read afresh from it (a new vocabulary, new image
    settings) would not be the model's.
    """
    if not Path(data).exists():
        raise FileNotFoundError(f"{data!r} does not exist.")
    if Path(data).is_dir() and _is_shard_folder(Path(data)):
        from ..data.readers import warn_label_like
        from ..data.shards import ShardedArray, feature_columns, read_parquet_column, shard_files

        if inputs is not None:
            raise ValueError(f"The model was fitted on a folder of {inputs['kind']}; give such a folder, "
                             f"not the shards in {data!r}.")
        if image_size is not None:
            raise ValueError(f"--image-size applies to a folder of images, not to the shards in {data!r}.")
        if label_column is None:
            X = ShardedArray(data)
            warn_label_like(data, X.columns or ())
            return X, None, None, None
        files = shard_files(Path(data))
        if any(p.suffix.lower() != ".parquet" for p in files):
            raise ValueError(f"--label-column needs parquet shards (columns with names); {data!r} holds .npy "
                             "shards. Save the labels apart and leave them out of the shards.")
        y = read_parquet_column(files, label_column)  # checks every shard has it, before converting any
        return ShardedArray(files, columns=feature_columns(files[0], exclude=(label_column,))), y, None, None
    if Path(data).is_dir():
        from ..data.folders import read_folder

        if label_column is not None:
            raise ValueError(f"--label-column does not apply to a folder ({data}): the labels of "
                             "a folder's files are the names of the subfolders holding them.")
        if model is not None and inputs is None:
            from ..data.folders import folder_kind

            raise ValueError(
                f"{str(model)!r} has no record of how a folder was read at fit time, so the folder of "
                f"{folder_kind(data)} {data!r} cannot be read into its features: it was fitted on a table "
                f"(give a data file with its features), or it is a model.pt of an older deepclust "
                f"separated from the {_INPUTS} written beside it (keep {_INPUTS} beside model.pt and pass "
                "the model's directory).")
        return read_folder(data, inputs, image_size=image_size, return_files=True)
    if inputs is not None:
        raise ValueError(f"The model was fitted on a folder of {inputs['kind']}; give such a folder, "
                         f"not the file {data!r}.")
    if image_size is not None:
        raise ValueError(f"--image-size applies to a folder of images, not to the file {data!r}.")
    from ..data.readers import read_table

    X, y = read_table(data, label_column)
    return X, y, None, None


def _is_shard_folder(folder: Path) -> bool:
    """A folder whose entries are .npy or .parquet files only: shards of one table, read memory-mapped
    (parquet ones through a converted copy, see ShardedArray)."""
    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "_"))]  # Spark's _SUCCESS etc.
    return bool(entries) and all(p.is_file() and p.suffix.lower() in (".npy", ".parquet") for p in entries)


def _load_model(model: str, device):
    """``(estimator, inputs or None)``: the model, and how it read a folder at fit time.

    A model file written since deepclust kept this record in it carries it; an older one has it
    only in the ``inputs.json`` beside it (checked, and checked against the model's features).
    """
    import json

    from ..data.folders import check_inputs
    from ..io import load_model

    dec, inputs = load_model(_model_path(model), device=device)
    if inputs is not None:
        return dec, inputs
    path = _model_path(model).parent / _INPUTS
    if not path.is_file():
        return dec, None
    try:
        inputs = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise ValueError(f"{str(path)!r} is damaged: {exc}. Fit the model again to rewrite it.") from exc
    return dec, check_inputs(inputs, repr(str(path)), dec.n_features_in_)


@contextlib.contextmanager
def _output_dir(out: Path):
    """Make ``out`` (with its parents) and check a file can be written in it, before any work is
    done; if the block then fails, remove the folders made here again when they are still empty."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file; give a directory for the model.")
    made = []  # the folders this call creates, outermost first
    for folder in (out, *out.parents):
        if folder.exists():
            break
        made.insert(0, folder)
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
            check_writable(out)
        except OSError as exc:
            raise OSError(f"--out {str(out)!r} cannot hold the model: {exc}. Give a directory you can "
                          "write to.") from exc
        yield out
    except BaseException:
        for folder in reversed(made):
            try:
                folder.rmdir()  # only when empty: a checkpoint or anything else written there stays
            except OSError:
                break
        raise


def _write_text(path: Path, text: str) -> None:
    """Write ``path`` atomically: like model.pt, it needs only the folder to be writable (checked
    before the fit), not an old file of that name."""
    with atomic_file(path) as fh:
        fh.write(text.encode())


def _model_path(model: str) -> Path:
    path = Path(model)
    return path / "model.pt" if path.is_dir() else path


def _check_out(out: Path, data: str, model: str) -> None:
    """Refuse an output file that would overwrite the data, the model or its records, or land
    inside the data folder; and check, before any work, that it can be written."""
    model_file = _model_path(model)
    for source in (Path(data), model_file, model_file.parent / "fit.json", model_file.parent / _INPUTS):
        if out.resolve() == source.resolve():
            raise ValueError(f"--out {str(out)!r} would overwrite {str(source)!r}; choose another file.")
    _outside_data(out, data, "--out")
    if out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a folder; give a file name.")
    _writable_file(out, "--out")


def _outside_data(out: Path, data: str, option: str) -> None:
    """Refuse ``out`` at or anywhere under the data folder: it would become part of the data
    (making the folder unreadable as one kind), or overwrite one of its files."""
    folder = Path(data).resolve()
    if Path(data).is_dir() and (out.resolve() == folder or folder in out.resolve().parents):
        raise ValueError(f"{option} {str(out)!r} is inside the data folder {data!r} (it would become part of "
                         "the data, or overwrite one of its files); write it elsewhere.")


def _writable_file(path: Path, option: str) -> None:
    """Check, before the work that produces it, that ``path``'s folder exists and takes a file."""
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"{option} {str(path)!r}: the folder {str(folder)!r} does not exist; create it first.")
    try:
        check_writable(folder)
    except OSError as exc:
        raise OSError(f"{option} {str(path)!r} cannot be written: {exc}.") from exc


def _is_table(data: str) -> bool:
    from ..data.tables import TABLE_SUFFIXES

    return Path(data).is_file() and Path(data).suffix.lower() in TABLE_SUFFIXES


def _read_input(data: str, label_column, inputs=None, image_size=None, model=None, args=None):
    """``_read_data``, with a table (CSV or parquet) read through ``deepclust.data.tables``:
    ``(X, y, inputs, files, ids, rows, notes)``; ``ids`` the ID column's values (or None), ``rows``
    the file's rows kept (None for all), ``notes`` lines saying what was done to the table.

    ``fit`` (``model`` None) reads a table as its options say (``--scale``, ``--id-column``,
    ``--drop-columns``, ``--dropna``, ``--sep``) and returns the record of it as ``inputs``;
    ``predict`` and ``report`` read one as the model's table record says. A model without such a
    record (an array file, or an older deepclust) reads tables as before."""
    from ..data.tables import read_table_for_fit, read_table_for_model

    sep, dropna = getattr(args, "sep", None), getattr(args, "dropna", False)
    sep = {"\\t": "\t", "tab": "\t"}.get(sep, sep)  # what a shell passes for a tab
    if model is None:
        options = {"id_column": getattr(args, "id_column", None), "drop_columns": getattr(args, "drop_columns", None),
                   "scale": getattr(args, "scale", "auto")}
        if _is_table(data):
            if image_size is not None:
                raise ValueError(f"--image-size applies to a folder of images, not to the file {data!r}.")
            X, y, ids, rows, record, notes = read_table_for_fit(data, label_column=label_column, dropna=dropna,
                                                                sep=sep, **options)
            return X, y, record, None, ids, rows, notes
        given = [flag for flag, on in (("--id-column", options["id_column"] is not None),
                                       ("--drop-columns", bool(options["drop_columns"])),
                                       (f"--scale {options['scale']}", options["scale"] in ("standard", "minmax")),
                                       ("--dropna", dropna), ("--sep", sep is not None)) if on]
        if given:
            raise ValueError(f"{', '.join(given)}: for a .csv or .parquet table only, not {data!r}.")
    elif inputs is not None and inputs.get("kind") == "table":
        if not _is_table(data):  # an array file: its columns are the table's, in their order
            from ..data.tables import by_position

            X, y, _, files = _read_data(data, label_column, None, image_size=image_size)
            return by_position(X, inputs), y, inputs, files, None, None, []
        X, y, ids, rows = read_table_for_model(data, inputs, label_column=label_column, dropna=dropna, sep=sep)
        return X, y, inputs, None, ids, rows, []
    X, y, inputs, files = _read_data(data, label_column, inputs, image_size=image_size, model=model)
    return X, y, inputs, files, None, None, []


def _add_table_args(parser, fit: bool = False) -> None:
    """The options of a table (a .csv or .parquet file); ``fit``'s are recorded in the model, which
    ``predict`` and ``report`` then apply (the same columns by name, the same scaling)."""
    if fit:
        parser.add_argument("--scale", choices=["auto", "standard", "minmax", "none"], default="auto",
                            help="scaling of a table's feature columns, recorded in the model (default auto: "
                                 "standardise them when the largest column standard deviation is over 10 "
                                 "times the median one, i.e. columns in different units; else keep them)")
        parser.add_argument("--id-column", default=None, metavar="COL",
                            help="a column naming the rows (numbers or text): kept out of the fit; predict "
                                 "writes it beside each row's cluster")
        parser.add_argument("--drop-columns", nargs="+", default=None, metavar="COL",
                            help="columns of a table to leave out of the fit")
    parser.add_argument("--dropna", action="store_true",
                        help="leave out the rows of a table with missing values (saying how many) instead "
                             "of stopping at them")
    parser.add_argument("--sep", default=None, metavar="SEP",
                        help="a CSV file's field separator (default: detected among ',', ';' and tab)")
