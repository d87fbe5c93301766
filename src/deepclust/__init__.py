"""deepclust: deep clustering with a scikit-learn API, built on PyTorch."""

from . import metrics
from ._io import load
from ._version import __version__
from .dbc import DBC
from .dcn import DCN
from .dec import DEC
from .idec import IDEC
from .selection import select_n_clusters
from .shards import ShardedArray

__all__ = ["DEC", "IDEC", "DCN", "DBC", "select_n_clusters", "ShardedArray", "load", "metrics", "__version__"]
