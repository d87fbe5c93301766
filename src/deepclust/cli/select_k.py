"""``deepclust select-k``: choose the number of clusters of the user's own data.

First a cheap opinion, the silhouette of k-means on the embedding of one pretrained autoencoder
(AE + k-means) for each candidate, then :func:`deepclust.select_n_clusters` (the paper's
generalizability), whose table and choice it prints and can write as JSON or Markdown.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .files import _add_table_args, _outside_data, _read_input, _writable_file, _write_text


def _candidates(tokens) -> list[int]:
    """``2..15``, ``2,4,8`` or ``2 4 8`` (mixed as wished) as a sorted list of distinct ints >= 2."""
    values = set()
    for token in tokens:
        for part in str(token).replace(",", " ").split():
            low, sep, high = part.partition("..")
            try:
                numbers = range(int(low), int(high) + 1) if sep else [int(part)]
            except ValueError:
                raise ValueError(f"--candidates {part!r}: give integers, a range such as 2..15, or a list "
                                 "such as 2,4,8.") from None
            if not numbers:
                raise ValueError(f"--candidates {part!r} is an empty range; write LOW..HIGH with LOW <= HIGH.")
            values.update(numbers)
    if not values or min(values) < 2:
        raise ValueError("--candidates: each number of clusters must be at least 2.")
    if len(values) < 2:
        raise ValueError("--candidates: give at least two numbers of clusters to choose between.")
    return sorted(values)


def add_parser(sub, positive, count) -> None:
    parser = sub.add_parser(
        "select-k", help="choose the number of clusters of a data file or folder (AE + k-means silhouette, "
                         "then DEC's generalizability)",
        description="First prints a quick first opinion, the silhouette of k-means on the embedding of one "
                    "pretrained autoencoder (AE + k-means) for each candidate, then runs "
                    "deepclust.select_n_clusters: two 50 / 50 training / validation splits, one pretraining a "
                    "split and a DEC fit of --max-iter iterations for every candidate k, and the k just "
                    "before the largest drop of the generalizability G (the DEC paper's section 5.5). "
                    "That costs one fit of --max-iter iterations per k and split: set --max-iter for the "
                    "time you have (DEC's default is 10,000).")
    parser.add_argument("data", help="the data, read as 'fit' reads it")
    parser.add_argument("--candidates", nargs="+", required=True, metavar="K",
                        help="the numbers of clusters to try: a range such as 2..15, a list such as 2,4,8 "
                             "or several numbers, each at least 2")
    parser.add_argument("--max-iter", type=count, default=None, metavar="N",
                        help="clustering iterations of every k (default DEC's max_iter, 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the splits and fits (default 0)")
    parser.add_argument("--label-column", default=None, metavar="COL",
                        help="true labels, kept out of the features; only to add each k's NMI to the table")
    parser.add_argument("--n-splits", type=positive, default=2, metavar="N",
                        help="training / validation splits G is averaged over (default 2)")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="any other DEC parameter, e.g. --param hidden_dims='(500, 500, 2000)'")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="also write the result: FILE.json, or FILE.md for Markdown tables")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--verbose", action="store_true", default=None, help="show progress bars")
    parser.add_argument("--quiet", dest="verbose", action="store_false", help="no progress lines")
    _add_table_args(parser, fit=True)  # a table is read (and scaled) as fit reads it


def _select_k(args) -> int:
    import sys

    from ..methods.dec import DEC
    from ..selection import select_n_clusters
    from .commands import _estimator_params

    candidates = _candidates(args.candidates)
    out = None if args.out is None else Path(args.out)
    if out is not None:  # checked before any work
        if out.suffix.lower() not in (".json", ".md"):
            raise ValueError(f"--out {args.out!r}: give a .json or a .md file.")
        if out.is_dir():
            raise ValueError(f"--out {args.out!r} is a folder; give a .json or .md file.")
        _outside_data(out, args.data, "--out")
        _writable_file(out, "--out")
    taken = {"n_clusters": "--candidates", "random_state": "--seed", "max_iter": "--max-iter",
             "tol": "select-k trains every k for --max-iter iterations, with tol 0"}
    params = _estimator_params(args.param, DEC, set(taken), flags=taken)
    if args.max_iter is not None:
        params["max_iter"] = args.max_iter
    verbose = sys.stderr.isatty() if args.verbose is None else args.verbose
    params.update(device=args.device, verbose=verbose, snapshot_size=0)
    X, y, _, _, _, _, notes = _read_input(args.data, args.label_column, args=args)
    for note in notes:  # what was done to a table: rows left out, scaling
        print(note)
    if len(candidates) and max(candidates) > X.shape[0] // 2:
        raise ValueError(f"--candidates up to {max(candidates)} need at least {2 * max(candidates)} rows (each "
                         f"split holds half of them); {args.data!r} has {X.shape[0]}.")

    start = time.perf_counter()
    opinion = _first_opinion(X, candidates, params, args.seed)
    best = max(opinion, key=lambda row: row["silhouette"])["k"]
    print(f"a first opinion: the silhouette of AE + k-means (k-means on the embedding of one autoencoder "
          f"pretrained on all {X.shape[0]} rows; higher is better; {time.perf_counter() - start:.1f} s):")
    print("  k  silhouette")
    for row in opinion:
        print(f"{row['k']:>3}  {row['silhouette']:.3f}" + ("  <- highest" if row["k"] == best else ""))
    print(flush=True)

    start = time.perf_counter()
    selection = select_n_clusters(X, candidates, estimator=DEC(**params), y=y, n_splits=args.n_splits,
                                  random_state=args.seed, verbose=verbose)
    seconds = time.perf_counter() - start
    iterations = DEC(**params).max_iter
    print(f"DEC's generalizability G = L_train / L_validation ({args.n_splits} splits, {iterations} "
          f"clustering iterations a k; {seconds:.0f} s):")
    print(_table_text(selection.table))
    print(f"chosen: k = {selection.n_clusters} (the k just before the largest drop of G); the silhouette's "
          f"first opinion: k = {best}")
    if out is not None:
        result = {"data": str(args.data), "candidates": candidates, "seed": args.seed,
                  "params": {k: v for k, v in params.items() if k not in ("verbose",)},
                  "first_opinion": {"what": "silhouette of AE + k-means", "table": opinion, "k": best},
                  "n_clusters": selection.n_clusters, "table": selection.table, "seconds": round(seconds, 1)}
        if out.suffix.lower() == ".json":
            from ..experiments.writing import _jsonable

            text = json.dumps(_jsonable(result), indent=1, allow_nan=False) + "\n"  # a NaN G as null
        else:
            text = _markdown(result)
        _write_text(out, text)
        print(f"wrote {out}")
    return 0


def _first_opinion(X, candidates, params, seed) -> list[dict]:
    """The silhouette of k-means on one pretrained autoencoder's embedding, for each candidate."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    from ..methods.dec import DEC

    ae = DEC(**{**params, "n_clusters": candidates[0], "max_iter": 0, "random_state": seed}).fit(X)
    z = ae.transform(X)
    rows = []
    for k in candidates:
        labels = KMeans(k, n_init=10, random_state=seed).fit_predict(z)
        score = silhouette_score(z, labels, sample_size=min(len(z), 5000), random_state=seed) \
            if len(set(labels.tolist())) > 1 else float("nan")
        rows.append({"k": k, "silhouette": round(float(score), 4)})
    return rows


