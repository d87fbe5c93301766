"""A directory of .npy shards read as one array: indexing, validation, every estimator and checkpoints.
(That a fit on shards equals the in-memory fit is tested with the memory-mapped file in test_out_of_core.)"""

import os
import pickle
import time

import numpy as np
import pytest
import torch

from deepclust import DEC, IDEC, ShardedArray
from deepclust.training.checkpoint import data_fingerprint
from deepclust.data.batches import BatchSource
from deepclust.data.shards import check_sharded

from .conftest import FAST


@pytest.fixture
def sharded(blobs, tmp_path):
    """The blobs in 11 shards of uneven size (one empty), named so that a plain string sort
    would put part-10 before part-2."""
    X, y = blobs
    cuts = [0, 7, 7, 40, 41, 90, 120, 150, 151, 200, 230, len(X)]
    folder = tmp_path / "shards"
    folder.mkdir()
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        np.save(folder / f"part-{i}.npy", X[a:b])
    (folder / "README.txt").write_text("not a shard")
    return X, ShardedArray(folder), y


def test_rows_in_natural_order(sharded):
    X, S, _ = sharded
    assert S.shape == X.shape and len(S) == len(X) and S.dtype == np.float32 and S.ndim == 2
    assert [p.name for p in S.files][:3] == ["part-0.npy", "part-1.npy", "part-2.npy"]
    assert S.files[-1].name == "part-10.npy"
    np.testing.assert_array_equal(np.asarray(S), X)


def test_indexing_matches_numpy(sharded):
    X, S, _ = sharded
    rng = np.random.RandomState(0)
    idx = rng.randint(-len(X), len(X), size=100)
    np.testing.assert_array_equal(S[idx], X[idx])  # unsorted, repeated, negative
    np.testing.assert_array_equal(S[[5, 5, 0]], X[[5, 5, 0]])
    mask = rng.rand(len(X)) < 0.3
    np.testing.assert_array_equal(S[mask], X[mask])
    for key in (slice(3, 45), slice(None), slice(200, 10_000), slice(5, 5), slice(1, 200, 7), slice(None, None, -3)):
        np.testing.assert_array_equal(S[key], X[key])
    np.testing.assert_array_equal(S[-1], X[-1])
    np.testing.assert_array_equal(S[40], X[40])
    np.testing.assert_array_equal(S[10:20, 2], X[10:20, 2])
    np.testing.assert_array_equal(S[np.array([], dtype=int)], X[[]])
    with pytest.raises(IndexError, match="out of range"):
        S[len(X)]
    with pytest.raises(IndexError, match="out of range"):
        S[[0, len(X)]]
    with pytest.raises(IndexError, match="integers"):
        S[np.array([0.5])]
    np.testing.assert_array_equal(S[np.array(2)], X[2])  # a 0-d index is an int
    for bad in ([[0, 1], [0, 1]], True, Ellipsis):
        with pytest.raises(IndexError):
            S[tuple(bad) if isinstance(bad, list) else bad]  # element-wise pairs, bool, ...: not numpy's rows
    with pytest.raises(IndexError, match="1-D"):
        S[np.array([[0, 1], [2, 3]])]
    with pytest.raises(IndexError, match="out of range"):
        S[np.array([2**64 - 1], dtype=np.uint64)]


def test_many_shards_keep_few_files_open(sharded, monkeypatch):
    """Only a bounded number of shards stay memory-mapped (each map holds a file handle)."""
    from deepclust.data import shards

    X, S, _ = sharded
    monkeypatch.setattr(shards, "_OPEN_SHARDS", 2)
    idx = np.random.RandomState(1).permutation(len(X))
    np.testing.assert_array_equal(S[idx], X[idx])
    np.testing.assert_array_equal(np.asarray(S), X)
    assert len(S._open) <= 2
    clone = pickle.loads(pickle.dumps(S))
    np.testing.assert_array_equal(clone[idx], X[idx])


