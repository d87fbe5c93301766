"""The ``deepclust`` command line (also ``python -m deepclust``).

``deepclust demo`` runs DEC on scikit-learn's digits (shipped with the
install, no network needed), prints ACC / NMI / ARI beside k-means on the
raw pixels and writes an HTML report. ``deepclust fit`` clusters a data file
(or a folder of images or text files) and saves the model, ``deepclust
predict`` assigns new data to a saved model's clusters, ``deepclust
evaluate`` compares labels with the truth and ``deepclust report`` writes a
self-contained HTML report of a model on some data.
A user mistake ends with one line on stderr and exit status 1 (2 for a
usage error), never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import logging
import math
import sys
import time
import warnings
from pathlib import Path

from .data.atomic import atomic_file, check_writable


def _demo(args) -> int:
    from sklearn.cluster import KMeans

    from . import DEC, __version__
    from .datasets import load_digits
    from .metrics import (
        adjusted_rand_score,
        cluster_accuracy,
        normalized_mutual_info_score,
    )

    if args.report is not None:
        _writable_file(Path(args.report), "--report")  # before the fit, not after it
    X, y = load_digits()
    print(f"deepclust {__version__}: DEC on scikit-learn's digits ({X.shape[0]} images, "
          f"{X.shape[1]} features, 10 classes; labels used for evaluation only)")

    def report(name, labels, seconds):
        print(f"{name:<22} ACC {cluster_accuracy(y, labels):.3f}  "
              f"NMI {normalized_mutual_info_score(y, labels):.3f}  "
              f"ARI {adjusted_rand_score(y, labels):.3f}  ({seconds:.1f} s)", flush=True)

    start = time.perf_counter()
    km = KMeans(10, n_init=20, random_state=args.seed).fit(X)
    report("k-means on raw pixels", km.labels_, time.perf_counter() - start)
    start = time.perf_counter()
    overrides = {} if args.max_iter is None else {"max_iter": args.max_iter}
    if args.pretrain_iter is not None:
        overrides.update(layerwise_iter=args.pretrain_iter, finetune_iter=2 * args.pretrain_iter)
    if args.checkpoint_dir is not None:
        overrides["checkpoint_dir"] = args.checkpoint_dir
    dec = DEC(n_clusters=10, random_state=args.seed, verbose=args.verbose,
              snapshot_size=args.snapshots, **overrides).fit(X)
    report("DEC", dec.labels_, time.perf_counter() - start)
    print(f"DEC: {dec.n_iter_} clustering iterations, {len(dec.history_) - 1} target updates, "
          f"device {dec.device_}, precision {dec.precision_}")
    if args.report is None:
        return 0
    try:
        from .report import write_report

        start = time.perf_counter()
        path = write_report(dec, X, args.report, y=y, image_shape=(8, 8),
                            data_name="scikit-learn's digits (labels for evaluation only)")
    except ImportError as exc:
        print(f"no report: {exc}")
        return 0
    print(f"report written to {Path(path).resolve()} ({time.perf_counter() - start:.1f} s)")
    return 0


def _print_scores(y, labels) -> None:
    from .metrics import (
        adjusted_rand_score,
        cluster_accuracy,
        normalized_mutual_info_score,
    )

    print(f"ACC {cluster_accuracy(y, labels):.4f}  NMI {normalized_mutual_info_score(y, labels):.4f}  "
          f"ARI {adjusted_rand_score(y, labels):.4f}")


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
        from .data.readers import warn_label_like
        from .data.shards import ShardedArray, feature_columns, read_parquet_column, shard_files

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
        from .data.folders import read_folder

        if label_column is not None:
            raise ValueError(f"--label-column does not apply to a folder ({data}): the labels of "
                             "a folder's files are the names of the subfolders holding them.")
        if model is not None and inputs is None:
            from .data.folders import folder_kind

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
    from .data.readers import read_table

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

    from .data.folders import check_inputs
    from .io import load_model

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


def _fit(args) -> int:
    _outside_data(Path(args.out), args.data, "--out")  # a model folder inside the data would join it
    with _output_dir(Path(args.out)) as out:  # checked before reading the data or training
        return _fit_into(args, out)


def _fit_into(args, out: Path) -> int:
    import json

    import numpy as np

    from . import registry
    from .data.folders import describe
    from .io import save_model

    cls = registry.get(args.method)
    X, y, inputs, _ = _read_data(args.data, args.label_column, image_size=args.image_size)
    verbose = sys.stderr.isatty() if args.verbose is None else args.verbose
    takes = set(cls._get_param_names())
    params = {"n_clusters": args.n_clusters, "random_state": args.seed, "verbose": verbose,
              "device": args.device, "precision": args.precision}
    if "snapshot_size" in takes:
        params["snapshot_size"] = args.snapshots
    for option, name, value in (("--pretrain", "pretrain", args.pretrain), ("--max-iter", "max_iter", args.max_iter),
                                ("--checkpoint-dir", "checkpoint_dir", args.checkpoint_dir)):
        if value is None:
            continue
        if name not in takes:
            raise ValueError(f"{option}: {args.method} has no {name} parameter; leave the option out.")
        params[name] = value
    params.update(_estimator_params(args.param, cls, params))
    shape = inputs.get("image_shape") if inputs and inputs.get("kind") == "images" else None
    if shape is not None and "image_shape" in takes and "image_shape" not in params:
        if len(shape) == 3 and shape[-1] != 1:
            raise ValueError(f"{args.method} takes images as rows flattened channels first, and a folder of "
                             f"colour images is read channels last; convert them to grey, or use DEC.")
        params["image_shape"] = (1, int(shape[0]), int(shape[1]))  # one channel: the same order
    start = time.perf_counter()
    dec = cls(**params).fit(X)
    seconds = time.perf_counter() - start
    save_model(dec, out / "model.pt", inputs=inputs)  # a lone model.pt still reads a folder the same way
    if inputs is not None:  # also beside it, for an older deepclust and for people
        _write_text(out / _INPUTS, json.dumps(inputs) + "\n")
    elif (out / _INPUTS).exists():  # left by an earlier fit on a folder
        (out / _INPUTS).unlink()
    sizes = [int(c) for c in np.bincount(dec.labels_, minlength=args.n_clusters)]
    summary = {"data": str(args.data), "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
               "method": args.method, "n_clusters": args.n_clusters, "cluster_sizes": sizes,
               "n_iter": getattr(dec, "n_iter_", None),
               "seconds": round(seconds, 2)}
    _write_text(out / "fit.json", json.dumps(summary, indent=1) + "\n")
    print(f"{args.method} clustered {describe(inputs, X.shape[0])} ({X.shape[1]} features) into "
          f"{args.n_clusters} clusters in {seconds:.1f} s; model saved to {out / 'model.pt'}")
    print("cluster sizes: " + " ".join(str(c) for c in sizes))
    if y is not None:
        what = repr(args.label_column) if args.label_column else "the subfolder names"
        print(f"against {what} (evaluation only): ", end="")
        _print_scores(y, dec.labels_)
    return 0


def _estimator_params(assignments, estimator, taken, flags=None) -> dict:
    """``--param NAME=VALUE`` options as estimator parameters; VALUE is a Python literal
    (read with ``ast.literal_eval``, which evaluates nothing else) or else a string. A name in
    ``taken`` is refused, naming the option that sets it (``flags`` overrides the usual names).
    ``estimator`` is a class or a tuple of classes: NAME must be a parameter of one of them."""
    import ast

    estimators = estimator if isinstance(estimator, tuple) else (estimator,)
    own_names = {e: e().get_params() for e in estimators}  # each estimator's parameters and defaults
    defaults = {name: v for names in own_names.values() for name, v in names.items()}
    options = {"checkpoint_dir": "set it with --checkpoint-dir (fit and demo)", "verbose": "set it with --verbose",
               "autoencoder": "a network cannot be given on the command line"}
    known = set(defaults) - set(options)
    params = {}
    for item in assignments or ():
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ValueError(f"--param {item!r}: write NAME=VALUE, e.g. --param batch_size=128.")
        if name in options:
            raise ValueError(f"--param {name}: {options[name]}.")
        if name not in known:
            raise ValueError(f"--param {name}: {' / '.join(e.__name__ for e in estimators)} "
                             f"{'has' if len(estimators) == 1 else 'have'} no such parameter; "
                             f"{'it has' if len(estimators) == 1 else 'they have'} {', '.join(sorted(known))}.")
        if name in taken:
            flag = {"n_clusters": "--n-clusters", "random_state": "--seed", "snapshot_size": "--snapshots",
                    **(flags or {})}.get(name, f"--{name.replace('_', '-')}")
            if not flag.startswith("--"):  # not set by an option: why it is taken
                raise ValueError(f"--param {name}: {flag}; leave it out.")
            raise ValueError(f"--param {name}: set it with {flag} instead.")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        if isinstance(value, bool) and not isinstance(defaults[name], bool):
            raise ValueError(f"--param {name}={text.strip()}: {name} is not a switch (its default is "
                             f"{defaults[name]!r}); give a value of that kind.")
        params[name] = value
    # Each estimator checks the values it takes now, not only if a run reaches a fit of it.
    for e, names in own_names.items():
        e(**{name: v for name, v in params.items() if name in names})._validate_params()
    return params


def _model_path(model: str) -> Path:
    path = Path(model)
    return path / "model.pt" if path.is_dir() else path


def _predict(args) -> int:
    import numpy as np

    out = Path(args.out)
    _check_out(out, args.data, args.model)
    dec, inputs = _load_model(args.model, args.device)
    X, _, _, files = _read_data(args.data, args.label_column, inputs, model=_model_path(args.model))
    from .plotting import soft_assignments

    q = soft_assignments(dec, X)
    labels, confidence = q.argmax(axis=1), q.max(axis=1)
    text = io.StringIO()  # a folder's rows are its files: each is named
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["row", "cluster", "confidence"] + (["file"] if files else []))
    for i, (c, p) in enumerate(zip(labels, confidence, strict=True)):
        writer.writerow([i, int(c), f"{float(p):.6f}"] + ([files[i]] if files else []))
    _write_text(out, text.getvalue())  # atomically: an existing file is replaced only when complete
    counts = np.bincount(labels, minlength=q.shape[1])
    print(f"assigned {len(labels)} rows to {q.shape[1]} clusters; labels written to {out}")
    print("cluster sizes: " + " ".join(str(int(c)) for c in counts))
    return 0


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


def _report(args) -> int:
    from .data.folders import image_shape_of, terms_of

    out = Path(args.out)
    _check_out(out, args.data, args.model)
    dec, inputs = _load_model(args.model, args.device)
    X, y, _, _ = _read_data(args.data, args.label_column, inputs, model=_model_path(args.model))
    image_shape = tuple(args.image_shape) if args.image_shape else image_shape_of(inputs)
    if image_shape is not None and (len(image_shape) not in (2, 3) or
                                    math.prod(image_shape) != dec.n_features_in_):
        raise ValueError(f"--image-shape {' '.join(map(str, image_shape))} does not lay out the "
                         f"model's {dec.n_features_in_} features; give HEIGHT WIDTH [CHANNELS] whose "
                         "product is that.")
    from .report import write_report

    start = time.perf_counter()
    path = write_report(dec, X, out, y=y, image_shape=image_shape, terms=terms_of(inputs),
                        data_name=str(args.data))
    print(f"report written to {path.resolve()} ({time.perf_counter() - start:.1f} s)")
    return 0


def _evaluate(args) -> int:
    from .data.readers import read_labels

    labels = read_labels(args.labels, args.labels_column)
    truth = read_labels(args.truth, args.truth_column)
    if len(labels) != len(truth):
        raise ValueError(f"{len(labels)} labels in {args.labels} but {len(truth)} in {args.truth}.")
    _print_scores(truth, labels)
    return 0


# The datasets of ``deepclust experiment``: name -> loader in deepclust.datasets.
EXPERIMENT_DATASETS = {"digits": "load_digits", "fashion-mnist": "load_fashion_mnist", "mnist": "load_mnist",
                       "usps": "load_usps", "reuters10k": "load_reuters10k", "reuters": "load_reuters",
                       "stl10": "load_stl10_hog"}


def _experiment(args) -> int:
    from . import datasets, experiments
    from .data.download import DownloadError
    from .methods.dec import DEC

    # every experiment sets these for each fit (k is the number of classes of the labels)
    taken = {"random_state", "snapshot_size", "n_clusters", "device"}
    flags = {"random_state": "--seeds", "n_clusters": "the experiments fit as many clusters as the labels "
             "have classes"}
    if args.kind == "select-k":  # select_n_clusters sets these for every fit
        taken |= {"tol"}
        flags.update(n_clusters="--candidates",
                     tol="select-k trains every k for max_iter iterations, with tol 0 (set --param max_iter "
                         "for the time you have)")
    # table2 / table4 give each listed method its own settings; the other experiments fit DEC only
    estimators = (tuple(experiments.method_estimators(args.methods or ()))
                  if args.kind in ("table2", "table4") else DEC)
    params = _estimator_params(args.param, estimators, taken, flags)
    if args.precision is not None:
        params["precision"] = args.precision
    out = Path(args.out)
    if out.exists() and not out.is_dir():  # before the experiments run, not after
        raise ValueError(f"--out {str(out)!r} is a file; give a folder for the tables and figures.")
    common = {"seeds": args.seeds, "dec_params": params, "device": args.device, "verbose": args.verbose}
    if args.kind == "table2":
        run = lambda X, y, log: experiments.compare_methods(  # noqa: E731
            X, y, methods=args.methods or experiments.TABLE2_METHODS, log=log, **common)
    elif args.kind == "table4":
        run = lambda X, y, log: experiments.imbalance_study(  # noqa: E731
            X, y, r_mins=args.r_mins, methods=args.methods or ("k-means", "AE + k-means", "DEC"), log=log,
            **common)
    elif args.kind == "robustness":
        values = [_literal(v) for v in args.values]
        run = lambda X, y, log: experiments.robustness_sweep(  # noqa: E731
            X, y, param=args.sweep, values=values, log=log, **common)
    elif args.kind == "select-k":
        run = lambda X, y, log: experiments.generalizability_study(  # noqa: E731
            X, y, candidates=args.candidates, n_splits=args.n_splits, validation_size=args.validation_size,
            log=log, **common)
    else:
        run = lambda X, y, log: experiments.accuracy_over_iterations(  # noqa: E731
            X, y, snapshot_size=args.snapshots, log=log, **common)
    results = {}
    for name in args.datasets:
        try:
            X, y = getattr(datasets, EXPERIMENT_DATASETS[name])()
        except (FileNotFoundError, DownloadError, ImportError) as exc:
            print(f"{name}: skipped. " + " ".join(str(exc).split()), flush=True)
            continue
        print(f"{name}: {X.shape[0]} samples x {X.shape[1]} features, {len(set(y.tolist()))} classes",
              flush=True)
        start = time.perf_counter()
        results[name] = run(X, y, lambda line, name=name: print(f"{name} {line}", flush=True))
        results[name]["seconds"] = time.perf_counter() - start
        print(f"{name}: {results[name]['seconds']:.0f} s", flush=True)
    if not results:
        raise ValueError("none of the datasets could be loaded; see the messages above.")
    written = experiments.write_experiment(args.kind, results, args.out, settings=params or None)
    print()
    print(written[0].read_text().split("\n", 2)[2], end="")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _literal(text: str):
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive; give 1 or more")
    return value


def _add_checkpoint_args(parser) -> None:
    parser.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                        help="keep a checkpoint of the fit in DIR (written atomically as it goes)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted fit checkpointed in --checkpoint-dir "
                             "(same settings and data)")


def _check_checkpoint_args(parser, args) -> None:
    """``--resume`` continues the checkpoint in ``--checkpoint-dir``; without it, an existing
    checkpoint there is an error rather than silently reused."""
    from .training.checkpoint import FILENAME

    if args.checkpoint_dir is None:
        if args.resume:
            parser.error("--resume needs --checkpoint-dir, the directory of the fit to resume")
        return
    exists = (Path(args.checkpoint_dir) / FILENAME).exists()
    if args.resume and not exists:
        parser.error(f"--resume: there is no checkpoint to resume in {args.checkpoint_dir!r}")
    if not args.resume and exists:
        parser.error(f"{args.checkpoint_dir!r} already holds a checkpoint: pass --resume to "
                     "continue it, or choose another --checkpoint-dir")


def _count(text: str) -> int:
    """argparse type: a non-negative int, with a usage error otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give 0 or more")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="deepclust", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="DEC vs k-means on scikit-learn's digits (offline)")
    demo.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    demo.add_argument("--verbose", action="store_true", help="show progress bars")
    demo.add_argument("--pretrain-iter", type=_count, default=None, metavar="N",
                      help="layer-wise pretraining with N iterations a layer and 2N of fine-tuning "
                           "instead of DEC's 'auto' schedule (a quicker, rougher run)")
    demo.add_argument("--max-iter", type=_count, default=None, metavar="N",
                      help="override DEC's max_iter")
    demo.add_argument("--report", default="deepclust-demo-report.html", metavar="HTML",
                      help="where to write the HTML report (default: deepclust-demo-report.html)")
    demo.add_argument("--no-report", dest="report", action="store_const", const=None,
                      help="write no report")
    demo.add_argument("--snapshots", type=_count, default=1000, metavar="N",
                      help="record the embedding of N points over training for the report (default 1000)")
    _add_checkpoint_args(demo)

    from . import registry

    fit = sub.add_parser(
        "fit", help="cluster the rows of a data file with a method (DEC by default) and save the model",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="methods (--method):\n" + "\n".join(f"  {name:<6} {registry.SUMMARIES[name]}"
                                                      for name in registry.names())
        + "\n\nEach method's own parameters go through --param NAME=VALUE (its docstring lists them:\n"
          "python -c 'import deepclust; help(deepclust.IDEC)').")
    fit.add_argument("--method", choices=registry.names(), default="DEC",
                     help="the clustering method (default DEC; listed below)")
    fit.add_argument("data", help="a .npy, .npz, .csv or .parquet file of numeric features, a folder "
                                  "of .npy or .parquet shards (one table split by rows, in natural name order, "
                                  "read memory-mapped a batch at a time, as is a .npy file over 1 GiB; parquet "
                                  "shards through a .npy copy in $DEEPCLUST_CACHE), or a "
                                  "folder of images or of .txt files (tf-idf), directly or in "
                                  "subfolders whose names are the labels (evaluation only)")
    fit.add_argument("--n-clusters", type=_positive, required=True, metavar="K")
    fit.add_argument("--out", required=True, metavar="MODEL_DIR",
                     help="directory for model.pt and fit.json")
    fit.add_argument("--label-column", default=None, metavar="COL",
                     help="a column (or .npz array) of true labels: kept out of the fit, used only "
                          "to print ACC / NMI / ARI")
    fit.add_argument("--pretrain", choices=["layerwise", "end-to-end"], default=None,
                     help="pretraining scheme (default: the method's; DEC's is layer-wise)")
    fit.add_argument("--max-iter", type=_count, default=None, metavar="N",
                     help="override the method's max_iter")
    fit.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    fit.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu' or 'cuda'")
    fit.add_argument("--image-size", type=_positive, nargs=2, default=None, metavar=("HEIGHT", "WIDTH"),
                     help="resize the images of a folder to this size")
    fit.add_argument("--snapshots", type=_count, default=1000, metavar="N",
                     help="record the embedding of N points over training, for the report "
                          "(default 1000; 0 for none)")
    fit.add_argument("--precision", choices=["auto", "float32", "bfloat16", "mixed"], default="auto",
                     help="arithmetic of the training steps (default: DEC's 'auto', bfloat16 "
                          "clustering steps on a CPU whose bfloat16 units measure at least 1.5 times as "
                          "fast as float32)")
    fit.add_argument("--param", action="append", metavar="NAME=VALUE",
                     help="any other parameter of the method, e.g. --param batch_size=128 --param "
                          "hidden_dims='(500, 500, 2000)' (repeatable; values are Python literals)")
    fit.add_argument("--verbose", action="store_true", default=None,
                     help="show progress bars (the default when stderr is a terminal)")
    fit.add_argument("--quiet", dest="verbose", action="store_false", help="no progress bars")
    _add_checkpoint_args(fit)

    predict = sub.add_parser("predict", help="assign the rows of a data file to a saved model's clusters")
    predict.add_argument("model", help="a model directory written by 'fit' (or a model.pt file)")
    predict.add_argument("data", help="a .npy, .npz, .csv or .parquet file with the training features, "
                                      "a folder of .npy or .parquet shards, or a folder like the one the model "
                                      "was fitted on")
    predict.add_argument("--out", required=True, metavar="LABELS_CSV",
                         help="CSV of row, cluster and confidence (the largest soft assignment), and for "
                              "a folder the file of each row; an existing file is replaced")
    predict.add_argument("--label-column", default=None, metavar="COL",
                         help="a label column to leave out of the features")
    predict.add_argument("--device", default="auto")

    report = sub.add_parser("report", help="write a self-contained HTML report of a model on some data")
    report.add_argument("model", help="a model directory written by 'fit' (or a model.pt file)")
    report.add_argument("data", help="the data to report on, as for 'predict' (usually the training data)")
    report.add_argument("--out", required=True, metavar="HTML", help="the report file to write")
    report.add_argument("--label-column", default=None, metavar="COL",
                        help="true labels, for evaluation only (a folder's are its subfolder names)")
    report.add_argument("--image-shape", type=_positive, nargs="+", default=None, metavar="N",
                        help="HEIGHT WIDTH [CHANNELS] of image rows in a table, to show cluster exemplars "
                             "(known already for a folder of images)")
    report.add_argument("--device", default="auto")

    evaluate = sub.add_parser("evaluate", help="ACC, NMI and ARI of cluster labels against the truth")
    evaluate.add_argument("labels", help="cluster labels: .npy, or a CSV such as 'predict' writes")
    evaluate.add_argument("truth", help="true labels: .npy or .csv")
    evaluate.add_argument("--labels-column", default=None, metavar="COL")
    evaluate.add_argument("--truth-column", default=None, metavar="COL")

    experiment = sub.add_parser("experiment", help="reproduce a table or figure of the DEC paper "
                                                   "(labels for evaluation only)")
    experiment.add_argument("kind", choices=["table2", "table4", "robustness", "iterations", "select-k"],
                            help="table2: Tables 2 and 3 (baselines, AE + k-means / GMM, DEC w/o "
                                 "backprop, DEC); table4: imbalanced subsets; robustness: Figure 2, DEC "
                                 "over one setting; iterations: Figure 5 (f), ACC over the clustering phase; "
                                 "select-k: Figure 6, generalizability G and NMI over k and the k "
                                 "select_n_clusters chooses (every k of every split and seed trains DEC's "
                                 "max_iter, 10,000 by default, so it takes far longer than one fit; timings in "
                                 "benchmarks/RESULTS.md; set --param max_iter=N and --seeds for the time you "
                                 "have; with several --seeds their splits are also pooled into one choice)")
    experiment.add_argument("--datasets", nargs="+", choices=sorted(EXPERIMENT_DATASETS), default=["digits"],
                            help="datasets of deepclust.datasets (default: digits); one whose files are "
                                 "missing and cannot be downloaded is skipped with a message")
    experiment.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    experiment.add_argument("--out", default="experiments", metavar="DIR",
                            help="where to write KIND.md, KIND.json and KIND.png (default: experiments/)")
    experiment.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                            help="table2 / table4: the methods, among " + ", ".join(
                                f"'{m}'" for m in ("k-means", "GMM", "spectral", "AE + k-means", "AE + GMM",
                                                   "DEC w/o backprop", "DEC", "IDEC", "DCN", "DBC")))
    experiment.add_argument("--r-mins", nargs="+", type=float, default=[0.1, 0.3, 0.5, 0.7, 0.9],
                            metavar="R", help="table4: the r_min values")
    experiment.add_argument("--sweep", default="update_interval", metavar="NAME",
                            help="robustness: the DEC setting to sweep (default update_interval)")
    experiment.add_argument("--values", nargs="+", default=[str(10 * 2**i) for i in range(9)],
                            metavar="V", help="robustness: its values (Python literals; default the "
                                              "paper's 10 x 2^i, i = 0..8, for update_interval)")
    experiment.add_argument("--candidates", nargs="+", type=_positive, default=None, metavar="K",
                            help="select-k: the numbers of clusters to try, each at least 2 (default: the "
                                 "number of classes give or take 5)")
    experiment.add_argument("--n-splits", type=_positive, default=2, metavar="N",
                            help="select-k: training / validation splits G is averaged over (default 2)")
    experiment.add_argument("--validation-size", type=float, default=0.5, metavar="F",
                            help="select-k: fraction of the points held out in each split (default 0.5)")
    experiment.add_argument("--snapshots", type=_positive, default=10_000, metavar="N",
                            help="iterations: measure ACC on N recorded points (default 10,000)")
    experiment.add_argument("--precision", choices=["auto", "float32", "bfloat16", "mixed"], default=None)
    experiment.add_argument("--param", action="append", metavar="NAME=VALUE",
                            help="a DEC setting for every deep method that takes it, or with "
                                 "table2 / table4 one of a listed method's own (IDEC's gamma, "
                                 "DBC's augment, ...), for that method (repeatable)")
    experiment.add_argument("--device", default="auto")
    experiment.add_argument("--verbose", action="store_true", help="show progress bars")

    args = parser.parse_args(argv)
    if args.command in ("demo", "fit"):
        _check_checkpoint_args(sub.choices[args.command], args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command = {"demo": _demo, "fit": _fit, "predict": _predict, "evaluate": _evaluate,
               "report": _report, "experiment": _experiment}[args.command]
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _format_warning  # the library's file and line mean nothing here
    try:
        return command(args)
    except (ValueError, TypeError, OSError, ImportError, FloatingPointError) as exc:
        # user mistakes, and a fit that diverged (its message says what to change): one readable line
        message = " ".join(str(exc).split())
        print(f"deepclust: error: {message}", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = formatwarning


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the command line prints it: one line, like its errors, without the source line."""
    return f"deepclust: warning: {' '.join(str(message).split())}\n"


if __name__ == "__main__":
    sys.exit(main())
