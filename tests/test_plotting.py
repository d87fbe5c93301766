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
    "cluster_profiles": lambda m, X, y: plotting.cluster_profiles(m, X, max_columns=12),
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
    # hand-built selections: a chosen k outside the table, or rows without each split's G
    from deepclust.selection import NClustersSelection

    with pytest.raises(ValueError, match="chosen n_clusters is not one of the table's k"):
        plotting.generalizability(NClustersSelection(n_clusters=9, table=a.table))
    with pytest.raises(ValueError, match="with G and G_splits"):
        plotting.generalizability(NClustersSelection(n_clusters=2, table=[{"k": k, "G": 1.0} for k in (2, 3)]))
    with pytest.raises(ValueError, match="select_n_clusters"):
        plotting.generalizability(object())


def colour_digits_dbc(n=150):
    """A DBC on 8 x 8 colour images whose digit is in the red channel, rows flattened channels
    first (as DBC reads them): ``(X, model)``."""
    from deepclust import DBC

    X, _ = load_digits(return_X_y=True)
    images = np.zeros((n, 3, 8, 8), dtype=np.float32)
    images[:, 0] = X[:n].reshape(n, 8, 8) / 16
    settings = {k: v for k, v in FAST.items() if k != "hidden_dims"} | {"embedding_dim": 4}
    model = DBC(n_clusters=3, image_shape=(3, 8, 8), channels=(4, 8), random_state=0, **settings)
    return images.reshape(n, -1), model.fit(images.reshape(n, -1))


@pytest.fixture(scope="module")
def colour_dbc():
    return colour_digits_dbc()


def _drawn(fig, k, n_per_cluster):
    """The image array each exemplar panel shows (None for an empty panel), one row per cluster."""
    axes = fig.axes
    assert len(axes) == k * n_per_cluster
    return [[ax.images[0].get_array() if ax.images else None for ax in axes[j * n_per_cluster:(j + 1) * n_per_cluster]]
            for j in range(k)]


def _expected_exemplars(model, X, n_per_cluster):
    """The rows cluster_exemplars shows: each cluster's members by decreasing q."""
    q = plotting.soft_assignments(model, X)
    labels = q.argmax(axis=1)
    out = []
    for j in range(q.shape[1]):
        members = np.flatnonzero(labels == j)
        out.append(members[np.argsort(-q[members, j], kind="stable")][:n_per_cluster])
    return out


def _scaled(row):
    row = np.asarray(row, dtype=np.float64)
    return (row - row.min()) / (row.max() - row.min())


@pytest.mark.parametrize("given", ["own", "omitted"])
def test_exemplars_of_a_channels_first_colour_model_are_its_images(colour_dbc, given):
    # DBC rows are (channels, height, width) flattened: drawn as (height, width, channels), the
    # digit stays in the red channel, pixel for pixel.
    X, dbc = colour_dbc
    assert dbc.image_shape_ == (3, 8, 8)
    shape = dbc.image_shape_ if given == "own" else None
    fig = plotting.cluster_exemplars(dbc, X, shape, n_per_cluster=3)
    drawn = _drawn(fig, 3, 3)
    shown = 0
    for j, best in enumerate(_expected_exemplars(dbc, X, 3)):
        for col, i in enumerate(best):
            image = np.asarray(drawn[j][col])
            assert image.shape == (8, 8, 3)
            np.testing.assert_allclose(image, _scaled(X[i]).reshape(3, 8, 8).transpose(1, 2, 0))
            assert image[:, :, 0].max() == 1 and not image[:, :, 1:].any()  # all red
            shown += 1
    assert shown == 9