def test_hidden_files_are_not_shards_and_suffixes_ignore_case(tmp_path, blobs):
    X, _ = blobs
    np.save(tmp_path / "a.npy", X[:100])
    np.save(tmp_path / "b.npy", X[100:])
    (tmp_path / "b.NPY").write_bytes((tmp_path / "b.npy").read_bytes())
    (tmp_path / "b.npy").unlink()
    (tmp_path / "._a.npy").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS copy residue
    S = ShardedArray(tmp_path)
    assert [p.name for p in S.files] == ["a.npy", "b.NPY"]
    np.testing.assert_array_equal(np.asarray(S), X)


def test_batch_source_reads_batches(sharded):
    X, S, _ = sharded
    source = BatchSource(S, torch.device("cpu"))
    assert not source.in_memory
    np.testing.assert_array_equal(source.take(torch.tensor([5, 239, 0, 5])).numpy(), X[[5, 239, 0, 5]])
    np.testing.assert_array_equal(torch.cat(list(source.chunks(13))).numpy(), X)


def test_other_methods_and_checkpoints_take_shards(sharded, tmp_path):
    X, S, _ = sharded
    kw = dict(n_clusters=3, random_state=0, **FAST)
    idec = IDEC(**kw).fit(S)
    np.testing.assert_array_equal(idec.labels_, IDEC(**kw).fit(X).labels_)
    # The checkpoint's data fingerprint reads the shards block by block, and equals the array's.
    assert data_fingerprint(S) == data_fingerprint(X) != data_fingerprint(X[:-1])
    a = DEC(checkpoint_dir=tmp_path / "a", **kw).fit(S)
    np.testing.assert_array_equal(a.labels_, DEC(**kw).fit(X).labels_)


def test_integer_shards_are_read_as_float32(tmp_path):
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.randint(0, 5, (40, 4)), rng.randint(10, 15, (40, 4))]).astype(np.int16)
    np.save(tmp_path / "a.npy", X[:50])
    np.save(tmp_path / "b.npy", X[50:])
    S = ShardedArray([tmp_path / "a.npy", tmp_path / "b.npy"])
    assert S.dtype == np.int16
    model = DEC(n_clusters=2, random_state=0, **FAST).fit(S)
    np.testing.assert_array_equal(model.labels_, DEC(n_clusters=2, random_state=0, **FAST).fit(X).labels_)


def test_bad_shards_get_clear_errors(tmp_path, blobs):
    X, _ = blobs
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ShardedArray(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No shard files"):
        ShardedArray(tmp_path / "empty")
    with pytest.raises(ValueError, match="at least one"):
        ShardedArray([])
    np.save(tmp_path / "a.npy", X[:10])
    np.save(tmp_path / "wide.npy", np.zeros((3, 7), np.float32))
    with pytest.raises(ValueError, match="different numbers of features"):
        ShardedArray([tmp_path / "a.npy", tmp_path / "wide.npy"])
    np.save(tmp_path / "flat.npy", X[:, 0])
    with pytest.raises(ValueError, match="2-D"):
        ShardedArray(tmp_path / "flat.npy")
    np.save(tmp_path / "objects.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects"):
        ShardedArray(tmp_path / "objects.npy")
    np.save(tmp_path / "text.npy", np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="numbers"):
        ShardedArray(tmp_path / "text.npy")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match="neither a .npy nor a .parquet"):
        ShardedArray([tmp_path / "x.csv"])
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match="not a"):
        ShardedArray(tmp_path / "broken.npy")
    np.save(tmp_path / "columns.npy", np.asfortranarray(X[:20]))
    with pytest.raises(ValueError, match="Fortran order"):
        ShardedArray(tmp_path / "columns.npy")
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(data[:-40])
    with pytest.raises(ValueError, match="truncated"):
        ShardedArray(tmp_path / "short.npy")
    # A header with a negative row count passed the size check (one row fewer, silently); a huge one
    # overflowed it in int64.
    for name, shape in (("negative", (-1, 4)), ("huge", (2**33, 2**31))):
        with open(tmp_path / f"{name}.npy", "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": shape})
            fh.write(np.zeros((50, 4), np.float32).tobytes())
    with pytest.raises(ValueError, match=r"header gives the shape \(-1, 4\)"):
        ShardedArray(tmp_path / "negative.npy")
    with pytest.raises(ValueError, match="truncated"):
        ShardedArray(tmp_path / "huge.npy")


