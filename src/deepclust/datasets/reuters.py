"""REUTERS (RCV1-v2) as the DEC paper uses it: four root topics, the 2,000 most frequent terms.

Read from the files scikit-learn's ``fetch_rcv1`` reads, by our own code so that it can be
tested on small files of the same formats: the LYRL2004 vector files (svmlight-like lines
``<doc id> <term id>:<weight> ...``, cosine-normalised log TF-IDF over 47,236 stemmed terms) and
the RCV1-v2 topic assignments (lines ``<topic> <doc id> 1``, ancestors included).
"""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from ..data.atomic import atomic_file
from ._files import Remote, data_folder, locate, readable
from ._scaling import scale_to_unit_energy

__all__ = ["load_reuters", "load_reuters10k"]

logger = logging.getLogger(__name__)

_ROOTS = ("CCAT", "GCAT", "MCAT", "ECAT")  # corporate, government/social, markets, economics
_VECTORS = ("lyrl2004_vectors_train.dat.gz",) + tuple(
    f"lyrl2004_vectors_test_pt{i}.dat.gz" for i in range(4))  # the LYRL2004 chronological order
_TOPICS = "rcv1v2.topics.qrels.gz"
# URLs and SHA-256s as in scikit-learn's sklearn/datasets/_rcv1.py (figshare copies of the files
# of http://jmlr.csail.mit.edu/papers/volume5/lewis04a/).
_FIGSHARE = "https://ndownloader.figshare.com/files/"
_REMOTES = {
    name: Remote((_FIGSHARE + file_id,), "sha256:" + digest)
    for name, file_id, digest in [
        ("lyrl2004_vectors_train.dat.gz", "5976057",
         "5468f656d0ba7a83afc7ad44841cf9a53048a5c083eedc005dcdb5cc768924ae"),
        ("lyrl2004_vectors_test_pt0.dat.gz", "5976069",
         "ed40f7e418d10484091b059703eeb95ae3199fe042891dcec4be6696b9968374"),
        ("lyrl2004_vectors_test_pt1.dat.gz", "5976066",
         "87700668ae45d45d5ca1ef6ae9bd81ab0f5ec88cc95dcef9ae7838f727a13aa6"),
        ("lyrl2004_vectors_test_pt2.dat.gz", "5976063",
         "48143ac703cbe33299f7ae9f4995db49a258690f60e5debbff8995c34841c7f5"),
        ("lyrl2004_vectors_test_pt3.dat.gz", "5976060",
         "dfcb0d658311481523c6e6ca0c3f5a3e1d3d12cde5d7a8ce629a9006ec7dbb39"),
        ("rcv1v2.topics.qrels.gz", "5976048",
         "2a98e5e5d8b770bded93afc8930d88299474317fe14181aee1466cc754d0d1c1"),
    ]
}
_N_TERMS = 2000
_N_10K = 10_000
_SEED_10K = 0


def load_reuters(*, scale: bool = True, data_dir: str | os.PathLike | None = None,
                 download: bool = True) -> tuple[sp.csr_matrix, np.ndarray]:
    """REUTERS: RCV1-v2 news stories of one root topic (685,071 documents, 2,000 features).

    As in the DEC paper (section 4.1): the documents of RCV1-v2 (Lewis et al., 2004) labelled
    with exactly one of the four root topics, corporate/industrial (CCAT), government/social
    (GCAT), markets (MCAT) and economics (ECAT); those with several roots are dropped. The
    features are LYRL2004's TF-IDF weights of the 2,000 terms in most of those documents
    (document frequency; ties to the lower term id), each row then rescaled to unit length (a
    document with none of those terms stays a zero row). The paper computed its own TF-IDF of
    the 2,000 most frequent word stems, so the values differ slightly from its.

    The five LYRL2004 vector files (``lyrl2004_vectors_train.dat.gz`` and
    ``lyrl2004_vectors_test_pt0.dat.gz`` to ``_pt3``) and the topic file
    ``rcv1v2.topics.qrels.gz`` are looked for in ``data_dir`` (default :func:`data_home`
    ``/reuters``); missing ones are downloaded there (656 MB in all, the copies scikit-learn's
    ``fetch_rcv1`` uses) and checked against their SHA-256. Parsing them is slow, so the result
    is kept in ``data_dir`` as ``rcv1-roots-top2000.npz`` and read from there next time (delete
    it to read the files again).

    Parameters
    ----------
    scale : bool, default=True
        Apply the paper's normalisation (:func:`scale_to_unit_energy`): the unit-length rows
        are multiplied by one constant, about sqrt(2000), so that the mean of (1/d)·||x_i||² is
        1. With False, the rows have unit length.
    data_dir : path-like, default=None
        The folder holding the files (a leading ``~`` is the home directory); None means
        ``data_home() / "reuters"``.
    download : bool, default=True
        Download missing files. With False, missing files are an error.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n, 2000), float32
        n = 685,071 in the paper. Documents in LYRL2004's order (its training documents, then
        its test ones); columns in increasing term id.
    y : ndarray of shape (n,), int64
        The root topic: 0 CCAT, 1 GCAT, 2 MCAT, 3 ECAT.

    Raises
    ------
    FileNotFoundError
        When files are missing and cannot be downloaded (offline, or ``download=False``);
        the message says where to put them.
    ValueError
        When a file is not in its expected format, or is a damaged or truncated gzip file
        (the message names it).

    See Also
    --------
    load_reuters10k : a fixed sample of 10,000 of these documents.
    """
    X, y = _load(data_dir, download)
    return (scale_to_unit_energy(X) if scale else X), y


