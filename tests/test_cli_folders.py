"""deepclust fit / predict / report on folders of images and of text files (in this process
through ``deepclust.cli.main``, as test_cli's ``run`` does)."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from deepclust.metrics import adjusted_rand_score

from .test_cli import SMALL, _fails_cleanly, run

pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402  (matplotlib's own dependency)

QUICK = (*SMALL, "--snapshots", "100")
TOPICS = {
    "sport": "match goal team player coach league score season win referee stadium cup",
    "money": "bank market price shares profit interest rate investor fund trade stock bond",
    "food": "recipe flour sugar oven butter bake salt pepper garlic onion soup dinner",
}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Digits 0, 1 and 7 as 8x8 greyscale PNGs, one subfolder per digit."""
    folder = tmp_path_factory.mktemp("images")
    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, [0, 1, 7])
    X, y = X[keep][:150], y[keep][:150]
    for i, (row, label) in enumerate(zip(X, y)):
        (folder / f"digit{label}").mkdir(exist_ok=True)
        Image.fromarray((row.reshape(8, 8) * 255 / 16).astype(np.uint8), mode="L").save(
            folder / f"digit{label}" / f"{i:04d}.png")
    return folder, np.sort(y)  # files are read subfolder by subfolder


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("texts")
    rng = np.random.RandomState(0)
    truth = []
    for i in range(90):
        topic = sorted(TOPICS)[i % 3]
        words = list(rng.choice(TOPICS[topic].split(), size=25)) + list(rng.choice(["the", "and", "of"], 5))
        (folder / f"doc{i:03d}.txt").write_text(" ".join(words))
        truth.append(topic)
    return folder, np.array(truth)


def _fit(tmp_path_factory, folder, name):
    """One fit of ``folder`` shared by the module's tests, which read the model and never change it."""
    model = tmp_path_factory.mktemp(name) / "model"
    fit = run("fit", str(folder), "--n-clusters", "3", "--out", str(model), *QUICK)
    assert fit.returncode == 0, fit.stderr
    return model, fit


@pytest.fixture(scope="module")
def image_model(images, tmp_path_factory):
    """The images' model folder and the fit's completed process."""
    return _fit(tmp_path_factory, images[0], "image-model")


@pytest.fixture(scope="module")
def text_model(texts, tmp_path_factory):
    """The texts' model folder and the fit's completed process."""
    return _fit(tmp_path_factory, texts[0], "text-model")


def test_image_folder_fit_predict_report(images, image_model, tmp_path):
    folder, y = images
    model, fit = image_model
    assert "150 images of 8 x 8" in fit.stdout
    assert "against the subfolder names (evaluation only): ACC" in fit.stdout
    inputs = json.loads((model / "inputs.json").read_text())
    assert inputs["kind"] == "images" and inputs["image_shape"] == [8, 8]

    labels = tmp_path / "labels.csv"
    predict = run("predict", str(model), str(folder), "--out", str(labels))
    assert predict.returncode == 0, predict.stderr
    assigned = pd.read_csv(labels)["cluster"].to_numpy()
    assert adjusted_rand_score(y, assigned) > 0.5  # digits 0, 1 and 7 are told apart

    report = tmp_path / "report.html"
    result = run("report", str(model), str(folder), "--out", str(report))
    assert result.returncode == 0, result.stderr
    text = report.read_text()
    assert "not drawn" not in text and "ACC (eq. 10)" in text
    for figure in ("cluster exemplars", "embedding over training", "confusion matrix"):
        assert f'<img alt="{figure}" src="data:image/png;base64,' in text


def test_outputs_inside_the_data_folder_are_refused_at_any_depth(images, image_model):
    # --out in a label subfolder used to pass (only the folder itself was checked): predict
    # overwrote an image with its CSV, or added a file that made the folder unreadable.
    folder, _ = images
    model, _ = image_model
    sub = folder / "digit0"
    first = sorted(sub.iterdir())[0]
    before = first.read_bytes()
    for command, out in (("predict", first), ("predict", sub / "p.csv"), ("report", sub / "r.html")):
        _fails_cleanly(run(command, str(model), str(folder), "--out", str(out)), "inside the data folder")
    assert first.read_bytes() == before and {p.suffix for p in sub.iterdir()} == {".png"}
    _fails_cleanly(run("fit", str(folder), "--n-clusters", "3", "--out", str(sub / "model"), *QUICK),
                   "inside the data folder")
    assert not (sub / "model").exists()


