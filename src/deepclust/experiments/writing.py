"""Writing an experiment's results (:func:`write_experiment`): a Markdown table, a JSON file with
the versions, machine, date and settings of the run, and, with matplotlib installed, a figure."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from math import isfinite
from pathlib import Path

import numpy as np


def _cell(pair) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"


def markdown(kind: str, results: dict) -> str:
    """The Markdown table of an experiment's results (``results``: ``{dataset: result}``)."""
    names = list(results)
    lines = []
    if kind == "table2":
        methods = list(dict.fromkeys(m for r in results.values() for m in r["summary"]))
        lines.append("| method | " + " | ".join(f"{d} ACC | {d} NMI | {d} time (s)" for d in names) + " |")
        lines.append("|---" * (1 + 3 * len(names)) + "|")
        for m in methods:
            cells = []
            for d in names:
                row = results[d]["summary"].get(m)
                if row is None or "acc" not in row:
                    cells += ["n/a"] * 3
                else:
                    cells += [_cell(row["acc"]), _cell(row["nmi"]), f"{row['seconds'][0]:.1f}"]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    elif kind == "table4":
        for d in names:
            r = results[d]
            lines.append(f"\n{d}: ACC (NMI) by r_min, mean ± std over seeds {r['seeds']}\n")
            lines.append("| method | " + " | ".join(f"r_min {x:g}" for x in r["r_mins"]) + " |")
            lines.append("|---" * (1 + len(r["r_mins"])) + "|")
            methods = list(r["summary"][r["r_mins"][0]])
            for m in methods:
                cells = [r["summary"][x].get(m, {}) for x in r["r_mins"]]
                lines.append(f"| {m} | " + " | ".join(
                    f"{_cell(c['acc'])} ({c['nmi'][0]:.3f})" if "acc" in c else "n/a" for c in cells) + " |")
            lines.append("| points | " + " | ".join(f"{np.mean(r['sizes'][x]):.0f}" for x in r["r_mins"]) + " |")
    elif kind == "robustness":
        for d in names:
            r = results[d]
            lines.append(f"\n{d}: DEC over {r['param']} (AE + k-means ACC {_cell(r['ae_kmeans']['acc'])})\n")
            lines.append(f"| {r['param']} | ACC | NMI | iterations |")
            lines.append("|---|---|---|---|")
            for v, s in zip(r["values"], r["summary"]):
                lines.append(f"| {v} | {_cell(s['acc'])} | {_cell(s['nmi'])} | {s['n_iter'][0]:.0f} |")
    elif kind == "iterations":
        for d in names:
            lines.append(f"\n{d}: ACC of the recorded points at each target update\n")
            lines.append("| seed | iteration 0 (AE + k-means) | final iteration | ACC at 0 | final ACC | "
                         "ACC of all points |")
            lines.append("|---|---|---|---|---|---|")
            for seed, run in zip(results[d]["seeds"], results[d]["runs"]):
                c = run["curve"]
                lines.append(f"| {seed} | {c[0][0]} | {c[-1][0]} | {c[0][1]:.3f} | {c[-1][1]:.3f} | "
                             f"{run['final']['acc']:.3f} |")
    elif kind == "select-k":
        for d in names:
            r = results[d]
            chosen = ", ".join(f"{run['chosen']} (seed {s})" for s, run in zip(r["seeds"], r["runs"]))
            lines.append(f"\n{d}: G = L_train / L_validation (mean of {r['n_splits']} splits) and NMI by k, "
                         f"{r['n_clusters']} classes; chosen k: {chosen}\n")
            lines.append("| k | " + " | ".join(f"G seed {s} | NMI seed {s}" for s in r["seeds"]) + " |")
            lines.append("|---" * (1 + 2 * len(r["seeds"])) + "|")
            for i, k in enumerate(r["candidates"]):
                cells = []
                for run in r["runs"]:
                    row = run["table"][i]
                    cells += [f"{row['G']:.4f}" + (" (chosen)" if k == run["chosen"] else ""), f"{row['nmi']:.3f}"]
                lines.append(f"| {k} | " + " | ".join(cells) + " |")
            for s, run in zip(r["seeds"], r["runs"]):
                lines += [f"\nseed {s}: {message}" for message in run["warnings"]]
            pooled = r.get("pooled")
            if pooled:
                g = " ".join(f"{row['G']:.4f}" for row in pooled["table"])
                lines.append(f"\nAll {len(r['seeds'])} seeds' splits pooled ({len(pooled['table'][0]['G_splits'])} "
                             f"splits): chosen k {pooled['chosen']}; mean G by k: {g}")
                lines += [f"\npooled: {message}" for message in pooled["warnings"]]
    else:
        raise ValueError(f"unknown experiment {kind!r}")
    return "\n".join(lines).strip() + "\n"


