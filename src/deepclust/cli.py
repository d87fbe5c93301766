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
    dec = DEC(n_clusters=10, random_state=args.seed, verbose=args.verbose, **overrides).fit(X)
    report("DEC", dec.labels_, time.perf_counter() - start)
    print(f"DEC: {dec.n_iter_} clustering iterations, {len(dec.history_) - 1} target updates, "
          f"device {dec.device_}")
    return 0


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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return _demo(args)


if __name__ == "__main__":
    sys.exit(main())