def load_reuters10k(*, scale: bool = True, data_dir: str | os.PathLike | None = None,
                    download: bool = True) -> tuple[sp.csr_matrix, np.ndarray]:
    """REUTERS-10K: a fixed random sample of 10,000 REUTERS documents (2,000 features).

    The DEC paper's smaller REUTERS set. The documents are those at the positions
    ``np.sort(np.random.RandomState(0).permutation(685071)[:10000])`` of :func:`load_reuters`,
    in that order, with the same features (the vocabulary is chosen on all of REUTERS).
    NumPy keeps ``RandomState``'s stream fixed across its versions, so the sample is the same
    everywhere; it is not the paper's own sample, which was never published. Files, download
    and cache as for :func:`load_reuters`.

    Parameters
    ----------
    scale : bool, default=True
        Apply the paper's normalisation (:func:`scale_to_unit_energy`, computed on the sample);
        with False, the rows have unit length.
    data_dir : path-like, default=None
        The folder holding the RCV1 files (a leading ``~`` is the home directory); None
        means ``data_home() / "reuters"``.
    download : bool, default=True
        Download missing files. With False, missing files are an error.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (10000, 2000), float32
    y : ndarray of shape (10000,), int64
        The root topic: 0 CCAT, 1 GCAT, 2 MCAT, 3 ECAT.

    Raises
    ------
    FileNotFoundError
        When files are missing and cannot be downloaded (offline, or ``download=False``).
    ValueError
        When a file is not in its expected format.
    """
    X, y = _load(data_dir, download)
    if X.shape[0] < _N_10K:
        raise ValueError(f"REUTERS has {X.shape[0]} documents here, fewer than the {_N_10K} to "
                         "sample: the RCV1 files are incomplete.")
    rows = np.sort(np.random.RandomState(_SEED_10K).permutation(X.shape[0])[:_N_10K])
    X, y = X[rows], y[rows]
    return (scale_to_unit_energy(X) if scale else X), y


def _load(data_dir, download: bool):
    folder = data_folder(data_dir, "reuters")
    cache = folder / f"rcv1-roots-top{_N_TERMS}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as saved:
            X = sp.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"]))
            return X, saved["y"]
    locate("REUTERS (RCV1-v2)", _REMOTES, [folder], download=download)
    X, doc_ids = _read_vectors([folder / name for name in _VECTORS])
    single_docs, single_roots = _read_single_roots(folder / _TOPICS)
    pos = np.searchsorted(single_docs, doc_ids)
    keep = pos < len(single_docs)
    keep[keep] = single_docs[pos[keep]] == doc_ids[keep]
    if not keep.any():
        raise ValueError(f"No document of the vector files has exactly one root topic in "
                         f"{str(folder / _TOPICS)!r}: it is not the RCV1-v2 topic file of these documents.")
    X, y = _select_terms(X[keep], _N_TERMS), single_roots[pos[keep]]
    logger.info("REUTERS: %d of %d documents have one root topic", len(y), len(doc_ids))
    try:
        with atomic_file(cache) as fh:
            np.savez(fh, data=X.data, indices=X.indices, indptr=X.indptr, shape=np.array(X.shape), y=y)
    except OSError as exc:  # a read-only data_dir: just read the files again next time
        logger.warning("REUTERS: could not save %s (%s)", cache, exc)
    return X, y


def _read_vectors(paths: list[Path]):
    """The documents of LYRL2004 vector files as ``(CSR float32 matrix, doc ids)``."""
    # scikit-learn's fast svmlight parser; it reads each line's document id as its label.
    from sklearn.datasets import load_svmlight_files

    with readable(*paths):  # a damaged .gz: a ValueError naming it
        try:
            # zero_based=True: term id t is column t whatever the files' lowest id (column 0 of
            # one-based ids stays empty and is never among the most frequent terms).
            parts = load_svmlight_files([str(p) for p in paths], dtype=np.float32, zero_based=True)
        except ValueError as exc:
            raise ValueError(f"{', '.join(p.name for p in paths)}: not LYRL2004 vector files: {exc}") from exc
    X = sp.vstack(parts[0::2], format="csr", dtype=np.float32)
    doc_ids = np.concatenate(parts[1::2])
    if not np.array_equal(doc_ids, np.round(doc_ids)):
        raise ValueError(f"{', '.join(p.name for p in paths)}: not LYRL2004 vector files "
                         "(a line does not start with a document id).")
    return X, doc_ids.astype(np.int64)


def _read_single_roots(path: Path):
    """Sorted ids of the documents with exactly one root topic, and that topic (0 to 3)."""
    index = {root: i for i, root in enumerate(_ROOTS)}
    docs, roots = [], []
    with readable(path), gzip.open(path, "rt", encoding="ascii") as fh:
        for number, line in enumerate(fh, 1):
            fields = line.split()
            if fields and fields[0] in index:
                if len(fields) < 2 or not fields[1].isdigit():
                    raise ValueError(f"{str(path)!r} line {number}: {line.strip()!r} is not "
                                     "'<topic> <doc id> 1'.")
                docs.append(int(fields[1]))
                roots.append(index[fields[0]])
    pairs = np.unique(np.array([docs, roots], dtype=np.int64).reshape(2, -1).T, axis=0)
    ids, first, counts = np.unique(pairs[:, 0], return_index=True, return_counts=True)
    single = counts == 1
    return ids[single], pairs[first[single], 1]


def _select_terms(X, n_terms: int):
    """The columns of the ``n_terms`` terms in most rows (ties: lower id), rows unit length."""
    df = np.bincount(X.indices, minlength=X.shape[1])
    terms = np.argsort(-df, kind="stable")[:n_terms]
    terms = np.sort(terms[df[terms] > 0])
    # normalize leaves the row of a document with none of the terms at zero
    return normalize(sp.csr_matrix(X[:, terms], dtype=np.float32), norm="l2", copy=False)
