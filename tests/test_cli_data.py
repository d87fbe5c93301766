"""deepclust fit / predict / evaluate on real files, error paths too (in this process through
``deepclust.cli.main``; the round trip of a table also as real subprocesses)."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

import deepclust
from deepclust.metrics import adjusted_rand_score

from .test_cli import SMALL, _fails_cleanly, run

QUICK = SMALL


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    X, y = make_blobs(n_samples=150, centers=3, n_features=4, cluster_std=0.6, random_state=0)
    np.save(folder / "X.npy", X)
    np.savez(folder / "X.npz", X=X, y=y)
    species = np.array(["setosa", "versicolor", "virginica"])[y]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)]).assign(species=species)
    frame.to_csv(folder / "X.csv", index=False)
    frame.to_parquet(folder / "X.parquet")
    np.save(folder / "y.npy", y)
    return folder, X, y


@pytest.fixture(scope="module")
def npy_model(data, tmp_path_factory):
    """One fit of X.npy (seed 0) shared by the module's tests, which read it and never change it."""
    folder, _, _ = data
    model = tmp_path_factory.mktemp("npy-model") / "model"
    fit = run("fit", str(folder / "X.npy"), "--n-clusters", "3", "--seed", "0", "--out", str(model), *QUICK)
    assert fit.returncode == 0, fit.stderr
    return model


@pytest.fixture(scope="module")
def csv_model(data, tmp_path_factory):
    """One fit of X.csv with its species column as labels; the model folder and the completed process."""
    folder, _, _ = data
    model = tmp_path_factory.mktemp("csv-model") / "model"
    fit = run("fit", str(folder / "X.csv"), "--n-clusters", "3", "--out", str(model),
              "--label-column", "species", *QUICK)
    assert fit.returncode == 0, fit.stderr
    return model, fit


def test_fit_predict_evaluate_round_trip(data, csv_model, tmp_path):
    folder, X, y = data
    model, fit = csv_model
    assert "ACC 1.0000" in fit.stdout or "ACC 0.9" in fit.stdout  # well-separated blobs
    summary = json.loads((model / "fit.json").read_text())
    assert summary["n_samples"] == 150 and summary["n_features"] == 4 and sum(summary["cluster_sizes"]) == 150

    labels = tmp_path / "labels.csv"
    predict = run("predict", str(model), str(folder / "X.npy"), "--out", str(labels), process=True)
    assert predict.returncode == 0, predict.stderr
    table = pd.read_csv(labels)
    assert list(table.columns) == ["row", "cluster", "confidence"]
    assert table["row"].tolist() == list(range(150))
    assert table["confidence"].between(1 / 3, 1).all()
    assert adjusted_rand_score(y, table["cluster"]) > 0.9

    evaluate = run("evaluate", str(labels), str(folder / "y.npy"), process=True)
    assert evaluate.returncode == 0, evaluate.stderr
    assert evaluate.stdout.startswith("ACC ")


@pytest.mark.parametrize("name, extra", [("X.npy", ("--precision", "float32")),
                                         ("X.npz", ("--label-column", "y")),
                                         ("X.parquet", ("--label-column", "species"))])
def test_fit_reads_each_supported_kind(data, tmp_path, name, extra):
    folder, _, _ = data
    result = run("fit", str(folder / name), "--n-clusters", "3", "--out", str(tmp_path / "m"),
                 *extra, *QUICK)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m" / "model.pt").is_file()
    if "--precision" in extra:
        assert deepclust.load(tmp_path / "m" / "model.pt").precision_ == "float32"


def test_fit_error_paths(data, tmp_path):
    """Each ends with one line on stderr and a non-zero status (the readers' other errors are
    tested in-process in test_readers.py)."""
    folder, X, _ = data
    out = str(tmp_path / "m")
    _fails_cleanly(run("fit", str(tmp_path / "missing.csv"), "--n-clusters", "3", "--out", out),
                   "missing.csv", "does not exist")
    _fails_cleanly(run("fit", str(folder / "X.npy"), "--n-clusters", "500", "--out", out, *QUICK),
                   "n_samples=150 should be >= n_clusters=500")
    _fails_cleanly(run("fit", str(folder / "X.csv"), "--n-clusters", "3", "--out", out),
                   "non-numeric columns ['species']", "--label-column")
    _fails_cleanly(run("fit", str(folder / "X.npy"), "--n-clusters", "0", "--out", out),
                   "not positive", code=2)


