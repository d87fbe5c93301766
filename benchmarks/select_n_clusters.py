"""Choosing the number of clusters by generalizability (DEC paper, section 5.5).

Runs :func:`deepclust.select_n_clusters` on two cases and prints, for each, the
table of G = L_train / L_validation over the candidates (mean over the splits
and each split's own G), the chosen k (the k just before the largest drop of
the mean G), the k that each split alone would have chosen (the paper's
setting, ``n_splits=1``), and the wall time. Labels are used only for the
NMI column.

* digits: scikit-learn's 8x8 digits (1,797 points, 10 classes), candidates
  5..15; target: 9, 10 or 11.
* blobs: k Gaussian blobs (unit spread, centres N(0, sep^2/2) in 5
  dimensions) pushed through a fixed random MLP, ``x = tanh(0.5 z W1) W2 +
  0.05 noise`` with W1 5x64 and W2 64x100 Gaussian, then standardised:
  1,400 points in 100 dimensions; candidates 2..12; target: the true k.
  ``--seed`` draws the blobs as well as the splits.

Settings (the default): DEC's defaults except a shortened layer-wise
pretraining (``layerwise_iter=100``, ``finetune_iter=200``, half of the
"auto" schedule on these sizes) and 4,000 clustering iterations for every k
(``--max-iter``), with select_n_clusters' 2 splits of 50 / 50. ``--full``
uses DEC's defaults unchanged (10,000 clustering iterations for every k).

Measured (2026-11-24 23:00 to 2026-11-25 00:00 UTC, one torch thread each,
two runs side by side on a 2-core CPU; ``benchmarks/RESULTS.md`` has every
table):

| case | seed | chosen k (mean G of 2 splits) | each split alone | highest NMI at | wall s |
|---|---|---|---|---|---|
| digits, 5..15 (target 9-11) | 0 | 5 | 12, 5 | 9 | 671 |
| digits | 1 | 10 | 5, 12 | 15 | 669 |
| blobs k=5, 2..12 | 0 | 5 | 10, 5 | 5 | 689 |
| blobs k=5 | 1 | 6 | 10, 6 | 5 | 683 |
| blobs k=5 | 2 | 8 | 4, 8 | 5 | 732 |
| blobs k=5 | 3 | 5 | 5, 10 | 5 | 731 |
| blobs k=7, 2..12 | 0 | 8 | 8, 6 | 7 | 688 |
| blobs k=7 | 1 | 6 | 6, 8 | 6 | 686 |
| blobs k=7 | 2 | 11 | 10, 11 | 7 | 742 |
| blobs k=7 | 3 | 6 | 6, 3 | 7 | 742 |

Targets missed. On the blobs G stays between 0.92 and 1.0 up to about the
true k and falls beyond it (0.75-0.85 at k = 12), and the k before the
largest drop is the true k in 2 of 8 cases and within one of it in 6: the
first drops past the true k are of similar size and each split's G is noisy
to about 0.02. On digits G is flat (0.76-0.80 at every k): the choices there
are noise. The previous rule (highest G, 3 splits of 80 / 20, each k stopped
at tol) chose 2 and 3 on the seed-0 blobs and 5 on digits.

With ``--max-iter 10000`` (DEC's default length; about 72 minutes a case on
one thread of the Intel Xeon VM of 2026-11-25, in float32, 45-52 minutes on
the AMX one of 2026-12-06 in "mixed"), every blob case: k=5 seeds 0-3 chose
5, 6, 5, 5; k=7 seeds 0-3 chose 11, 6, 7, 7 (seed 1's blobs have two latent
centres 2.2 apart, and NMI is highest at 6 too); digits seeds 0 and 1 chose
10 and seed 2 (``--n-splits 4``) 9, each by a drop within the noise.

With ``--n-samples 7000`` (5 times the points, 4,000 iterations; 22-25
minutes a case on one thread of the AMX VM of 2026-12-06), every blob case:
k=5 seeds 0-3 chose 5, 6, 5, 6; k=7 seeds 0-3 chose 7, 6, 5, 2. G stays
within 0.94-1.0 at every k: on 3,500 training points the network overfits
much less than on 700, so the drop shrinks along with the noise.

Four splits (``--split-seed 101`` runs pooled with the split-seed-S runs by
``--pool``; 10,000 iterations, 1,400 points; every blob case, 2026-12-06):
k=5 seeds 0-3 chose 5, 5, 5, 5; k=7 seeds 0-3 chose 7, 6, 10, 7 (two
splits on the same VM: 5, 6, 5, 5 and 11, 6, 7, 7). The raw runs are in
``benchmarks/records/select_n_clusters``.

Cases untouched by any of those decisions (``--seed S --split-seed S --max-iter
10000``, two splits, the default unchanged; seeds 4-6, 2026-12-06): k=5 chose
5, 5, 5 and k=7 chose 7, 4, 7 (seed 5 has three latent centres 3.4-5.7 apart;
the runner-up warning named 7). With seeds 0-3, the true k in 10 of 14.

``--trace 1000`` (G every 1,000 iterations, read from kept encoder states; training unchanged) on blobs
seeds 5 and 7 (2026-12-06): seed 7, untouched, chose 5 and 7 (the true k in 7 of the 8 untouched cases,
12 of 16 in all). G falls along a smooth curve as training goes on, so averaging it over the second half
of training chose as the last reading on all four; at 5,000 iterations the rule would have chosen the
true k in 1 of the 4 (9, 4, 5, 8), at 10,000 in 3.

``--max-iter 20000 --trace 1000`` on the untouched blob seeds 8-11 (2026-12-06/07, an AMD EPYC VM, about
an hour a case), read at 10,000 and 20,000 with ``--pool FILE --at ITER``: 10,000 iterations (the default)
chose 5, 7, 6, 7, 5, 7, 4, 6 (k=5 then k=7 for each seed), 20,000 chose 5, 7, 5, 7, 5, 7, 4, 6: one more
right, short of the two more that the series' plan asked for before doubling the time; the default stays.
Seed 11 has two latent centres 3.1 sd apart, which DEC merged. With the earlier cases the default found
the true k in 12 of 16 untouched cases, 17 of 24 in all.

Usage::

    python benchmarks/select_n_clusters.py                     # digits, blobs k=5 and k=7
    python benchmarks/select_n_clusters.py --cases blobs5 blobs7 --seed 2   # other blobs, other splits
    python benchmarks/select_n_clusters.py --cases digits --n-splits 1
    python benchmarks/select_n_clusters.py --cases blobs5 --n-samples 7000   # larger blobs
    python benchmarks/select_n_clusters.py --cases blobs5 --seed 1 --json a.json
    python benchmarks/select_n_clusters.py --cases blobs5 --seed 1 --split-seed 101 --json b.json
    python benchmarks/select_n_clusters.py --pool a.json b.json   # the four splits of both runs
    python benchmarks/select_n_clusters.py --cases blobs5 --trace 1000   # G every 1,000 iterations too
    python benchmarks/select_n_clusters.py --pool t.json --at 10000   # a --trace run's choice at 10,000
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import math
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from deepclust import DEC, __version__, experiments, select_n_clusters
from deepclust.datasets import load_digits, make_embedded_blobs
from deepclust.selection import (NClustersSelection, _split_loss, choose_n_clusters, generalizability,
                                 pool_selections)

FAST = dict(pretrain="layerwise", layerwise_iter=100, finetune_iter=200, max_iter=4000)


class TracedDEC(DEC):
    """DEC that keeps its encoder and centroids every ``trace_every`` clustering iterations (``--trace``).

    It trains exactly as DEC does (copying the weights draws no random numbers); every fit that trains
    appends ``(model, readings)`` to ``fits``, in the order select_n_clusters runs them (split by split,
    k by k), and each reading is ``(iteration, encoder state, centroids)``.
    """

    trace_every = 0
    fits: list = []

    def _self_train(self, ae, centers, *args, **kwargs):
        self._trace = {"ae": ae, "steps": 0, "readings": []}
        if self.max_iter > 0:  # the pretraining fit (max_iter=0) trains no centroids
            TracedDEC.fits.append((self, self._trace["readings"]))
        return super()._self_train(ae, centers, *args, **kwargs)

    def _after_step(self, z, centers):
        super()._after_step(z, centers)
        trace = self._trace
        trace["steps"] += 1
        if self.trace_every and trace["steps"] % self.trace_every == 0:
            encoder = {name: value.detach().clone() for name, value in trace["ae"].state_dict().items()
                       if not name.startswith("decoder.")}  # the decoder plays no part in L
            trace["readings"].append((trace["steps"], encoder, centers.detach().cpu().numpy().copy()))


def trace_report(X, result, candidates, max_iter):
    """G of every split and k at each traced iteration, from the states :class:`TracedDEC` kept.

    Prints the k each reading would choose and the pre-registered late average (the mean of each
    split's G over the readings from max_iter / 2 to max_iter), and checks that the last reading
    gives the G that select_n_clusters measured.
    """
    n_splits, fits = len(result.splits), TracedDEC.fits
    if len(fits) != n_splits * len(candidates):
        raise RuntimeError(f"--trace: {len(fits)} traced fits, expected {n_splits * len(candidates)}")
    iterations = [step for step, _, _ in fits[0][1]]
    g = np.full((n_splits, len(candidates), len(iterations)), np.nan)
    for s, (train, validation) in enumerate(result.splits):
        for j in range(len(candidates)):
            model, readings = fits[s * len(candidates) + j]
            if model.n_clusters != candidates[j] or [step for step, _, _ in readings] != iterations:
                raise RuntimeError(f"--trace: fit {s * len(candidates) + j} is not split {s}, k={candidates[j]}")
            snapshot = copy.copy(model)  # the fitted model, its encoder and centroids set to each reading's
            snapshot.autoencoder_ = copy.deepcopy(model.autoencoder_)
            for r, (_, encoder, centers) in enumerate(readings):
                snapshot.autoencoder_.load_state_dict(encoder, strict=False)
                snapshot.cluster_centers_ = centers
                g[s, j, r] = generalizability(_split_loss(snapshot, X[train]), _split_loss(snapshot, X[validation]))
    final = np.array([row["G_splits"] for row in result.table]).T  # (split, k)
    if iterations and iterations[-1] == max_iter:
        gap = float(np.nanmax(np.abs(g[:, :, -1] - final)))
        print(f"\ntrace check: the last reading's G differs from select_n_clusters' by at most {gap:.2g}")

    def choose(values):
        return choose_n_clusters([{"k": k, "G": float(v)} for k, v in zip(candidates, values)])

    print(f"\nmean G of the {n_splits} splits at each traced iteration (k = {candidates[0]}..{candidates[-1]}):\n")
    print("| iteration | chosen | " + " | ".join(str(k) for k in candidates) + " |")
    print("|---" * (len(candidates) + 2) + "|")
    chosen_at = {}
    for r, step in enumerate(iterations):
        mean = g[:, :, r].mean(axis=0)
        chosen_at[step] = choose(mean)
        print(f"| {step} | {chosen_at[step]} | " + " | ".join(f"{v:.3f}" for v in mean) + " |")
    late = [r for r, step in enumerate(iterations) if 2 * step >= max_iter]
    late_g = g[:, :, late].mean(axis=2)  # (split, k)
    late_mean = late_g.mean(axis=0)
    late_single = [choose(late_g[s]) for s in range(n_splits)]
    # Noise: how G moves within a split's late readings, against how it differs between splits at the end.
    within = float(np.median(g[:, :, late].std(axis=2))) if len(late) > 1 else math.nan
    between = float(np.median(final.std(axis=0) * 2)) if n_splits > 1 else math.nan
    print(f"\nlate average (readings {iterations[late[0]]}..{iterations[late[-1]]}): G "
          + " ".join(f"{v:.3f}" for v in late_mean) + f"; chosen k = {choose(late_mean)}, each split alone "
          f"{late_single}")
    print(f"median over splits and k of the standard deviation of G over those readings: {within:.4f}; "
          f"median over k of the splits' spread at the end (2 sd, |G_1 - G_2| for two splits): {between:.4f}")
    return {"every": TracedDEC.trace_every, "iterations": iterations, "G": g.tolist(),
            "chosen_at": chosen_at,
            "late_average": {"iterations": [iterations[r] for r in late], "G": late_mean.tolist(),
                             "G_splits": late_g.tolist(), "chosen": choose(late_mean),
                             "single_split_choices": late_single},
            "within_sd_median": within, "between_spread_median": between}


def run_case(name, X, y, candidates, target, estimator, args, setup):
    TracedDEC.fits.clear()
    start = time.perf_counter()
    split_args = {name: value for name, value in (("n_splits", args.n_splits),
                                                  ("validation_size", args.validation_size))
                  if value is not None}
    result, verdicts = experiments._verdicts(lambda: select_n_clusters(
        X, candidates, estimator=estimator, y=y, random_state=args.split_seed, **split_args))
    seconds = time.perf_counter() - start
    print(f"\n## {name}: X {X.shape}, candidates {candidates[0]}..{candidates[-1]}, target {target}\n")
    # n_splits as run, not None for "the default", which a later version may change.
    out = {**report(result, target, seconds, verdicts),
           "setup": {**setup, "n_splits": len(result.splits), "n_samples": int(X.shape[0])}}
    if args.trace:
        out["trace"] = trace_report(X, result, candidates, estimator.max_iter)
        TracedDEC.fits.clear()
    return out


def report(result, target, seconds, verdicts, time_label="wall time"):
    """Print a selection's table, its choice and warnings; return them for the JSON file."""
    has_nmi = all("nmi" in row for row in result.table)
    print("| k | L_train | L_validation | G (mean) | G per split | drop to the next k | NMI |")
    print("|---|---|---|---|---|---|---|")
    for row in result.table:
        mark = " **" if row["k"] == result.n_clusters else ""
        per_split = " ".join(f"{g:.4f}" for g in row["G_splits"])
        drop = "" if row["drop"] is None else f"{row['drop']:.4f}"
        nmi = f"{row['nmi']:.3f}" if has_nmi else ""
        losses = [f"{row[key]:.4f}" if key in row else "" for key in ("L_train", "L_validation")]
        print(f"| {row['k']}{mark} | {losses[0]} | {losses[1]} | {row['G']:.4f} | "
              f"{per_split} | {drop} | {nmi} |")
    n_splits = len(result.table[0]["G_splits"])
    single = [choose_n_clusters([{"k": r["k"], "G": r["G_splits"][s]} for r in result.table])
              for s in range(n_splits)]
    best_nmi = max(result.table, key=lambda r: r["nmi"])["k"] if has_nmi else None
    print(f"\nchosen k = {result.n_clusters} (target {target}); each split alone would choose {single}; "
          f"highest NMI at k = {best_nmi}; {time_label} {seconds:.0f} s")
    for message in verdicts:
        print(f"warning: {message}")
    return {"chosen": result.n_clusters, "target": target, "single_split_choices": single,
            "best_nmi_k": best_nmi, "seconds": seconds, "warnings": verdicts, "table": result.table}


def _nan(value):
    return math.nan if value is None else value


def pool(paths, cases, at=None):
    """Pool the splits of earlier ``--json`` runs, case by case (``pool_selections``); trains nothing.

    With ``at``, each run's G is its ``--trace`` reading at that iteration instead of the one at the end
    (no losses or NMI: the trace keeps G only), so one file alone gives the choice and warnings that
    training stopped there would have given; the rule and warnings are the library's either way.

    Raises ValueError when the files cannot be pooled: a case missing from one of them, runs of other
    data or settings, or the same splits twice (recorded split seeds, else equal G at every k); with
    ``at``, a run without a trace or without a reading at ``at``.
    """
    runs = [json.loads(Path(path).read_text()) for path in paths]
    shared = [case for case in runs[0] if all(case in run for run in runs[1:])]
    if cases is not None:
        absent = [case for case in cases if case not in shared]
        if absent:
            raise ValueError(f"--cases {absent} are not in every one of the files")
        shared = [case for case in shared if case in cases]
    if not shared:
        raise ValueError("no case is in every one of the files")
    results = {}
    for case in shared:
        setups = [run[case].get("setup") for run in runs]
        if all(setups):  # recorded since 2026-12-06; older files are checked by their G alone
            fixed = [{key: value for key, value in setup.items() if key not in ("split_seed", "n_splits")}
                     for setup in setups]
            if any(other != fixed[0] for other in fixed[1:]):
                raise ValueError(f"{case}: the runs differ in more than their split seed: {fixed}")
            split_seeds = [setup["split_seed"] for setup in setups]
            if len(set(split_seeds)) < len(split_seeds):
                raise ValueError(f"{case}: the runs share a split seed ({split_seeds}), so their splits are the "
                                 "same; pool runs of different --split-seed")
        selections, chose = [], []
        for path, run in zip(paths, runs):
            if at is None:
                table = [{**row, **{key: _nan(row[key]) for key in ("L_train", "L_validation", "G", "nmi")
                                    if key in row},
                          "G_splits": [_nan(g) for g in row["G_splits"]]} for row in run[case]["table"]]
                chose.append(run[case]["chosen"])
            else:
                table = _reading(run[case], at, f"{path}: {case}")
                chose.append(run[case]["trace"]["chosen_at"][str(at)])
            selections.append(NClustersSelection(n_clusters=chose[-1], table=table))
        pooled, verdicts = experiments._verdicts(lambda: pool_selections(selections))
        n_splits = len(pooled.table[0]["G_splits"])
        where = "" if at is None else f" at iteration {at}"
        print(f"\n## {case}: {n_splits} splits{where} pooled from {len(paths)} run{'s' * (len(paths) > 1)} "
              f"(each chose {chose}), target {runs[0][case]['target']}\n")
        results[case] = {**report(pooled, runs[0][case]["target"], sum(run[case]["seconds"] for run in runs),
                                  verdicts, time_label="wall time of the runs, summed:"),
                         "pooled_from": [str(path) for path in paths], "at_iteration": at}
    return results


def _reading(result, at, name):
    """A table of the G that a ``--trace`` run read at iteration ``at``: k, G (the mean over splits), G_splits."""
    trace = result.get("trace")
    if not trace:
        raise ValueError(f"{name} has no trace; --at reads runs made with --trace")
    if at not in trace["iterations"]:
        raise ValueError(f"{name} was read at iterations {trace['iterations']}, not at {at}")
    r = trace["iterations"].index(at)
    table = []
    for j, row in enumerate(result["table"]):  # the trace's k are the table's, in its order
        g_splits = [_nan(split[j][r]) for split in trace["G"]]
        table.append({"k": row["k"], "G": float(np.mean(g_splits)), "G_splits": g_splits})
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=None,
                        help="digits and/or blobsK (K Gaussian blobs); default: digits blobs5 blobs7, or with "
                             "--pool every case the files share")
    parser.add_argument("--n-splits", type=int, default=None, help="default: select_n_clusters' (2)")
    parser.add_argument("--validation-size", type=float, default=None,
                        help="default: select_n_clusters' (0.5)")
    parser.add_argument("--seed", type=int, default=None, help="draws the blobs (default 0)")
    parser.add_argument("--split-seed", type=int, default=None,
                        help="seed of the splits and fits (default: --seed); another one with the same --seed "
                             "measures other splits of the same blobs, e.g. to pool more splits")
    parser.add_argument("--n-samples", type=int, default=None,
                        help="points of each blobs case (default 1,400; digits always has 1,797)")
    parser.add_argument("--full", action="store_true",
                        help="DEC's defaults: its pretraining schedule and 10,000 clustering iterations per k")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="clustering iterations of every k (DEC's max_iter; default 4,000, or DEC's "
                             "10,000 with --full)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a DEC parameter for every fit (a Python literal), e.g. hidden_dims=(64,)")
    parser.add_argument("--trace", type=int, default=None, metavar="EVERY",
                        help="also measure G every EVERY clustering iterations of every fit (training is "
                             "unchanged), print the k each reading would choose and the mean G over the "
                             "second half of training; keeps the encoders in memory (about 5 MB each)")
    parser.add_argument("--json", type=Path, default=None, help="also write all figures here")
    parser.add_argument("--pool", nargs="+", type=Path, default=None, metavar="JSON",
                        help="train nothing: pool the splits of earlier --json runs of the same cases (other "
                             "--split-seed, same --seed and settings) and apply the rule to all of them")
    parser.add_argument("--at", type=int, default=None, metavar="ITER",
                        help="with --pool: use each run's --trace reading at ITER clustering iterations "
                             "instead of its G at the end (what stopping there would have chosen and warned); "
                             "one file is enough")
    args = parser.parse_args(argv)
    if args.at is not None and not args.pool:
        parser.error("--at reads earlier --trace runs: give them with --pool")
    if args.pool:
        training = [flag for flag, value in (("--seed", args.seed), ("--split-seed", args.split_seed),
                                             ("--n-samples", args.n_samples), ("--n-splits", args.n_splits),
                                             ("--validation-size", args.validation_size),
                                             ("--max-iter", args.max_iter), ("--param", args.param or None),
                                             ("--full", args.full or None), ("--trace", args.trace))
                    if value is not None]
        if training:
            parser.error(f"--pool trains nothing and reads the runs' own settings; leave out {training}")
        if len(args.pool) < 2 and args.at is None:
            parser.error("--pool: give at least two --json files of earlier runs (or one with --at)")
        missing = [str(path) for path in args.pool if not path.is_file()]
        if missing:
            parser.error(f"--pool: no such file {missing}")
        if len({path.resolve() for path in args.pool}) < len(args.pool):
            parser.error(f"--pool: {[str(path) for path in args.pool]} names a file twice; its splits would "
                         "count twice")
        try:
            results = pool(args.pool, args.cases, args.at)
        except ValueError as error:
            parser.error(f"--pool: {error}")
        _write(args.json, results)
        return 0
    if args.cases is None:
        args.cases = ["digits", "blobs5", "blobs7"]
    if args.seed is None:
        args.seed = 0
    if args.n_samples is None:
        args.n_samples = 1400

    if args.n_samples < 200:
        parser.error(f"--n-samples {args.n_samples}: give at least 200 points, so that each split holds "
                     "every candidate k of the blobs cases (up to 12) many times over")
    settings = {} if args.full else dict(FAST)
    if args.max_iter is not None:
        settings["max_iter"] = args.max_iter
    for item in args.param:
        name, sep, text = item.partition("=")
        if not sep or name in ("n_clusters", "tol", "random_state"):
            parser.error(f"--param {item!r}: give NAME=VALUE for a DEC parameter other than n_clusters, tol "
                         "and random_state, which select_n_clusters sets itself")
        try:
            settings[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parser.error(f"--param {item!r}: the value must be a Python literal (quote strings: "
                         f"{name}='...')")
    estimator = (TracedDEC if args.trace else DEC)(**settings)
    if args.trace is not None:
        if not 1 <= args.trace <= estimator.max_iter:
            parser.error(f"--trace {args.trace}: give the number of iterations between readings, from 1 to "
                         f"the clustering iterations of every k ({estimator.max_iter})")
        TracedDEC.trace_every = args.trace
    print(f"deepclust {__version__}, torch {torch.__version__}, {platform.machine()}, "
          f"torch threads {torch.get_num_threads()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    if args.split_seed is None:
        args.split_seed = args.seed
    print(f"settings: {settings or 'DEC defaults'}, n_splits={args.n_splits or 'default'}, "
          f"validation_size={args.validation_size or 'default'}, seed={args.seed}, split seed={args.split_seed}")
    # What a run's splits depend on besides its split seed: --pool refuses runs that differ in it.
    setup = {"seed": args.seed, "split_seed": args.split_seed, "validation_size": args.validation_size,
             "settings": settings}
    results = {}
    for case in args.cases:
        if case == "digits":
            X, y = load_digits()
            results[case] = run_case("digits", X, y, list(range(5, 16)), "9, 10 or 11", estimator, args, setup)
        elif case.startswith("blobs"):
            k = int(case[len("blobs"):])
            X, y = make_embedded_blobs(n_samples=args.n_samples, n_clusters=k, random_state=args.seed)
            results[case] = run_case(f"embedded blobs, k={k}", X, y, list(range(2, 13)), str(k),
                                     estimator, args, setup)
        else:
            parser.error(f"unknown case {case!r}; use digits or blobsK")
    _write(args.json, results)
    return 0


def _write(path, results):
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(experiments._jsonable(results), indent=2, allow_nan=False))  # NaN as null
        print(f"\nwrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
