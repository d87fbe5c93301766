"""The command line's commands: demo, fit, predict, report, evaluate and experiment."""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from pathlib import Path

from .files import (
    _INPUTS,
    _check_out,
    _load_model,
    _model_path,
    _output_dir,
    _outside_data,
    _read_input,
    _writable_file,
    _write_text,
)


def _demo(args) -> int:
    from sklearn.cluster import KMeans

    from .. import DEC, __version__
    from ..datasets import load_digits
    from ..metrics import (
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
        overrides.update(pretrain="layerwise", layerwise_iter=args.pretrain_iter, finetune_iter=2 * args.pretrain_iter)
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
        from ..report import write_report

        start = time.perf_counter()
        path = write_report(dec, X, args.report, y=y, image_shape=(8, 8),
                            data_name="scikit-learn's digits (labels for evaluation only)")
    except ImportError as exc:
        print(f"no report: {exc}")
        return 0
    print(f"report written to {Path(path).resolve()} ({time.perf_counter() - start:.1f} s)")
    return 0


def _print_scores(y, labels) -> None:
    from ..metrics import (
        adjusted_rand_score,
        cluster_accuracy,
        normalized_mutual_info_score,
    )

    print(f"ACC {cluster_accuracy(y, labels):.4f}  NMI {normalized_mutual_info_score(y, labels):.4f}  "
          f"ARI {adjusted_rand_score(y, labels):.4f}")


def _fit(args) -> int:
    _outside_data(Path(args.out), args.data, "--out")  # a model folder inside the data would join it
    with _output_dir(Path(args.out)) as out:  # checked before reading the data or training
        if args.labels_out is not None:  # checked before the fit too, once --out exists to hold it
            labels_out = Path(args.labels_out)
            if labels_out.resolve() == Path(args.data).resolve() or labels_out.is_dir():
                raise ValueError(f"--labels-out {args.labels_out!r} is the data or a folder; give a new .csv file.")
            if labels_out.resolve() in {(out / name).resolve() for name in ("model.pt", "fit.json", _INPUTS)}:
                raise ValueError(f"--labels-out {args.labels_out!r} would overwrite the model's own file; give "
                                 "another name.")
            _outside_data(labels_out, args.data, "--labels-out")
            _writable_file(labels_out, "--labels-out")
        return _fit_into(args, out)


def _fit_into(args, out: Path) -> int:
    import json

    import numpy as np

    from .. import registry
    from ..data.folders import describe
    from ..io import save_model

    cls = registry.get(args.method)
    X, y, inputs, files, ids, rows, notes = _read_input(args.data, args.label_column, image_size=args.image_size,
                                                       args=args)
    for note in notes:  # what was done to a table: rows left out, scaling
        print(note)
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
    if args.pretrain_epochs is not None:
        from .budget import pretrain_epochs_params

        length = pretrain_epochs_params(cls, params, args.pretrain_epochs, X.shape[0])
        if set(length) & set(params):
            raise ValueError(f"--pretrain-epochs sets {', '.join(sorted(length))}; leave --param "
                             f"{', '.join(sorted(set(length) & set(params)))} out.")
        params.update(length)
    if args.time_budget is not None:
        from .budget import plan_budget

        changed, plan = plan_budget(cls, params, X, args.time_budget)
        print(plan, flush=True)
        params.update(changed)
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
    table = inputs is not None and inputs["kind"] == "table"
    if inputs is not None and not table:  # also beside it, for an older deepclust and for people
        _write_text(out / _INPUTS, json.dumps(inputs) + "\n")
    elif (out / _INPUTS).exists():  # left by an earlier fit on a folder
        (out / _INPUTS).unlink()
    sizes = [int(c) for c in np.bincount(dec.labels_, minlength=args.n_clusters)]
    summary = {"data": str(args.data), "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
               "method": args.method, "n_clusters": args.n_clusters, "cluster_sizes": sizes,
               "n_iter": getattr(dec, "n_iter_", None),
               **({"table": {k: v for k, v in inputs.items() if k not in ("mean", "std", "min", "max")}}
                  if table else {}),
               "seconds": round(seconds, 2)}
    _write_text(out / "fit.json", json.dumps(summary, indent=1) + "\n")
    print(f"{args.method} clustered {describe(inputs, X.shape[0])} ({X.shape[1]} features) into "
          f"{args.n_clusters} clusters in {seconds:.1f} s; model saved to {out / 'model.pt'}")
    print("cluster sizes: " + " ".join(str(c) for c in sizes))
    if args.labels_out is not None:
        from ..plotting import soft_assignments

        q = soft_assignments(dec, X)
        labels = np.asarray(dec.labels_)
        first = "row" if ids is None else str(args.id_column)
        _write_text(Path(args.labels_out), _labels_csv(labels, q[np.arange(len(labels)), labels], files,
                                                       ids if ids is not None else rows, first))
        print(f"training labels written to {args.labels_out}")
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


def _predict(args) -> int:
    import numpy as np

    out = Path(args.out)
    _check_out(out, args.data, args.model)
    dec, inputs = _load_model(args.model, args.device)
    X, _, _, files, ids, rows, _ = _read_input(args.data, args.label_column, inputs,
                                              model=_model_path(args.model), args=args)
    from ..plotting import soft_assignments

    q = soft_assignments(dec, X)
    labels, confidence = q.argmax(axis=1), q.max(axis=1)
    # a table's ID column, when the model has one and the table holds it, names each row
    first = "row" if ids is None else str(inputs["id_column"])
    _write_text(out, _labels_csv(labels, confidence, files, ids if ids is not None else rows, first))
    counts = np.bincount(labels, minlength=q.shape[1])
    print(f"assigned {len(labels)} rows to {q.shape[1]} clusters; labels written to {out}")
    print("cluster sizes: " + " ".join(str(int(c)) for c in counts))
    return 0


def _labels_csv(labels, confidence, files, names=None, first: str = "row") -> str:
    """``first`` (each row's number, or its name: a table's ID column, the rows kept after
    ``--dropna``), cluster, confidence, and for a folder each row's file, so that rows are named."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([first, "cluster", "confidence"] + (["file"] if files else []))
    names = range(len(labels)) if names is None else names
    for i, (c, p) in enumerate(zip(labels, confidence, strict=True)):
        name = names[i].item() if hasattr(names[i], "item") else names[i]
        writer.writerow([name, int(c), f"{float(p):.6f}"] + ([files[i]] if files else []))
    return text.getvalue()


def _report(args) -> int:
    from ..data.folders import image_shape_of, terms_of

    out = Path(args.out)
    _check_out(out, args.data, args.model)
    dec, inputs = _load_model(args.model, args.device)
    X, y, _, _, _, _, _ = _read_input(args.data, args.label_column, inputs, model=_model_path(args.model),
                                      args=args)
    image_shape = tuple(args.image_shape) if args.image_shape else image_shape_of(inputs)
    if image_shape is not None and (len(image_shape) not in (2, 3) or
                                    math.prod(image_shape) != dec.n_features_in_):
        raise ValueError(f"--image-shape {' '.join(map(str, image_shape))} does not lay out the "
                         f"model's {dec.n_features_in_} features; give HEIGHT WIDTH [CHANNELS] whose "
                         "product is that.")
    from ..report import write_report

    start = time.perf_counter()
    path = write_report(dec, X, out, y=y, image_shape=image_shape, terms=terms_of(inputs),
                        data_name=str(args.data))
    print(f"report written to {path.resolve()} ({time.perf_counter() - start:.1f} s)")
    return 0


def _evaluate(args) -> int:
    from ..data.readers import read_labels

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
    from .. import datasets, experiments
    from ..data.download import DownloadError
    from ..methods.dec import DEC

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
