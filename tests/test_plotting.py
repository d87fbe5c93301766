"""Every figure is written as a valid PNG whose pixels depend on the data."""

import io

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits

from deepclust import DEC, plotting

from .conftest import FAST

pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402  (matplotlib's own dependency)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300].astype(np.float32) / 16, y[:300]
    settings = dict(n_clusters=4, snapshot_size=80, **{**FAST, "hidden_dims": (48,), "embedding_dim": 4})
    a = DEC(random_state=0, **settings).fit(X)
    b = DEC(random_state=1, **settings).fit(X)
    assert not np.array_equal(a.labels_, b.labels_)
    return X, y, a, b


def _png(fig, path) -> np.ndarray:
    fig.savefig(path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()  # a complete, well-formed PNG
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert pixels.std() > 0  # not a blank canvas
    return pixels


def _differ(p1: np.ndarray, p2: np.ndarray) -> bool:
    return p1.shape != p2.shape or not np.array_equal(p1, p2)


FIGURES = {
    "cluster_exemplars": lambda m, X, y: plotting.cluster_exemplars(m, X, (8, 8), n_per_cluster=5),
    "embedding_over_training": lambda m, X, y: plotting.embedding_over_training(m, method="pca"),
    "embedding_tsne_by_class": lambda m, X, y: plotting.embedding_over_training(m, y, n_panels=2),
    "training_curves": lambda m, X, y: plotting.training_curves(m),
    "training_curves_with_accuracy": lambda m, X, y: plotting.training_curves(m, y),
    "gradient_magnitude": lambda m, X, y: plotting.gradient_magnitude(m, X, cluster=1),
    "cluster_sizes": lambda m, X, y: plotting.cluster_sizes(m.labels_),
    "confidence_histogram": lambda m, X, y: plotting.confidence_histogram(m.predict_proba(X)),
    "confusion_matrix": lambda m, X, y: plotting.confusion_matrix(y, m.labels_),
    "top_terms": lambda m, X, y: plotting.top_terms(m, sp.csr_matrix(X), [f"px{i}" for i in range(64)]),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_each_figure_is_a_png_that_depends_on_the_clustering(digits, tmp_path, name):
    X, y, a, b = digits
    first = _png(FIGURES[name](a, X, y), tmp_path / "a.png")
    second = _png(FIGURES[name](b, X, y), tmp_path / "b.png")
    assert _differ(first, second), f"{name} drew the same picture for two different clusterings"
    again = _png(FIGURES[name](a, X, y), tmp_path / "a2.png")
    assert not _differ(first, again)  # and the same one for the same model


def test_clear_errors(digits):
    X, y, a, _ = digits
    with pytest.raises(ValueError, match="image_shape"):
        plotting.cluster_exemplars(a, X, (9, 9))
    with pytest.raises(ValueError, match="cluster=7"):
        plotting.gradient_magnitude(a, X, cluster=7)
    with pytest.raises(ValueError, match="terms"):
        plotting.top_terms(a, X, ["one", "two"])
    with pytest.raises(ValueError, match="labels"):
        plotting.confusion_matrix(y, a.labels_[:10])
    with pytest.raises(ValueError, match="method"):
        plotting.embedding_over_training(a, method="umap")
    no_snapshots = DEC(n_clusters=4, random_state=0, **FAST).fit(X)
    with pytest.raises(ValueError, match="snapshot_size"):
        plotting.embedding_over_training(no_snapshots)


def test_figures_read_the_embedding_under_pandas_output(digits):
    # With get_feature_names_out, scikit-learn's set_output wraps transform: under a global pandas
    # output it returns a DataFrame, which the figures indexed as an array.
    from sklearn import config_context

    from deepclust import DCN

    X, _, a, _ = digits
    dcn = DCN(n_clusters=4, random_state=0, **{**FAST, "hidden_dims": (48,), "embedding_dim": 4}).fit(X)
    expected = plotting.soft_assignments(dcn, X)
    with config_context(transform_output="pandas"):
        assert type(a.transform(X)).__name__ == "DataFrame"
        np.testing.assert_array_equal(plotting.soft_assignments(dcn, X), expected)
        plotting.gradient_magnitude(a, X, cluster=1)


def test_generalizability_figure_draws_the_selection(tmp_path):
    from sklearn.datasets import make_blobs

    from deepclust import select_n_clusters

    X, y = make_blobs(n_samples=150, centers=3, n_features=4, cluster_std=0.8, random_state=0)
    small = DEC(**{**FAST, "max_iter": 40})
    with pytest.warns(UserWarning, match="select_n_clusters"):  # 2 splits of 75 points are noisy
        a = select_n_clusters(X, [2, 3, 4], estimator=small, y=y, random_state=0)
        b = select_n_clusters(X, [2, 3, 4], estimator=small, random_state=1)
    fig = plotting.generalizability(a)
    assert len(fig.axes) == 2  # G, and NMI on a second axis since labels were given
    ax = fig.axes[0]
    chosen = next(row for row in a.table if row["k"] == a.n_clusters)
    star = ax.collections[-1]  # drawn after each k's split dots
    assert star.get_offsets().tolist() == [[a.n_clusters, pytest.approx(chosen["G"])]]
    dots = sorted(map(tuple, np.concatenate([c.get_offsets() for c in ax.collections[:-1]]).tolist()))
    assert np.allclose(dots, sorted((row["k"], g) for row in a.table for g in row["G_splits"]))
    assert ax.lines[0].get_ydata().tolist() == pytest.approx([row["G"] for row in a.table])
    assert len(plotting.generalizability(b).axes) == 1  # no labels, no NMI axis
    first = _png(fig, tmp_path / "a.png")
    assert _differ(first, _png(plotting.generalizability(b), tmp_path / "b.png"))
    assert not _differ(first, _png(plotting.generalizability(a), tmp_path / "a2.png"))
    with pytest.raises(ValueError, match="select_n_clusters"):
        plotting.generalizability(object())
