"""Figures of a fitted model, after the DEC paper's, on your own data.

Every function returns a :class:`matplotlib.figure.Figure` (save it with
``fig.savefig("name.png")``; in a notebook it displays itself). They are
built on matplotlib's object-oriented API, so they never touch pyplot's global
state or the backend. matplotlib is an optional dependency: ``pip install
deepclust[plot]``.

==========================  ============================================
function                    what it shows
==========================  ============================================
:func:`cluster_exemplars`   the most confident members of each cluster (Figure 3)
:func:`embedding_over_training`  the embedding at chosen iterations (Figure 5 a-e)
:func:`training_curves`     fraction of points changing cluster, loss, and
                            accuracy when labels are given (Figure 5 f)
:func:`gradient_magnitude`  |dL/dz_i| against q_ij for one cluster (Figure 4)
:func:`cluster_sizes`       points per cluster
:func:`confidence_histogram`  the distribution of each point's largest q_ij
:func:`confusion_matrix`    classes against clusters, when labels are given
:func:`top_terms`           the most distinctive terms (e.g. tf-idf) of each cluster,
                            stop words left out
:func:`cluster_profiles`    a table's clusters against its columns: each cluster's
                            mean in standard deviations from the overall mean
:func:`generalizability`    G and NMI over the number of clusters, from
                            :func:`~deepclust.select_n_clusters` (Figure 6)
==========================  ============================================

Labels (``y``) are only ever used to colour or score a figure; nothing here
changes the model.
"""

# The figures of a fitted model (model: Figures 3, 4 and 5) and the summaries of a clustering with
# the generalizability over k (summaries: Figure 6) are modules of their own; their names are
# imported here, where they have always been imported from.

from ._base import _cmap, _figure, _labels_of
from .model import (
    _image_layout,
    _project,
    _row_image,
    _snapshot_labels,
    _snapshots,
    _training_labels,
    cluster_exemplars,
    embedding_over_training,
    gradient_magnitude,
    snapshot_accuracy,
    soft_assignments,
    training_curves,
)
from .profiles import ClusterProfiles, cluster_profile_scores, cluster_profiles
from .summaries import (
    _draw_generalizability,
    cluster_sizes,
    confidence_histogram,
    confusion_matrix,
    generalizability,
    top_terms,
)

__all__ = [
    "ClusterProfiles",
    "cluster_exemplars",
    "cluster_profile_scores",
    "cluster_profiles",
    "cluster_sizes",
    "confidence_histogram",
    "confusion_matrix",
    "embedding_over_training",
    "generalizability",
    "gradient_magnitude",
    "top_terms",
    "training_curves",
]