def test_images_of_different_sizes_need_image_size(images, tmp_path):
    folder, _ = images
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, path in enumerate(sorted((folder / "digit0").iterdir())[:20]):
        image = Image.open(path)
        (image.resize((10, 10)) if i % 2 else image).save(mixed / path.name)
    out = str(tmp_path / "m")
    _fails_cleanly(run("fit", str(mixed), "--n-clusters", "2", "--out", out, *QUICK),
                   "differ in size", "--image-size")
    fit = run("fit", str(mixed), "--n-clusters", "2", "--out", out, "--image-size", "6", "6", *QUICK)
    assert fit.returncode == 0, fit.stderr
    assert "20 images of 6 x 6" in fit.stdout
    # predict reads (and resizes) a folder the same way
    predict = run("predict", out, str(mixed), "--out", str(tmp_path / "l.csv"))
    assert predict.returncode == 0, predict.stderr


def test_text_folder_fit_predict_report(texts, text_model, tmp_path):
    folder, truth = texts
    model, fit = text_model
    assert "90 documents" in fit.stdout
    inputs = json.loads((model / "inputs.json").read_text())
    assert inputs["kind"] == "text" and "goal" in inputs["vocabulary"] and len(inputs["idf"]) == len(
        inputs["vocabulary"])

    labels = tmp_path / "labels.csv"
    assert run("predict", str(model), str(folder), "--out", str(labels)).returncode == 0
    table = pd.read_csv(labels)
    assert adjusted_rand_score(truth, table["cluster"]) > 0.9
    # each row names its file, in the order the folder is read
    assert list(table.columns) == ["row", "cluster", "confidence", "file"]
    assert table["file"].tolist() == sorted(p.name for p in folder.glob("*.txt"))

    # Outputs over the model's records are refused, before any work (predict replaced fit.json).
    for record in ("fit.json", "inputs.json"):
        _fails_cleanly(run("predict", str(model), str(folder), "--out", str(model / record)), "would overwrite")
    _fails_cleanly(run("report", str(model), str(folder), "--out", str(tmp_path / "missing" / "r.html")),
                   "does not exist; create it first")

    # New documents are read with the fit's vocabulary and idf (an unknown word changes nothing).
    new = tmp_path / "new"
    new.mkdir()
    (new / "a.txt").write_text("goal goal team referee zzzunknown")
    (new / "b.txt").write_text("bank shares profit")
    assert run("predict", str(model), str(new), "--out", str(tmp_path / "n.csv")).returncode == 0
    assert pd.read_csv(tmp_path / "n.csv")["cluster"].nunique() == 2

    report = tmp_path / "report.html"
    assert run("report", str(model), str(folder), "--out", str(report)).returncode == 0
    text = report.read_text()
    assert '<img alt="top terms" src="data:image/png;base64,' in text and "not drawn" not in text


