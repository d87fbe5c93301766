"""deepclust: deep clustering with a scikit-learn API, built on PyTorch.

The names below are imported on first use (PEP 562), so ``import deepclust``
and the command line's ``--help`` do not pay for PyTorch and scikit-learn
until an estimator, ``load`` or ``metrics`` is touched.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._version import __version__

# name -> (module, attribute or None for the module itself)
_LAZY = {
    "DEC": (".methods.dec", "DEC"),
    "IDEC": (".methods.idec", "IDEC"),
    "DCN": (".methods.dcn", "DCN"),
    "DBC": (".methods.dbc", "DBC"),
    "IMSAT": (".methods.imsat", "IMSAT"),
    "N2D": (".methods.n2d", "N2D"),
    "DEPICT": (".methods.depict", "DEPICT"),
    "select_n_clusters": (".selection", "select_n_clusters"),
    "ShardedArray": (".data.shards", "ShardedArray"),
    "load": (".io", "load"),
    "read_like": (".reading", "read_like"),
    "metrics": (".metrics", None),
}

# Submodules reachable as attributes (``deepclust.autoencoder.Autoencoder``) after ``import deepclust``.
_SUBMODULES = {"autoencoder", "cli", "datasets", "dbc", "dcn", "dec", "experiments", "idec", "metrics",
               "plotting", "report", "selection", "shards"}

__all__ = ["DEC", "IDEC", "DCN", "DBC", "IMSAT", "DEPICT", "N2D", "select_n_clusters", "ShardedArray", "load",
           "read_like", "metrics", "__version__"]

if _TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from . import metrics
    from .io import load
    from .reading import read_like
    from .methods.dbc import DBC
    from .methods.dcn import DCN
    from .methods.dec import DEC
    from .methods.depict import DEPICT
    from .methods.idec import IDEC
    from .methods.imsat import IMSAT
    from .methods.n2d import N2D
    from .selection import select_n_clusters
    from .data.shards import ShardedArray


def __getattr__(name: str):
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
    elif name in _SUBMODULES:
        module_name, attribute = "." + name, None
    else:
        raise AttributeError(f"module 'deepclust' has no attribute {name!r}")
    module = _importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
