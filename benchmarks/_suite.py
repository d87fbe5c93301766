"""The datasets of ``benchmarks/suite.py`` and one fit in a process of its own.

``python benchmarks/_suite.py --data FILE.npz --method NAME --seed S [--threads T] [--tiny]`` fits one
method on one prepared dataset and prints one JSON line: the scores of ``labels_`` against the labels
(read from the file for evaluation only), the fit's wall time and CPU time (all its threads), its
``fit_times_``, ``n_iter_`` and whether the clustering phase ran to ``max_iter``, and the process's
peak resident memory (``VmHWM``: the interpreter, torch, the data and the fit).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

FASHION_SEED = 0  # the rows of the Fashion-MNIST subsets: RandomState(0).permutation(70,000)[:n]
TINY_ROWS = 300
BASELINES = ("k-means", "AE + k-means")


def _fashion(n):
    def load(tiny):
        from deepclust.datasets import load_fashion_mnist

        X, y = load_fashion_mnist(subset="all", scale=False)  # pixels / 255, train then test
        rows = np.sort(np.random.RandomState(FASHION_SEED).permutation(len(y))[:TINY_ROWS if tiny else n])
        return X[rows], y[rows]
    return load


def _digits(tiny):
    from deepclust.datasets import load_digits

    X, y = load_digits(scale=False)
    return X / np.float32(16), y


def _digits_28(tiny):
    """The digits upsampled to 28 x 28 (bilinear): the same images and information in MNIST's 784
    dimensions, so that a default that depends on the input's dimension shows it."""
    from scipy.ndimage import zoom

    X, y = _digits(tiny)
    images = zoom(X.reshape(-1, 8, 8), (1, 3.5, 3.5), order=1)
    return np.clip(images, 0, 1).reshape(len(X), -1).astype(np.float32), y


def _table(loader):
    def load(tiny):
        import sklearn.datasets
        from sklearn.preprocessing import StandardScaler

        X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
        return StandardScaler().fit_transform(X).astype(np.float32), y.astype(np.int64)
    return load


def _reuters_synth(tiny):
    from deepclust.datasets import make_topic_corpus

    return make_topic_corpus(TINY_ROWS if tiny else 10_000, 4, random_state=0)


def _blobs(tiny):
    from deepclust.datasets import make_embedded_blobs

    return make_embedded_blobs(n_samples=TINY_ROWS if tiny else 1400, n_clusters=5, random_state=0)


# name -> (what it is, loader(tiny) -> (X, y)); in the order of the table.
DATASETS = {
    "digits": ("scikit-learn's 8x8 digits, X / 16", _digits),
    "digits-28": ("scikit-learn's 8x8 digits, X / 16, upsampled to 28x28 (bilinear, 784 features)", _digits_28),
    "wine": ("scikit-learn's wine, standardised", _table("load_wine")),
    "breast-cancer": ("scikit-learn's breast cancer, standardised", _table("load_breast_cancer")),
    "blobs": ("make_embedded_blobs: 5 Gaussian blobs through a random MLP, 100 features, seed 0", _blobs),
    "reuters-synth": ("make_topic_corpus: 10,000 documents of 4 topics, sparse tf-idf of 2,000 terms, seed 0",
                      _reuters_synth),
    "fashion-5k": ("Fashion-MNIST, 5,000 fixed random images of the 70,000, pixels / 255", _fashion(5_000)),
    "fashion-20k": ("Fashion-MNIST, 20,000 fixed random images of the 70,000, pixels / 255", _fashion(20_000)),
    "fashion-70k": ("Fashion-MNIST, all 70,000 images, pixels / 255", _fashion(70_000)),
}


def prepare(name: str, folder: Path, tiny: bool) -> dict:
    """Load dataset ``name`` (a fixed subset of TINY_ROWS rows with ``tiny``; the generators draw that
    many) and write it to ``folder``; returns its description (path, n, d, k, sparse)."""
    X, y = DATASETS[name][1](tiny)
    if tiny and X.shape[0] > TINY_ROWS:
        rows = np.sort(np.random.RandomState(0).permutation(X.shape[0])[:TINY_ROWS])
        X, y = X[rows], y[rows]
    path = folder / f"{name}.npz"
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
        np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr, shape=np.array(X.shape), y=y)
    else:
        np.savez(path, X=np.asarray(X, dtype=np.float32), y=y)
    return {"path": str(path), "n": int(X.shape[0]), "d": int(X.shape[1]), "k": int(len(np.unique(y))),
            "sparse": bool(sp.issparse(X))}


def _read(path):
    with np.load(path, allow_pickle=False) as saved:
        if "X" in saved:
            return saved["X"], saved["y"]
        return (sp.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"])),
                saved["y"])


def _missing_extra(exc: ImportError) -> bool:
    """Whether ``exc`` is an optional package that is not installed (not a broken deepclust)."""
    name = getattr(exc, "name", None) or ""
    return isinstance(exc, ModuleNotFoundError) and not name.startswith("deepclust")


