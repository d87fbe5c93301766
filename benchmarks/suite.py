"""Every registered method and two baselines on a fixed suite of datasets, over seeds (issue 36).

Methods: k-means on the data (scikit-learn's ``KMeans``, ``n_init=10``); "AE + k-means" (DEC's default
autoencoder, then k-means on its embedding: ``DEC(k, max_iter=0)``); and every method of
``deepclust.registry.names()``, each with its own defaults (never a setting tuned to a dataset). A method
that needs an optional package that is not installed is a row saying so.

Datasets (``benchmarks/_suite.py``): digits (X / 16); wine and breast-cancer (standardised); ``blobs``
(``make_embedded_blobs``); ``reuters-synth`` (``make_topic_corpus``: 10,000 documents, sparse tf-idf
as REUTERS); Fashion-MNIST subsets of 5,000 and 20,000 fixed random images of the 70,000, and all of
them (pixels / 255). Labels are used for evaluation only.

Each (method, dataset, seed) fit runs in a fresh process, so its peak memory (``VmHWM``, read in that
process: the interpreter, torch, the data and the fit; not ``ru_maxrss``, which Linux carries over from
the parent's memory when the child is started) is its own, and a crash or a ``--timeout``
is a row saying so. The script prints a line per fit, then a Markdown table: ACC / NMI / ARI mean ± std
over the seeds (numpy's std, ddof 0), the fit's wall time (without the process start and the data
loading), peak memory, the mean seconds of each phase of ``fit_times_``, the clustering iterations and
how many fits ran to ``max_iter`` rather than stopping at ``tol``; a row whose mean ACC is below
k-means' on the same dataset says so. The table, with the command, date, commit and machine, replaces
the section between ``<!-- suite:start -->`` and ``<!-- suite:end -->`` of ``--results`` (default
``benchmarks/RESULTS.md``; ``--no-write`` leaves it alone). Every fit's record is appended to a JSONL
file (``--record``, default ``benchmarks/records/suite/<UTC time>.jsonl``) as it ends, and
``--from-records FILE ...`` tabulates records again without fitting.

    OMP_NUM_THREADS=1 python benchmarks/suite.py --quick            # a subset, one seed, a fit per core
    OMP_NUM_THREADS=1 python benchmarks/suite.py                    # everything, 3 seeds (hours)
    python benchmarks/suite.py --datasets digits wine --methods k-means DEC --seeds 0 1 --jobs 2
    python benchmarks/suite.py --from-records benchmarks/records/suite/20261208-190000.jsonl --no-write

A method may be a variant, a name and a JSON object of settings, for measuring a candidate default beside
the defaults (the rows are named by the whole spec):

    python benchmarks/suite.py --methods DEC 'DEC{"pretrain": "end-to-end", "pretrain_epochs": 100}' --no-write

``--tiny`` (the smoke test): 300 rows a dataset and each method's ``_test_params``; never a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _suite  # noqa: E402  (benchmarks/ is not a package)

QUICK_DATASETS = ["digits", "wine", "blobs"]
START, END = "<!-- suite:start -->", "<!-- suite:end -->"
LAST = "\n## Settings tried and not adopted"


def all_methods() -> list[str]:
    from deepclust import registry

    return [*_suite.BASELINES, *registry.names()]


def run_fit(data: dict, method: str, seed: int, args) -> dict:
    """One fit in a fresh process; its record (a crash or a timeout is a record too)."""
    command = [sys.executable, str(HERE / "_suite.py"), "--data", data["path"], "--method", method,
               "--seed", str(seed), "--threads", str(args.threads)] + (["--tiny"] if args.tiny else [])
    env = {**os.environ, **{v: str(args.threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}}
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired:
        result = {"status": "timeout", "reason": f"no result within --timeout {args.timeout:g} s"}
    else:
        lines = proc.stdout.strip().splitlines()
        if proc.returncode == 0 and lines:
            result = json.loads(lines[-1])
        else:
            said = (proc.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
            result = {"status": "failed", "reason": f"exit status {proc.returncode}: {said[:300]}"}
    result["process_seconds"] = time.perf_counter() - start
    return {"dataset": data["name"], "method": method, "seed": seed,
            **{key: data[key] for key in ("n", "d", "k", "sparse")}, **result}


def machine() -> str:
    """The machine line: CPU model, cores, memory, Python, torch, threads."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    try:
        info = Path("/proc/cpuinfo").read_text()
        cpu = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")) / 2**20
        cpu += f", {mem:.0f} GiB"
    except (OSError, StopIteration):
        pass
    try:
        torch = version("torch")
    except PackageNotFoundError:
        torch = "not installed"
    load = ", load average {:.1f} at the start".format(os.getloadavg()[0]) if hasattr(os, "getloadavg") else ""
    return (f"{cpu}, {os.cpu_count()} CPUs{load}; Python {platform.python_version()}, torch {torch}, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")


