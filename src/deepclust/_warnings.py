"""Where deepclust's warnings point: at the user's line that called into the package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE = os.path.join(str(Path(__file__).resolve().parent), "")  # with the separator


def caller_stacklevel() -> int:
    """The ``stacklevel`` for :func:`warnings.warn`, called in the function that warns, that points
    at the first frame outside deepclust: the user's ``fit(...)`` line, however many of the
    package's frames (``fit``, ``_fit``, a subclass's ``_fit``, ``select_n_clusters``) lie between."""
    frame, level = sys._getframe(1), 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
