"""Summaries of a clustering (the sizes of its clusters, the confidence of its points, classes
against clusters, each cluster's most distinctive terms) and the generalizability G over the number of
clusters of a selection (the DEC paper's Figure 6)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._base import _cmap, _figure, _labels_of


# ------------------------------------------------------- summaries of a clustering


def cluster_sizes(labels, *, n_clusters: int | None = None):
    """A bar chart of the number of points in each cluster."""
    labels = np.asarray(labels).ravel().astype(np.int64)
    if labels.size == 0:
        raise ValueError("labels is empty.")
    counts = np.bincount(labels, minlength=n_clusters or 0)
    fig = _figure(max(4.0, 0.45 * len(counts) + 1.5), 3.0)
    ax = fig.subplots()
    colours = [_cmap(len(counts))(i % 20) for i in range(len(counts))]
    bars = ax.bar(np.arange(len(counts)), counts, color=colours)
    ax.bar_label(bars, fontsize=7)
    ax.set_xticks(np.arange(len(counts)))
    ax.set_xlabel("cluster")
    ax.set_ylabel("points")
    fig.suptitle(f"Cluster sizes ({labels.size} points)")
    return fig


def confidence_histogram(q, *, bins: int = 30):
    """The distribution of each point's largest soft assignment max_j q_ij, overall."""
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] == 0:
        raise ValueError(f"q must be a non-empty (n_samples, n_clusters) array, got shape {q.shape}.")
    confidence = q.max(axis=1)
    fig = _figure(5.0, 3.0)
    ax = fig.subplots()
    ax.hist(confidence, bins=bins, range=(1.0 / q.shape[1], 1.0), color="C0")
    ax.axvline(float(np.median(confidence)), color="k", linestyle="--",
               label=f"median {np.median(confidence):.2f}")
    ax.set_xlabel("confidence: largest q_ij of a point")
    ax.set_ylabel("points")
    ax.legend()
    fig.suptitle("Confidence of the assignments")
    return fig


def confusion_matrix(y_true, labels):
    """Counts of each true class in each cluster, clusters ordered by their matched class.

    The matching is eq. 10's (Hungarian), so the diagonal holds the points
    that the accuracy counts as correct.
    """
    from ..metrics import cluster_accuracy

    y_true = np.asarray(y_true).ravel()
    labels = _labels_of(labels, len(y_true), "labels")
    accuracy, mapping = cluster_accuracy(y_true, labels, return_mapping=True)
    classes, t = np.unique(y_true, return_inverse=True)
    clusters, c = np.unique(labels, return_inverse=True)
    class_index = {v: i for i, v in enumerate(classes.tolist())}
    matched = sorted((class_index[mapping[cl]], i) for i, cl in enumerate(clusters.tolist()) if cl in mapping)
    order = [i for _, i in matched] + [i for i in range(len(clusters)) if clusters[i] not in mapping]
    counts = np.zeros((len(classes), len(clusters)), dtype=np.int64)
    np.add.at(counts, (t, c), 1)
    counts = counts[:, order]
    fig = _figure(max(4.0, 0.5 * len(clusters) + 2.0), max(3.0, 0.45 * len(classes) + 1.5))
    ax = fig.subplots()
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(np.arange(len(order)), [str(clusters[i]) for i in order])
    ax.set_yticks(np.arange(len(classes)), [str(v) for v in classes])
    ax.set_xlabel("cluster")
    ax.set_ylabel("true class")
    threshold = counts.max() / 2 if counts.size else 0
    if counts.size <= 400:
        for (r, col), value in np.ndenumerate(counts):
            ax.text(col, r, str(value), ha="center", va="center", fontsize=7,
                    color="white" if value > threshold else "black")
    fig.suptitle(f"Classes against clusters (ACC {accuracy:.3f})")
    return fig


