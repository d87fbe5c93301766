"""N2D on digits or Fashion-MNIST, over seeds: ACC, NMI and the time of each phase.

N2D with the library's defaults (DEC's layer-wise pretrained d-500-500-2000-10 autoencoder, UMAP
of the embedding to n_clusters dimensions with n_neighbors=10 and min_dist=0, a full-covariance
Gaussian mixture), and k-means on the raw data (n_init=20) beside it. Each fit's wall time,
the time of its phases and its CPU time are printed: on a shared machine the CPU time says more.
Labels are used for evaluation only. Needs umap-learn (``pip install "deepclust[umap]"``).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/n2d.py --dataset digits --seeds 0 1 2
    OMP_NUM_THREADS=1 python benchmarks/n2d.py --dataset fashion --n 10000 --seeds 0

digits is scikit-learn's (1,797 images, pixels / 16). fashion is Fashion-MNIST's 10,000 test
images (pixels in [0, 1]) from ``/usr/share/datasets/fashion-mnist`` or
``$DEEPCLUST_DATA/fashion-mnist``; ``--n`` keeps its first n images (default: all 10,000).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np


def load(dataset: str, n: int | None, subset: str = "test"):
    if dataset == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = X / 16.0
    else:
        from deepclust.datasets import load_fashion_mnist

        X, y = load_fashion_mnist(subset=subset, scale=False, download=False)
    if n is not None:
        X, y = X[:n], y[:n]
    return np.ascontiguousarray(X, dtype=np.float32), np.asarray(y)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("digits", "fashion"), default="digits")
    parser.add_argument("--n", type=int, default=None, help="the first N samples (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--subset", choices=("test", "all"), default="test",
                        help="Fashion-MNIST's 10,000 test images (default) or all 70,000")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    import torch
    from sklearn.cluster import KMeans

    from deepclust import N2D
    from deepclust.metrics import cluster_accuracy, normalized_mutual_info_score

    X, y = load(args.dataset, args.n, args.subset)
    k = len(np.unique(y))
    print(f"N2D on {args.dataset}: {X.shape[0]} samples, {X.shape[1]} features, {k} classes; "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{platform.processor() or platform.machine()}", flush=True)
    rows = {"k-means": [], "N2D": []}
    for seed in args.seeds:
        start = time.perf_counter()
        labels = KMeans(k, n_init=20, random_state=seed).fit(X).labels_
        rows["k-means"].append((cluster_accuracy(y, labels), normalized_mutual_info_score(y, labels),
                                time.perf_counter() - start))
        start, cpu = time.perf_counter(), time.process_time()
        model = N2D(k, random_state=seed, device=args.device).fit(X)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        acc, nmi = cluster_accuracy(y, model.labels_), normalized_mutual_info_score(y, model.labels_)
        agree = float(np.mean(model.predict(X) == model.labels_))
        rows["N2D"].append((acc, nmi, seconds))
        phases = ", ".join(f"{phase} {s:.1f} s" for phase, s in model.fit_times_.items())
        print(f"seed {seed}: k-means ACC {rows['k-means'][-1][0]:.3f} NMI {rows['k-means'][-1][1]:.3f} | "
              f"N2D ACC {acc:.3f} NMI {nmi:.3f} in {seconds:.1f} s ({phases}; CPU time {cpu:.1f} s); "
              f"predict(X) agrees with labels_ on {100 * agree:.1f}%", flush=True)
    for name, runs in rows.items():
        accs, nmis, secs = zip(*runs)
        spread = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
        print(f"{name:8s} ACC {statistics.mean(accs):.3f} ± {spread(accs):.3f}  "
              f"NMI {statistics.mean(nmis):.3f} ± {spread(nmis):.3f}  "
              f"time {statistics.mean(secs):.1f} s  ({len(runs)} seed(s))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