def test_exemplars_of_a_grey_channels_first_model_are_grey():
    # A (1, height, width) model: each image a 2-D grey one, not a (1, 8, 8) array imshow refuses.
    from deepclust import DBC

    X, _ = load_digits(return_X_y=True)
    X = X[:120].astype(np.float32) / 16
    settings = {k: v for k, v in FAST.items() if k != "hidden_dims"} | {"embedding_dim": 4, "max_iter": 10}
    dbc = DBC(n_clusters=2, channels=(4,), random_state=0, **settings).fit(X)
    assert dbc.image_shape_ == (1, 8, 8)
    fig = plotting.cluster_exemplars(dbc, X, (1, 8, 8), n_per_cluster=2)
    best = _expected_exemplars(dbc, X, 2)
    for j, row in enumerate(_drawn(fig, 2, 2)):
        for col, image in enumerate(row):
            np.testing.assert_allclose(image, _scaled(X[best[j][col]]).reshape(8, 8))
            assert fig.axes[2 * j + col].images[0].get_cmap().name == "gray"


def test_exemplars_channels_last_and_layouts_that_cannot_be_drawn(digits, colour_dbc):
    X, _, a, _ = digits
    fig = plotting.cluster_exemplars(a, X, (8, 8, 1), n_per_cluster=2)  # one channel, last: grey
    best = _expected_exemplars(a, X, 2)
    np.testing.assert_allclose(_drawn(fig, 4, 2)[0][0], _scaled(X[best[0][0]]).reshape(8, 8))
    for shape in [(1, 8, 8), (8, 4, 2), (4, 8, 2), (2, 4, 8)]:  # 8 or 2 channels, last
        with pytest.raises(ValueError, match=r"channels, but an image is drawn in grey \(1\), RGB \(3\)"):
            plotting.cluster_exemplars(a, X, shape)
    with pytest.raises(ValueError, match="image_shape is needed"):
        plotting.cluster_exemplars(a, X)  # a DEC knows no image shape
    for shape in [(-8, -8), (8, 8.5), (64,), (2, 2, 2, 8)]:
        with pytest.raises(ValueError, match="does not hold the model's 64 features"):
            plotting.cluster_exemplars(a, X, shape)
    Xc, dbc = colour_dbc
    with pytest.raises(ValueError, match=r"or the model's own image_shape_ \(3, 8, 8\) for rows flattened "
                                         "channels first"):
        plotting.cluster_exemplars(dbc, Xc, (8, 12, 2))
    # Channels last on a channels-first model is taken at its word (e.g. rows read from a folder).
    assert np.asarray(_drawn(plotting.cluster_exemplars(dbc, Xc, (8, 8, 3), n_per_cluster=1), 3, 1)[0][0]
                      ).shape == (8, 8, 3)


def test_training_curves_label_each_methods_own_loss(digits, colour_dbc):
    from deepclust import DCN, IDEC

    X, _, dec, _ = digits
    settings = {**FAST, "hidden_dims": (16,), "max_iter": 20}
    idec = IDEC(n_clusters=2, gamma=0.25, random_state=0, **settings).fit(X[:100])
    dcn = DCN(n_clusters=2, clustering_weight=0.5, random_state=0, **settings).fit(X[:100])
    label = {name: plotting.training_curves(model).axes[1].get_ylabel()
             for name, model in [("DEC", dec), ("DBC", colour_dbc[1]), ("IDEC", idec), ("DCN", dcn)]}
    assert label["DEC"] == label["DBC"] == "KL(P || Q)\nmean over mini-batches"
    assert label["IDEC"] == "L_r + 0.25 KL(P || Q)\nmean over mini-batches"  # L_r + gamma L_c
    assert label["DCN"] == "L_r + 0.5 (1/2) ||z - M s||^2\nmean over mini-batches"  # L_r + lambda L_c
    assert "KL" not in label["DCN"]
    # a frozen encoder leaves the reconstruction nothing to train: IDEC's loss is then KL alone
    frozen = IDEC(n_clusters=2, gamma=0.25, freeze_encoder=True, random_state=0, **settings).fit(X[:100])
    assert plotting.training_curves(frozen).axes[1].get_ylabel() == "KL(P || Q)\nmean over mini-batches"


def made_up_table(pd, n=40, seed=0):
    """Three groups of ``n`` rows: group 0 has a high column A, group 1 a low column B, group 2 neither;
    C is noise and D is constant."""
    rng = np.random.RandomState(seed)
    groups = np.repeat(np.arange(3), n)
    values = rng.normal(size=(3 * n, 4))
    values[groups == 0, 0] += 4.0
    values[groups == 1, 1] -= 4.0
    values[:, 3] = 7.0
    return pd.DataFrame(values, columns=["A", "B", "C", "D"]), groups


