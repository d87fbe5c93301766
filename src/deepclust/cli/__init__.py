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
import logging
import sys
import warnings
from pathlib import Path

from .commands import (
    EXPERIMENT_DATASETS,
    _demo,
    _estimator_params,  # noqa: F401 (the tests check --param values through it)
    _evaluate,
    _experiment,
    _fit,
    _predict,
    _report,
)
from .files import _add_table_args, _read_data  # noqa: F401 (_read_data: tests read a shard folder)
from .select_k import _select_k, add_parser as _add_select_k


def _at_least(minimum: int, refusal: str):
    """An argparse type: an int of ``minimum`` or more, with a usage error saying ``refusal`` otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} {refusal}")
        return value
    return parse


_positive = _at_least(1, "is not positive; give a positive integer (1 or more)")
_count = _at_least(0, "is negative; give 0 or more")


def _add_checkpoint_args(parser) -> None:
    parser.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                        help="keep a checkpoint of the fit in DIR (written atomically as it goes)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted fit checkpointed in --checkpoint-dir "
                             "(same settings and data)")


def _check_checkpoint_args(parser, args) -> None:
    """``--resume`` continues the checkpoint in ``--checkpoint-dir``; without it, an existing
    checkpoint there is an error rather than silently reused."""
    from ..training.checkpoint import FILENAME

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


# Measured once, see benchmarks/RESULTS.md ("A default fit's cost").
_DEFAULT_COST = ("A default DEC fit took about 4.5 minutes per 10,000 rows of 784 features on a 2-core CPU: "
                 "1.5 of pretraining, the rest clustering until tol (benchmarks/RESULTS.md).")


def _minutes(text: str) -> float:
    """argparse type: a positive number of minutes."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of minutes")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="deepclust", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="DEC vs k-means on scikit-learn's digits (offline)")
    demo.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    demo.add_argument("--verbose", action="store_true", help="show progress bars")
    demo.add_argument("--pretrain-iter", type=_count, default=None, metavar="N",
                      help="layer-wise pretraining with N iterations a layer and 2N of fine-tuning "
                           "instead of DEC's default pretraining (a quicker, rougher run)")
    demo.add_argument("--max-iter", type=_count, default=None, metavar="N",
                      help="override DEC's max_iter")
    demo.add_argument("--report", default="deepclust-demo-report.html", metavar="HTML",
                      help="where to write the HTML report (default: deepclust-demo-report.html)")
    demo.add_argument("--no-report", dest="report", action="store_const", const=None,
                      help="write no report")
    demo.add_argument("--snapshots", type=_count, default=1000, metavar="N",
                      help="record the embedding of N points over training for the report (default 1000)")
    _add_checkpoint_args(demo)

    from .. import registry

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
    _add_table_args(fit, fit=True)
    fit.add_argument("--labels-out", default=None, metavar="LABELS_CSV",
                     help="also write the training data's clusters as predict does: row, cluster, "
                          "confidence (and file, for a folder)")
    fit.add_argument("--pretrain", choices=["auto", "layerwise", "end-to-end"], default=None,
                     help="pretraining scheme (default: the method's; DEC's is auto: layer-wise on 2,304 "
                          "rows or fewer, end-to-end on more)")
    fit.add_argument("--max-iter", type=_count, default=None, metavar="N",
                     help="override the method's max_iter")
    fit.add_argument("--pretrain-epochs", type=_positive, default=None, metavar="N",
                     help="the pretraining's length in epochs: layer-wise, N epochs a layer "
                          "(layerwise_iter) and 6N of fine-tuning (finetune_iter), the ratio of DEC's auto "
                          "schedule of 7 and 42; end-to-end, pretrain_epochs=N")
    fit.add_argument("--time-budget", type=_minutes, default=None, metavar="MINUTES",
                     help="size pretraining and clustering to about MINUTES, from the time of a few "
                          "training steps measured on the data; prints the plan first, and never trains "
                          "longer than the method's own schedule. " + _DEFAULT_COST)
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
                     help="show progress bars (the default when stderr is a terminal; otherwise a line a "
                          "phase, and one every few seconds while clustering)")
    fit.add_argument("--quiet", dest="verbose", action="store_false",
                     help="no progress bars, and no progress lines where stderr is not a terminal")
    _add_checkpoint_args(fit)

    predict = sub.add_parser("predict", help="assign the rows of a data file to a saved model's clusters")
    predict.add_argument("model", help="a model directory written by 'fit' (or a model.pt file)")
    predict.add_argument("data", help="a .npy, .npz, .csv or .parquet file with the training features, "
                                      "a folder of .npy or .parquet shards, or a folder like the one the model "
                                      "was fitted on")
    predict.add_argument("--out", required=True, metavar="LABELS_CSV",
                         help="CSV of row (or the table's ID column, given to fit with --id-column), "
                              "cluster and confidence (the largest soft assignment), and for "
                              "a folder the file of each row; an existing file is replaced")
    predict.add_argument("--label-column", default=None, metavar="COL",
                         help="a label column to leave out of the features")
    _add_table_args(predict)
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
    _add_table_args(report)
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
                                                   "DEC w/o backprop", *registry.names())))
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

    _add_select_k(sub, _positive, _count)

    args = parser.parse_args(argv)
    if args.command in ("demo", "fit"):
        _check_checkpoint_args(sub.choices[args.command], args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command = {"demo": _demo, "fit": _fit, "predict": _predict, "evaluate": _evaluate,
               "report": _report, "experiment": _experiment,
               "select-k": _select_k}[args.command]
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _format_warning  # the library's file and line mean nothing here
    progress = _log_progress(args)
    try:
        return command(args)
    except (ValueError, TypeError, OSError, ImportError, FloatingPointError) as exc:
        # user mistakes, and a fit that diverged (its message says what to change): one readable line
        message = " ".join(str(exc).split())
        print(f"deepclust: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: one line, what to do next, and the shell's 128 + SIGINT
        hint = _after_interrupt(args, sys.argv[1:] if argv is None else argv)
        newline = "\n" if sys.stderr.isatty() else ""  # after a progress bar's half line
        print(f"{newline}deepclust: interrupted{hint}", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = formatwarning
        if progress is not None:
            progress()


def _log_progress(args):
    """Where stderr is not a terminal (a log file, a batch job) and no progress bar shows, a fit
    logs a line a phase (and one every few seconds while clustering) through the library's
    ``deepclust`` logger at INFO, which the library itself leaves silent. Returns the undo."""
    if args.command not in ("fit", "select-k") or args.verbose is not None or sys.stderr.isatty():
        return None
    logger = logging.getLogger("deepclust")
    # select-k: a line a fit of every k and split would drown its own lines; those only
    informed = logging.getLogger("deepclust.selection" if args.command == "select-k" else "deepclust")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("deepclust: %(asctime)s %(message)s", "%H:%M:%S"))
    saved = logger.propagate, informed.level
    logger.addHandler(handler)
    informed.setLevel(logging.INFO)
    logger.propagate = False  # not printed twice by the root's handler

    def undo():
        logger.removeHandler(handler)
        logger.propagate = saved[0]
        informed.setLevel(saved[1])
    return undo


def _after_interrupt(args, argv) -> str:
    """For an interrupted fit: the command that resumes it, or how to make the next one resumable."""
    import shlex

    from ..training.checkpoint import FILENAME

    if args.command not in ("demo", "fit"):
        return "."
    if args.checkpoint_dir is None:
        return ("; nothing was kept. Next time add --checkpoint-dir DIR to keep checkpoints as it goes, "
                "then the same command with --resume continues it.")
    if not (Path(args.checkpoint_dir) / FILENAME).exists():
        return (f"before its first checkpoint in {args.checkpoint_dir!r}: run the same command again "
                "to start afresh.")
    again = [str(a) for a in argv] + ([] if args.resume else ["--resume"])
    return f"; its checkpoint is in {args.checkpoint_dir!r}. To continue: deepclust {shlex.join(again)}"


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the command line prints it: one line, like its errors, without the source line."""
    return f"deepclust: warning: {' '.join(str(message).split())}\n"


if __name__ == "__main__":
    sys.exit(main())
