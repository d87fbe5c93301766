"""Layer-wise (the paper's) vs end-to-end pretraining, compared per unit of time.

For each seed it pretrains the default d-500-500-2000-10 autoencoder on digits
both ways, then runs k-means on the embedding (AE + k-means) and DEC from it,
and prints ACC / NMI with the pretraining time. The layer-wise schedule is the
paper's (dropout 20%, N(0, 0.01^2) init, SGD lr 0.1 divided by 10 every
``lr_step`` iterations) with iteration counts shrunk by ``--layerwise-scale``
so the two schemes get comparable time: the paper's full 4 x 50,000 + 100,000
iterations at batch 256 would take hours on a CPU.

Usage::

    python benchmarks/pretraining.py                     # digits, 3 seeds
    python benchmarks/pretraining.py --layerwise-scale 0.02 --seeds 0
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timezone

import numpy as np
import torch

from deepclust import DEC, __version__
from deepclust.datasets import load_digits
from deepclust.metrics import cluster_accuracy, normalized_mutual_info_score

PAPER = dict(layerwise_iter=50_000, finetune_iter=100_000, layerwise_lr_step=20_000)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--layerwise-scale", type=float, default=0.01,
                        help="fraction of the paper's iteration counts (default 0.01)")
    args = parser.parse_args(argv)
    X, y = load_digits()
    layerwise = {k: max(1, round(v * args.layerwise_scale)) for k, v in PAPER.items()}
    print(f"deepclust {__version__}, torch {torch.__version__}, {platform.machine()}, "
          f"torch threads {torch.get_num_threads()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"digits {X.shape}; layerwise settings {layerwise}\n")
    print("| pretraining | seed | pretrain s | AE + k-means ACC | NMI | DEC ACC | NMI | DEC total s |")
    print("|---|---|---|---|---|---|---|---|")
    rows = {"end-to-end": [], "layerwise": []}
    for seed in args.seeds:
        for scheme, extra in (("end-to-end", {}), ("layerwise", layerwise)):
            start = time.perf_counter()
            ae = DEC(10, pretrain=scheme, max_iter=0, random_state=seed, **extra).fit(X)
            dec = DEC(10, autoencoder=ae.autoencoder_, random_state=seed).fit(X)
            total = time.perf_counter() - start
            r = (ae.fit_times_["pretrain"], cluster_accuracy(y, ae.labels_),
                 normalized_mutual_info_score(y, ae.labels_), cluster_accuracy(y, dec.labels_),
                 normalized_mutual_info_score(y, dec.labels_), total)
            rows[scheme].append(r)
            print(f"| {scheme} | {seed} | {r[0]:.1f} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.1f} |",
                  flush=True)
    for scheme, rs in rows.items():
        m = np.mean(rs, axis=0)
        print(f"| {scheme} | mean | {m[0]:.1f} | {m[1]:.3f} | {m[2]:.3f} | {m[3]:.3f} | {m[4]:.3f} | {m[5]:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
