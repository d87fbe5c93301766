"""A table from the command line: --scale (auto), --id-column, --drop-columns, --dropna, --sep, the
table record kept in the model and applied by predict, and the messages of a badly read table."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from .test_cli import SMALL, _fails_cleanly, run

FIT = (*SMALL, "--snapshots", "0", "--quiet")


def _table(n=60, seed=0, mixed=True):
    """Two blobs in 4 columns; with ``mixed`` one in large units (x1000, around 5000)."""
    rng = np.random.RandomState(seed)
    y = np.arange(n) % 2
    X = rng.randn(n, 4) * 0.3 + y[:, None] * 1.5
    if mixed:
        X[:, 0] = X[:, 0] * 1000 + 5000
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["label"] = y
    return frame


def _labels(path):
    return pd.read_csv(path)


def test_auto_scaling_standardises_mixed_units_recorded_and_applied_by_predict(tmp_path):
    frame = _table()
    data = tmp_path / "mixed.csv"
    frame.to_csv(data, index=False)
    result = run("fit", data, "--n-clusters", "2", "--label-column", "label", "--out", tmp_path / "m", *FIT)
    assert result.returncode == 0, result.stderr
    assert "--scale auto: standardised 4 columns" in result.stdout and "('a')" in result.stdout
    from deepclust.io import load_model

    dec, record = load_model(tmp_path / "m" / "model.pt", device="cpu")
    assert record["kind"] == "table" and record["scale"] == "standard" and record["columns"] == ["a", "b", "c", "d"]
    assert record["mean"][0] == pytest.approx(frame["a"].mean())
    assert record["std"][0] == pytest.approx(frame["a"].std(ddof=0))
    # predict on the training CSV, columns reordered: fit's labels (the same columns by name, the same scaling)
    frame[["d", "label", "c", "b", "a"]].to_csv(tmp_path / "shuffled.csv", index=False)
    result = run("predict", tmp_path / "m", tmp_path / "shuffled.csv", "--out", tmp_path / "p.csv")
    assert result.returncode == 0, result.stderr
    predicted = _labels(tmp_path / "p.csv")
    assert list(predicted.columns) == ["row", "cluster", "confidence"]
    assert np.array_equal(predicted["cluster"].to_numpy(), dec.labels_)


def test_auto_scaling_leaves_a_same_scale_table_alone(tmp_path):
    _table(mixed=False).to_csv(tmp_path / "same.csv", index=False)
    result = run("fit", tmp_path / "same.csv", "--n-clusters", "2", "--label-column", "label",
                 "--out", tmp_path / "m", *FIT)
    assert result.returncode == 0, result.stderr
    assert "--scale auto: kept 4 columns as they are" in result.stdout
    from deepclust.io import load_model

    assert load_model(tmp_path / "m" / "model.pt", device="cpu")[1]["scale"] == "none"


@pytest.mark.parametrize("ids", [np.arange(100, 160), [f"P{i:05d}" for i in range(60)]], ids=["numeric", "text"])
def test_id_column_is_kept_out_and_written_by_predict(tmp_path, ids):
    frame = _table()
    frame.insert(0, "patient", ids)
    frame.to_csv(tmp_path / "t.csv", index=False)
    result = run("fit", tmp_path / "t.csv", "--n-clusters", "2", "--label-column", "label", "--id-column", "patient",
                 "--out", tmp_path / "m", *FIT)
    assert result.returncode == 0, result.stderr
    assert "like a row ID" not in result.stderr
    from deepclust.io import load_model

    dec, record = load_model(tmp_path / "m" / "model.pt", device="cpu")
    assert dec.n_features_in_ == 4 and record["id_column"] == "patient"
    result = run("predict", tmp_path / "m", tmp_path / "t.csv", "--out", tmp_path / "p.csv")
    assert result.returncode == 0, result.stderr
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert list(predicted.columns) == ["patient", "cluster", "confidence"]
    assert [str(v) for v in predicted["patient"]] == [str(v) for v in ids]
    assert np.array_equal(predicted["cluster"].to_numpy(), dec.labels_)


def test_an_id_like_column_warns_and_a_text_one_is_refused_naming_id_column(tmp_path):
    frame = _table()
    frame.insert(0, "id", np.arange(1, 61))
    frame.to_csv(tmp_path / "t.csv", index=False)
    result = run("fit", tmp_path / "t.csv", "--n-clusters", "2", "--label-column", "label",
                 "--out", tmp_path / "m", *FIT)
    assert result.returncode == 0, result.stderr
    assert "column 'id' holds unique integers in sequence" in result.stderr and "--id-column id" in result.stderr
    frame["id"] = [f"row{i}" for i in range(60)]
    frame.to_csv(tmp_path / "text.csv", index=False)
    _fails_cleanly(run("fit", tmp_path / "text.csv", "--n-clusters", "2", "--label-column", "label",
                       "--out", tmp_path / "m2", *FIT), "non-numeric", "--id-column id")


def test_drop_columns_leaves_them_out_and_predict_ignores_them(tmp_path):
    frame = _table()
    frame["notes"] = ["some text"] * 60
    frame.to_csv(tmp_path / "t.csv", index=False)
    result = run("fit", tmp_path / "t.csv", "--n-clusters", "2", "--label-column", "label",
                 "--drop-columns", "notes", "d", "--out", tmp_path / "m", *FIT)
    assert result.returncode == 0, result.stderr
    from deepclust.io import load_model

    dec, record = load_model(tmp_path / "m" / "model.pt", device="cpu")
    assert record["columns"] == ["a", "b", "c"] and record["drop_columns"] == ["notes", "d"]
    assert list(dec.feature_names_in_) == ["a", "b", "c"]
    _fails_cleanly(run("fit", tmp_path / "t.csv", "--n-clusters", "2", "--drop-columns", "nope",
                       "--out", tmp_path / "m2", *FIT), "no column 'nope'", "--drop-columns")


def test_missing_values_name_row_and_column_and_dropna_drops_those_rows(tmp_path):
    frame = _table()
    frame.loc[7, "c"] = np.nan
    frame.loc[12, "a"] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    _fails_cleanly(run("fit", tmp_path / "t.csv", "--n-clusters", "2", "--label-column", "label",
                       "--out", tmp_path / "m", *FIT), "2 row(s)", "row 7 column 'c'", "row 12 column 'a'", "--dropna")
    result = run("fit", tmp_path / "t.csv", "--n-clusters", "2", "--label-column", "label", "--dropna",
                 "--out", tmp_path / "m", *FIT)
    assert result.returncode == 0, result.stderr
    assert "left out 2 row(s) with missing values, kept 58" in result.stdout
    result = run("predict", tmp_path / "m", tmp_path / "t.csv", "--dropna", "--out", tmp_path / "p.csv")
    assert result.returncode == 0, result.stderr
    rows = pd.read_csv(tmp_path / "p.csv")["row"].tolist()
    assert len(rows) == 58 and 7 not in rows and 12 not in rows and rows[-1] == 59


def test_a_semicolon_csv_is_read_right(tmp_path):
    frame = _table()
    frame.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    result = run("fit", tmp_path / "semi.csv", "--n-clusters", "2", "--label-column", "label",
                 "--out", tmp_path / "m", *FIT)
    assert result.returncode == 0, result.stderr
    from deepclust.io import load_model

    assert load_model(tmp_path / "m" / "model.pt", device="cpu")[1]["columns"] == ["a", "b", "c", "d"]
    frame.to_csv(tmp_path / "tab.txt.csv", index=False, sep="\t")
    result = run("predict", tmp_path / "m", tmp_path / "tab.txt.csv", "--sep", "\\t", "--out", tmp_path / "p.csv")
    assert result.returncode == 0, result.stderr


def test_a_damaged_table_record_is_refused_on_load(tmp_path):
    _table().to_csv(tmp_path / "t.csv", index=False)
    assert run("fit", tmp_path / "t.csv", "--n-clusters", "2", "--label-column", "label",
               "--out", tmp_path / "m", *FIT).returncode == 0
    path = tmp_path / "m" / "model.pt"
    payload = torch.load(path, weights_only=True)
    config = json.loads(payload["config"])
    config["inputs"]["std"] = config["inputs"]["std"][:2]
    payload["config"] = json.dumps(config)
    torch.save(payload, path)
    _fails_cleanly(run("predict", tmp_path / "m", tmp_path / "t.csv", "--out", tmp_path / "p.csv"),
                   "not a valid deepclust model file", "std is not a list of 4 finite numbers")


def test_a_data_frame_with_a_text_column_is_refused_naming_it():
    from deepclust import DEC

    frame = _table().assign(city=["x"] * 60)
    with pytest.raises(ValueError, match="Column 'city' of X does not hold numbers"):
        DEC(n_clusters=2).fit(frame)


def test_the_scale_warning_names_a_frames_column_and_report_reads_the_record(tmp_path):
    frame = _table().drop(columns="label")
    frame["a"] = frame["a"] * 1000  # x1e6 the others: the dominant-feature warning
    with pytest.warns(RuntimeWarning, match="Feature 'a' varies"):
        from deepclust import DEC

        DEC(n_clusters=2, random_state=0, pretrain="end-to-end", pretrain_epochs=5, hidden_dims=(8,),
            embedding_dim=2, max_iter=5).fit(frame)
    # report applies the table record too: an ID column and reordered columns are no obstacle
    table = _table()
    table.insert(0, "patient", [f"P{i}" for i in range(60)])
    table.to_csv(tmp_path / "t.csv", index=False)
    assert run("fit", tmp_path / "t.csv", "--n-clusters", "2", "--label-column", "label", "--id-column", "patient",
               "--out", tmp_path / "m", *FIT).returncode == 0
    table[["label", "d", "c", "b", "a", "patient"]].to_csv(tmp_path / "r.csv", index=False)
    result = run("report", tmp_path / "m", tmp_path / "r.csv", "--label-column", "label", "--out", tmp_path / "r.html")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_read_like_a_saved_index_labels_out_and_dropna_of_labels_and_ids(tmp_path):
    """What a review found: read_like on a table model, a saved row index dropped or refused, --labels-out
    into the new --out (never over the model's files), and --dropna for missing labels and IDs."""
    import deepclust

    frame = _table()
    frame.insert(0, "id", [f"s{i}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "withidx.csv")  # with pandas' saved row index, "Unnamed: 0"
    frame.loc[5, "label"] = np.nan
    frame.loc[7, "id"] = None
    frame.to_csv(tmp_path / "holes.csv", index=False)
    common = ("--n-clusters", "2", "--id-column", "id", "--label-column", "label", *FIT)
    _fails_cleanly(run("fit", tmp_path / "withidx.csv", "--out", tmp_path / "x", *common), "Unnamed: 0",
                   "--drop-columns")
    fit = run("fit", tmp_path / "withidx.csv", "--out", tmp_path / "m", "--drop-columns", "Unnamed: 0",
              "--labels-out", tmp_path / "m" / "labels.csv", *common)
    assert fit.returncode == 0, fit.stderr
    written = pd.read_csv(tmp_path / "m" / "labels.csv")
    assert list(written.columns[:2]) == ["id", "cluster"] and written["id"].iloc[3] == "s3"
    # read_like reads a table as the model's record says (columns by name, the fit's scaling)
    model = deepclust.load(tmp_path / "m")
    X, y = deepclust.read_like(tmp_path / "m", tmp_path / "withidx.csv", label_column="label")
    np.testing.assert_array_equal(model.predict(X), written["cluster"].to_numpy())
    assert len(y) == len(frame)
    _fails_cleanly(run("fit", tmp_path / "withidx.csv", "--out", tmp_path / "m", "--drop-columns", "Unnamed: 0",
                       "--labels-out", tmp_path / "m" / "model.pt", *common), "overwrite the model's own file")
    assert deepclust.load(tmp_path / "m").n_features_in_ == 4  # the model file is intact
    _fails_cleanly(run("fit", tmp_path / "holes.csv", "--out", tmp_path / "h", *common), "missing values")
    dropped = run("fit", tmp_path / "holes.csv", "--out", tmp_path / "h", "--dropna",
                  "--labels-out", tmp_path / "h.csv", *common)
    assert dropped.returncode == 0, dropped.stderr
    assert "left out 2 row(s)" in dropped.stdout
    kept = pd.read_csv(tmp_path / "h.csv")["id"].tolist()
    assert len(kept) == len(frame) - 2 and "s5" not in kept and "s7" not in kept and "nan" not in map(str, kept)


def test_a_headerless_table_names_columns_by_number_and_select_k_reads_tables_as_fit(tmp_path):
    X = _table().drop(columns="label").to_numpy()
    np.savetxt(tmp_path / "nohdr.csv", X, delimiter=",")
    fit = run("fit", tmp_path / "nohdr.csv", "--n-clusters", "2", "--out", tmp_path / "m", "--drop-columns", "3",
              *FIT)
    assert fit.returncode == 0, fit.stderr
    assert "standardised 3 columns" in fit.stdout  # column 3 left out, and the large column 0 scaled
    frame = _table()
    frame.insert(0, "id", [f"s{i}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "t.csv", index=False)
    chosen = run("select-k", tmp_path / "t.csv", "--candidates", "2", "3", "--id-column", "id", "--label-column",
                 "label", "--max-iter", "10", "--param", "hidden_dims=(8,)", "--param", "embedding_dim=2",
                 "--param", "pretrain='end-to-end'", "--param", "pretrain_epochs=2", "--quiet")
    assert chosen.returncode == 0, chosen.stderr
    assert "--scale auto: standardised 4 columns" in chosen.stdout and "first opinion" in chosen.stdout