def _table_text(table) -> str:
    nmi = any("nmi" in row for row in table)
    lines = ["  k       G  G of each split          drop" + ("     NMI" if nmi else "")]
    for row in table:
        splits = " ".join(f"{g:.3f}" for g in row["G_splits"])
        drop = "" if row["drop"] is None else f"{row['drop']:+.3f}"
        lines.append(f"{row['k']:>3}  {row['G']:.3f}  {splits:<22} {drop:>6}"
                     + (f"  {row['nmi']:.3f}" if nmi else ""))
    return "\n".join(lines)


def _markdown(result) -> str:
    lines = [f"# Choosing k for {result['data']}", "",
             "A first opinion: the silhouette of AE + k-means (k-means on one pretrained autoencoder's "
             f"embedding); highest at k = {result['first_opinion']['k']}.", "", "| k | silhouette |", "|---|---|"]
    lines += [f"| {r['k']} | {r['silhouette']:.3f} |" for r in result["first_opinion"]["table"]]
    nmi = any("nmi" in row for row in result["table"])
    lines += ["", f"DEC's generalizability G (deepclust.select_n_clusters): chosen k = {result['n_clusters']}.", "",
              "| k | G | G of each split | drop |" + (" NMI |" if nmi else ""), "|---|---|---|---|" + ("---|" if nmi else "")]
    for row in result["table"]:
        drop = "" if row["drop"] is None else f"{row['drop']:+.3f}"
        lines.append(f"| {row['k']} | {row['G']:.3f} | {', '.join(f'{g:.3f}' for g in row['G_splits'])} | {drop} |"
                     + (f" {row['nmi']:.3f} |" if nmi else ""))
    return "\n".join(lines) + "\n"