def test_any_estimator_parameter_can_be_set(data, tmp_path):
    folder, _, _ = data
    model = tmp_path / "m"
    result = run("fit", str(folder / "X.npy"), "--n-clusters", "3", "--out", str(model), *QUICK,
                 "--param", "batch_size=64", "--param", "hidden_dims=(16, 8)", "--param", "tol=0.01")
    assert result.returncode == 0, result.stderr
    fitted = deepclust.load(model / "model.pt")
    assert fitted.batch_size == 64 and fitted.hidden_dims == (16, 8) and fitted.tol == 0.01
    out = str(tmp_path / "x")
    _fails_cleanly(run("fit", str(folder / "X.npy"), "--n-clusters", "3", "--out", out,
                       "--param", "no_such=1"), "DEC has no such parameter", "batch_size")
    _fails_cleanly(run("fit", str(folder / "X.npy"), "--n-clusters", "3", "--out", out,
                       "--param", "lr=fast"), "'lr' parameter of DEC", "Got 'fast'")
    _fails_cleanly(run("fit", str(folder / "X.npy"), "--n-clusters", "3", "--out", out,
                       "--param", "random_state=3"), "set it with --seed")
    _fails_cleanly(run("fit", str(folder / "X.npy"), "--n-clusters", "3", "--out", out,
                       "--param", "batch_size"), "write NAME=VALUE")


def test_predict_and_evaluate_error_paths(data, npy_model, tmp_path):
    folder, X, _ = data
    model = npy_model
    np.save(tmp_path / "wide.npy", np.c_[X, X])
    _fails_cleanly(run("predict", str(model), str(tmp_path / "wide.npy"), "--out",
                       str(tmp_path / "l.csv")), "8 features", "expecting 4")
    _fails_cleanly(run("predict", str(tmp_path / "nomodel"), str(folder / "X.npy"), "--out",
                       str(tmp_path / "l.csv")), "No model file")
    np.save(tmp_path / "short.npy", np.zeros(10, dtype=int))
    _fails_cleanly(run("evaluate", str(tmp_path / "short.npy"), str(folder / "y.npy")),
                   "10 labels", "150")


def test_fit_checkpoint_and_resume(data, tmp_path):
    folder, _, _ = data
    common = ("fit", str(folder / "X.npy"), "--n-clusters", "3", "--out", str(tmp_path / "m"),
              "--checkpoint-dir", str(tmp_path / "ckpt"), *QUICK)
    first = run(*common)
    assert first.returncode == 0, first.stderr
    _fails_cleanly(run(*common), "already holds a checkpoint: pass --resume", code=2)
    resumed = run(*common, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert first.stdout.splitlines()[1] == resumed.stdout.splitlines()[1]  # the cluster sizes


def test_predict_reads_reordered_columns_by_name_and_refuses_overwriting_its_inputs(data, csv_model, tmp_path):
    folder, X, _ = data
    model, _ = csv_model
    frame = pd.read_csv(folder / "X.csv").drop(columns="species")
    frame.to_csv(tmp_path / "ordered.csv", index=False)
    frame[frame.columns[::-1]].to_csv(tmp_path / "reordered.csv", index=False)
    for name in ("ordered", "reordered"):  # the model's record of the table takes its columns by name
        result = run("predict", str(model), str(tmp_path / f"{name}.csv"), "--out", str(tmp_path / f"{name}-l.csv"))
        assert result.returncode == 0, result.stderr
    assert pd.read_csv(tmp_path / "ordered-l.csv").equals(pd.read_csv(tmp_path / "reordered-l.csv"))
    frame.drop(columns=frame.columns[0]).to_csv(tmp_path / "short.csv", index=False)
    _fails_cleanly(run("predict", str(model), str(tmp_path / "short.csv"), "--out", str(tmp_path / "l.csv")),
                   f"has no column {frame.columns[0]!r}")
    _fails_cleanly(run("predict", str(model), str(folder / "X.npy"), "--out", str(folder / "X.npy")),
                   "would overwrite")
    # A headerless CSV of the same numbers predicts one row per line.
    np.savetxt(tmp_path / "nohdr.csv", X, delimiter=",")
    result = run("predict", str(model), str(tmp_path / "nohdr.csv"), "--out", str(tmp_path / "l.csv"))
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(tmp_path / "l.csv")) == len(X)