def commit() -> str:
    def git(*a):
        return subprocess.run(["git", *a], cwd=HERE, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def _ms(values, digits=3):
    values = [v for v in values if v is not None]
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def summarise(records: list[dict], datasets: list[str], methods: list[str]) -> list[dict]:
    """One row per (dataset, method) that has records, in the order of ``datasets`` and ``methods``."""
    rows = []
    for dataset in datasets:
        kmeans = [r["acc"] for r in records if r["dataset"] == dataset and r["method"] == "k-means"
                  and r["status"] == "ok"]
        for method in methods:
            runs = sorted((r for r in records if r["dataset"] == dataset and r["method"] == method),
                          key=lambda r: r["seed"])
            if not runs:
                continue
            ok = [r for r in runs if r["status"] == "ok"]
            notes = [f"seed {r['seed']} {r['status']}: {r.get('reason', '')}" for r in runs if r["status"] != "ok"]
            if ok and kmeans and method != "k-means" and np.mean([r["acc"] for r in ok]) < np.mean(kmeans):
                notes.insert(0, "**below k-means** (ACC)")
            phases = {}
            for r in ok:
                for phase, seconds in r.get("fit_times", {}).items():
                    phases.setdefault(phase, []).append(seconds)
            to_max = [r["ran_to_max_iter"] for r in ok if r.get("ran_to_max_iter") is not None]
            warned = sorted({w.split(":")[0] for r in ok for w in r.get("warnings", [])})
            if warned:
                notes.append(f"warned: {', '.join(warned)} ({sum(bool(r.get('warnings')) for r in ok)} fits)")
            rows.append({
                "dataset": dataset, "method": method, "seeds": len(ok), "of": len(runs),
                "acc": [r["acc"] for r in ok], "nmi": [r["nmi"] for r in ok], "ari": [r["ari"] for r in ok],
                "init_acc": [r["init_acc"] for r in ok if r.get("init_acc") is not None],
                "seconds": [r["seconds"] for r in ok], "cpu": [r["cpu_seconds"] for r in ok if "cpu_seconds" in r],
                "peak_rss_mib": [r["peak_rss_mib"] for r in ok],
                "phases": {p: float(np.mean(v)) for p, v in phases.items()},
                "n_iter": [r["n_iter"] for r in ok if r.get("n_iter") is not None],
                "to_max_iter": (sum(to_max), len(to_max)) if to_max else None, "notes": notes})
    return rows


def markdown(rows: list[dict], described: dict) -> str:
    lines = ["| dataset | method | seeds | ACC | NMI | ARI | ACC of its start | fit wall time (s) | fit CPU time (s) | "
             "peak RSS (MiB) | time per phase (mean s) | clustering iterations | ran to max_iter | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        phases = ", ".join(f"{p} {s:.1f}" for p, s in row["phases"].items())
        to_max = "" if row["to_max_iter"] is None else "{} of {}".format(*row["to_max_iter"])
        seeds = str(row["seeds"]) if row["seeds"] == row["of"] else f"{row['seeds']} of {row['of']}"
        note = "; ".join(row["notes"]).replace("|", "/").replace("\n", " ")
        lines.append(f"| {row['dataset']} | {row['method']} | {seeds} | {_ms(row['acc'])} | {_ms(row['nmi'])} | "
                     f"{_ms(row['ari'])} | {_ms(row.get('init_acc', []))} | {_ms(row['seconds'], 1)} | {_ms(row['cpu'], 1)} | "
                     f"{_ms(row['peak_rss_mib'], 0)} | {phases} | "
                     f"{_ms(row['n_iter'], 0)} | {to_max} | {note} |")
    per_dataset = []
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        counts = [row["to_max_iter"] for row in rows if row["dataset"] == dataset and row["to_max_iter"]]
        if counts:
            per_dataset.append(f"{dataset} {sum(c[0] for c in counts)} of {sum(c[1] for c in counts)}")
    data = "; ".join(f"{name} ({d['n']:,} x {d['d']:,}{', sparse' if d['sparse'] else ''}, k = {d['k']})"
                     for name, d in described.items())
    return "\n".join(lines + [
        "", "Fits whose clustering phase ran to max_iter (not stopped by tol), per dataset: "
        + ("; ".join(per_dataset) or "none reports it") + ".", "", f"Data: {data}."])


def section(header: dict, table: str) -> str:
    tiny = " **--tiny: 300 rows a dataset and each method's test settings, not a measurement.**" \
        if header["tiny"] else ""
    took = (f"the whole run took {header['wall_seconds']:.0f} s" if header.get("wall_seconds") is not None
            else "the run did not finish (its records up to the last fit that ended)")
    if header.get("load_at_end") is not None:
        took += f", load average {header['load_at_end']:.1f} at the end"
    source = f" Tabulated from the records {', '.join(header['from_records'])}." if header.get("from_records") else ""
    return "\n".join([
        START, "## The benchmark suite: `benchmarks/suite.py`", "",
        f"`{header['command']}`, {header['date']}, commit {header['commit']}, {header['machine']}; "
        f"{header['jobs']} fit(s) at a time, {header['threads']} torch thread(s) each; "
        f"{took}.{tiny}{source}", "",
        "Every method with its own defaults; mean ± std over the seeds; labels for evaluation only. Fit wall time "
        "leaves out the process start and the data loading; fit CPU time is the process's over the fit, all its "
        "threads (it counts only the time the fit got, so it varies less than wall time with the other jobs of "
        "a shared machine); the ACC of its start is a centroid method's clustering before its clustering phase "
        "(its autoencoder and k-means, or the manifold initialisation), from the same fit; peak RSS is the fit's process (Python, torch, the data and the fit). A row marked "
        "below k-means has a mean ACC under k-means' on that dataset.", "",
        table, END])


def write_section(path: Path, text: str) -> None:
    """Replace the suite's section of ``path`` (between the markers), or add it before RESULTS.md's last
    section (the settings not adopted) or at the end."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in old and END in old:
        new = old[:old.index(START)] + text + old[old.index(END) + len(END):]
    elif LAST in old:
        new = old.replace(LAST, "\n" + text + "\n" + LAST, 1)
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text + "\n"
    path.write_text(new, encoding="utf-8")


def read_records(paths: list[str]):
    header, records = None, {}
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            if item.get("kind") == "header":  # the first run's header, with every run's data
                data = {**item.get("data", {}), **(header or {}).get("data", {})}
                header = {**(header or item), "data": data}
            elif item.get("kind") == "end":
                if "wall_seconds" not in header:  # the first run's
                    header.update(wall_seconds=item["wall_seconds"], load_at_end=item.get("load_at_end"))
            else:
                records[(item["dataset"], item["method"], item["seed"])] = item  # a later record wins
    return header, list(records.values())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=None, help="default: the baselines and every registered one")
    parser.add_argument("--datasets", nargs="+", choices=list(_suite.DATASETS), default=None,
                        help="default: all (--quick: " + " ".join(QUICK_DATASETS) + ")")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default 0 1 2 (--quick: 0)")
    parser.add_argument("--quick", action="store_true", help="the quick subset of datasets, one seed, every method, a fit per core at a time")
    parser.add_argument("--tiny", action="store_true", help="300 rows a dataset, each method's test settings")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per fit (default 1)")
    parser.add_argument("--jobs", type=int, default=None, help="fits run at a time (default 1; --quick: one per core)")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds a fit may take (default 7200)")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="leave --results alone")
    parser.add_argument("--record", type=Path, default=None, help="the JSONL record (default under records/suite)")
    parser.add_argument("--from-records", nargs="+", default=None, metavar="JSONL", help="tabulate these, fit nothing")
    parser.add_argument("--json", type=Path, default=None, help="also write the table's rows here")
    args = parser.parse_args(argv)

    if args.from_records:
        header, records = read_records(args.from_records)
        header["from_records"] = args.from_records
        datasets = [d for d in _suite.DATASETS if any(r["dataset"] == d for r in records)]
        methods = list(dict.fromkeys([*header["methods"], *(r["method"] for r in records)]))
        described = {d: v for d, v in header["data"].items() if d in datasets}
    else:
        known = all_methods()
        methods = args.methods or known
        unknown = [m for m in methods if _suite.parse_method(m)[0] not in known]
        if unknown:
            parser.error(f"--methods {unknown}: not known; the methods are {known}")
        datasets = args.datasets or (QUICK_DATASETS if args.quick else list(_suite.DATASETS))
        if args.jobs is None:
            args.jobs = len(os.sched_getaffinity(0)) if args.quick and hasattr(os, "sched_getaffinity") else 1
        seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
        stamp = datetime.now(timezone.utc)
        record = args.record or HERE / "records" / "suite" / f"{stamp:%Y%m%d-%H%M%S}.jsonl"
        record.parent.mkdir(parents=True, exist_ok=True)
        command = "python benchmarks/suite.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None
                                                                                    else sys.argv[1:]))
        header = {"kind": "header", "command": command.strip(), "date": f"{stamp:%Y-%m-%d %H:%M} UTC",
                  "commit": commit(), "machine": machine(), "jobs": args.jobs, "threads": args.threads,
                  "tiny": args.tiny, "methods": methods, "seeds": seeds, "data": {}, "unread": {}}
        print(f"{header['date']}, commit {header['commit']}, {header['machine']}", flush=True)
        start = time.perf_counter()
        records = []
        with tempfile.TemporaryDirectory() as tmp:
            prepared = {}
            for name in datasets:
                try:
                    prepared[name] = {"name": name, **_suite.prepare(name, Path(tmp), args.tiny)}
                except (FileNotFoundError, OSError) as exc:
                    print(f"{name}: skipped, the data cannot be read: {exc}", flush=True)
                    header["unread"][name] = str(exc).splitlines()[0][:300]
                    continue
                header["data"][name] = {key: prepared[name][key] for key in ("n", "d", "k", "sparse")}
            described = header["data"]
            with open(record, "w", encoding="utf-8") as out:
                out.write(json.dumps(header) + "\n")
                jobs = [(prepared[d], m, s) for d in prepared for s in seeds for m in methods]
                with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                    futures = [pool.submit(run_fit, *job, args) for job in jobs]
                    for future in as_completed(futures):
                        r = future.result()
                        records.append(r)
                        out.write(json.dumps(r, allow_nan=False) + "\n")
                        out.flush()
                        said = (f"ACC {r['acc']:.3f} NMI {r['nmi']:.3f} ARI {r['ari']:.3f} in {r['seconds']:.1f} s, "
                                f"peak {r['peak_rss_mib']:.0f} MiB" if r["status"] == "ok"
                                else f"{r['status']}: {r.get('reason', '')}")
                        print(f"[{len(records)}/{len(jobs)}] {r['dataset']} {r['method']} seed {r['seed']}: {said}",
                              flush=True)
                header["wall_seconds"] = time.perf_counter() - start
                header["load_at_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
                out.write(json.dumps({"kind": "end", "wall_seconds": header["wall_seconds"],
                                      "load_at_end": header["load_at_end"]}) + "\n")
        print(f"\nrecords: {record}; wall time {header['wall_seconds']:.1f} s")

    rows = summarise(records, datasets, methods)
    table = markdown(rows, described)
    if header.get("unread"):
        table += "\n\nNot run, the data could not be read: " + "; ".join(
            f"{name} ({reason})" for name, reason in header["unread"].items()) + "."
    print("\n" + table)
    if not args.no_write:
        write_section(args.results, section(header, table))
        print(f"\nwrote the suite's section of {args.results}")
    if args.json:
        args.json.write_text(json.dumps({"header": header, "rows": rows}, indent=1, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
