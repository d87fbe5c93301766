"""The registry of methods: name -> estimator class, read by ``load``, the command line, the
experiments harness and the test battery.

A method is registered by one line in :data:`METHODS`: its name (the class name, as model files
record it) and where its class lives. Classes are imported on first use, so reading the registry
(``deepclust fit --help``) loads no method and no PyTorch.
"""

from __future__ import annotations

import importlib

# name -> "module:Class", in the order the command line lists them.
METHODS = {
    "DEC": "deepclust.methods.dec:DEC",
    "IDEC": "deepclust.methods.idec:IDEC",
    "DCN": "deepclust.methods.dcn:DCN",
    "DBC": "deepclust.methods.dbc:DBC",
    "IMSAT": "deepclust.methods.imsat:IMSAT",
    "N2D": "deepclust.methods.n2d:N2D",
    "DEPICT": "deepclust.methods.depict:DEPICT",
}

# One line each for ``deepclust fit --help`` (kept here so the help imports no method).
SUMMARIES = {
    "DEC": "Deep Embedded Clustering: autoencoder, k-means, self-training on KL(P || Q) (default)",
    "IDEC": "DEC that keeps the autoencoder's reconstruction loss while clustering",
    "DCN": "Deep Clustering Network: autoencoder trained jointly with a k-means loss",
    "DBC": "DEC on a convolutional autoencoder, for images (optional augmentation)",
    "IMSAT": "an MLP's softmax trained to maximise mutual information under self-augmentation (VAT)",
    "N2D": "autoencoder, UMAP of its embedding, Gaussian mixture on the UMAP coordinates (needs umap-learn)",
    "DEPICT": "denoising (conv) autoencoder with a softmax head trained on a balanced soft target",
}


def names() -> list[str]:
    """The registered methods' names."""
    return list(METHODS)


def get(name: str) -> type:
    """The estimator class registered as ``name``; a ValueError naming the registered ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; the registered methods are {', '.join(METHODS)}.")
    module, _, attribute = METHODS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
