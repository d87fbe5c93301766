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

``--schedule default`` fits with DEC's defaults instead (its layer-wise pretraining and "auto" schedules,
stopping at ``tol``): the time a user waits for a whole fit, which is what issue 5's GPU target counts
(REUTERS-size data in under 5 minutes); its slope is not an epoch's cost, since the schedules cap their
iterations. ``--device cuda`` runs the fits on a GPU.

Usage::

    python benchmarks/scaling.py                                  # n = 10k, 100k, 700k
    python benchmarks/scaling.py --sizes 10000 30000 100000 --json benchmarks/out/scaling.json
    python benchmarks/scaling.py --sizes 700000 --schedule default --device cuda   # a whole default fit
"""

from __future__ import annotations

import argparse
import ast
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


def one_fit(path: Path, pretrain_epochs: int, cluster_epochs: int, seed: int, schedule: str = "epochs",
            device: str = "auto", params: dict | None = None) -> dict:
    """Read the points written by :func:`generate` and fit DEC on them, in a process of its own,
    so that its peak memory is the fit's (with the data), not the generator's."""
    import torch

    from deepclust import DEC
    from deepclust.experiments import _pretrain_samples, _samples_per_step
    from deepclust.metrics import cluster_accuracy, normalized_mutual_info_score

    with np.load(path) as saved:
        X = sp.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"]))
        y = saved["y"]
    n = X.shape[0]
    steps_per_epoch = -(-n // 256)
    if schedule == "default":
        dec = DEC(N_CLUSTERS, device=device, random_state=seed)
    else:
        dec = DEC(N_CLUSTERS, pretrain="end-to-end", pretrain_epochs=pretrain_epochs,
                  max_iter=cluster_epochs * steps_per_epoch, tol=0.0, device=device, random_state=seed)
    dec.set_params(**(params or {}))
    start = time.perf_counter()
    dec.fit(X)
    if dec.device_.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    # The samples the training steps saw (pretraining's and the clustering phase's), whatever the schedule.
    samples = _pretrain_samples(dec, n) + dec.n_iter_ * _samples_per_step(dec, n)
    gpu_peak = torch.cuda.max_memory_allocated() / 2**30 if dec.device_.type == "cuda" else None
    return {"n": n, "nnz": int(X.nnz), "fit_seconds": seconds, "device": str(dec.device_),
            "n_iter": int(dec.n_iter_), "gpu_peak_gib": gpu_peak,
            "fit_times": dec.fit_times_, "samples_per_s": samples / seconds,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "acc": cluster_accuracy(y, dec.labels_), "nmi": normalized_mutual_info_score(y, dec.labels_),
            "torch_threads": torch.get_num_threads()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 700_000])
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    parser.add_argument("--cluster-epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schedule", choices=["epochs", "default"], default="epochs",
                        help="epochs: the fixed numbers of epochs above; default: DEC's own defaults (a whole fit)")
    parser.add_argument("--device", default="auto", help="DEC's device: auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a DEC parameter on top of the schedule (a Python literal), e.g. layerwise_iter=100")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--generate", type=int, default=None, help=argparse.SUPPRESS)  # child processes
    parser.add_argument("--fit", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--params-json", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    params = {}
    for item in args.param:
        name, sep, text = item.partition("=")
        if not sep:
            parser.error(f"--param {item!r} must be NAME=VALUE")
        try:
            params[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            params[name] = text  # a bare string, e.g. pretrain=end-to-end
    if args.generate is not None:
        generate(args.generate, args.seed, args.data)
        return 0
    if args.fit is not None:
        print(json.dumps(one_fit(args.fit, args.pretrain_epochs, args.cluster_epochs, args.seed, args.schedule,
                                 args.device, json.loads(args.params_json))))
        return 0

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; " + (
              "DEC's default schedules" if args.schedule == "default" else
              f"{args.pretrain_epochs} pretraining + {args.cluster_epochs} clustering epochs a fit")
          + (f", with {params}" if params else ""), flush=True)
    print("| n | nnz | device | fit (s) | pretrain / k-means / clustering (s) | clustering iterations | "
          "samples/s (whole fit) | "
          "peak RSS (GiB) | peak GPU memory (GiB) | ACC | NMI |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data.npz"
            proc = subprocess.run([sys.executable, __file__, "--generate", str(n), "--data", str(data),
                                   "--seed", str(args.seed)], capture_output=True, text=True)
            if proc.returncode == 0:
                proc = subprocess.run([sys.executable, __file__, "--fit", str(data), "--pretrain-epochs",
                                       str(args.pretrain_epochs), "--cluster-epochs", str(args.cluster_epochs),
                                       "--seed", str(args.seed), "--schedule", args.schedule,
                                       "--device", args.device, "--params-json", json.dumps(params)],
                                      capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"| {n} | failed: {proc.stderr.strip().splitlines()[-1]} |", flush=True)
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(r)
        t = r["fit_times"]
        gpu = "n/a" if r["gpu_peak_gib"] is None else f"{r['gpu_peak_gib']:.2f}"
        print(f"| {n:,} | {r['nnz']:,} | {r['device']} | {r['fit_seconds']:.1f} | {t['pretrain']:.1f} / "
              f"{t['kmeans']:.1f} / {t['clustering']:.1f} | {r['n_iter']:,} | {r['samples_per_s']:,.0f} | "
              f"{r['peak_rss_gib']:.2f} | {gpu} | {r['acc']:.3f} | {r['nmi']:.3f} |", flush=True)
    if len(rows) >= 2:
        slope = np.polyfit(np.log([r["n"] for r in rows]), np.log([r["fit_seconds"] for r in rows]), 1)[0]
        print(f"\nlog-log slope of fit time against n: {slope:.3f} (1 = linear)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        from deepclust.experiments import _jsonable

        args.json.write_text(json.dumps(_jsonable(rows), indent=1, allow_nan=False))  # NaN as null
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
