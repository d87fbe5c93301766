"""DEC against its baselines on digits and Fashion-MNIST, over several seeds.

For each dataset and seed it runs, with the library's default settings:

* k-means on the raw (paper-normalised) data, ``n_init=20``;
* AE + k-means: the default autoencoder pretraining, then k-means on the
  embedding (``DEC(max_iter=0)``);
* DEC w/o backprop: the same autoencoder, only the centroids trained
  (``freeze_encoder=True``);
* DEC: the same autoencoder, encoder and centroids trained.

and, with ``--methods``, the other methods: IDEC and DCN from the same
autoencoder as DEC (their wall time includes its pretraining), and DBC with
its own convolutional autoencoder (pretrained with DBC's defaults);

and prints ACC / NMI / ARI, wall time and training throughput as mean ± std
over the seeds. DEC's and DEC w/o backprop's wall time include the
pretraining they start from, so it is the time of the whole pipeline.
Pretraining throughput counts the samples of every SGD step (each layer's,
then fine-tuning's); a layer-wise step trains one layer, so it is cheaper
than an end-to-end one.
Labels are used for evaluation only.

Usage::

    python benchmarks/dec_benchmark.py                       # digits and Fashion-MNIST, 3 seeds
    python benchmarks/dec_benchmark.py --datasets digits --seeds 0 1 2
    python benchmarks/dec_benchmark.py --json benchmarks/out/dec.json
    python benchmarks/dec_benchmark.py --precision float32    # DEC's precision (default: "auto")
    python benchmarks/dec_benchmark.py --param pretrain=\"end-to-end\" --param pretrain_epochs=300
    python benchmarks/dec_benchmark.py --datasets digits --methods IDEC DCN DBC

Fashion-MNIST is all 70,000 images from Debian's ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``) or ``$DEEPCLUST_DATA/fashion-mnist``;
it is skipped with a message when the files are missing.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from deepclust import __version__, experiments
from deepclust.datasets import load_digits, load_fashion_mnist
from deepclust.experiments import run_methods

LOADERS = {"digits": load_digits, "fashion-mnist": load_fashion_mnist}
METHODS = ("k-means", "AE + k-means", "DEC w/o backprop", "DEC")
OTHERS = experiments.DEEP_METHODS


def run_seed(X, y, k: int, seed: int, device: str, precision: str, params: dict,
             others: tuple = ()) -> dict:
    """One seed of every method (deepclust.experiments.run_methods, which shares the pretrained
    autoencoder between the rows that start from one)."""
    run = run_methods(X, y, k, seed, (*METHODS, *others), dec_params={**params, "precision": precision},
                      device=device)
    run["precision"] = run["AE + k-means"]["precision"]
    return run


def summarise(runs: list[dict]) -> dict:
    return experiments.summarise([{m: r[m] for m in r if m != "precision"} for r in runs])


def print_table(name: str, n: int, d: int, summary: dict, n_seeds: int, precision: str) -> None:
    print(f"\n## {name}: {n} samples x {d} features, mean ± std over {n_seeds} seeds, "
          f"precision {precision}\n")
    print("| method | ACC | NMI | ARI | wall time (s) | training throughput (samples/s) |")
    print("|---|---|---|---|---|---|")
    for method, row in summary.items():
        cells = [f"{row[m][0]:.3f} ± {row[m][1]:.3f}" for m in ("acc", "nmi", "ari")]
        cells.append(f"{row['seconds'][0]:.1f} ± {row['seconds'][1]:.1f}")
        tput = row.get("samples_per_s")
        cells.append(f"{tput[0]:,.0f} ± {tput[1]:,.0f}" if tput else "n/a")
        print(f"| {method} | " + " | ".join(cells) + " |")
    print("\nThroughput: AE + k-means is pretraining (encoder + decoder, forward and backward); "
          "DEC rows are the clustering phase (encoder only; IDEC and DCN train the decoder too; DEC w/o "
          "backprop moves only the centroids, on the embedding computed once).",
          flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(LOADERS), default=list(LOADERS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", choices=["auto", "float32", "bfloat16", "mixed"], default="auto",
                        help="DEC's precision (default 'auto': 'mixed', bfloat16 clustering steps, "
                             "on a CPU whose bfloat16 units measure 1.5 times as fast as float32; "
                             "float32 elsewhere)")
    parser.add_argument("--json", type=Path, default=None, help="also write all figures here")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a DEC setting other than its default (a Python literal), for every run; "
                             "the other methods get those they accept (IDEC and DCN: not the "
                             "pretraining ones, whose autoencoder they share; DBC: not 'pretrain')")
    parser.add_argument("--methods", nargs="+", choices=sorted(OTHERS), default=[],
                        help="also run these methods (IDEC and DCN from DEC's autoencoder, DBC "
                             "with its own convolutional one)")
    args = parser.parse_args(argv)
    params = {}
    for item in args.param:
        name, _, text = item.partition("=")
        try:
            params[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            params[name] = text

    print(f"deepclust {__version__}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, settings {params or 'defaults'}", flush=True)
    results = {}
    for name in args.datasets:
        try:
            X, y = LOADERS[name]()
        except FileNotFoundError as exc:
            print(f"\n## {name}: skipped. {exc}", flush=True)
            continue
        k = len(np.unique(y))
        runs = []
        for seed in args.seeds:
            run = run_seed(X, y, k, seed, args.device, args.precision, params, tuple(args.methods))
            runs.append(run)
            print(f"{name} seed {seed} ({run['precision']}): " + "; ".join(
                f"{m} ACC {run[m]['acc']:.3f} NMI {run[m]['nmi']:.3f} {run[m]['seconds']:.0f}s"
                for m in (*METHODS, *args.methods)
            ), flush=True)
        summary = summarise(runs)
        print_table(name, X.shape[0], X.shape[1], summary, len(args.seeds), runs[0]["precision"])
        results[name] = {"runs": runs, "summary": summary, "n_samples": X.shape[0], "n_features": X.shape[1]}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(experiments._jsonable(results), indent=2, allow_nan=False))  # NaN as null
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
