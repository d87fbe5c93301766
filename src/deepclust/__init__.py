"""deepclust: deep clustering with a scikit-learn API, built on PyTorch.

The names below are imported on first use (PEP 562), so ``import deepclust``
and the command line's ``--help`` do not pay for PyTorch and scikit-learn
until an estimator, ``load`` or ``metrics`` is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

# name -> (module, attribute or None for the module itself)
_LAZY = {
    "DEC": (".dec", "DEC"),
    "IDEC": (".idec", "IDEC"),
    "DCN": (".dcn", "DCN"),
    "DBC": (".dbc", "DBC"),
    "select_n_clusters": (".selection", "select_n_clusters"),
    "ShardedArray": (".shards", "ShardedArray"),
    "load": ("._io", "load"),
    "metrics": (".metrics", None),
}

__all__ = ["DEC", "IDEC", "DCN", "DBC", "select_n_clusters", "ShardedArray", "load", "metrics", "__version__"]

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from . import metrics
    from ._io import load
    from .dbc import DBC
    from .dcn import DCN
    from .dec import DEC
    from .idec import IDEC
    from .selection import select_n_clusters
    from .shards import ShardedArray


def __getattr__(name: str):
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'deepclust' has no attribute {name!r}") from None
    module = importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