def _figure(kind: str, results: dict):
    from ..plotting import _figure as new_figure

    names = list(results)
    fig = new_figure(4.5 * len(names), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, d in zip(axes, names):
        r = results[d]
        if kind == "table2":
            rows = [(m, v) for m, v in r["summary"].items() if "acc" in v]
            ax.barh([m for m, _ in rows], [v["acc"][0] for _, v in rows], xerr=[v["acc"][1] for _, v in rows],
                    color="C0")
            ax.invert_yaxis()
            ax.set_xlabel("ACC")
        elif kind == "table4":
            for m in r["summary"][r["r_mins"][0]]:
                points = [(x, r["summary"][x][m]["acc"]) for x in r["r_mins"] if "acc" in r["summary"][x].get(m, {})]
                if points:
                    ax.errorbar([x for x, _ in points], [a[0] for _, a in points], yerr=[a[1] for _, a in points],
                                marker="o", label=m)
            ax.set_xlabel("r_min")
            ax.set_ylabel("ACC")
            ax.legend()
        elif kind == "robustness":
            x = np.arange(len(r["values"]))
            ax.errorbar(x, [s["acc"][0] for s in r["summary"]], yerr=[s["acc"][1] for s in r["summary"]],
                        marker="o", label="DEC")
            ax.axhline(r["ae_kmeans"]["acc"][0], color="grey", linestyle="--", label="AE + k-means")
            ax.set_xticks(x, [str(v) for v in r["values"]])
            ax.set_xlabel(r["param"])
            ax.set_ylabel("ACC")
            ax.set_ylim(0, 1)
            ax.legend()
        elif kind == "select-k":
            from ..plotting import _draw_generalizability

            nmi_ax = ax.twinx()
            for i, (seed, run) in enumerate(zip(r["seeds"], r["runs"])):
                _draw_generalizability(ax, run["table"], run["chosen"], colour=f"C{i}", label=f"G, seed {seed}",
                                      nmi_ax=nmi_ax)
            pooled = r.get("pooled")
            if pooled:  # the mean G of every seed's splits; its dots are the seeds' above
                table = pooled["table"]
                ax.plot([row["k"] for row in table], [row["G"] for row in table], color="k", linewidth=2,
                        label="G, seeds pooled")
                best = next(row for row in table if row["k"] == pooled["chosen"])
                ax.scatter([best["k"]], [best["G"]], marker="*", s=200, color="k", zorder=4)
            ax.set_xticks(r["candidates"])
            ax.set_xlabel("number of clusters k (star: chosen)")
            ax.set_ylabel("G = L_train / L_validation")
            nmi_ax.set_ylabel("NMI (dashed)")
            ax.legend(loc="best")
        else:
            for seed, run in zip(r["seeds"], r["runs"]):
                ax.plot(*zip(*run["curve"]), marker=".", label=f"seed {seed}")
            ax.set_xlabel("iteration")
            ax.set_ylabel("ACC")
            ax.legend()
        ax.set_title(d)
    return fig


def write_experiment(kind: str, results: dict, out_dir, *, settings: dict | None = None) -> list[Path]:
    """Write ``<kind>.md``, ``<kind>.json`` and, with matplotlib installed, ``<kind>.png`` in
    ``out_dir``; returns the paths written. ``results`` is ``{dataset: result}``; ``settings``
    (the estimator parameters the run set, e.g. the command line's ``--param``) is recorded in the
    Markdown header and, with the versions, machine and date, as the JSON file's ``settings`` and
    ``run`` keys."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    import torch

    from .. import __version__

    now = datetime.now(timezone.utc)
    # As keys in the JSON file, so a script comparing runs need not parse the header built from them.
    run = {"deepclust": __version__, "torch": torch.__version__, "machine": platform.machine(),
           "torch_threads": torch.get_num_threads(), "date": now.isoformat(timespec="seconds")}
    header = (f"deepclust {run['deepclust']}, torch {run['torch']}, {run['machine']}, "
              f"{run['torch_threads']} threads, {now:%Y-%m-%d %H:%M} UTC, settings {settings or 'defaults'}")
    written = [out_dir / f"{kind}.md", out_dir / f"{kind}.json"]
    written[0].write_text(f"<!-- {header} -->\n\n" + markdown(kind, results))
    document = {"experiment": kind, "environment": header, "run": run, "settings": dict(settings or {}),
                "results": results}
    written[1].write_text(json.dumps(_jsonable(document), indent=1, allow_nan=False))
    try:
        fig = _figure(kind, results)
    except ImportError:
        return written
    written.append(out_dir / f"{kind}.png")
    fig.savefig(written[-1], dpi=110, bbox_inches="tight")
    return written


def _jsonable(value):
    """``value`` as plain JSON: numpy scalars and arrays as Python numbers and lists, and a NaN or
    infinite number (a G whose validation loss was 0, say) as null, which every JSON reader takes
    (a bare NaN is not JSON, and strict readers such as ``jq`` or a browser refuse the file)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not isfinite(value):
        return None
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
