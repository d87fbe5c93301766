"""The HTML report: self-contained, every figure a real PNG, and clean in a headless browser."""

import base64
import html.parser
import shutil
import subprocess

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits

from deepclust import DBC, DCN, DEC, IDEC

from .conftest import FAST

pytest.importorskip("matplotlib")
from deepclust.plotting import soft_assignments  # noqa: E402
from deepclust.report import write_report  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SETTINGS = dict(n_clusters=5, random_state=0, **{**FAST, "hidden_dims": (48,), "embedding_dim": 4})


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X, y = X[:250].astype(np.float32) / 16, y[:250]
    return X, y, DEC(snapshot_size=60, **SETTINGS).fit(X)


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.links, self.headings, self._in_h2 = [], [], [], [], False
        self.items, self._in_li = [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs)
        for key in ("src", "href"):
            if key in attrs and tag != "img":
                self.links.append(attrs[key])
        self._in_h2 = tag == "h2"
        self._in_li = tag == "li"

    def handle_data(self, data):
        if self._in_li:
            self.items.append(data)
            self._in_li = False
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


def _parse(path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _check_self_contained(page: _Page) -> None:
    assert "script" not in page.tags and "link" not in page.tags and not page.links
    for image in page.images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix), image["src"][:60]
        assert base64.b64decode(image["src"][len(prefix):]).startswith(PNG_SIGNATURE)


def test_report_with_labels_and_images(digits, tmp_path):
    X, y, model = digits
    path = write_report(model, X, tmp_path / "r.html", y=y, image_shape=(8, 8), data_name="digits")
    page = _parse(path)
    _check_self_contained(page)
    for section in ("Data", "Agreement with the given labels (evaluation only)", "Clusters",
                    "Most confident members of each cluster (Figure 3)", "Training", "Settings and fit"):
        assert section in page.headings
    alts = {image["alt"] for image in page.images}
    assert {"confusion matrix", "cluster sizes", "confidence histogram", "cluster exemplars",
            "training curves", "embedding over training", "gradient magnitude"} <= alts
    text = path.read_text()
    assert "not drawn" not in text
    assert "ACC (eq. 10)" in text and "n_clusters" in text


@pytest.mark.parametrize("estimator", [IDEC, DCN, DBC])
def test_report_for_the_other_methods(digits, tmp_path, estimator):
    X, y, _ = digits
    settings = dict(SETTINGS, snapshot_size=60)
    if estimator is DBC:
        settings = {k: v for k, v in settings.items() if k != "hidden_dims"} | {"channels": (4, 8)}
    model = estimator(**settings).fit(X)
    path = write_report(model, X, tmp_path / "r.html", y=y, image_shape=(8, 8))
    page = _parse(path)
    _check_self_contained(page)
    alts = {image["alt"] for image in page.images}
    assert {"cluster sizes", "confidence histogram", "cluster exemplars", "training curves",
            "embedding over training", "confusion matrix"} <= alts
    assert "not drawn" not in path.read_text()
    # Figure 4 plots against q: soft assignments only.
    assert ("gradient magnitude" in alts) == (estimator is not DCN)
    if estimator is DCN:  # hard assignments: the stand-in ranks by closeness to the centroid
        q = soft_assignments(model, X)
        np.testing.assert_array_equal(q.argmax(axis=1), model.predict(X))
        np.testing.assert_allclose(q.sum(axis=1), 1, rtol=1e-5)


def test_report_without_labels_or_snapshots_says_what_is_missing(digits, tmp_path):
    X, _, _ = digits
    model = DEC(**SETTINGS).fit(X)
    page = _parse(write_report(model, X, tmp_path / "r.html"))
    _check_self_contained(page)
    assert "Agreement with the given labels (evaluation only)" not in page.headings
    assert "snapshot_size" in (tmp_path / "r.html").read_text()
    # Other data than the training data: no Figure 5 (the snapshots are the training rows').
    with_snapshots = digits[2]
    write_report(with_snapshots, X[:100], tmp_path / "other.html")
    assert "drawn for the training data only" in (tmp_path / "other.html").read_text()


def test_report_on_sparse_text_like_data_shows_terms(tmp_path):
    rng = np.random.RandomState(0)
    topics = rng.randint(0, 3, size=150)
    dense = rng.rand(150, 30) * (rng.rand(150, 30) < 0.1)
    for t in range(3):
        dense[topics == t, t * 10:(t + 1) * 10] += rng.rand((topics == t).sum(), 10)
    dense[:, 0] += 1.5  # "the": the heaviest term of every document
    X = sp.csr_matrix(dense.astype(np.float32))
    model = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    terms = ["the"] + [f"word{i}" for i in range(1, 30)]
    path = write_report(model, X, tmp_path / "t.html", y=topics, terms=terms)
    page = _parse(path)
    _check_self_contained(page)
    assert "Most distinctive terms of each cluster" in page.headings and "Cluster profiles" not in page.headings
    assert any(image["alt"] == "top terms" for image in page.images)
    lines = [item for item in page.items if item.startswith("cluster ")]
    assert len(lines) == 3
    for line in lines:  # each cluster's line leads with a topic word, and "the" is nowhere
        assert line.split(": ")[1].startswith("word") and "the +" not in line, line


