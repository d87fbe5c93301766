"""A single self-contained HTML report of a fitted model on some data.

Every figure is a PNG inlined as base64 and the page has no script and no
external resource: it opens offline, can be mailed or archived as one file.
Needs matplotlib (``pip install deepclust[plot]``).
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from . import plotting
from .plotting.profiles import _feature_names, distinctive_terms
from .data.atomic import atomic_file
from ._version import __version__

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ddd; padding: .25em .6em; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: .6em 0; }
.note { color: #555; font-size: .9em; }
"""


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(rows, header=None) -> str:
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = []
        for value in row:
            number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            text = f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)
            cls = ' class="num"' if number else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


class _Page:
    def __init__(self):
        self.parts: list[str] = []

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text: str, cls: str | None = None) -> None:
        attr = f' class="{cls}"' if cls else ""
        self.parts.append(f"<p{attr}>{html.escape(text)}</p>")

    def raw(self, markup: str) -> None:
        self.parts.append(markup)

    def items(self, lines) -> None:
        self.parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")

    def figure(self, make, alt: str) -> None:
        """Draw ``make()`` inline; a figure that cannot be drawn becomes a note saying why."""
        try:
            fig = make()
        except (ValueError, ImportError) as exc:
            self.text(f"{alt}: not drawn ({exc})", "note")
            return
        self.parts.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(fig)}">')


