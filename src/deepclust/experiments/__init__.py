"""The DEC paper's experiments (sections 4 and 5), as functions and one command per table.

Each function runs a protocol on ``(X, y)`` (the labels are used only to score the clusters,
never to fit or choose anything) and returns plain dicts: every run's figures and their mean and
spread over seeds. :func:`write_experiment` turns a result into a Markdown table, a JSON file and
a figure. The command line runs them on the datasets of :mod:`deepclust.datasets`::

    deepclust experiment table2 --datasets digits fashion-mnist --out results/
    deepclust experiment table4 --datasets digits --out results/
    deepclust experiment robustness --datasets digits --param update_interval --values 10 20 40 80 160
    deepclust experiment iterations --datasets digits --out results/
    deepclust experiment select-k --datasets digits --seeds 0 --out results/

* ``table2``: Tables 2 and 3: k-means, GMM and spectral clustering on the data, AE + k-means and
  AE + GMM on the pretrained embedding, DEC w/o backprop and DEC (and, with ``methods``, IDEC,
  DCN and DBC), ACC / NMI / ARI and wall time over seeds (:func:`compare_methods`).
* ``table4``: Table 4: imbalanced subsets in which class c (of K, 0-based) is kept with
  probability r_min + (1 - r_min) c / (K - 1) (:func:`imbalance_study`).
* ``robustness``: Figure 2: DEC's accuracy over a range of one clustering setting, every value
  starting from the same pretrained autoencoder (:func:`robustness_sweep`).
* ``iterations``: Figure 5 (f): accuracy at every target update of the clustering phase
  (:func:`accuracy_over_iterations`).
* ``select-k``: Figure 6: the generalizability G and the NMI of DEC over candidate numbers of
  clusters, and the k that :func:`~deepclust.select_n_clusters` chooses
  (:func:`generalizability_study`).

The pretrained autoencoder is shared, within a seed, by every method that starts from one (AE +
k-means, AE + GMM, DEC w/o backprop, DEC, IDEC, DCN), so their wall times include that one
pretraining; DBC pretrains its own convolutional network.
"""

# The protocols and their writing live in the modules below, one step each (protocol: what every
# protocol shares; tables: Tables 2 to 4; curves: Figures 2, 5 (f) and 6; writing: the Markdown,
# JSON and figure files); their names are imported here, where they have always been imported from.
# A setting read at run time is read in the module that holds it: set SPECTRAL_MAX_SAMPLES and
# DENSE_MAX_VALUES on deepclust.experiments.tables.

from .protocol import (
    _KNOWN,
    _PRETRAINING,
    _SET_BY_PROTOCOL,
    _SET_WITH_SHARED_PRETRAINING,
    BASELINES,
    DEEP_METHODS,
    TABLE2_METHODS,
    _check_data,
    _check_methods,
    _check_params,
    _clustering_figures,
    _deep_estimators,
    _mean_std,
    _n_clusters,
    _pretrain,
    _pretrain_samples,
    _samples_per_step,
    _seeds,
    method_estimators,
    scores,
)
from .tables import (
    DENSE_MAX_VALUES,
    SPECTRAL_MAX_SAMPLES,
    _dense,
    _gmm,
    _spectral,
    compare_methods,
    imbalance_study,
    imbalanced_indices,
    run_methods,
    summarise,
)
from .curves import (
    _verdicts,
    accuracy_over_iterations,
    generalizability_study,
    robustness_sweep,
    snapshot_accuracy,
)
from .writing import _cell, _figure, _jsonable, markdown, write_experiment

__all__ = [
    "BASELINES", "DEEP_METHODS", "TABLE2_METHODS", "accuracy_over_iterations", "compare_methods",
    "generalizability_study", "imbalance_study", "imbalanced_indices", "robustness_sweep", "summarise",
    "write_experiment",
]