def test_a_shard_rewritten_since_it_was_opened_is_refused(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(40, dtype=np.float32).reshape(10, 4))
    X = ShardedArray(tmp_path)
    np.save(tmp_path / "a.npy", -np.arange(40, dtype=np.float32).reshape(20, 2))
    # its rows were read with the old header: two new rows as one old one
    with pytest.raises(ValueError, match="rewritten since it was opened"):
        X[0]
    assert ShardedArray(tmp_path).shape == (20, 2)


def test_fit_and_predict_validate_shards(tmp_path, blobs):
    X, _ = blobs
    bad = X.copy()
    bad[57, 2] = np.nan
    np.save(tmp_path / "a.npy", X[:50])
    np.save(tmp_path / "b.npy", bad[50:])
    with pytest.raises(ValueError, match=r"NaN or infinity \(first at row 57, in b.npy, its row 7\)"):
        DEC(n_clusters=3, **FAST).fit(ShardedArray([tmp_path / "a.npy", tmp_path / "b.npy"]))
    # A subset's message names its own row and the shard's.
    with pytest.raises(ValueError, match=r"first at row 2, in b.npy, its row 7"):
        check_sharded(ShardedArray([tmp_path / "a.npy", tmp_path / "b.npy"]).subset([0, 1, 57, 3]))
    np.save(tmp_path / "none.npy", np.zeros((0, X.shape[1]), np.float32))
    with pytest.raises(ValueError, match="0 sample"):
        DEC(n_clusters=3, **FAST).fit(ShardedArray(tmp_path / "none.npy"))
    model = DEC(n_clusters=3, random_state=0, **FAST).fit(ShardedArray(tmp_path / "a.npy"))
    np.save(tmp_path / "narrow.npy", X[:, :4])
    with pytest.raises(ValueError, match="X has 4 features, but DEC is expecting 6"):
        model.predict(ShardedArray(tmp_path / "narrow.npy"))
    np.save(tmp_path / "huge.npy", np.full((3, X.shape[1]), 1e300))
    with pytest.raises(ValueError, match="float32's range"):
        model.predict(ShardedArray(tmp_path / "huge.npy"))
    # Inference checks each block as its one pass reads it, with the same message.
    model.autoencoder_.train()  # the network's mode survives a refused pass
    for method in (model.predict, model.predict_proba, model.transform, model.score):
        with pytest.raises(ValueError, match=r"NaN or infinity \(first at row 57, in b.npy, its row 7\)"):
            method(ShardedArray([tmp_path / "a.npy", tmp_path / "b.npy"]))
        assert model.autoencoder_.training


def test_inference_on_shards_reads_the_data_once(tmp_path, blobs, monkeypatch):
    X, _ = blobs
    np.save(tmp_path / "a.npy", X[:50])
    np.save(tmp_path / "b.npy", X[50:])
    shards = ShardedArray([tmp_path / "a.npy", tmp_path / "b.npy"])
    model = DEC(n_clusters=3, random_state=0, **FAST).fit(shards)
    expected = model.predict(X)
    read = []
    original = ShardedArray._range
    monkeypatch.setattr(ShardedArray, "_range", lambda self, a, b: read.append(b - a) or original(self, a, b))
    np.testing.assert_array_equal(model.predict(shards), expected)
    assert sum(read) == len(X)  # one pass: no separate validation scan


# ---------------------------------------------------------------- parquet shards