def test_predict_reads_a_dcn_model(data, tmp_path):
    # DCN has hard assignments only: predict's confidence is the stand-in of
    # deepclust.plotting.soft_assignments, and its labels are DCN's own.
    folder, X, _ = data
    model = deepclust.DCN(n_clusters=3, random_state=0, hidden_dims=(16,), embedding_dim=2,
                          pretrain="end-to-end", pretrain_epochs=10, max_iter=60).fit(X)
    (tmp_path / "m").mkdir()
    model.save(tmp_path / "m" / "model.pt")
    result = run("predict", str(tmp_path / "m"), str(folder / "X.npy"), "--out", str(tmp_path / "l.csv"))
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "l.csv")
    np.testing.assert_array_equal(table["cluster"], model.predict(X))
    assert ((table["confidence"] > 1 / 3) & (table["confidence"] <= 1)).all()


def test_fit_and_predict_a_folder_of_npy_shards(data, npy_model, tmp_path):
    """A folder holding only .npy files is one table split in row order (natural sort), read
    memory-mapped: the same clustering as the single file of the same rows."""
    folder, X, y = data
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, (a, b) in enumerate([(0, 40), (40, 41), (41, 100), (100, 150)]):
        np.save(shards / f"part-{i * 5}.npy", X[a:b])  # part-0, part-5, part-10, part-15
    # "whole": npy_model, the fit of X.npy with the same settings and seed
    split = run("fit", str(shards), "--n-clusters", "3", "--seed", "0", "--out", str(tmp_path / "split"), *QUICK)
    assert split.returncode == 0, split.stderr
    assert json.loads((tmp_path / "split" / "fit.json").read_text())["n_samples"] == 150
    for name, model in (("whole", npy_model), ("split", tmp_path / "split")):
        assert run("predict", str(model), str(shards), "--out", str(tmp_path / f"{name}.csv")).returncode == 0
    a, b = pd.read_csv(tmp_path / "whole.csv"), pd.read_csv(tmp_path / "split.csv")
    np.testing.assert_array_equal(a["cluster"], b["cluster"])
    assert adjusted_rand_score(y, b["cluster"]) > 0.9
    _fails_cleanly(run("predict", str(tmp_path / "split"), str(shards), "--out", str(shards / "labels.csv")),
                   "inside the data folder")
    np.save(shards / "wide.npy", np.zeros((2, 7)))
    _fails_cleanly(run("fit", str(shards), "--n-clusters", "3", "--out", str(tmp_path / "bad")),
                   "different numbers of features")


def test_fit_and_predict_a_folder_of_parquet_shards(data, npy_model, tmp_path):
    """A folder of parquet shards is read like one of .npy shards (through converted copies in
    $DEEPCLUST_CACHE): the same clustering as the single file; --label-column names the labels
    (evaluation only) and keeps them out of the features."""
    pytest.importorskip("pyarrow")
    folder, X, y = data
    shards = tmp_path / "pq"
    shards.mkdir()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)]).assign(species=y)
    for i, (a, b) in enumerate([(0, 60), (60, 61), (61, 150)]):
        frame.iloc[a:b].to_parquet(shards / f"part-{i}.parquet", row_group_size=32)
    # "whole": npy_model, the fit of X.npy with the same settings and seed
    split = run("fit", str(shards), "--n-clusters", "3", "--seed", "0", "--out", str(tmp_path / "split"),
                "--label-column", "species", *QUICK)
    assert split.returncode == 0, split.stderr
    assert "ACC " in split.stdout
    fitted = json.loads((tmp_path / "split" / "fit.json").read_text())
    assert fitted["n_samples"] == 150
    for name, model in (("whole", npy_model), ("split", tmp_path / "split")):
        source = ("--label-column", "species", str(shards)) if name == "split" else (str(folder / "X.npy"),)
        out = run("predict", str(model), *source, "--out", str(tmp_path / f"{name}.csv"))
        assert out.returncode == 0, out.stderr
    a, b = pd.read_csv(tmp_path / "whole.csv"), pd.read_csv(tmp_path / "split.csv")
    np.testing.assert_array_equal(a["cluster"], b["cluster"])
    assert adjusted_rand_score(y, b["cluster"]) > 0.9
    _fails_cleanly(run("fit", str(shards), "--n-clusters", "3", "--out", str(tmp_path / "bad"),
                       "--label-column", "genus"), "no column 'genus'")
    # Without --label-column the labels would be a feature: every column is taken, and said so.
    frame.assign(species=np.array(["a", "b", "c"])[y]).to_parquet(shards / "part-0.parquet")
    _fails_cleanly(run("fit", str(shards), "--n-clusters", "3", "--out", str(tmp_path / "bad")),
                   "non-numeric column(s) species")
