"""Time and peak memory of a DEC fit against the number of points, on REUTERS-shaped data.

Synthetic documents shaped like the paper's REUTERS: 2,000 tf-idf features, sparse (about 70 distinct
terms a document), rows of unit length, 4 clusters (each a topic: a Dirichlet distribution over the
vocabulary, mixed with a shared background). For each n the fit runs in a fresh process, so its peak
resident memory (``ru_maxrss``, which includes the data) is its own.

So that time measures the cost of an epoch rather than a schedule (DEC's "auto" schedules cap their
iterations at the paper's counts, which makes large data relatively cheaper), every fit runs a fixed
number of epochs: ``--pretrain-epochs`` of end-to-end pretraining and ``--cluster-epochs`` of
clustering (``tol=0``), with the default network d-500-500-2000-10 and the target's full pass every half
epoch. The data is generated in one process and written to a temporary file, which the fit's process
reads, so the peak memory reported is the fit's with its data (a CSR matrix), not the generator's.
The slope of log(time) against log(n) is fitted over the sizes; 1 means linear.

Usage::

    python benchmarks/scaling.py                                  # n = 10k, 100k, 700k
    python benchmarks/scaling.py --sizes 10000 30000 100000 --json benchmarks/out/scaling.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp

N_FEATURES, N_CLUSTERS, TERMS_PER_DOC = 2000, 4, 80


def reuters_like(n: int, seed: int = 0, chunk: int = 50_000) -> tuple[sp.csr_matrix, np.ndarray]:
    """n tf-idf rows over 2,000 terms in 4 topics, built chunk by chunk (memory O(nnz))."""
    rng = np.random.default_rng(seed)
    background = rng.dirichlet(np.full(N_FEATURES, 0.1))
    topics = [0.5 * rng.dirichlet(np.full(N_FEATURES, 0.05)) + 0.5 * background for _ in range(N_CLUSTERS)]
    y = rng.integers(N_CLUSTERS, size=n)
    parts = []
    for start in range(0, n, chunk):
        labels = y[start:start + chunk]
        rows, cols = [], []
        for c in range(N_CLUSTERS):
            members = np.flatnonzero(labels == c)
            terms = rng.choice(N_FEATURES, size=(len(members), TERMS_PER_DOC), p=topics[c])
            rows.append(np.repeat(members, TERMS_PER_DOC))
            cols.append(terms.ravel())
        counts = sp.csr_matrix((np.ones(sum(len(r) for r in rows), dtype=np.float32),
                                (np.concatenate(rows), np.concatenate(cols))), shape=(len(labels), N_FEATURES))
        counts.sum_duplicates()  # term counts
        parts.append(counts)
    X = sp.vstack(parts, format="csr")
    df = np.bincount(X.indices, minlength=N_FEATURES)
    idf = np.log(n / np.maximum(df, 1)).astype(np.float32) + 1.0
    X.data = np.log1p(X.data) * idf[X.indices]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ X
    return X.tocsr().astype(np.float32), y


def generate(n: int, seed: int, path: Path) -> None:
    """Write n REUTERS-shaped points to ``path`` (.npz); runs in its own process (see main)."""
    X, y = reuters_like(n, seed)
    np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr, shape=np.array(X.shape), y=y)


def one_fit(path: Path, pretrain_epochs: int, cluster_epochs: int, seed: int) -> dict:
    """Read the points written by :func:`generate` and fit DEC on them, in a process of its own,
    so that its peak memory is the fit's (with the data), not the generator's."""
    import torch

    from deepclust import DEC
    from deepclust.metrics import cluster_accuracy, normalized_mutual_info_score

    with np.load(path) as saved:
        X = sp.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"]))
        y = saved["y"]
    n = X.shape[0]
    steps_per_epoch = -(-n // 256)
    dec = DEC(N_CLUSTERS, pretrain="end-to-end", pretrain_epochs=pretrain_epochs,
              max_iter=cluster_epochs * steps_per_epoch, tol=0.0, random_state=seed)
    start = time.perf_counter()
    dec.fit(X)
    seconds = time.perf_counter() - start
    return {"n": n, "nnz": int(X.nnz), "fit_seconds": seconds,
            "fit_times": dec.fit_times_, "samples_per_s": n * (pretrain_epochs + cluster_epochs) / seconds,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "acc": cluster_accuracy(y, dec.labels_), "nmi": normalized_mutual_info_score(y, dec.labels_),
            "torch_threads": torch.get_num_threads()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 700_000])
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    parser.add_argument("--cluster-epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--generate", type=int, default=None, help=argparse.SUPPRESS)  # child processes
    parser.add_argument("--fit", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate is not None:
        generate(args.generate, args.seed, args.data)
        return 0
    if args.fit is not None:
        print(json.dumps(one_fit(args.fit, args.pretrain_epochs, args.cluster_epochs, args.seed)))
        return 0

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {args.pretrain_epochs} pretraining + "
          f"{args.cluster_epochs} clustering epochs a fit", flush=True)
    print("| n | nnz | fit (s) | pretrain / k-means / clustering (s) | samples/s | peak RSS (GiB) | ACC | NMI |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data.npz"
            proc = subprocess.run([sys.executable, __file__, "--generate", str(n), "--data", str(data),
                                   "--seed", str(args.seed)], capture_output=True, text=True)
            if proc.returncode == 0:
                proc = subprocess.run([sys.executable, __file__, "--fit", str(data), "--pretrain-epochs",
                                       str(args.pretrain_epochs), "--cluster-epochs", str(args.cluster_epochs),
                                       "--seed", str(args.seed)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"| {n} | failed: {proc.stderr.strip().splitlines()[-1]} |", flush=True)
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(r)
        t = r["fit_times"]
        print(f"| {n:,} | {r['nnz']:,} | {r['fit_seconds']:.1f} | {t['pretrain']:.1f} / {t['kmeans']:.1f} / "
              f"{t['clustering']:.1f} | {r['samples_per_s']:,.0f} | {r['peak_rss_gib']:.2f} | {r['acc']:.3f} | "
              f"{r['nmi']:.3f} |", flush=True)
    if len(rows) >= 2:
        slope = np.polyfit(np.log([r["n"] for r in rows]), np.log([r["fit_seconds"] for r in rows]), 1)[0]
        print(f"\nlog-log slope of fit time against n: {slope:.3f} (1 = linear)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
