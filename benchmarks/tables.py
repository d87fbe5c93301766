"""Your own table from the command line: ``deepclust fit data.csv`` with its DEFAULTS on two ordinary
tables in raw units, beside k-means on the standardised table.

* wine: scikit-learn's wine (178 rows, 13 columns in units from 0.1 to 1,000s, 3 cultivars), its rows
  shuffled once (seed 0) and written with an integer ``id`` column (1..n) and the label column
  ``cultivar``;
* breast-cancer: scikit-learn's breast cancer (569 rows, 30 columns, 2 classes), written with a text
  patient ID column ``patient`` ("P00000", ...) and the label column ``diagnosis``.

For each, with seeds 0 1 2: ``deepclust fit CSV --n-clusters K --label-column LABEL --id-column ID``
(a real subprocess, default settings: ``--scale auto`` must find that the scales differ), its ACC /
NMI / ARI read from its output; k-means (n_init=20) on the standardised feature columns; and the same
fit WITHOUT ``--id-column``, as a user who forgot it: wine's integer ID is then a feature (the
ID-like warning must fire; its ACC is reported), breast cancer's text ID is refused with a message
naming ``--id-column``. Targets: wine ACC >= 0.95, breast-cancer ACC >= 0.90.

    OMP_NUM_THREADS=1 python benchmarks/tables.py [--seeds 0 1 2] [--json tables.json]

``--fit-args`` adds options to every fit (e.g. short settings for a smoke run); the measured table
uses none. Measured figures are in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_tables(folder: Path) -> dict:
    """The two CSV files; returns name -> (path, label column, id column, k, X, y)."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer, load_wine

    wine = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    wine = wine.sample(frac=1.0, random_state=0).reset_index(drop=True)
    wine.insert(0, "id", np.arange(1, len(wine) + 1))
    cancer = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "diagnosis"})
    cancer.insert(0, "patient", [f"P{i:05d}" for i in range(len(cancer))])
    tables = {}
    for name, frame, label, id_column in (("wine", wine, "cultivar", "id"),
                                          ("breast-cancer", cancer, "diagnosis", "patient")):
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        X = frame.drop(columns=[label, id_column]).to_numpy(float)
        y = frame[label].to_numpy()
        tables[name] = (path, label, id_column, len(np.unique(y)), X, y)
    return tables


def deepclust_fit(path, k, label, id_column, seed, out, extra):
    """``(scores or None, seconds, warnings and errors)`` of one ``deepclust fit``."""
    command = [sys.executable, "-m", "deepclust", "fit", str(path), "--n-clusters", str(k), "--label-column",
               label, "--seed", str(seed), "--out", str(out), "--quiet", *extra]
    if id_column is not None:
        command += ["--id-column", id_column]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    found = re.search(r"ACC ([0-9.]+)\s+NMI ([0-9.]+)\s+ARI (-?[0-9.]+)", done.stdout)
    scores = None if found is None else dict(zip(("ACC", "NMI", "ARI"), map(float, found.groups()), strict=True))
    said = [line for line in (done.stdout + done.stderr).splitlines()
            if line.startswith(("deepclust:", "--scale"))]
    return scores, seconds, said


def kmeans_scores(X, y, seed):
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    from deepclust.metrics import adjusted_rand_score, cluster_accuracy, normalized_mutual_info_score

    labels = KMeans(len(np.unique(y)), n_init=20, random_state=seed).fit_predict(StandardScaler().fit_transform(X))
    return {"ACC": cluster_accuracy(y, labels), "NMI": normalized_mutual_info_score(y, labels),
            "ARI": adjusted_rand_score(y, labels)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--json", default=None, metavar="FILE", help="write the results here")
    parser.add_argument("--fit-args", nargs=argparse.REMAINDER, default=[],
                        help="options added to every fit (none for the measured table)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tables = write_tables(Path(tmp))
        for name, (path, label, id_column, k, X, y) in tables.items():
            for forgot in (False, True):
                for seed in args.seeds:
                    scores, seconds, said = deepclust_fit(path, k, label, None if forgot else id_column, seed,
                                                          Path(tmp) / f"model-{name}-{seed}-{forgot}", args.fit_args)
                    row = {"table": name, "run": f"DEC, {'no ' if forgot else ''}--id-column", "seed": seed,
                           **(scores or {}), "seconds": round(seconds, 1), "said": said}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            for seed in args.seeds:
                rows.append({"table": name, "run": "k-means, standardised", "seed": seed, **kmeans_scores(X, y, seed)})
    wall = time.perf_counter() - start
    print("\n| table | run | seed | ACC | NMI | ARI | fit s | what the command line said |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        cells = [f"{row[m]:.3f}" if m in row else "refused" for m in ("ACC", "NMI", "ARI")]
        said = "; ".join(s.replace("|", "/") for s in row.get("said", []))
        print(f"| {row['table']} | {row['run']} | {row['seed']} | {' | '.join(cells)} | "
              f"{row.get('seconds', '')} | {said} |")
    print("\nmean ACC: " + ", ".join(
        f"{t} {r} {np.mean([x['ACC'] for x in rows if x['table'] == t and x['run'] == r and 'ACC' in x]):.3f}"
        for t in tables for r in dict.fromkeys(x["run"] for x in rows if x["table"] == t)
        if any("ACC" in x for x in rows if x["table"] == t and x["run"] == r)))
    print(f"wall time {wall:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "wall_s": round(wall, 1)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
