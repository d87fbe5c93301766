"""What every figure of :mod:`deepclust.plotting` starts from: a new matplotlib figure (matplotlib
is an optional dependency), the colours of the clusters, and the check of a figure's labels."""

from __future__ import annotations

import numpy as np


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # an optional dependency
        raise ImportError(
            "deepclust.plotting needs matplotlib: pip install 'deepclust[plot]' (or matplotlib)."
        ) from exc
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _cmap(n: int):
    from matplotlib import colormaps

    return colormaps["tab10" if n <= 10 else "tab20"]


def _labels_of(y, n: int, what: str = "y") -> np.ndarray:
    y = np.asarray(y).ravel()
    if len(y) != n:
        raise ValueError(f"{what} has {len(y)} entries but there are {n} points.")
    return y
