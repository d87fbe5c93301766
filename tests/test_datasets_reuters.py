"""REUTERS from small files in the formats of the real ones: LYRL2004 vector files and the
RCV1-v2 topic file, gzip-compressed."""

import gzip

import numpy as np
import pytest
import scipy.sparse as sp

from deepclust import datasets
from deepclust.datasets import reuters

from .test_datasets import no_network  # noqa: F401 (autouse: no download reaches the internet)

VECTOR_FILES = ["lyrl2004_vectors_train.dat.gz"] + [f"lyrl2004_vectors_test_pt{i}.dat.gz" for i in range(4)]


def write_rcv1(folder, n_docs=40, n_terms=12, seed=0):
    """Random documents spread over the five vector files (ids increasing, as in LYRL2004) and
    their topics, ancestors included as in RCV1-v2. Returns (doc ids, weights, roots) where
    roots[i] is the set of root topics of document i."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = 2286 + np.cumsum(rng.integers(1, 4, size=n_docs))
    # Term t (1-based) is in a document with probability falling with t: distinct frequencies.
    weights = rng.uniform(0.01, 1, size=(n_docs, n_terms)) * (rng.random((n_docs, n_terms))
                                                             < np.linspace(0.9, 0.1, n_terms))
    roots = []
    children = {"CCAT": "C15", "GCAT": "GCRIM", "MCAT": "M14", "ECAT": "E21"}
    qrels = []
    for i, doc in enumerate(ids):
        k = rng.choice([0, 1, 1, 1, 2])  # no root (a stray id), one root, or two (dropped)
        mine = set(rng.choice(list(children), size=k, replace=False).tolist())
        roots.append(mine)
        for root in sorted(mine):
            qrels += [f"{children[root]} {doc} 1", f"{root} {doc} 1"]
    weights[[len(r) for r in roots].index(1)] = 0.0  # a kept document without any term
    for part, rows in zip(VECTOR_FILES, np.array_split(np.arange(n_docs), 5)):
        lines = []
        for i in rows:
            terms = " ".join(f"{t + 1}:{weights[i, t]:.10f}" for t in np.flatnonzero(weights[i]))
            lines.append(f"{ids[i]}  {terms}".rstrip())
        with gzip.open(folder / part, "wt") as fh:
            fh.write("\n".join(lines) + "\n")
    with gzip.open(folder / "rcv1v2.topics.qrels.gz", "wt") as fh:
        fh.write("\n".join(sorted(qrels, key=lambda line: int(line.split()[1]))) + "\n")
    return ids, weights.round(10), roots


def expected(weights, roots, n_terms):
    """What load_reuters(scale=False) should return, computed plainly, with dense arrays."""
    order = ["CCAT", "GCAT", "MCAT", "ECAT"]
    keep = [i for i, r in enumerate(roots) if len(r) == 1]
    W = weights[keep]
    df = (W > 0).sum(axis=0)
    terms = sorted(sorted(range(W.shape[1]), key=lambda t: (-df[t], t))[:n_terms])
    X = W[:, terms]
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    X = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    return X, np.array([order.index(next(iter(roots[i]))) for i in keep])


@pytest.fixture
def rcv1(tmp_path, monkeypatch):
    monkeypatch.setattr(reuters, "_N_TERMS", 3)  # of 12 terms; the 3rd and 4th tie
    return tmp_path / "rcv1", write_rcv1(tmp_path / "rcv1")


def test_load_reuters_keeps_single_root_documents_and_frequent_terms(rcv1):
    folder, (_, weights, roots) = rcv1
    X, y = datasets.load_reuters(data_dir=folder, scale=False, download=False)
    X_expected, y_expected = expected(weights, roots, 3)
    assert sp.issparse(X) and X.format == "csr" and X.dtype == np.float32
    assert X.shape == X_expected.shape == (sum(len(r) == 1 for r in roots), 3)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, y_expected)
    np.testing.assert_allclose(X.toarray(), X_expected, rtol=1e-5, atol=1e-7)
    lengths = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    assert np.all((np.abs(lengths - 1) < 1e-5) | (lengths == 0))


def test_load_reuters_scale_gives_unit_energy_and_stays_sparse(rcv1):
    folder, _ = rcv1
    X, _ = datasets.load_reuters(data_dir=folder)
    assert sp.issparse(X) and X.dtype == np.float32
    energy = np.square(X.data, dtype=np.float64).sum() / (X.shape[0] * X.shape[1])
    np.testing.assert_allclose(energy, 1.0, rtol=1e-5)


def test_load_reuters_reads_its_saved_result_next_time(rcv1):
    folder, _ = rcv1
    X, y = datasets.load_reuters(data_dir=folder, scale=False)
    assert (folder / "rcv1-roots-top3.npz").is_file()
    for name in VECTOR_FILES:
        (folder / name).unlink()  # only the saved result is left
    X2, y2 = datasets.load_reuters(data_dir=folder, scale=False, download=False)
    assert X2.dtype == np.float32 and sp.issparse(X2)
    assert (X2 != X).nnz == 0
    np.testing.assert_array_equal(y2, y)


def test_load_reuters10k_is_a_fixed_sample(rcv1, monkeypatch):
    folder, _ = rcv1
    monkeypatch.setattr(reuters, "_N_10K", 6)
    X_all, y_all = datasets.load_reuters(data_dir=folder, scale=False)
    X, y = datasets.load_reuters10k(data_dir=folder, scale=False)
    rows = np.sort(np.random.RandomState(0).permutation(X_all.shape[0])[:6])
    assert X.shape == (6, X_all.shape[1]) and sp.issparse(X) and y.dtype == np.int64
    np.testing.assert_array_equal(X.toarray(), X_all[rows].toarray())
    np.testing.assert_array_equal(y, y_all[rows])
    X_again, _ = datasets.load_reuters10k(data_dir=folder, scale=False)
    assert (X_again != X).nnz == 0
    monkeypatch.setattr(reuters, "_N_10K", 1000)
    with pytest.raises(ValueError, match="fewer than the 1000"):
        datasets.load_reuters10k(data_dir=folder)


def test_load_reuters_rejects_damaged_files(tmp_path, monkeypatch):
    write_rcv1(tmp_path)
    with gzip.open(tmp_path / "rcv1v2.topics.qrels.gz", "wt") as fh:
        fh.write("CCAT 2287 1\nGCAT not-a-doc 1\n")
    with pytest.raises(ValueError, match="line 2"):
        datasets.load_reuters(data_dir=tmp_path)
    with gzip.open(tmp_path / "rcv1v2.topics.qrels.gz", "wt") as fh:
        fh.write("CCAT 1 1\nC15 2287 1\n")
    with pytest.raises(ValueError, match="not the RCV1-v2 topic file"):
        datasets.load_reuters(data_dir=tmp_path)
    with gzip.open(tmp_path / VECTOR_FILES[2], "wt") as fh:
        fh.write("2300  7:0.5 oops\n")
    with pytest.raises(ValueError, match="not LYRL2004 vector files"):
        datasets.load_reuters(data_dir=tmp_path)


def test_load_reuters_names_a_damaged_gzip_file(tmp_path):
    from .test_datasets import HTML, _half

    write_rcv1(tmp_path, n_docs=400)
    for name in (VECTOR_FILES[2], "rcv1v2.topics.qrels.gz"):
        path = tmp_path / name
        good = path.read_bytes()
        for damage in (_half, lambda p: p.write_bytes(HTML)):  # cut; not gzip
            damage(path)
            with pytest.raises(ValueError) as info:
                datasets.load_reuters(data_dir=tmp_path)
            assert str(info.value).startswith(f"'{path}' is damaged or truncated: it cannot be decompressed")
            assert "Delete it" in str(info.value)
            path.write_bytes(good)
    X, _ = datasets.load_reuters(data_dir=tmp_path)  # all intact again
    assert X.shape[0] > 0
