"""Layer-wise (the paper's) vs end-to-end pretraining, compared per unit of time.

For each seed it pretrains the default d-500-500-2000-10 autoencoder on digits
with each schedule, then runs k-means on the embedding (AE + k-means) and DEC
from it, and prints ACC / NMI with the pretraining time and the time of one
whole fit (pretraining, k-means, self-training); ± is the population standard
deviation over the seeds. Schedules:

* end-to-end: Adam, ``--end-to-end-epochs`` epochs each (default: the library
  default, 50);
* layer-wise: the paper's scheme (dropout 20%, N(0, 0.01^2) init, SGD with
  momentum 0.9 at the library's default ``layerwise_lr``) shortened to
  ``LAYER:FINETUNE`` iterations, or the library's default "auto" schedule
  (``--layerwise``); the learning rate is divided by 10 every ``--lr-step``
  iterations (default: the library's "auto"). The paper's own 4 x 50,000 +
  100,000 iterations take hours on a CPU.

Labels are used for evaluation only.

Usage::

    python benchmarks/pretraining.py                              # 3 seeds
    python benchmarks/pretraining.py --layerwise 300:600 --seeds 0
"""

from __future__ import annotations

import argparse
import platform
from datetime import datetime, timezone

import numpy as np
import torch

from deepclust import DEC, __version__
from deepclust.data.batches import BatchSource
from deepclust.datasets import load_digits
from deepclust.metrics import cluster_accuracy, normalized_mutual_info_score


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--end-to-end-epochs", nargs="*", type=int, default=[50])
    parser.add_argument("--layerwise", nargs="*", default=["auto", "300:600"],
                        help="LAYER:FINETUNE iteration counts, or auto (DEC's default), one schedule each")
    parser.add_argument("--lr-step", type=int, default=None,
                        help="layer-wise learning rate divided by 10 every this many iterations "
                             "(default: DEC's 'auto')")
    args = parser.parse_args(argv)

    schedules = {f"end-to-end {e} epochs": dict(pretrain="end-to-end", pretrain_epochs=e)
                 for e in args.end_to_end_epochs}
    lr_step = "auto" if args.lr_step is None else args.lr_step
    for spec in args.layerwise:
        layer, finetune = ("auto", "auto") if spec == "auto" else (int(v) for v in spec.split(":"))
        schedules[f"layer-wise {spec}"] = dict(
            pretrain="layerwise", layerwise_iter=layer, finetune_iter=finetune, layerwise_lr_step=lr_step,
        )

    X, y = load_digits()
    print(f"deepclust {__version__}, torch {torch.__version__}, {platform.machine()}, "
          f"torch threads {torch.get_num_threads()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    auto = DEC()._layerwise_schedule(BatchSource(np.asarray(X, dtype=np.float32), torch.device("cpu")))
    print(f"digits {X.shape}; DEC's auto layer-wise schedule here: {auto}; lr step {lr_step}\n")
    print("| pretraining | seed | pretrain s | AE + k-means ACC | NMI | DEC ACC | NMI | whole fit s |")
    print("|---|---|---|---|---|---|---|---|")
    rows = {name: [] for name in schedules}
    for seed in args.seeds:
        for name, params in schedules.items():
            ae = DEC(10, max_iter=0, random_state=seed, **params).fit(X)
            dec = DEC(10, autoencoder=ae.autoencoder_, random_state=seed).fit(X)
            # One fit's time: pretraining, then k-means and self-training (counted once).
            total = ae.fit_times_["pretrain"] + dec.fit_times_["kmeans"] + dec.fit_times_["clustering"]
            r = (ae.fit_times_["pretrain"], cluster_accuracy(y, ae.labels_),
                 normalized_mutual_info_score(y, ae.labels_), cluster_accuracy(y, dec.labels_),
                 normalized_mutual_info_score(y, dec.labels_), total)
            rows[name].append(r)
            print(f"| {name} | {seed} | {r[0]:.1f} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.3f} | "
                  f"{r[5]:.1f} |", flush=True)
    for name, rs in rows.items():
        m, s = np.mean(rs, axis=0), np.std(rs, axis=0)
        print(f"| {name} | mean ± std | {m[0]:.1f} | {m[1]:.3f} ± {s[1]:.3f} | {m[2]:.3f} | "
              f"{m[3]:.3f} ± {s[3]:.3f} | {m[4]:.3f} | {m[5]:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
