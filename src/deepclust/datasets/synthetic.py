"""Synthetic data with known clusters: Gaussian blobs embedded non-linearly, and a corpus of topics
shaped like REUTERS (sparse tf-idf), for benchmarks where no real data set is at hand.

Labels are returned for evaluation only.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["make_embedded_blobs", "make_topic_corpus"]


def make_embedded_blobs(n_samples=1400, n_clusters=5, latent_dim=5, n_features=100, separation=6.0,
                        random_state=0):
    """k Gaussian blobs in ``latent_dim`` dimensions, embedded non-linearly in ``n_features``.

    Blob centres are drawn from N(0, separation² / 2) in the latent space and each point is its
    centre plus N(0, 1) noise; the points are pushed through a fixed random MLP,
    ``x = tanh(0.5 z W1) W2 + 0.05 noise`` with W1 ``latent_dim`` x 64 and W2 64 x ``n_features``
    Gaussian, shuffled and standardised (every column mean 0, variance 1). Cluster sizes are equal
    to within one point.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    y : ndarray of shape (n_samples,), int64
        The blob of each point, 0 to ``n_clusters - 1``.
    """
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(random_state)
    centers = rng.normal(scale=separation / np.sqrt(2), size=(n_clusters, latent_dim))
    y = np.arange(n_samples) % n_clusters
    z = centers[y] + rng.normal(size=(n_samples, latent_dim))
    w1 = rng.normal(scale=1 / np.sqrt(latent_dim), size=(latent_dim, 64))
    w2 = rng.normal(scale=1 / np.sqrt(64), size=(64, n_features))
    X = np.tanh(0.5 * z @ w1) @ w2 + 0.05 * rng.normal(size=(n_samples, n_features))
    order = rng.permutation(n_samples)
    X = StandardScaler().fit_transform(X[order])
    return X.astype(np.float32), y[order]


def make_topic_corpus(n_documents=10_000, n_topics=4, *, vocabulary_size=10_000, n_terms=2000,
                      topic_words=1000, topic_weight=0.05, mean_length=80, zipf_exponent=1.1,
                      random_state=0):
    """Documents drawn from topics, as tf-idf rows of the most frequent terms, like REUTERS.

    A generative model of a corpus such as the DEC paper's REUTERS (four root topics, tf-idf of
    the 2,000 most frequent words), with nothing to download:

    * a vocabulary of ``vocabulary_size`` words and a shared background distribution over it,
      Zipf-like: the word of rank r has probability proportional to ``r ** -zipf_exponent``
      (ranks in a random order of the words), as the frequencies of words in text are;
    * each topic owns ``topic_words`` words drawn at random (topics may share some), with
      Zipf-like weights among them in a random order;
    * each document belongs to one topic (uniformly at random); its length is drawn from a
      log-normal distribution with mean about ``mean_length`` words (at least one word), and each
      of its words comes from its topic with probability ``topic_weight``, else from the
      background. With a low ``topic_weight`` the topics overlap and clustering is hard.

    The word counts are then read as ``deepclust fit`` reads a folder of ``.txt`` files (the DEC
    paper's REUTERS recipe): the ``n_terms`` words most frequent over the corpus, sublinear term
    frequency times smooth idf (scikit-learn's ``TfidfTransformer(sublinear_tf=True)``), each row
    scaled to unit length (a document with none of the terms stays a zero row). The matrix stays
    sparse (CSR) throughout; memory is proportional to the words drawn.

    Parameters
    ----------
    n_documents : int, default=10_000
    n_topics : int, default=4
        The number of clusters (REUTERS' root topics are 4).
    vocabulary_size : int, default=10_000
    n_terms : int, default=2000
        The columns kept: the most frequent words, as REUTERS' 2,000.
    topic_words : int, default=1000
        Words each topic owns.
    topic_weight : float, default=0.05
        Probability that a word of a document comes from its topic rather than the background.
        With this default and ``topic_words``, a few words of a document tell its topic and k-means
        on the tf-idf rows is far from perfect and far from chance (benchmarks/RESULTS.md's suite);
        raise it for easier topics.
    mean_length : float, default=80
        Mean number of words in a document.
    zipf_exponent : float, default=1.1
    random_state : int, default=0

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_documents, n_terms), float32
        Fewer columns if fewer words occur at all.
    y : ndarray of shape (n_documents,), int64
        The topic of each document.
    """
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.RandomState(random_state)

    def zipf(n):
        weights = 1.0 / np.arange(1, n + 1) ** zipf_exponent
        return rng.permutation(weights / weights.sum())

    background = zipf(vocabulary_size)
    topics = [(rng.choice(vocabulary_size, topic_words, replace=False), zipf(topic_words))
              for _ in range(n_topics)]
    y = rng.randint(n_topics, size=n_documents).astype(np.int64)
    sigma = 0.5  # log-normal spread of the lengths; the mean of exp(N(mu, sigma²)) is exp(mu + sigma² / 2)
    lengths = np.maximum(1, np.round(rng.lognormal(np.log(mean_length) - sigma ** 2 / 2, sigma,
                                                   n_documents))).astype(np.int64)
    from_topic = rng.binomial(lengths, topic_weight)
    docs = [np.repeat(np.arange(n_documents), lengths - from_topic)]
    words = [rng.choice(vocabulary_size, int((lengths - from_topic).sum()), p=background)]
    for t, (own, weights) in enumerate(topics):
        members = np.flatnonzero(y == t)
        docs.append(np.repeat(members, from_topic[members]))
        words.append(own[rng.choice(topic_words, int(from_topic[members].sum()), p=weights)])
    docs, words = np.concatenate(docs), np.concatenate(words)
    counts = sp.csr_matrix((np.ones(len(docs), dtype=np.float32), (docs, words)),
                           shape=(n_documents, vocabulary_size))
    counts.sum_duplicates()
    # CountVectorizer(max_features=n_terms)'s choice: the terms most frequent over the corpus.
    frequency = np.asarray(counts.sum(axis=0)).ravel()
    terms = np.argsort(-frequency, kind="stable")[:n_terms]
    terms = np.sort(terms[frequency[terms] > 0])
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts[:, terms])
    return sp.csr_matrix(tfidf, dtype=np.float32), y