def write_report(model, X, path, *, y=None, image_shape=None, terms=None, feature_names=None,
                 title: str | None = None, data_name: str | None = None, random_state=0) -> Path:
    """Write an HTML report of ``model`` on ``X`` to ``path``.

    It holds a data summary, the model's settings and fit, the cluster sizes
    and confidences, the most confident members of each cluster (images,
    with ``image_shape``), the most distinctive terms of each (text, with
    ``terms``: those that weigh most above their overall mean, English stop
    words left out) or, for a table whose columns have names, the cluster
    profiles (each cluster's mean of each column in standard deviations from
    the overall mean, as a heat map and a line a cluster naming its most
    distinctive columns), the clustering phase's curves, the embedding over training
    (when the model was fitted with ``snapshot_size > 0``), the gradient
    figure, and, when ``y`` is given, ACC / NMI / ARI and the confusion
    matrix. Labels are used for evaluation only.

    Parameters
    ----------
    model : fitted DEC
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The data to report on (usually the training data).
    path : str or path-like
        The HTML file, written atomically.
    y : array-like of shape (n_samples,), optional
        True labels, for evaluation only.
    image_shape : (height, width) or (height, width, channels), optional
        For image data: how a row is laid out, as in
        :func:`~deepclust.plotting.cluster_exemplars`: rows flattened channels
        last with 1, 3 or 4 channels, or, for a :class:`~deepclust.DBC`, its
        ``image_shape_`` ``(channels, height, width)`` (rows flattened
        channels first). None: no exemplars are drawn.
    terms : sequence of str, optional
        For text: the name of each feature (term).
    feature_names : sequence of str, optional
        For a table: the name of each column, for the cluster profiles. None:
        a DataFrame's columns, else the model's ``feature_names_in_``; with
        neither (or with ``image_shape`` or ``terms``) there are no profiles.
        The means and standard deviations are those of ``X``.
    title : str, optional
    data_name : str, optional
        Where the data came from, shown in the summary.
    random_state : int, default=0
        Seed of the t-SNE projection and of the gradient figure's sample.

    Returns
    -------
    path : Path

    Raises
    ------
    ValueError
        When ``X``, ``y`` or ``image_shape`` do not fit the model; nothing is written then.
    """
    check_is_fitted(model)
    start = time.perf_counter()
    # Validated once here (a clear error for bad input); the model's methods get X as given, so a
    # DataFrame keeps its feature names.
    rows = model._check_test_data(X)
    n, d = rows.shape
    if image_shape is not None:  # before drawing anything: a clear error, not a figure that crashes
        image_shape, channels_first = plotting._image_layout(model, image_shape)
    names = _feature_names(X, feature_names, model, d)
    if terms is not None and len(terms) != d:
        raise ValueError(f"{len(terms)} terms for data of {d} features.")
    q = plotting.soft_assignments(model, X)
    labels = q.argmax(axis=1)
    k = q.shape[1]
    if y is not None:
        y = np.asarray(y).ravel()
        if len(y) != n:
            raise ValueError(f"y has {len(y)} labels but X has {n} rows.")
    # The recorded snapshot rows index the training data: only meaningful when X is it.
    training_data = n == len(getattr(model, "labels_", ())) and np.array_equal(labels, model.labels_)

    page = _Page()
    name = type(model).__name__
    heading = title or f"deepclust report: {name}, {k} clusters"
    page.raw(f"<h1>{html.escape(heading)}</h1>")
    page.text(f"Written by deepclust {__version__} on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
              "note")

    page.heading("Data")
    sizes = np.bincount(labels, minlength=k)
    summary = [("rows", n), ("features", d), ("storage", "sparse" if sp.issparse(rows) else "dense")]
    if data_name:
        summary.insert(0, ("source", data_name))
    if image_shape is not None:
        layout = "channels first" if channels_first else "channels last" if len(image_shape) == 3 else "grey"
        summary.append(("image shape", f"{' x '.join(str(s) for s in image_shape)} ({layout})"))
    summary += [("clusters", k), ("empty clusters", int((sizes == 0).sum())),
                ("median confidence (largest q of a point)", float(np.median(q.max(axis=1))))]
    page.raw(_table(summary))

    if y is not None:
        from .metrics import adjusted_rand_score, cluster_accuracy, normalized_mutual_info_score

        page.heading("Agreement with the given labels (evaluation only)")
        page.raw(_table([("ACC (eq. 10)", cluster_accuracy(y, labels)),
                         ("NMI", normalized_mutual_info_score(y, labels)),
                         ("ARI", adjusted_rand_score(y, labels))], header=("metric", "value")))
        page.figure(lambda: plotting.confusion_matrix(y, labels), "confusion matrix")

    page.heading("Clusters")
    page.figure(lambda: plotting.cluster_sizes(labels, n_clusters=k), "cluster sizes")
    page.figure(lambda: plotting.confidence_histogram(q), "confidence histogram")
    if image_shape is not None:
        page.heading("Most confident members of each cluster (Figure 3)")
        page.figure(lambda: plotting.cluster_exemplars(model, X, image_shape), "cluster exemplars")
    if terms is not None:
        page.heading("Most distinctive terms of each cluster")
        page.text("A term's score in a cluster is its mean tf-idf there minus its mean over all the "
                  "documents (terms as frequent everywhere score about 0); English stop words are left "
                  "out.", "note")
        terms = [str(t) for t in terms]
        ranked = distinctive_terms(rows, labels, k, terms, n_terms=10)
        page.items(f"cluster {c} ({sizes[c]}): " + (", ".join(f"{t} +{score:.3g}" for t, score in ranked[c])
                                                    or "no term weighs more here than overall")
                   for c in range(k))
        page.figure(lambda: plotting.top_terms(labels, rows, terms, n_clusters=k), "top terms")
    elif image_shape is None and names is not None:
        profiles = plotting.cluster_profile_scores(labels, rows, feature_names=names, n_clusters=k)
        page.heading("Cluster profiles")
        page.text("How far each cluster's mean of a column lies from the mean of all the rows, in the "
                  "column's standard deviations (z = (mean_c - mean) / std, over this report's data); each "
                  "cluster's most distinctive columns first.", "note")
        page.items(profiles.lines(n_columns=5))
        page.figure(lambda: plotting.cluster_profiles(labels, rows, profiles=profiles), "cluster profiles")

    page.heading("Training")
    page.figure(lambda: plotting.training_curves(model, y if training_data else None), "training curves")
    if getattr(model, "embedding_snapshots_", []):
        if training_data:
            page.figure(lambda: plotting.embedding_over_training(model, y, random_state=random_state),
                        "embedding over training")
        else:
            page.text("The embedding over training is drawn for the training data only; this report's "
                      "data differ from it.", "note")
    else:
        page.text("No embedding snapshots were recorded; fit with snapshot_size > 0 (the command "
                  "line's fit does) to see the embedding over training (Figure 5).", "note")
    if not hasattr(model, "cluster_centers_"):
        page.text(f"Figure 4 (gradient magnitude against q) is an analysis of DEC's soft assignment to "
                  f"centroids; a {type(model).__name__} has no centroids.", "note")
    elif hasattr(model, "predict_proba"):
        page.figure(lambda: plotting.gradient_magnitude(model, X, cluster=int(np.argmax(sizes)),
                                                        random_state=random_state),
                    "gradient magnitude")
    else:
        page.text("Figure 4 (gradient magnitude against q) needs soft assignments; this model's are "
                  "hard.", "note")

    page.heading("Settings and fit")
    params = model.get_params(deep=False)
    params.pop("autoencoder", None)
    page.raw(_table(sorted((key, repr(value)) for key, value in params.items()),
                    header=("parameter", "value")))
    fitted = [("clustering iterations", getattr(model, "n_iter_", "")),
              ("target updates", max(len(getattr(model, "history_", [])) - 1, 0)),
              ("training arithmetic", getattr(model, "precision_", "float32")),
              ("device", str(getattr(model, "device_", "")))]
    for phase, seconds in getattr(model, "fit_times_", {}).items():
        fitted.append((f"{phase} time (s)", float(seconds)))
    for attribute, what in (("layerwise_schedule_", "layer-wise schedule"),
                            ("pretrain_schedule_", "end-to-end schedule")):
        schedule = getattr(model, attribute, None)
        if schedule:
            fitted.append((what, ", ".join(f"{a}={b}" for a, b in schedule.items())))
    history = getattr(model, "pretrain_history_", [])
    if history and math.isfinite(history[-1]):
        fitted.append(("final pretraining loss", float(history[-1])))
    page.raw(_table(fitted, header=("fit", "value")))
    page.text(f"Report drawn in {time.perf_counter() - start:.1f} s.", "note")

    document = "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{html.escape(heading)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
        *page.parts, "</body>", "</html>", "",
    ])
    path = Path(os.fspath(path))
    with atomic_file(path) as fh:
        fh.write(document.encode("utf-8"))
    return path
