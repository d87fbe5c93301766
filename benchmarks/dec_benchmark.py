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
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans

from deepclust import DBC, DCN, DEC, IDEC, __version__
from deepclust._data import batches_per_epoch
from deepclust.datasets import load_digits, load_fashion_mnist
from deepclust.metrics import adjusted_rand_score, cluster_accuracy, normalized_mutual_info_score

LOADERS = {"digits": load_digits, "fashion-mnist": load_fashion_mnist}
METHODS = ("k-means", "AE + k-means", "DEC w/o backprop", "DEC")
OTHERS = {"IDEC": IDEC, "DCN": DCN, "DBC": DBC}
# Settings of the pretraining only: the DEC rows start from the AE row's autoencoder.
PRETRAINING = {"pretrain", "pretrain_epochs", "pretrain_lr", "pretrain_optimizer", "layerwise_iter",
               "finetune_iter", "layerwise_lr", "layerwise_lr_step", "dropout", "hidden_dims",
               "embedding_dim"}


def scores(y, labels) -> dict:
    return {
        "acc": cluster_accuracy(y, labels),
        "nmi": normalized_mutual_info_score(y, labels),
        "ari": adjusted_rand_score(y, labels),
    }


def run_seed(X, y, k: int, seed: int, device: str, precision: str, params: dict,
             others: tuple = ()) -> dict:
    out = {}
    n = X.shape[0]

    start = time.perf_counter()
    km = KMeans(k, n_init=20, random_state=seed).fit(X)
    out["k-means"] = {**scores(y, km.labels_), "seconds": time.perf_counter() - start}

    start = time.perf_counter()
    ae = DEC(k, random_state=seed, device=device, precision=precision, **{**params, "max_iter": 0}).fit(X)
    ae_seconds = time.perf_counter() - start
    pretrain_s = ae.fit_times_["pretrain"]
    # Samples per SGD step on average: an epoch's last batch is smaller than batch_size.
    per_step = n / batches_per_epoch(n, ae.batch_size)
    if ae.layerwise_schedule_ is not None:  # each layer, then fine-tuning
        schedule = ae.layerwise_schedule_
        n_layers = len(ae.autoencoder_.dims) - 1
        samples = (n_layers * schedule["layer_iter"] + schedule["finetune_iter"]) * per_step
    else:  # end to end: the resolved number of steps ("auto" included)
        samples = ae.pretrain_schedule_["n_iter"] * per_step if ae.autoencoder is None else 0
    out["precision"] = ae.precision_
    out["AE + k-means"] = {
        **scores(y, ae.labels_),
        "seconds": ae_seconds,
        "samples_per_s": samples / pretrain_s,
        "pretrain_seconds": pretrain_s,
        "final_reconstruction_loss": ae.pretrain_history_[-1],
    }

    for name, frozen in (("DEC w/o backprop", True), ("DEC", False)):
        start = time.perf_counter()
        clustering = {key: v for key, v in params.items() if key not in PRETRAINING}
        dec = DEC(k, autoencoder=ae.autoencoder_, freeze_encoder=frozen, random_state=seed,
                  device=device, precision=precision, **clustering).fit(X)
        seconds = time.perf_counter() - start
        clustering_s = dec.fit_times_["clustering"]
        out[name] = {
            **scores(y, dec.labels_),
            "seconds": ae_seconds + seconds,  # the whole pipeline, pretraining included
            "samples_per_s": dec.n_iter_ * per_step / clustering_s if clustering_s else float("nan"),
            "n_iter": dec.n_iter_,
            "target_updates": len(dec.history_) - 1,
        }

    for name in others:
        cls = OTHERS[name]
        accepted = cls().get_params()
        start = time.perf_counter()
        if name == "DBC":  # its own network and pretraining (end to end: "pretrain" is not passed)
            own = {key: v for key, v in params.items() if key in accepted and key != "pretrain"}
            model = cls(k, random_state=seed, device=device, precision=precision, **own).fit(X)
            total = time.perf_counter() - start
        else:  # the AE row's autoencoder
            own = {key: v for key, v in params.items() if key in accepted and key not in PRETRAINING}
            model = cls(k, autoencoder=ae.autoencoder_, random_state=seed, device=device,
                        precision=precision, **own).fit(X)
            total = ae_seconds + time.perf_counter() - start
        clustering_s = model.fit_times_["clustering"]
        out[name] = {
            **scores(y, model.labels_),
            "seconds": total,
            "samples_per_s": model.n_iter_ * per_step / clustering_s if clustering_s else float("nan"),
            "n_iter": model.n_iter_,
            "target_updates": len(model.history_) - 1,
        }
    return out


def summarise(runs: list[dict]) -> dict:
    summary = {}
    for method in [m for m in (*METHODS, *OTHERS) if m in runs[0]]:
        keys = runs[0][method].keys()
        summary[method] = {
            key: (float(np.mean([r[method][key] for r in runs])), float(np.std([r[method][key] for r in runs])))
            for key in keys
        }
    return summary


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
          "DEC rows are the clustering phase (encoder only; IDEC and DCN train the decoder too).",
          flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(LOADERS), default=list(LOADERS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", choices=["auto", "float32", "bfloat16", "mixed"], default="auto",
                        help="DEC's precision (default 'auto': bfloat16 on a CPU with native "
                             "bfloat16 units)")
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
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
