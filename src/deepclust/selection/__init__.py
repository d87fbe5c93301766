"""Choosing the number of clusters by generalizability (DEC paper, section 5.5).

For each candidate k, DEC is fitted on a training split and its clustering
loss L = KL(P || Q) (eq. 2) is measured on the training split and on a
held-out validation split, each with the target P computed from that split's
own soft assignments Q (eq. 3). The generalizability is

    G = L_train / L_validation,

small when the clustering fits the training points better than new points
(overfitting). Pretraining does not depend on k: one autoencoder is pretrained
per split and every k starts from a copy of it. Every k trains for the same
number of clustering iterations, and the chosen k is the last one before the
largest drop of G, the paper's reading of its Figure 6. :func:`pool_selections`
adds the splits of further runs (other ``random_state``) to a selection.
"""

# The rule and its tables (rule: G, the chosen k, the warnings, the pooling of runs) and the fitting
# loop that measures G (fitting) are modules of their own; their names are imported here, where they
# have always been imported from.

from .rule import (
    NClustersSelection,
    _conclude,
    _drops,
    _runner_up,
    _split_noise,
    _warn_if_unreliable,
    choose_n_clusters,
    generalizability,
    pool_selections,
)
from .fitting import _check_candidates, _missing_labels, _split_loss, logger, select_n_clusters

__all__ = ["NClustersSelection", "choose_n_clusters", "generalizability", "pool_selections", "select_n_clusters"]