def _parquet_shards(folder, X, cuts, row_group_size=16, **extra_columns):
    """X's rows in one parquet file per cut, with named feature columns and extra columns."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    folder.mkdir(exist_ok=True)
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        frame = pd.DataFrame(X[a:b], columns=[f"f{j}" for j in range(X.shape[1])])
        for name, values in extra_columns.items():
            frame[name] = values[a:b]
        frame.to_parquet(folder / f"part-{i}.parquet", row_group_size=row_group_size)
    return [f"f{j}" for j in range(X.shape[1])]


def test_parquet_shards_read_as_the_array_and_fit_the_same(blobs, tmp_path):
    """Parquet shards (several row groups each, one empty shard) are converted once into .npy files
    in the cache and read like .npy shards: the same rows, the same fit; a label column is left out
    with columns=, and read on its own with read_parquet_column."""
    from deepclust.data.shards import read_parquet_column

    X, y = blobs
    cuts = [0, 50, 50, 170, len(X)]
    features = _parquet_shards(tmp_path / "pq", X, cuts, label=y)
    cache = tmp_path / "cache"
    S = ShardedArray(tmp_path / "pq", columns=features, cache_dir=cache)
    assert S.shape == X.shape and S.dtype == np.float32
    assert [p.suffix for p in S.files] == [".parquet"] * 4  # messages name the user's files
    np.testing.assert_array_equal(np.asarray(S), X)
    np.testing.assert_array_equal(S[[5, 200, 51]], X[[5, 200, 51]])
    np.testing.assert_array_equal(read_parquet_column(S.files, "label"), y)
    kw = dict(n_clusters=3, random_state=0, **FAST)
    np.testing.assert_array_equal(DEC(**kw).fit(S).labels_, DEC(**kw).fit(X).labels_)

    # Converted once: a second array reuses the cached files; a changed source is converted again.
    converted = sorted(cache.iterdir())
    assert len(converted) == 4
    inodes = [p.stat().st_ino for p in converted]  # a conversion writes a new file and renames it
    ShardedArray(tmp_path / "pq", columns=features, cache_dir=cache)
    assert [p.stat().st_ino for p in sorted(cache.iterdir())] == inodes
    _parquet_shards(tmp_path / "pq", 2 * X, cuts, label=y)
    S2 = ShardedArray(tmp_path / "pq", columns=features, cache_dir=cache)
    np.testing.assert_array_equal(np.asarray(S2), 2 * X)
    # The old versions' copies were used a moment ago (a job may still read them): kept.
    assert set(converted) < set(cache.glob("*.npy"))
    np.testing.assert_array_equal(np.asarray(S.subset([0, 1])), X[:2])  # reopens its files by name
    # Unused for more than a day, they go when the file changes again; an array that must reopen
    # one then says why it is gone.
    day_ago = time.time() - 25 * 3600
    for path in cache.glob("*.npy"):
        os.utime(path, (day_ago, day_ago))
    _parquet_shards(tmp_path / "pq", 3 * X, cuts, label=y)
    S3 = ShardedArray(tmp_path / "pq", columns=features, cache_dir=cache)
    np.testing.assert_array_equal(np.asarray(S3), 3 * X)
    assert sorted(cache.glob("*.npy")) == sorted(shard.path for shard in S3._shards)
    S._open.clear()
    with pytest.raises(FileNotFoundError, match="replaced by the copy of a newer version"):
        S[0]
    # Every column when none are named: the int label column makes the table float64, exactly.
    whole = ShardedArray(tmp_path / "pq", cache_dir=cache)
    assert whole.shape == (len(X), X.shape[1] + 1) and whole.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(whole)[:, -1], y)
    assert all(shard.path.is_file() for shard in S3._shards)  # other columns: a copy of its own, kept


def test_parquet_cache_defaults_to_deepclust_cache(blobs, tmp_path, monkeypatch):
    X, _ = blobs
    features = _parquet_shards(tmp_path / "pq", X, [0, len(X)])
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path / "here"))
    np.testing.assert_array_equal(np.asarray(ShardedArray(tmp_path / "pq", columns=features)), X)
    assert len(list((tmp_path / "here" / "shards").glob("part-0-*.npy"))) == 1


@pytest.mark.parametrize("locked", [True, False])
def test_parquet_conversions_killed_midway_leave_no_temporary_file(blobs, tmp_path, monkeypatch, locked):
    """What conversions killed midway leave (temporary files as large as the copy) is removed when
    the shard is converted again. Without a lock (no fcntl: Windows) another process may be
    converting the same version, so a fresh temporary file of it stays; one untouched for the
    grace period goes."""
    import sys

    X, _ = blobs
    features = _parquet_shards(tmp_path / "pq", X, [0, len(X)])
    cache = tmp_path / "cache"
    ShardedArray(tmp_path / "pq", columns=features, cache_dir=cache)
    (copy,) = cache.glob("part-0-*.npy")
    fresh, stale = cache / f".{copy.name}.abc123.tmp", cache / f".{copy.name}.dead.tmp"  # this version's
    earlier = cache / f".{copy.name[:-20]}0123456789abcdef.npy.def456.tmp"  # an earlier version's
    assert earlier.name.startswith(f".{copy.name[:-20]}") and earlier.name not in (fresh.name, stale.name)
    for left in (fresh, stale, earlier):
        left.write_bytes(b"\0" * 1000)
    old = time.time() - 2 * 24 * 3600
    for left in (stale, earlier):
        os.utime(left, (old, old))
    copy.unlink()  # converted again
    if not locked:
        monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl fails: no lock
    np.testing.assert_array_equal(np.asarray(ShardedArray(tmp_path / "pq", columns=features, cache_dir=cache)), X)
    assert not stale.exists() and not earlier.exists() and fresh.exists() != locked
    if locked:
        assert sorted(p.name for p in cache.iterdir()) == [copy.name]


def test_parquet_cache_in_a_tilde_deepclust_cache(blobs, tmp_path, monkeypatch):
    X, _ = blobs
    features = _parquet_shards(tmp_path / "pq", X, [0, len(X)])
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEEPCLUST_CACHE", "~/c")
    np.testing.assert_array_equal(np.asarray(ShardedArray(tmp_path / "pq", columns=features)), X)
    assert len(list((tmp_path / "home" / "c" / "shards").glob("part-0-*.npy"))) == 1
    assert not (tmp_path / "~").exists()


def test_parquet_shards_bad_input(blobs, tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = blobs
    features = _parquet_shards(tmp_path / "pq", X, [0, 100, len(X)],
                               kind=np.array(["a", "b", "c"])[y])
    cache = tmp_path / "cache"
    with pytest.raises(TypeError, match=r"non-numeric column\(s\) kind"):
        ShardedArray(tmp_path / "pq", cache_dir=cache)
    with pytest.raises(ValueError, match=r"no column\(s\) \['nope'\]"):
        ShardedArray(tmp_path / "pq", columns=["f0", "nope"], cache_dir=cache)
    with pytest.raises(TypeError, match="list of column names"):
        ShardedArray(tmp_path / "pq", columns="f0", cache_dir=cache)
    np.save(tmp_path / "a.npy", X)
    with pytest.raises(ValueError, match="columns= selects the columns of parquet shards"):
        ShardedArray([tmp_path / "a.npy"], columns=["f0"], cache_dir=cache)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 nope")
    with pytest.raises(ValueError, match="not a readable parquet file"):
        ShardedArray(tmp_path / "broken.parquet", cache_dir=cache)
    # A missing value becomes NaN, which fitting refuses, naming the parquet shard and row.
    frame = pd.DataFrame(X[:60], columns=features)
    frame.loc[42, "f3"] = None
    frame.to_parquet(tmp_path / "holes.parquet")
    S = ShardedArray([tmp_path / "pq" / "part-0.parquet", tmp_path / "holes.parquet"], columns=features,
                     cache_dir=cache)
    with pytest.raises(ValueError, match=r"NaN or infinity \(first at row 142, in holes.parquet, its row 42\)"):
        DEC(n_clusters=3, **FAST).fit(S)


def test_parquet_shards_are_read_by_column_name(tmp_path):
    """Shards storing the columns in another order are read in the first shard's order; the index
    pandas stores after a shuffle is not a feature; Spark's _SUCCESS is not a shard; decimals are
    numbers; a shard with other columns, or a column named twice, is refused."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from decimal import Decimal

    folder = tmp_path / "pq"
    folder.mkdir()
    frame = pd.DataFrame({"a": np.arange(6.0), "b": 10 + np.arange(6.0)})
    frame.iloc[:3].to_parquet(folder / "part-0.parquet")
    frame.iloc[3:][["b", "a"]].sample(frac=1, random_state=0).to_parquet(folder / "part-1.parquet")
    (folder / "_SUCCESS").write_bytes(b"")
    S = ShardedArray(folder, cache_dir=tmp_path / "cache")
    assert S.shape == (6, 2)
    shuffled = frame.iloc[3:].sample(frac=1, random_state=0)
    np.testing.assert_array_equal(np.asarray(S)[3:], shuffled[["a", "b"]].to_numpy())
    np.testing.assert_array_equal(np.asarray(S)[:3], frame.iloc[:3].to_numpy())
    with pytest.raises(ValueError, match="more than once"):
        ShardedArray(folder, columns=["a", "a"], cache_dir=tmp_path / "cache")
    pd.DataFrame({"a": [1.0], "c": [2.0]}).to_parquet(folder / "part-2.parquet")
    with pytest.raises(ValueError, match="every shard must have the same columns"):
        ShardedArray(folder, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(np.asarray(ShardedArray(folder, columns=["a"], cache_dir=tmp_path / "cache")),
                                  np.r_[np.arange(3.0), shuffled["a"], 1.0][:, None])
    pd.DataFrame({"x": [Decimal("1.5"), Decimal("-2.25")]}).to_parquet(tmp_path / "dec.parquet")
    D = ShardedArray(tmp_path / "dec.parquet", cache_dir=tmp_path / "cache")
    assert D.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(D), [[1.5], [-2.25]])


