"""IMSAT's accuracy and time on digits or Fashion-MNIST, seed by seed (defaults unless told).

    python benchmarks/imsat.py --dataset digits --seeds 0 1 2
    python benchmarks/imsat.py --dataset fashion --n 10000 --seeds 0 --param augment='"affine"'

Prints ACC / NMI / ARI (labels used only to score), the clusters used, and the time of each
phase of the fit. ``--param name=value`` (a Python literal) changes a setting of IMSAT.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch


def load(dataset: str, n: int | None):
    if dataset == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = X / 16.0
    else:
        from deepclust.datasets.mnist import load_fashion_mnist

        X, y = load_fashion_mnist(subset="all", scale=False)
    if n is not None and n < len(X):
        rows = np.random.RandomState(0).choice(len(X), n, replace=False)  # fixed rows, not stratified
        X, y = X[rows], y[rows]
    return np.asarray(X, dtype=np.float32), y


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "fashion"), default="digits")
    parser.add_argument("--n", type=int, default=None, help="a fixed random subset of this many rows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from deepclust import IMSAT
    from deepclust.metrics import cluster_accuracy
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    params = {}
    for item in args.param:
        name, _, value = item.partition("=")
        params[name] = ast.literal_eval(value)
    X, y = load(args.dataset, args.n)
    k = len(np.unique(y))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(__file__)).stdout.strip()
    except OSError:
        commit = "?"
    print(f"# IMSAT on {args.dataset} ({len(X)} x {X.shape[1]}), params {params or 'defaults'}; commit {commit}, "
          f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    accs, nmis = [], []
    for seed in args.seeds:
        start, cpu = time.perf_counter(), time.process_time()
        model = IMSAT(k, random_state=seed, device="cpu", **params).fit(X)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        acc, nmi = cluster_accuracy(y, model.labels_), normalized_mutual_info_score(y, model.labels_)
        accs.append(acc)
        nmis.append(nmi)
        phases = ", ".join(f"{p} {s:.1f} s" for p, s in model.fit_times_.items())
        print(f"seed {seed}: ACC {acc:.3f} NMI {nmi:.3f} ARI {adjusted_rand_score(y, model.labels_):.3f}, "
              f"{len(np.unique(model.labels_))} clusters used, {model.n_iter_} steps, {seconds:.1f} s ({phases}; CPU {cpu:.1f} s)",
              flush=True)
    print(f"mean ACC {np.mean(accs):.3f} +- {np.std(accs):.3f}, NMI {np.mean(nmis):.3f} +- {np.std(nmis):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