def parse_method(spec: str) -> tuple[str, dict]:
    """``"DEC"`` -> ("DEC", {}); a variant ``'DEC{"pretrain": "end-to-end"}'`` -> ("DEC", its settings).

    A variant is a candidate default measured beside the defaults (issue 36's candidate rules); the table
    names it by its whole spec."""
    name, brace, rest = spec.partition("{")
    if not brace:
        return spec, {}
    params = json.loads(brace + rest)
    if not isinstance(params, dict):
        raise ValueError(f"{spec!r}: the settings after the name must be a JSON object")
    return name, params


def _probe(cls):
    """``cls`` recording the labels its initialisation gives every point (``init_labels_``), so a
    centroid method's fit also reports its autoencoder + k-means score without a second fit."""
    if not hasattr(cls, "_initial_centers"):
        return cls

    class Probe(cls):
        def _initial_centers(self, z, seed):
            from deepclust.training.kmeans import nearest

            centers, labels = super()._initial_centers(z, seed)
            self.init_labels_ = (nearest(z, centers) if labels is None else labels).cpu().numpy()
            return centers, labels

    Probe.__name__ = cls.__name__
    return Probe


def fit_one(X, y, method: str, seed: int, tiny: bool) -> dict:
    """Fit ``method`` with its defaults (with ``tiny``: its ``_test_params``) and describe the fit."""
    from deepclust.metrics import adjusted_rand_score, cluster_accuracy, normalized_mutual_info_score

    k = int(len(np.unique(y)))
    out = {}
    method, variant = parse_method(method)
    if method == "k-means":
        from sklearn.cluster import KMeans

        start, cpu = time.perf_counter(), time.process_time()
        labels = KMeans(k, n_init=10, random_state=seed).fit(X).labels_
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        out["fit_times"] = {"kmeans": seconds}
    else:
        from deepclust import registry

        cls = _probe(registry.get("DEC" if method == "AE + k-means" else method))
        params = {**(dict(cls._test_params) if tiny else {}), **variant}
        if method == "AE + k-means":
            params["max_iter"] = 0  # DEC's autoencoder and k-means on its embedding, no self-training
        estimator = cls(n_clusters=k, random_state=seed, **params)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start, cpu = time.perf_counter(), time.process_time()
            estimator.fit(X)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        labels = estimator.labels_
        out["fit_times"] = {key: float(v) for key, v in (getattr(estimator, "fit_times_", None) or {}).items()}
        out["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:160]}" for w in caught})
        n_iter, max_iter = getattr(estimator, "n_iter_", None), estimator.get_params().get("max_iter")
        out["n_iter"] = None if n_iter is None else int(n_iter)
        out["max_iter"] = max_iter if isinstance(max_iter, int) else None
        if method != "AE + k-means" and out["n_iter"] is not None and out["max_iter"] is not None:
            history = getattr(estimator, "history_", None) or [{}]
            tol = estimator.get_params().get("tol")
            converged = tol is not None and history[-1].get("delta_label", np.inf) < tol
            out["ran_to_max_iter"] = bool(out["n_iter"] >= out["max_iter"] and not converged)
        out["precision"] = getattr(estimator, "precision_", None)
        if getattr(estimator, "init_labels_", None) is not None:  # the autoencoder + its initialisation
            out["init_acc"] = cluster_accuracy(y, estimator.init_labels_)
            out["init_nmi"] = normalized_mutual_info_score(y, estimator.init_labels_)
    return {"status": "ok", "acc": cluster_accuracy(y, labels), "nmi": normalized_mutual_info_score(y, labels),
            "ari": adjusted_rand_score(y, labels), "seconds": seconds, "cpu_seconds": cpu, **out}


def fit_or_skip(X, y, method: str, seed: int, tiny: bool) -> dict:
    """:func:`fit_one`, or a skipped record naming the optional package a method needs and lacks."""
    try:
        return fit_one(X, y, method, seed, tiny)
    except ImportError as exc:
        if not _missing_extra(exc):
            raise
        return {"status": "skipped", "reason": f"{exc} (an optional package is not installed)"}


def _vm_hwm_mib():
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="one fit of benchmarks/suite.py (its child process)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    X, y = _read(args.data)
    if args.method not in BASELINES or args.method == "AE + k-means":
        import torch

        torch.set_num_threads(args.threads)
    before = _rss_mib()
    result = fit_or_skip(X, y, args.method, args.seed, args.tiny)
    result["rss_before_fit_mib"] = before
    # ru_maxrss (KiB on Linux) is at least the parent's RSS when it started this process: Linux carries the
    # old memory's high-water mark over exec, and subprocess starts children by vfork. VmHWM is the peak of
    # this process's own memory since exec; ru_maxrss is kept beside it.
    result["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["peak_rss_mib"] = _vm_hwm_mib() or result["ru_maxrss_mib"]
    print(json.dumps(result, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