def test_cluster_profiles_name_each_clusters_distinctive_column_with_its_sign(tmp_path):
    pd = pytest.importorskip("pandas")
    frame, groups = made_up_table(pd)
    profiles = plotting.cluster_profile_scores(groups, frame, n_clusters=4)  # cluster 3: empty
    assert profiles.feature_names == ["A", "B", "C", "D"]  # the frame's columns
    (first, z0), *_ = profiles.distinctive(0)
    (second, z1), *_ = profiles.distinctive(1)
    assert (first, second) == ("A", "B") and z0 > 1 and z1 < -1
    lines = profiles.lines()
    assert lines[0].startswith("cluster 0 (40 points): A +") and lines[1].startswith("cluster 1 (40 points): B -")
    assert lines[3] == "cluster 3 (0 points): empty"
    # z is (mean_c - mean) / std over the data given; a constant column is 0, not a division by zero
    expected = (frame["A"][groups == 0].mean() - frame["A"].mean()) / frame["A"].std(ddof=0)
    assert z0 == pytest.approx(expected)
    assert np.all(profiles.z[:3, 3] == 0) and np.all(np.isnan(profiles.z[3]))
    assert list(profiles.order()[:2]) in ([0, 1], [1, 0]) and profiles.order()[-1] == 3

    fig = plotting.cluster_profiles(groups, frame.to_numpy(), feature_names=list("ABCD"), max_columns=2)
    shown = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert sorted(shown) == ["A", "B"]  # the two most distinctive of the four columns
    image = fig.axes[0].images[0]
    assert image.norm.vmin == -image.norm.vmax  # a diverging scale centred at 0
    _png(fig, tmp_path / "profiles.png")
    with pytest.raises(ValueError, match="3 feature names for data of 4 columns"):
        plotting.cluster_profile_scores(groups, frame.to_numpy(), feature_names=list("ABC"))
    with pytest.raises(ValueError, match="labels has 2 entries"):
        plotting.cluster_profiles([0, 1], frame)


def _ranked(ax) -> list[str]:
    """A top_terms panel's terms, top (most distinctive) first."""
    ticks = [(t.get_position()[1], t.get_text()) for t in ax.get_yticklabels()]
    return [text for _, text in sorted(ticks, reverse=True)]


def test_top_terms_rank_topic_words_above_shared_stop_words():
    rng = np.random.RandomState(0)
    topics = np.repeat(np.arange(3), 30)
    terms = ["the", "is", "of", "said"] + [f"topic{t}word{i}" for t in range(3) for i in range(4)]
    X = np.zeros((len(topics), len(terms)))
    X[:, :4] = 0.5 + 0.05 * rng.rand(len(topics), 4)  # heavy in every document
    for t in range(3):
        X[topics == t, 4 + 4 * t:8 + 4 * t] = 0.2 + 0.05 * rng.rand(30, 4)
    X[topics == 2, 0] += 0.1  # cluster 2's documents use "the" a little more
    X /= np.linalg.norm(X, axis=1, keepdims=True)  # rows of unit length, as tf-idf
    # By mean weight, "the" / "said" would lead every cluster; by excess over the overall mean (and
    # "the", "is", "of" left out as stop words) the cluster's own topic words lead.
    fig = plotting.top_terms(topics, sp.csr_matrix(X), terms)
    for t, ax in enumerate(fig.axes[:3]):
        ranked = _ranked(ax)
        assert all(term.startswith(f"topic{t}") for term in ranked[:4]), ranked
        assert not {"the", "is", "of"} & set(ranked), ranked
    # cluster 2's documents use "the" more: it is distinctive there once stop words are kept
    kept = plotting.top_terms(topics, sp.csr_matrix(X), terms, stop_words=None)
    assert "the" in _ranked(kept.axes[2]) and "the" not in _ranked(kept.axes[0])
    with pytest.raises(ValueError, match="stop_words"):
        plotting.top_terms(topics, X, terms, stop_words="french")