def test_subset_is_a_view_of_some_rows(sharded):
    """subset(rows) reads the same shards through a row map: every kind of index, nested subsets,
    streaming blocks and error messages (which name the shard's own row) follow the map."""
    X, S, _ = sharded
    rows = np.random.RandomState(0).permutation(len(X))[:150]
    V, expected = S.subset(rows), X[rows]
    assert V.shape == expected.shape and len(V) == 150
    np.testing.assert_array_equal(np.asarray(V), expected)
    for key in (3, -1, slice(10, 40), slice(None, None, -7), [5, 0, 149], np.arange(150) % 3 == 0):
        np.testing.assert_array_equal(V[key], expected[key])
    np.testing.assert_array_equal(np.concatenate(list(V.blocks(17))), expected)
    W = V.subset(slice(20, 60))
    np.testing.assert_array_equal(np.asarray(W), expected[20:60])
    np.testing.assert_array_equal(np.asarray(S.subset(S.shape[0] * [True])), X)
    with pytest.raises(IndexError):
        S.subset([len(X)])
    with pytest.raises(IndexError, match="out of range"):
        V[150]
    assert data_fingerprint(V) == data_fingerprint(expected)
    V2 = pickle.loads(pickle.dumps(V))
    np.testing.assert_array_equal(np.asarray(V2), expected)


