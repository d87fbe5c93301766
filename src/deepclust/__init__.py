"""deepclust: deep clustering with a scikit-learn API, built on PyTorch."""

from . import metrics
from ._io import load
from ._version import __version__
from .dec import DEC

__all__ = ["DEC", "load", "metrics", "__version__"]