def top_terms(model_or_labels, X, terms: Sequence[str], *, n_terms: int = 10, stop_words="english",
              n_clusters: int | None = None):
    """The most distinctive terms (features) of each cluster, e.g. a text model's tf-idf terms.

    A term's score in a cluster is how much more it weighs there than
    overall: its mean value (tf-idf) over the cluster's rows minus its mean
    over all rows of ``X``. Terms as frequent everywhere (``said`` in news) score
    about 0 however heavy they are, and only terms with a positive excess are
    drawn. The difference rather than the ratio of the means, so that a term
    found in one or two of a cluster's documents does not outrank the terms
    that most of them share. English stop words (scikit-learn's
    ``ENGLISH_STOP_WORDS``) are left out before ranking.

    Parameters
    ----------
    model_or_labels : fitted DEC (or any deepclust method), or array-like of shape (n_samples,)
        The clustering: a model (its label of each row of ``X``) or the cluster index of each row.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    terms : sequence of str
        The name of each feature (e.g. ``TfidfVectorizer.get_feature_names_out()``).
    n_terms : int, default=10
        At most this many terms a cluster.
    stop_words : "english", None or collection of str, default="english"
        Terms left out of the ranking, compared in lower case; None keeps every term.
    n_clusters : int, optional
        With labels: the number of clusters; None: one more than the largest label.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One panel a cluster, its terms top down, most distinctive first.
    """
    from .profiles import _resolve, distinctive_terms

    terms = [str(t) for t in terms]
    d = getattr(model_or_labels, "n_features_in_", None)
    if d is not None and len(terms) != d:  # before the model's pass over X
        raise ValueError(f"{len(terms)} terms for a model of {d} features.")
    rows, labels, k = _resolve(model_or_labels, X, n_clusters)
    if len(terms) != rows.shape[1]:
        raise ValueError(f"{len(terms)} terms for data of {rows.shape[1]} features.")
    ranked = distinctive_terms(rows, labels, k, terms, n_terms=n_terms, stop_words=stop_words)
    sizes = np.bincount(labels, minlength=k)
    cols = min(k, 4)
    rows_of_panels = -(-k // cols)
    fig = _figure(3.2 * cols, (0.22 * n_terms + 0.8) * rows_of_panels)
    axes = np.atleast_1d(fig.subplots(rows_of_panels, cols, squeeze=False)).ravel()
    for j, ax in enumerate(axes):
        if j >= k:
            ax.set_visible(False)
            continue
        ax.set_title(f"cluster {j} ({sizes[j]})", fontsize=9)
        ax.set_xticks([])
        if not ranked[j]:
            ax.set_yticks([])
            continue
        positions = np.arange(len(ranked[j]))[::-1]
        ax.barh(positions, [score for _, score in ranked[j]], color=_cmap(k)(j % 20))
        ax.set_yticks(positions, [term for term, _ in ranked[j]], fontsize=8)
    fig.suptitle("Most distinctive terms of each cluster (mean in the cluster minus mean overall)")
    return fig


# ------------------------------------------------------------------ Figure 6


def _draw_generalizability(ax, table, chosen: int, *, colour: str = "C0", label: str = "G",
                          nmi_ax=None) -> None:
    """Draw one :func:`~deepclust.select_n_clusters` table on ``ax``: the mean G by k (a line),
    each split's G (dots), the chosen k (a star) and, on ``nmi_ax`` when the table has NMI, the
    NMI by k (dashed)."""
    ks = [row["k"] for row in table]
    ax.plot(ks, [row["G"] for row in table], marker="o", color=colour, label=label)
    for row in table:
        ax.scatter([row["k"]] * len(row["G_splits"]), row["G_splits"], s=8, color=colour, alpha=0.4)
    best = next(row for row in table if row["k"] == chosen)
    ax.scatter([chosen], [best["G"]], marker="*", s=160, color=colour, zorder=3, edgecolor="k")
    if nmi_ax is not None and all("nmi" in row for row in table):
        nmi_ax.plot(ks, [row["nmi"] for row in table], linestyle="--", marker=".", color=colour, alpha=0.7)


def generalizability(selection):
    """Generalizability G and NMI over the number of clusters (Figure 6).

    Parameters
    ----------
    selection : NClustersSelection
        What :func:`deepclust.select_n_clusters` returned. Its mean G by k is
        drawn as a line, each split's G as dots, and the chosen k (the k
        before the largest drop of G) as a star; when it was given labels,
        the NMI of each k is drawn dashed on a second axis, for evaluation.
    """
    table = list(getattr(selection, "table", None) or [])
    if (not table or getattr(selection, "n_clusters", None) not in [row.get("k") for row in table]
            or not all("G" in row and "G_splits" in row for row in table)):
        raise ValueError("selection has no table with G and G_splits by k, or its chosen n_clusters is not "
                         "one of the table's k; pass what deepclust.select_n_clusters returned.")
    fig = _figure(5.5, 3.6)
    ax = fig.subplots()
    nmi_ax = ax.twinx() if all("nmi" in row for row in table) else None
    _draw_generalizability(ax, table, selection.n_clusters, label="G (mean of the splits)", nmi_ax=nmi_ax)
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("G = L_train / L_validation")
    ax.set_xticks([row["k"] for row in table])
    if nmi_ax is not None:
        nmi_ax.set_ylabel("NMI (dashed)")
    ax.legend(loc="best")
    fig.suptitle(f"Generalizability over k: chosen k = {selection.n_clusters}")
    return fig
