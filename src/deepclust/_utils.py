"""Small helpers shared by the package's modules: argument checks, where warnings point."""

from __future__ import annotations

import sys


def repeated(values) -> list:
    """The values that occur more than once in ``values``, sorted (empty when all are distinct)."""
    values = list(values)
    return sorted({v for v in values if values.count(v) > 1})


# Frames of these packages lie between a user's call and deepclust's warning (fit_predict,
# fit_transform, a Pipeline): the warning skips them too.
_SKIPPED = ("deepclust", "sklearn")


def caller_stacklevel() -> int:
    """The ``stacklevel`` for :func:`warnings.warn`, called in the function that warns, that points
    at the first frame outside deepclust and scikit-learn: the user's ``fit(...)``,
    ``fit_predict(...)`` or ``pipeline.fit(...)`` line, however many of the packages' frames
    (``fit``, ``_fit``, a subclass's ``_fit``, ``select_n_clusters``, a Pipeline) lie between.
    Frames are told by their module's name, so it holds wherever the package is installed."""
    frame, level = sys._getframe(1), 1
    while frame is not None and str(frame.f_globals.get("__name__", "")).split(".")[0] in _SKIPPED:
        frame, level = frame.f_back, level + 1
    return level