def test_parquet_column_names_are_the_models_feature_names(blobs, tmp_path):
    """A fit on parquet shards records their column names; predicting on shards whose first one
    orders its columns differently is refused (it would be read in that order), as a frame's would."""
    pd = pytest.importorskip("pandas")
    from deepclust import load

    X, y = blobs
    features = _parquet_shards(tmp_path / "pq", X, [0, 100, len(X)])
    model = DEC(n_clusters=3, random_state=0, **FAST).fit(ShardedArray(tmp_path / "pq", cache_dir=tmp_path / "c"))
    assert list(model.feature_names_in_) == features
    model.save(tmp_path / "m.pt")
    assert list(load(tmp_path / "m.pt").feature_names_in_) == features
    folder = tmp_path / "reordered"
    folder.mkdir()
    pd.DataFrame(X, columns=features)[features[::-1]].to_parquet(folder / "part-0.parquet")
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(ShardedArray(folder, cache_dir=tmp_path / "c"))
    np.testing.assert_array_equal(
        model.predict(ShardedArray(folder, columns=features, cache_dir=tmp_path / "c")), model.labels_)
    np.save(tmp_path / "X.npy", X)
    with pytest.warns(UserWarning, match="does not have feature names"):
        model.predict(ShardedArray(tmp_path / "X.npy"))


def test_cli_warns_of_a_label_like_parquet_column(blobs, tmp_path):
    from deepclust.cli import _read_data

    X, y = blobs
    _parquet_shards(tmp_path / "pq", X, [0, 100, len(X)], label=y)
    with pytest.warns(UserWarning, match=r"\['label'\] look like labels"):
        S, labels, _, _ = _read_data(str(tmp_path / "pq"), None)
    assert S.shape == (len(X), X.shape[1] + 1) and labels is None
    S, labels, _, _ = _read_data(str(tmp_path / "pq"), "label")
    assert S.shape == X.shape and S.columns == [f"f{j}" for j in range(X.shape[1])]
    np.testing.assert_array_equal(labels, y)