def test_report_errors(digits, tmp_path):
    X, y, model = digits
    with pytest.raises(ValueError, match="labels"):
        write_report(model, X, tmp_path / "r.html", y=y[:10])
    assert not (tmp_path / "r.html").exists()
    from deepclust import plotting

    with pytest.raises(ValueError, match="whole training data"):
        plotting.training_curves(model, y[:10])
    with pytest.raises(ValueError, match="iterations is empty"):
        plotting.embedding_over_training(model, iterations=[])


def test_report_of_a_channels_first_colour_model(digits, tmp_path):
    # A DBC's own image_shape_ (3, 8, 8) lays its rows out channels first: the report draws the
    # exemplars instead of crashing in matplotlib, and a layout that cannot be drawn is refused
    # before anything is written.
    from .test_plotting import colour_digits_dbc

    X, dbc = colour_digits_dbc(100)
    path = write_report(dbc, X, tmp_path / "r.html", image_shape=dbc.image_shape_)
    page = _parse(path)
    _check_self_contained(page)
    text = path.read_text()
    assert "not drawn" not in text and '<img alt="cluster exemplars"' in text
    assert "3 x 8 x 8 (channels first)" in text
    for shape in [(8, 12, 2), (12, 8, 2)]:
        with pytest.raises(ValueError, match=r"has 2 channels, but an image is drawn in grey \(1\), RGB"):
            write_report(dbc, X, tmp_path / "bad.html", image_shape=shape)
    X, _, dec = digits  # a DEC's (1, 8, 8): 8 channels, last
    with pytest.raises(ValueError, match="has 8 channels"):
        write_report(dec, X, tmp_path / "bad.html", image_shape=(1, 8, 8))
    assert not (tmp_path / "bad.html").exists()


def test_report_on_a_dataframe_reads_rows_by_position(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = load_digits(return_X_y=True)
    frame = pd.DataFrame(X[:200] / 16, columns=[f"px{i}" for i in range(64)])
    model = DEC(**SETTINGS).fit(frame)
    path = write_report(model, frame, tmp_path / "r.html", y=y[:200], image_shape=(8, 8))
    text = path.read_text()
    assert "not drawn" not in text and '<img alt="cluster exemplars"' in text
    # named pixels are still an image: no profiles of 64 pixel columns
    assert "Cluster profiles" not in _parse(path).headings and 'alt="cluster profiles"' not in text


@pytest.fixture(scope="module")
def table():
    pd = pytest.importorskip("pandas")
    from .test_plotting import made_up_table

    frame, groups = made_up_table(pd, n=50)
    frame = frame[["A", "B", "C"]]  # (the constant column D would make the scaling's job moot)
    model = DEC(n_clusters=3, random_state=0, **FAST).fit(frame)
    return frame, groups, model


def _cluster_lines(page):
    return {int(item.split()[1]): item for item in page.items if item.startswith("cluster ")}


def test_report_of_a_table_profiles_its_clusters(table, tmp_path):
    frame, groups, model = table
    path = write_report(model, frame, tmp_path / "r.html")  # names: the frame's columns
    page = _parse(path)
    _check_self_contained(page)
    text = path.read_text()
    assert "Cluster profiles" in page.headings and '<img alt="cluster profiles"' in text
    assert "not drawn" not in text
    labels = model.predict(frame)
    lines = _cluster_lines(page)
    assert sorted(lines) == [0, 1, 2]
    high_a = np.bincount(labels[groups == 0]).argmax()  # the model's cluster of the high-A rows
    low_b = np.bincount(labels[groups == 1]).argmax()
    assert high_a != low_b
    assert lines[high_a].split(": ")[1].startswith("A +"), lines[high_a]
    assert lines[low_b].split(": ")[1].startswith("B -"), lines[low_b]
    # names given to the report (as the command line passes a file's header) over the model's
    renamed = write_report(model, frame, tmp_path / "n.html", feature_names=["alcohol", "hue", "ash"])
    assert _cluster_lines(_parse(renamed))[high_a].split(": ")[1].startswith("alcohol +")
    with pytest.raises(ValueError, match="2 feature names for data of 3 columns"):
        write_report(model, frame, tmp_path / "bad.html", feature_names=["a", "b"])
    assert not (tmp_path / "bad.html").exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                    "(Debian: apt-get install chromium); the report check needs it")
def test_report_opens_in_headless_chromium_without_console_messages(digits, tmp_path):
    X, y, model = digits
    path = write_report(model, X, tmp_path / "r.html", y=y, image_shape=(8, 8))
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--window-size=1280,3000", f"--screenshot={shot}",
         path.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 20_000  # a rendered page, not a blank one
