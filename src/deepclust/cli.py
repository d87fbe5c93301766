"""The ``deepclust`` command line (also ``python -m deepclust``).

``deepclust demo`` runs DEC on scikit-learn's digits (shipped with the
install, no network needed) and prints ACC / NMI / ARI beside k-means on the
raw pixels.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


def _demo(args) -> int:
    from sklearn.cluster import KMeans

    from . import DEC, __version__
    from .datasets import load_digits
    from .metrics import adjusted_rand_score, cluster_accuracy, normalized_mutual_info_score

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
    dec = DEC(n_clusters=10, random_state=args.seed, verbose=args.verbose, **overrides).fit(X)
    report("DEC", dec.labels_, time.perf_counter() - start)
    print(f"DEC: {dec.n_iter_} clustering iterations, {len(dec.history_) - 1} target updates, "
          f"device {dec.device_}")
    return 0


def _check_checkpoint_args(parser, args) -> None:
    """``--resume`` continues the checkpoint in ``--checkpoint-dir``; without it, an existing
    checkpoint there is an error rather than silently reused."""
    from ._checkpoint import FILENAME

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
    demo.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                      help="keep a checkpoint of the fit in DIR (written atomically as it goes)")
    demo.add_argument("--resume", action="store_true",
                      help="continue the interrupted fit checkpointed in --checkpoint-dir "
                           "(same settings and data)")
    args = parser.parse_args(argv)
    _check_checkpoint_args(demo, args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _demo(args)
    except (ValueError, OSError) as exc:  # user mistakes: one readable line, no traceback
        print(f"deepclust: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
