"""Rebuild a saved network from its ``config()``: one entry per network kind.

Every network a method saves (``DeepClusterer._saved_network``) has a ``config()`` whose
``"kind"`` names a builder here; :func:`build_network` makes the untrained network that
``load`` then fills with the saved weights. A method with a new kind of network adds one line
to :data:`BUILDERS`.
"""

from __future__ import annotations

import importlib

# kind -> "module:function"; the function takes (config, state) and returns the untrained network.
BUILDERS = {
    "mlp": "deepclust.nn.autoencoder:build_autoencoder_from_state",
    "conv": "deepclust.nn.autoencoder:build_autoencoder_from_state",
    "cluster-head": "deepclust.nn.classifier:build_cluster_head",
    "depict": "deepclust.nn.depict:build_depict_from_state",
}


def build_network(config: dict, state: dict):
    """The untrained network that ``config`` describes, shaped for the weights in ``state``."""
    kind = config.get("kind", "mlp")
    if kind not in BUILDERS:
        raise ValueError(f"unknown network kind {kind!r}")
    module, _, attribute = BUILDERS[kind].partition(":")
    return getattr(importlib.import_module(module), attribute)(config, state)
