"""Time to accuracy: DEC's clustering accuracy against wall-clock time, pretraining included.

For each dataset, pretraining budget and seed it fits DEC once, recording the
embedding of a fixed random sample of the training rows at every target update
(``snapshot_size``), and prints one curve: the time at which AE + k-means was
ready (pretraining plus k-means) with its accuracy, then the time and accuracy
after each target update of the clustering phase (``history_``'s ``seconds``).
A budget scales the "auto" layer-wise schedule (iterations a layer and of
fine-tuning, the learning-rate step with them; layer-wise pretraining on every
dataset, as ``pretrain="auto"`` chooses on digits): 1 is that schedule;
0.25 and 0.5 ask what a quarter or half of its pretraining costs in accuracy.
The summary gives, per budget, the mean time to reach given fractions of the
default's final accuracy on the recorded rows, and the final figures on all
points. Accuracy is measured on
the recorded rows (all of them on digits, 10,000 on Fashion-MNIST) and labels
are used for evaluation only.

Usage::

    python benchmarks/time_to_accuracy.py --datasets digits
    python benchmarks/time_to_accuracy.py --datasets fashion-mnist --budgets 0.5 1 --seeds 0
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from deepclust import DEC, __version__
from deepclust.training import pretrain_stage as _base
from deepclust.data.batches import batches_per_epoch
from deepclust.experiments import snapshot_accuracy
from deepclust.metrics import cluster_accuracy


def _budget_params(n_samples: int, batch_size: int, budget: float) -> dict:
    """The "auto" layer-wise schedule (see DEC's docstring) scaled by ``budget``."""
    if budget == 1:
        return {}
    layer, finetune = _base.layerwise_iterations("auto", "auto", batches_per_epoch(n_samples, batch_size))
    step = _base.layerwise_lr_step("auto", layer, finetune)
    return {"layerwise_iter": max(1, round(budget * layer)), "finetune_iter": max(1, round(budget * finetune)),
            "layerwise_lr_step": max(1, round(budget * step))}


def _load(name):
    from deepclust.datasets import load_digits, load_fashion_mnist

    if name == "digits":
        return load_digits()
    try:
        return load_fashion_mnist(download=False)
    except (FileNotFoundError, OSError) as exc:
        print(f"{name}: skipped ({exc})")
        return None


def run_curve(X, y, *, budget: float, seed: int, snapshot_size: int, extra: dict | None = None) -> dict:
    extra = extra or {}
    params = {**_budget_params(len(X), int(extra.get("batch_size", 256)), budget), **extra}
    start = time.perf_counter()
    # the layer-wise schedule on every dataset (pretrain="auto" would pretrain Fashion-MNIST end to end)
    dec = DEC(int(len(np.unique(y))), pretrain="layerwise", random_state=seed, snapshot_size=snapshot_size,
              **params).fit(X)
    total = time.perf_counter() - start
    ready = dec.fit_times_["pretrain"] + dec.fit_times_["kmeans"]
    accs = dict(snapshot_accuracy(dec, y))
    curve = [(ready + (h["seconds"] if h["iteration"] else 0.0), accs[h["iteration"]], h["iteration"])
             for h in dec.history_ if h["iteration"] in accs]
    return {"budget": budget, "seed": seed, "params": params, "curve": curve, "seconds": total,
            "pretrain_seconds": dec.fit_times_["pretrain"], "final_acc": cluster_accuracy(y, dec.labels_),
            "n_iter": dec.n_iter_}


def time_to(curve, level: float) -> float:
    """First time at which the curve's accuracy reaches ``level`` (inf if never)."""
    return next((t for t, acc, _ in curve if acc >= level), math.inf)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "fashion-mnist"],
                        choices=["digits", "fashion-mnist"])
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.25, 0.5, 1.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--snapshot-size", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=None, help="write every curve to this file")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a DEC parameter for every run (a Python literal), e.g. max_iter=2000")
    args = parser.parse_args(argv)
    extra = {}
    for item in args.param:
        name, _, text = item.partition("=")
        try:
            extra[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):  # a bare word, e.g. precision=float32
            extra[name] = text
    if args.snapshot_size < 1:
        parser.error("--snapshot-size must be at least 1: the curve is measured on the recorded rows")
    if "pretrain" in extra or extra.keys() & {"layerwise_iter", "finetune_iter"}:
        parser.error("a budget scales the layer-wise pretraining schedule; drop --param pretrain / "
                     "layerwise_iter / finetune_iter")
    print(f"# time to accuracy, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, deepclust {__version__}, "
          f"settings {extra or 'defaults'}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{platform.processor() or platform.machine()}")
    results = {}
    for name in args.datasets:
        data = _load(name)
        if data is None:
            continue
        X, y = data
        print(f"\n## {name} ({X.shape[0]:,} x {X.shape[1]})")
        runs = []
        for budget in args.budgets:
            for seed in args.seeds:
                run = run_curve(X, y, budget=budget, seed=seed, snapshot_size=args.snapshot_size, extra=extra)
                runs.append(run)
                every = max(1, len(run["curve"]) // 8)
                points = ", ".join(f"{t:.0f}s {acc:.3f}" for t, acc, _ in run["curve"][::every])
                print(f"budget {budget:g} seed {seed}: pretraining {run['pretrain_seconds']:.1f} s; "
                      f"curve (time, ACC): {points}; end {run['seconds']:.1f} s, ACC {run['final_acc']:.3f} "
                      f"(all points), {run['n_iter']} iterations", flush=True)
        # The default's final accuracy on the same recorded rows as the curves (its last point).
        finals = [r["curve"][-1][1] for r in runs if r["budget"] == 1.0] or [r["curve"][-1][1] for r in runs]
        reference = np.mean(finals)
        levels = (0.9, 0.95, 0.98, 1.0)
        print("\n| budget | AE + k-means ready (s) | " + " | ".join(f"time to {f:.0%} of {reference:.3f} (s)"
                                                            for f in levels) + " | final ACC | whole fit (s) |")
        print("|---" * (4 + len(levels)) + "|")
        for budget in args.budgets:
            mine = [r for r in runs if r["budget"] == budget]
            ready = np.mean([r["curve"][0][0] for r in mine])
            cells = []
            for f in levels:
                times = [time_to(r["curve"], f * reference) for r in mine]
                reached = [t for t in times if math.isfinite(t)]
                cells.append(f"{np.mean(reached):.1f} ({len(reached)}/{len(mine)})" if reached else "never")
            finals = [r["final_acc"] for r in mine]
            print(f"| {budget:g} | {ready:.1f} | " + " | ".join(cells) +
                  f" | {np.mean(finals):.3f} ± {np.std(finals):.3f} | {np.mean([r['seconds'] for r in mine]):.1f} |")
        results[name] = runs
    if args.json:
        from deepclust.experiments import _jsonable

        args.json.write_text(json.dumps(_jsonable(results), indent=1, allow_nan=False))  # NaN as null
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
