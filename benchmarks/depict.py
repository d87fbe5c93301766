"""DEPICT on digits or Fashion-MNIST: ACC / NMI and the time of each phase, seed by seed.

Wall time on a shared machine depends on the other load; the CPU time (this process's, with one
torch thread) is closer to what the fit takes alone. Digits are scikit-learn's 8x8 images with pixels
divided by 16; Fashion-MNIST has pixels in
[0, 1], all 70,000 images or, with ``--n N``, a random subset of N (drawn with ``--subset-seed``,
without looking at the labels). Labels are used for evaluation only.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/depict.py --dataset digits --seeds 0 1 2
    OMP_NUM_THREADS=1 python benchmarks/depict.py --dataset digits --param target='sqrt'
    OMP_NUM_THREADS=1 python benchmarks/depict.py --dataset fashion --n 10000 --seeds 0
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import subprocess
import time
from datetime import datetime, timezone

import numpy as np
import torch

from deepclust import DEPICT, __version__
from deepclust.datasets import load_digits, load_fashion_mnist
from deepclust.metrics import cluster_accuracy, normalized_mutual_info_score


def load(name: str, n: int | None, subset_seed: int):
    if name == "digits":
        X, y = load_digits(scale=False)
        X = X / 16.0
    else:
        X, y = load_fashion_mnist(scale=False)
    if n is not None and n < len(X):
        rows = np.sort(np.random.RandomState(subset_seed).choice(len(X), n, replace=False))
        X, y = X[rows], y[rows]
    return np.asarray(X, dtype=np.float32), y


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["digits", "fashion"], default="digits")
    parser.add_argument("--n", type=int, default=None, help="a random subset of this many samples")
    parser.add_argument("--subset-seed", type=int, default=0)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a DEPICT setting other than its default (a Python literal)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    params = {}
    for item in args.param:
        name, _, text = item.partition("=")
        try:
            params[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            params[name] = text
    X, y = load(args.dataset, args.n, args.subset_seed)
    k = len(np.unique(y))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False).stdout.strip()
    except OSError:
        commit = "?"
    print(f"deepclust {__version__} ({commit}), torch {torch.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {args.dataset}: {X.shape[0]} x {X.shape[1]}, "
          f"k={k}; settings {params or 'defaults'}", flush=True)
    rows = []
    for seed in args.seeds:
        start, cpu = time.perf_counter(), time.process_time()
        model = DEPICT(n_clusters=k, random_state=seed, device=args.device, **params).fit(X)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        acc = cluster_accuracy(y, model.labels_)
        nmi = normalized_mutual_info_score(y, model.labels_)
        row = {"seed": seed, "acc": acc, "nmi": nmi, "seconds": seconds, "cpu_seconds": cpu, "n_iter": model.n_iter_,
               "updates": len(model.history_) - 1, "times": model.fit_times_,
               "clusters_used": int(len(np.unique(model.labels_)))}
        rows.append(row)
        times = ", ".join(f"{phase} {s:.1f} s" for phase, s in model.fit_times_.items())
        print(f"seed {seed}: ACC {acc:.4f} NMI {nmi:.4f} in {seconds:.1f} s, {cpu:.1f} s of CPU ({times}); "
              f"{model.n_iter_} steps, "
              f"{row['updates']} target updates, {row['clusters_used']} clusters used", flush=True)
    accs, nmis = np.array([r["acc"] for r in rows]), np.array([r["nmi"] for r in rows])
    secs, cpus = np.array([r["seconds"] for r in rows]), np.array([r["cpu_seconds"] for r in rows])
    print(f"mean over {len(rows)} seeds: ACC {accs.mean():.4f} ± {accs.std():.4f}, NMI {nmis.mean():.4f} ± "
          f"{nmis.std():.4f}, {secs.mean():.1f} s a fit ({cpus.mean():.1f} s of CPU)", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"dataset": args.dataset, "n": int(X.shape[0]), "params": params, "commit": commit,
                       "runs": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