def test_folder_error_paths(images, texts, image_model, tmp_path):
    image_folder, _ = images
    text_folder, _ = texts
    model = str(image_model[0])

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.txt").write_text("hello")
    (mixed / "b.png").write_bytes((image_folder / "digit0" / "0000.png").read_bytes())
    _fails_cleanly(run("fit", str(mixed), "--n-clusters", "2", "--out", str(tmp_path / "x")),
                   "mixes or holds unsupported files")
    empty = tmp_path / "empty"
    empty.mkdir()
    _fails_cleanly(run("fit", str(empty), "--n-clusters", "2", "--out", str(tmp_path / "x")),
                   "holds no files")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.png").write_bytes(b"not a png at all")
    _fails_cleanly(run("fit", str(broken), "--n-clusters", "1", "--out", str(tmp_path / "x")),
                   "is not a readable image")
    _fails_cleanly(run("fit", str(image_folder), "--n-clusters", "500", "--out", str(tmp_path / "x"), *QUICK),
                   "n_samples=150 should be >= n_clusters=500")
    _fails_cleanly(run("fit", str(image_folder), "--n-clusters", "2", "--out", str(tmp_path / "x"),
                       "--label-column", "y"), "--label-column does not apply to a folder")
    # A model fitted on images reads images only.
    _fails_cleanly(run("predict", model, str(text_folder), "--out", str(tmp_path / "l.csv")),
                   "fitted on images", "holds text")
    np.save(tmp_path / "X.npy", np.zeros((5, 64)))
    _fails_cleanly(run("predict", model, str(tmp_path / "X.npy"), "--out", str(tmp_path / "l.csv")),
                   "fitted on a folder of images")
    _fails_cleanly(run("report", model, str(image_folder), "--out", str(tmp_path / "r.html"),
                       "--image-shape", "9", "9"), "does not lay out the model's 64 features")
    _fails_cleanly(run("report", model, str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")),
                   "does not exist")
    _fails_cleanly(run("fit", str(text_folder), "--n-clusters", "2", "--out", str(tmp_path / "x"),
                       "--image-size", "8", "8"), "--image-size applies to a folder of images")


def _drop_inputs_record(model_file):
    """Make ``model_file`` what an older deepclust wrote: the folder reading in inputs.json only."""
    from .test_io import _config, _rewrite

    def drop(config):
        assert config.pop("inputs")["kind"] == "text"

    _rewrite(model_file, _config(drop))


def test_a_model_file_reads_folders_as_at_fit_time_with_or_without_inputs_json(text_model, tmp_path):
    model, _ = text_model
    # New documents whose own vocabulary would be a different one (3 terms, not the fit's).
    new = tmp_path / "new"
    new.mkdir()
    for name, text in {"a": "goal team referee", "b": "bank profit shares", "c": "flour oven butter"}.items():
        (new / f"{name}.txt").write_text(text)

    def predict(model_arg, name):
        result = run("predict", str(model_arg), str(new), "--out", str(tmp_path / f"{name}.csv"))
        return result, tmp_path / f"{name}.csv"

    result, expected = predict(model, "dir")
    assert result.returncode == 0, result.stderr
    expected = pd.read_csv(expected)
    assert expected["cluster"].nunique() == 3  # one topic a document, as the fit's reading tells

    # model.pt alone (copied without inputs.json) carries the reading itself.
    (tmp_path / "lone").mkdir()
    (tmp_path / "lone" / "model.pt").write_bytes((model / "model.pt").read_bytes())
    result, labels = predict(tmp_path / "lone" / "model.pt", "lone")
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(labels), expected)

    # A model file from an older deepclust reads it from the inputs.json beside it...
    old = tmp_path / "old"
    old.mkdir()
    (old / "model.pt").write_bytes((model / "model.pt").read_bytes())
    _drop_inputs_record(old / "model.pt")
    (old / "inputs.json").write_text((model / "inputs.json").read_text())
    result, labels = predict(old, "old")
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(labels), expected)

    # ... and without it refuses a folder rather than read it with a vocabulary of its own.
    (old / "inputs.json").unlink()
    for command, out in (("predict", "x.csv"), ("report", "x.html")):
        _fails_cleanly(run(command, str(old / "model.pt"), str(new), "--out", str(tmp_path / out)),
                       "has no record of how a folder was read", "folder of text",
                       "keep inputs.json beside model.pt")
        assert not (tmp_path / out).exists()

    # A damaged inputs.json is named, with what is wrong in it (never a traceback).
    other = {"kind": "text", "vocabulary": ["goal", "bank"], "idf": [1.0, 1.0]}
    for content, phrase in [
        ("{not json", "is damaged"),
        ('{"kind": "images"}', "is damaged: an image reading needs mode, image_shape, resize"),
        ('{"kind": "text"}', "is damaged: a text reading needs vocabulary, idf"),
        ('{"kind": "text", "vocabulary": ["a", "b"], "idf": [1.0]}', "idf is not a list of 2 numbers"),
        (json.dumps(other), "reads a folder of text into 2 features, but the model takes"),
    ]:
        (old / "inputs.json").write_text(content)
        _fails_cleanly(run("predict", str(old), str(new), "--out", str(tmp_path / "x.csv")),
                       str(old / "inputs.json"), phrase)


def test_a_model_fitted_on_a_table_refuses_a_folder(images, tmp_path):
    """A table's model has no folder reading: the images' pixels, read afresh, are refused even
    when their number matches the model's features."""
    folder, _ = images
    np.save(tmp_path / "X.npy", np.random.RandomState(0).rand(40, 64).astype(np.float32))
    model = tmp_path / "model"
    assert run("fit", str(tmp_path / "X.npy"), "--n-clusters", "2", "--out", str(model), *QUICK).returncode == 0
    assert not (model / "inputs.json").exists()
    _fails_cleanly(run("predict", str(model), str(folder), "--out", str(tmp_path / "l.csv")),
                   "has no record of how a folder was read", "folder of images", "fitted on a table")
    # The table itself still works.
    assert run("predict", str(model), str(tmp_path / "X.npy"), "--out", str(tmp_path / "l.csv")).returncode == 0
