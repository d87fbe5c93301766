"""Figures of a fitted model after the DEC paper's: the most confident members of each cluster
(Figure 3), the embedding and the clustering over training (Figure 5) and the gradient of the
clustering loss (Figure 4)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_is_fitted

from ..training.kmeans import squared_distances
from ._base import _cmap, _figure


# ------------------------------------------------------------------ Figure 3


def soft_assignments(model, X) -> np.ndarray:
    """Each point's soft assignment to each cluster, shape (n_samples, n_clusters).

    ``model.predict_proba(X)`` (DEC's q) where the model has soft assignments.
    A model with hard ones only (DCN) gets ``softmax(-||z - mu_j||^2)`` of its
    embedding z: its largest entry is the model's cluster, and it ranks the
    points of a cluster by their closeness to its centroid.
    """
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    z = torch.as_tensor(np.asarray(model.transform(X)))  # an array under set_output's pandas too
    centers = torch.as_tensor(model.cluster_centers_)
    return torch.softmax(-squared_distances(z, centers), dim=1).numpy()


def _image_layout(model, image_shape=None) -> tuple[tuple[int, ...], bool]:
    """How a row of ``model``'s data is laid out as an image: ``(shape, channels_first)``.

    ``image_shape`` is ``(height, width)`` (grey), ``(height, width, channels)`` with rows
    flattened channels last (as the command line reads image folders), or, for a model that
    records its own ``image_shape_`` (:class:`~deepclust.DBC`), exactly that
    ``(channels, height, width)``, rows flattened channels first as the model reads them.
    None means the model's own ``image_shape_``. An image is drawn in grey (1 channel), RGB (3)
    or RGBA (4).

    Raises
    ------
    ValueError
        When the shape does not hold the model's features or has another number of channels.
    """
    check_is_fitted(model)
    own = getattr(model, "image_shape_", None)
    own = tuple(int(s) for s in own) if own is not None else None
    if image_shape is None:
        if own is None:
            raise ValueError(
                "image_shape is needed: give (height, width) or (height, width, channels) of the "
                f"model's {model.n_features_in_} features (only a DBC knows its own image shape).")
        image_shape = own
    try:
        shape = tuple(int(s) for s in image_shape)
        whole = all(s == float(t) for s, t in zip(shape, image_shape))
    except (TypeError, ValueError):
        shape, whole = (), False
    if (not whole or len(shape) not in (2, 3) or min(shape) < 1
            or math.prod(shape) != model.n_features_in_):
        raise ValueError(
            f"image_shape={tuple(image_shape) if np.iterable(image_shape) else image_shape!r} does "
            f"not hold the model's {model.n_features_in_} features; give (height, width) or "
            "(height, width, channels) in positive ints whose product is that"
            + (f", or the model's own image_shape_ {own} (channels first)." if own else "."))
    channels_first = len(shape) == 3 and shape == own
    channels = 1 if len(shape) == 2 else shape[0] if channels_first else shape[2]
    if channels not in (1, 3, 4):
        raise ValueError(
            f"image_shape={shape} has {channels} channels, but an image is drawn in grey (1), "
            "RGB (3) or RGBA (4). Give (height, width) for grey, (height, width, channels) with 1, "
            "3 or 4 channels for rows flattened channels last"
            + (f", or the model's own image_shape_ {own} for rows flattened channels first"
               if own and own != shape else "") + ".")
    return shape, channels_first


def _row_image(row: np.ndarray, shape: tuple[int, ...], channels_first: bool) -> np.ndarray:
    """One row as an ``(height, width)`` or ``(height, width, channels)`` array for ``imshow``."""
    image = row.reshape(shape)
    if channels_first:
        image = image.transpose(1, 2, 0)
    return image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image


def cluster_exemplars(model, X, image_shape: Sequence[int] | None = None, *, n_per_cluster: int = 10):
    """The ``n_per_cluster`` most confident members of each cluster, one row per cluster.

    A point's confidence for cluster j is q_ij; each row shows the points
    assigned to j (argmax q) with the largest q_ij, most confident first, as in
    the paper's Figure 3.

    Parameters
    ----------
    model : fitted DEC
    X : array-like of shape (n_samples, n_features)
        Images as rows, e.g. the training data.
    image_shape : (height, width) or (height, width, channels), optional
        How a row is laid out; ``height * width * channels`` must equal
        ``n_features``, with 1, 3 or 4 channels, rows flattened channels
        last. For a :class:`~deepclust.DBC`, whose rows are flattened
        channels first, give its ``image_shape_`` ``(channels, height,
        width)``, or nothing (the default, None, means the model's own
        ``image_shape_``). Values are shown scaled to their row's range.
    n_per_cluster : int, default=10

    Raises
    ------
    ValueError
        When ``image_shape`` does not lay out the model's features as a grey,
        RGB or RGBA image.
    """
    shape, channels_first = _image_layout(model, image_shape)
    if n_per_cluster < 1:
        raise ValueError(f"n_per_cluster={n_per_cluster} must be at least 1.")
    rows = model._check_test_data(X)  # rows by position, whatever X was
    q = soft_assignments(model, X)
    labels = q.argmax(axis=1)
    k = q.shape[1]
    fig = _figure(1.0 * n_per_cluster + 0.8, 1.0 * k + 0.3)
    axes = fig.subplots(k, n_per_cluster, squeeze=False)
    for j in range(k):
        members = np.flatnonzero(labels == j)
        best = members[np.argsort(-q[members, j], kind="stable")][:n_per_cluster]
        for col, ax in enumerate(axes[j]):
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if col == 0:
                ax.set_ylabel(f"{j} ({len(members)})", rotation=0, ha="right", va="center")
            if col >= len(best):
                continue
            row = rows[best[col]]
            row = np.asarray(row.toarray() if sp.issparse(row) else row, dtype=np.float64).ravel()
            lo, hi = float(row.min()), float(row.max())
            image = _row_image((row - lo) / (hi - lo) if hi > lo else np.zeros_like(row), shape,
                               channels_first)
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
            ax.set_title(f"{q[best[col], j]:.2f}", fontsize=7, pad=1)
    fig.suptitle("Most confident members of each cluster (row: cluster (size); title: q)")
    return fig


# ------------------------------------------------------------------ Figure 5


def _snapshots(model) -> list[dict]:
    check_is_fitted(model)
    snapshots = getattr(model, "embedding_snapshots_", [])
    if not snapshots:
        raise ValueError(
            "The model recorded no embedding snapshots; fit it with snapshot_size > 0 "
            "(e.g. DEC(snapshot_size=1000)) to plot the embedding over training."
        )
    return snapshots


def _training_labels(model, y) -> np.ndarray:
    """``y`` as the labels of the whole training data (the snapshots' rows index it)."""
    y = np.asarray(y).ravel()
    if len(y) != len(model.labels_):
        raise ValueError(f"y has {len(y)} entries but the model was trained on {len(model.labels_)} "
                         "points; give the labels of the whole training data.")
    return y


def _snapshot_labels(model, snap: dict) -> np.ndarray:
    z = torch.as_tensor(snap["embedding"])
    centers = torch.as_tensor(snap["centers"])
    with torch.no_grad():
        return model._soft_assign(z, centers).argmax(dim=1).numpy()


def snapshot_accuracy(model, y) -> list[tuple[int, float]]:
    """``(iteration, ACC)`` at every target update of a model fitted with ``snapshot_size > 0``,
    the accuracy of the recorded rows ``model.snapshot_indices_`` of its training data."""
    from ..metrics import cluster_accuracy

    truth = _training_labels(model, y)[model.snapshot_indices_]
    return [(int(s["iteration"]), cluster_accuracy(truth, _snapshot_labels(model, s))) for s in _snapshots(model)]


def _project(z: np.ndarray, method: str, random_state) -> np.ndarray:
    if z.shape[1] <= 2:
        return np.pad(z, ((0, 0), (0, 2 - z.shape[1])))
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(2, random_state=random_state).fit_transform(z)
    from sklearn.manifold import TSNE

    perplexity = min(30.0, max(2.0, (len(z) - 1) / 3))
    return TSNE(2, perplexity=perplexity, init="pca", random_state=random_state).fit_transform(z)


def embedding_over_training(model, y=None, *, iterations=None, n_panels: int = 4,
                            method: str = "tsne", random_state=0):
    """The embedding of the recorded sample at several iterations (Figure 5 a-e).

    Needs a model fitted with ``snapshot_size > 0``. Each panel is a 2-D
    projection (t-SNE, or PCA with ``method="pca"``) of the sample's
    embedding at one target update, coloured by the true class when ``y`` is
    given, else by the cluster at that iteration.

    Parameters
    ----------
    model : fitted DEC
    y : array-like of shape (n_samples,), optional
        True labels of the *training* data (the sample's are
        ``y[model.snapshot_indices_]``), for colour only.
    iterations : sequence of int, optional
        Iterations to show (the nearest recorded ones); by default
        ``n_panels`` evenly spread from the first to the last update.
    method : {"tsne", "pca"}, default="tsne"
    random_state : int, default=0
        Seed of the projection.
    """
    snapshots = _snapshots(model)
    if method not in ("tsne", "pca"):
        raise ValueError(f"method={method!r}; use 'tsne' or 'pca'.")
    recorded = np.array([s["iteration"] for s in snapshots])
    if iterations is None:
        if n_panels < 1:
            raise ValueError(f"n_panels={n_panels} must be at least 1.")
        chosen = np.unique(np.linspace(0, len(snapshots) - 1, n_panels).round().astype(int))
    else:
        if len(iterations) == 0:
            raise ValueError("iterations is empty; give at least one iteration, or None.")
        chosen = np.unique([int(np.abs(recorded - it).argmin()) for it in iterations])
    colour = None
    if y is not None:
        _, colour = np.unique(_training_labels(model, y)[model.snapshot_indices_], return_inverse=True)
    fig = _figure(3.2 * len(chosen), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(chosen)))
    for ax, i in zip(axes, chosen):
        snap = snapshots[i]
        xy = _project(np.asarray(snap["embedding"], dtype=np.float64), method, random_state)
        c = colour if colour is not None else _snapshot_labels(model, snap)
        ax.scatter(xy[:, 0], xy[:, 1], c=c, cmap=_cmap(int(c.max()) + 1), s=4, vmin=0,
                   vmax=max(int(c.max()), 1))
        ax.set_title(f"iteration {snap['iteration']}")
        ax.set_xticks([])
        ax.set_yticks([])
    by = "true class" if y is not None else "cluster"
    fig.suptitle(f"Embedding of {len(model.snapshot_indices_)} points over training "
                 f"({method}, coloured by {by})")
    return fig


def training_curves(model, y=None):
    """The clustering phase over iterations (Figure 5 f).

    The fraction of points that changed cluster at each target update and
    the mean loss between updates, from ``history_``: KL(P || Q) for DEC and
    DBC, the whole loss for IDEC (L_r + gamma KL(P || Q)) and DCN (L_r +
    lambda (1/2) ||z - M s||^2), L_r being the reconstruction error; with ``y``
    and recorded snapshots, also the accuracy of the recorded sample's
    clusters at each update.
    """
    check_is_fitted(model)
    history = model.history_
    if not history or "delta_label" not in history[0]:
        return _loss_curve(model, history)
    its = [h["iteration"] for h in history]
    panels = 3 if y is not None and getattr(model, "embedding_snapshots_", []) else 2
    fig = _figure(4.0 * panels, 3.2)
    axes = fig.subplots(1, panels)
    axes[0].plot(its, [100 * h["delta_label"] for h in history], marker=".")
    axes[0].axhline(100 * model.tol, color="grey", linestyle="--", label=f"tol ({100 * model.tol:g}%)")
    axes[0].set_yscale("symlog", linthresh=0.1)
    axes[0].set_ylim(bottom=0)
    axes[0].set_xlabel("iteration")
    axes[0].set_ylabel("% of points changing cluster")
    axes[0].legend()
    axes[1].plot(its[1:], [h["loss"] for h in history[1:]], marker=".", color="C1")
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel(f"{model._loss_label()}\nmean over mini-batches")
    if panels == 3:

        axes[2].plot(*zip(*snapshot_accuracy(model, y)), marker=".", color="C2")
        axes[2].set_xlabel("iteration")
        axes[2].set_ylabel(f"accuracy of the {len(model.snapshot_indices_)} recorded points")
    fig.suptitle("Clustering phase")
    return fig


def _loss_curve(model, history):
    """A method trained without target updates (IMSAT): its loss at each entry of ``history_``
    (per epoch, or per iteration)."""
    fig = _figure(4.5, 3.2)
    ax = fig.subplots()
    x = "epoch" if history and "epoch" in history[0] else "iteration"
    ax.plot([h.get(x, i + 1) for i, h in enumerate(history)], [h["loss"] for h in history], marker=".")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{type(model).__name__} loss\nmean over mini-batches")
    fig.suptitle("Training")
    return fig


# ------------------------------------------------------------------ Figure 4


def gradient_magnitude(model, X, *, cluster: int = 0, max_points: int = 2000, random_state=0):
    """|dL/dz_i| against q_ij for one cluster j (Figure 4).

    For each point, the norm of the gradient of its own term of the
    clustering loss, sum_j p_ij log(p_ij / q_ij), with respect to its
    embedding z_i, with the target p computed from the points shown. Points
    near the centroid (high q_ij) pull harder than ambiguous ones: the paper's
    argument that DEC learns from its high-confidence assignments.

    Parameters
    ----------
    model : fitted DEC
    X : array-like of shape (n_samples, n_features)
    cluster : int, default=0
    max_points : int, default=2000
        A random subset of at most this many points is used.
    """
    check_is_fitted(model)
    k = model.cluster_centers_.shape[0]
    if not 0 <= int(cluster) < k:
        raise ValueError(f"cluster={cluster} is not one of the model's clusters 0..{k - 1}.")
    z_all = np.asarray(model.transform(X))  # an array under set_output's pandas too
    rng = np.random.RandomState(random_state)
    rows = rng.choice(len(z_all), min(max_points, len(z_all)), replace=False)
    z = torch.as_tensor(z_all[rows]).requires_grad_(True)
    centers = torch.as_tensor(model.cluster_centers_)
    with torch.no_grad():
        q = model._soft_assign(z, centers)
        p = model._target(q)
    loss = model._clustering_loss(z, centers, p) * len(z)  # a sum: one term per point
    (grad,) = torch.autograd.grad(loss, z)
    magnitude = grad.norm(dim=1).numpy()
    q = q.numpy()
    mine = q.argmax(axis=1) == cluster
    fig = _figure(5.0, 3.6)
    ax = fig.subplots()
    ax.scatter(q[~mine, cluster], magnitude[~mine], s=4, color="lightgrey", label="other clusters")
    ax.scatter(q[mine, cluster], magnitude[mine], s=4, color="C3", label=f"cluster {cluster}")
    ax.set_xlabel(f"q_i{cluster} (soft assignment to cluster {cluster})")
    ax.set_ylabel("|dL / dz_i|")
    ax.legend()
    fig.suptitle(f"Gradient of the clustering loss, {len(z)} points")
    return fig
