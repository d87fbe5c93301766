"""The command line's file readers, on real files the tests write: every supported kind, and
hostile ones (property-based) that must give a clear ValueError or FileNotFoundError."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepclust.data.readers import read_labels, read_table


def test_each_kind_reads_the_same_table(tmp_path):
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    labels = np.array(["a", "b", "a", "c"])
    np.save(tmp_path / "X.npy", X)
    np.savez(tmp_path / "X.npz", X=X, y=labels)
    frame = pd.DataFrame(X, columns=["x", "y", "z"]).assign(kind=labels)
    frame.to_csv(tmp_path / "X.csv", index=False)
    frame.to_parquet(tmp_path / "X.parquet")
    for name, column in [("X.npy", None), ("X.npz", "y"), ("X.csv", "kind"), ("X.parquet", "kind")]:
        got, y = read_table(tmp_path / name, column)
        got = np.asarray(got)  # CSV and parquet come as DataFrames, keeping their column names
        np.testing.assert_array_equal(got, X)
        assert got.dtype == np.float64
        if column is not None:
            assert list(y) == list(labels)


@pytest.mark.parametrize("name, content, message", [
    ("data.txt", b"1 2\n", "unsupported file type '.txt'"),
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "not a well-formed CSV file"),
    ("empty.csv", b"", "is empty"),
    ("text.csv", b"a,b\nx,1\ny,2\n", "non-numeric columns ['a']"),
    ("binary.csv", bytes(range(128, 256)), "CSV"),
    ("broken.npy", b"\x93NUMPY garbage", "not a readable .npy file"),
    ("broken.npz", b"PK\x03\x04 not a zip", "not a readable .npz file"),
    ("broken.parquet", b"PAR1 nope", "not a readable parquet file"),
])
def test_bad_files_give_clear_errors(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=None) as info:
        read_table(tmp_path / name)
    assert message in str(info.value) and name in str(info.value)


def test_object_arrays_are_never_unpickled(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, 2], dtype=object))
    with pytest.raises(ValueError, match="holds Python objects"):
        read_table(tmp_path / "objects.npy")
    with pytest.raises(ValueError, match="holds Python objects"):
        read_labels(tmp_path / "objects.npy")


def test_shape_and_column_errors(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros(5))
    with pytest.raises(ValueError, match="1-D array; deepclust needs a 2-D table"):
        read_table(tmp_path / "one.npy")
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    with pytest.raises(ValueError, match="a .npy file has no columns"):
        read_table(tmp_path / "X.npy", "label")
    pd.DataFrame({"a": [1.0, 2.0]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(ValueError, match="has no column 'label'"):
        read_table(tmp_path / "a.csv", "label")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_table(tmp_path / "nothing.csv")
    with pytest.raises(ValueError, match="is not a file"):
        read_table(tmp_path)


def test_labels_from_predict_output_and_npy(tmp_path):
    (tmp_path / "labels.csv").write_text("row,cluster,confidence\n0,2,0.9\n1,0,0.8\n")
    assert read_labels(tmp_path / "labels.csv").tolist() == [2, 0]
    (tmp_path / "truth.csv").write_text("label\ncat\ndog\n")
    assert read_labels(tmp_path / "truth.csv").tolist() == ["cat", "dog"]
    np.save(tmp_path / "y.npy", np.array([1, 2, 3]))
    assert read_labels(tmp_path / "y.npy").tolist() == [1, 2, 3]
    np.save(tmp_path / "y2.npy", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="labels are 1-D"):
        read_labels(tmp_path / "y2.npy")


_cells = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(repr),
                   st.text(alphabet=",\"\n\r ;x1.e-", max_size=4), st.just(""))


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_cells, min_size=0, max_size=4), max_size=6),
       raw=st.binary(max_size=40), suffix=st.sampled_from([".csv", ".npy", ".npz", ".parquet"]))
def test_generated_files_read_or_raise_a_clear_error(tmp_path, rows, raw, suffix):
    """Whatever bytes a file holds, the readers return a 2-D float table or raise ValueError."""
    path = tmp_path / f"generated{suffix}"
    if suffix == ".csv":
        path.write_text("\n".join(",".join(r) for r in rows))
    else:
        path.write_bytes(raw)
    for reader in (read_table, read_labels):
        try:
            out = reader(path)
        except ValueError:
            continue
        if reader is read_table:
            X, y = out
            X = np.asarray(X)
            assert X.ndim == 2 and X.dtype == np.float64 and y is None
        else:
            assert out.ndim == 1


def test_a_csv_without_header_keeps_its_first_row(tmp_path):
    X = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    np.savetxt(tmp_path / "nohdr.csv", X, delimiter=",")
    got, _ = read_table(tmp_path / "nohdr.csv")
    np.testing.assert_allclose(np.asarray(got), X)


def test_blank_lines_are_not_dropped(tmp_path):
    (tmp_path / "gap.csv").write_text("a,b\n1,2\n\n3,4\n")
    got, _ = read_table(tmp_path / "gap.csv")
    assert len(got) == 3 and np.isnan(np.asarray(got)[1]).all()  # refused later by the fit
    (tmp_path / "labels.csv").write_text("label\n1\n\n2\n")
    with pytest.raises(ValueError, match="missing labels"):
        read_labels(tmp_path / "labels.csv")


def test_index_and_label_like_columns(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "label": [0, 1, 0]})
    frame.to_csv(tmp_path / "with_index.csv")  # pandas writes its index as an unnamed column
    with pytest.raises(ValueError, match="usually a saved row index"):
        read_table(tmp_path / "with_index.csv")
    frame.to_csv(tmp_path / "intlabel.csv", index=False)
    with pytest.warns(UserWarning, match=r"\['label'\] look like labels"):
        X, _ = read_table(tmp_path / "intlabel.csv")
    assert X.shape == (3, 2)
    X, y = read_table(tmp_path / "intlabel.csv", "label")
    assert X.shape == (3, 1) and y.tolist() == [0, 1, 0]
    pd.DataFrame({"a": [1.0, 2.0], "label": ["x", None]}).to_csv(tmp_path / "nanlabel.csv", index=False)
    with pytest.raises(ValueError, match="has missing values"):
        read_table(tmp_path / "nanlabel.csv", "label")


def test_named_columns_are_kept_for_the_model(tmp_path):
    pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}).to_csv(tmp_path / "ab.csv", index=False)
    X, _ = read_table(tmp_path / "ab.csv")
    assert list(X.columns) == ["a", "b"]


def test_npz_features_are_not_the_label_array(tmp_path):
    np.savez(tmp_path / "lab_first.npz", labels=np.array([0, 1, 1]), feats=np.ones((3, 2)))
    X, y = read_table(tmp_path / "lab_first.npz", "labels")
    assert X.shape == (3, 2) and y.tolist() == [0, 1, 1]


def test_ambiguous_or_wrong_label_files(tmp_path):
    (tmp_path / "two.csv").write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(ValueError, match="several columns"):
        read_labels(tmp_path / "two.csv")
    assert read_labels(tmp_path / "two.csv", "b").tolist() == [2, 4]
    (tmp_path / "float.csv").write_text("label\n0.5\n1.25\n")
    with pytest.raises(ValueError, match="fractional numbers"):
        read_labels(tmp_path / "float.csv")
    np.save(tmp_path / "y.npy", np.array([1, 2]))
    with pytest.raises(ValueError, match="no columns to choose from"):
        read_labels(tmp_path / "y.npy", "label")
    (tmp_path / "header_only.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="has no rows"):
        read_table(tmp_path / "header_only.csv")


def test_large_npy_files_stay_on_disk(tmp_path, monkeypatch):
    """Above MMAP_BYTES a .npy file is memory-mapped (fit reads it a batch at a time), unless it is
    stored column by column, which is loaded; small files are loaded as before."""
    from deepclust.data import readers as _readers

    X = np.arange(24, dtype=np.float32).reshape(6, 4)
    np.save(tmp_path / "rows.npy", X)
    np.save(tmp_path / "columns.npy", np.asfortranarray(X))
    small, _ = read_table(tmp_path / "rows.npy")
    assert not isinstance(small, np.memmap) and small.dtype == np.float64
    monkeypatch.setattr(_readers, "MMAP_BYTES", 0)
    mapped, _ = read_table(tmp_path / "rows.npy")
    assert isinstance(mapped, np.memmap) and mapped.dtype == np.float32
    columns, _ = read_table(tmp_path / "columns.npy")
    assert not isinstance(columns, np.memmap)
    np.testing.assert_array_equal(mapped, X)
    np.testing.assert_array_equal(columns, X)


def test_a_repeated_number_in_a_headerless_first_row_is_data(tmp_path):
    # pandas renames the second 0.5 to "0.5.1", which is no number: the row must not become a header
    (tmp_path / "repeat.csv").write_text("0.5,0.5,0.25\n1.5,2.5,3.5\n4.5,5.5,6.5\n")
    X, _ = read_table(tmp_path / "repeat.csv")
    np.testing.assert_array_equal(np.asarray(X), [[0.5, 0.5, 0.25], [1.5, 2.5, 3.5], [4.5, 5.5, 6.5]])
    (tmp_path / "repeat_labels.csv").write_text("3,3\n1,2\n")
    assert read_labels(tmp_path / "repeat_labels.csv", 1).tolist() == [3, 2]


def test_pandas_default_header_is_a_header_naming_nothing(tmp_path):
    X = np.arange(15, dtype=np.float64).reshape(5, 3) / 4
    pd.DataFrame(X).to_csv(tmp_path / "default.csv", index=False)  # first line: 0,1,2
    assert (tmp_path / "default.csv").read_text().startswith("0,1,2\n")
    got, _ = read_table(tmp_path / "default.csv")
    assert not hasattr(got, "columns")  # like a headerless file: no feature names to match later
    np.testing.assert_array_equal(got, X)
    # with a label column, named by pandas' default name
    pd.DataFrame(X).assign(**{"3": [0, 1, 0, 1, 1]}).to_csv(tmp_path / "with_y.csv", index=False)
    got, y = read_table(tmp_path / "with_y.csv", "3")
    np.testing.assert_array_equal(got, X)
    assert y.tolist() == [0, 1, 0, 1, 1]
    # integer data: 0,1 is as likely a row (here of 0 / 1 data) as a header, so it stays a row (a
    # header read as data adds a row the warning names; data read as a header would be lost)
    (tmp_path / "binary.csv").write_text("0,1\n1,0\n0,0\n")
    with pytest.warns(UserWarning, match="first line 0,1 could be pandas' default column names or a row"):
        got, _ = read_table(tmp_path / "binary.csv")
    assert got.tolist() == [[0, 1], [1, 0], [0, 0]]
    (tmp_path / "one_row.csv").write_text("0,1\n")  # np.savetxt of one integer row: was "no rows"
    with pytest.warns(UserWarning, match="it was read as a row"):
        assert read_table(tmp_path / "one_row.csv")[0].tolist() == [[0, 1]]
    pd.DataFrame(np.arange(6).reshape(3, 2)).to_csv(tmp_path / "ints.csv", index=False)
    with pytest.warns(UserWarning, match="it was read as a row"):
        got, _ = read_table(tmp_path / "ints.csv")
    assert got.tolist() == [[0, 1], [0, 1], [2, 3], [4, 5]]


def test_other_numeric_first_lines_are_rows(tmp_path):
    # Numbers other than 0..d-1 (say wavelengths) cannot be told from data: they are a row, as
    # documented; a single column's 0 is the first label of a headerless list.
    (tmp_path / "waves.csv").write_text("400,410,420\n0.1,0.2,0.3\n")
    X, _ = read_table(tmp_path / "waves.csv")
    assert X.shape == (2, 3) and X[0].tolist() == [400, 410, 420]
    (tmp_path / "shifted.csv").write_text("1,2,3\n4,5,6\n")
    assert read_table(tmp_path / "shifted.csv")[0].shape == (2, 3)
    (tmp_path / "zero_first.csv").write_text("0\n2\n1\n")
    assert read_labels(tmp_path / "zero_first.csv").tolist() == [0, 2, 1]
    (tmp_path / "named.csv").write_text("label\n0\n2\n")
    assert read_labels(tmp_path / "named.csv").tolist() == [0, 2]
    (tmp_path / "under.csv").write_text("1_0,2_0\n1,2\n")  # float() takes 1_0, pandas does not
    X, _ = read_table(tmp_path / "under.csv")
    assert list(X.columns) == ["1_0", "2_0"] and X.shape == (1, 2)


@pytest.mark.parametrize("ending", ["\n\n", "\n\n\n", "\r\n\r\n", "\r\r"])
def test_empty_lines_ending_the_file_are_ignored(tmp_path, ending):
    newline = "\r\n" if ending.startswith("\r\n") else ending[0]
    (tmp_path / "X.csv").write_bytes(newline.join(["a,b", "1,2", "3,4"]).encode() + ending.encode())
    X, _ = read_table(tmp_path / "X.csv")
    assert np.asarray(X).tolist() == [[1, 2], [3, 4]]
    (tmp_path / "nohdr.csv").write_bytes(newline.join(["1.5,2", "3,4"]).encode() + ending.encode())
    assert read_table(tmp_path / "nohdr.csv")[0].tolist() == [[1.5, 2], [3, 4]]
    (tmp_path / "y.csv").write_bytes(newline.join(["label", "1", "2"]).encode() + ending.encode())
    labels = read_labels(tmp_path / "y.csv")
    assert labels.tolist() == [1, 2] and labels.dtype.kind == "i"  # not made float by a NaN row
    (tmp_path / "header_only.csv").write_bytes(b"a,b" + ending.encode())
    with pytest.raises(ValueError, match="has no rows"):
        read_table(tmp_path / "header_only.csv")


def test_missing_cells_at_the_end_are_not_blank_lines(tmp_path):
    # a last row of empty cells is a row of missing values, kept (and refused later), as is an
    # empty line inside the file even when more follow at the end
    (tmp_path / "cells.csv").write_text("a,b\n1,2\n,\n\n")
    X, _ = read_table(tmp_path / "cells.csv")
    assert len(X) == 2 and np.isnan(np.asarray(X)[1]).all()
    (tmp_path / "gap.csv").write_text("a,b\n1,2\n\n3,4\n\n\n")
    X, _ = read_table(tmp_path / "gap.csv")
    assert len(X) == 3 and np.isnan(np.asarray(X)[1]).all()
    (tmp_path / "blank.csv").write_text("\n\n\n")
    with pytest.raises(ValueError, match="is empty"):
        read_table(tmp_path / "blank.csv")


def test_upper_case_csv_suffix_is_read_as_csv(tmp_path):
    (tmp_path / "X.CSV").write_text("a,b\n1,2\n3,4\n")
    X, _ = read_table(tmp_path / "X.CSV")
    assert list(X.columns) == ["a", "b"] and np.asarray(X).tolist() == [[1, 2], [3, 4]]
    (tmp_path / "Y.Csv").write_text("cluster\n1\n0\n")
    assert read_labels(tmp_path / "Y.Csv").tolist() == [1, 0]


def test_non_ascii_digits_in_the_first_line_are_names(tmp_path):
    # float() reads Arabic-Indic and full-width digits; pandas reads them as text, so the line was
    # taken as data and then refused as non-numeric (or, for labels, counted as a label).
    (tmp_path / "arabic.csv").write_text("\u0661,\u0662\n1,2\n")
    X, _ = read_table(tmp_path / "arabic.csv")
    assert list(X.columns) == ["\u0661", "\u0662"] and X.to_numpy().tolist() == [[1, 2]]
    (tmp_path / "labels.csv").write_text("\u0661\n1\n2\n")
    assert read_labels(tmp_path / "labels.csv").tolist() == [1, 2]
