"""Property-based tests: generated arrays thrown at fit, predict, transform, score and the metrics.

Whatever comes in, each call either works (with outputs of the documented shape and range) or
raises the documented error: ``ValueError`` or ``TypeError`` for bad input (``NotFittedError`` is a
``ValueError``), ``FloatingPointError`` for a network that cannot embed the data. Nothing else:
no ``IndexError``, ``RuntimeError`` from torch, ``ZeroDivisionError``. Each example is small
and quick (the whole module runs in seconds), so a hang would stand out.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deepclust import DEC
from deepclust.metrics import adjusted_rand_score, cluster_accuracy, normalized_mutual_info_score

TINY = dict(hidden_dims=(4,), embedding_dim=2, pretrain="end-to-end", pretrain_epochs=1, n_init=1,
            max_iter=4, update_interval=2, batch_size=8, device="cpu", random_state=0)
TINY_LAYERWISE = dict(TINY, pretrain="layerwise", layerwise_iter=2, finetune_iter=2)
DOCUMENTED = (ValueError, TypeError, FloatingPointError)
# No deadline: a busy machine must not fail a case for being slow (a hang still ends the run).
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

# Values a user's data may hold: ordinary, huge (beyond float32 in float64), tiny, NaN, inf.
_special = st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-45, 1e-300, 3e38, -3e38, 1e39, 1e300, -1e300,
                            np.nan, np.inf, -np.inf])
_values = st.one_of(st.floats(-1e6, 1e6, allow_nan=False, width=32), _special)


def _elements(dtype):
    """Values of a dtype, including NaN, inf and extremes; float64 also gets values beyond float32."""
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return _values
    if dtype.kind == "f":
        return st.floats(width=8 * dtype.itemsize)
    return None  # hypothesis' default for the dtype


@st.composite
def _numeric(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8,
                                  np.bool_]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=12))
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))


_odd = st.one_of(
    hnp.arrays(np.complex128, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6)),
    hnp.arrays(hnp.unicode_string_dtypes(max_len=3), hnp.array_shapes(min_dims=2, max_dims=2,
                                                                       max_side=6)),
    st.lists(st.lists(st.one_of(st.floats(allow_nan=True), st.integers(-5, 5), st.text(max_size=2)),
                      max_size=5), max_size=6),  # ragged or mixed lists
    st.sampled_from([None, 3.0, "data", {"a": 1}]),
)


@st.composite
def _sparse(draw):
    """Sparse matrices in several formats; rows may be empty, values NaN, inf or huge."""
    n, d = draw(st.integers(0, 12)), draw(st.integers(0, 6))
    density = draw(st.sampled_from([0.0, 0.3, 1.0]))
    dense = draw(hnp.arrays(np.float64, (n, d), elements=_values))
    mask = np.random.default_rng(draw(st.integers(0, 99))).random((n, d)) < density
    fmt = draw(st.sampled_from(["csr", "csc", "coo"]))
    return sp.csr_matrix(np.where(mask, dense, 0.0)).asformat(fmt)


_inputs = st.one_of(_numeric(), _sparse(), _odd)
# Mostly valid data, so that fits get past validation too: finite 2-D arrays, odd values included.
_finite = st.one_of(st.floats(-1e6, 1e6, width=32), st.sampled_from([0.0, 1e-45, 1e-300, 3e38, -3e38]))
_plausible = hnp.arrays(st.sampled_from([np.float64, np.float32]),
                        st.tuples(st.integers(1, 24), st.integers(1, 6)), elements=_finite)
_fit_inputs = st.one_of(_inputs, _plausible, _plausible.map(sp.csr_matrix))


def _check_fit(X, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = 2
        try:
            dec = DEC(n_clusters=k, **params).fit(X)
        except DOCUMENTED as exc:
            event(f"raised {type(exc).__name__}")
            return None
    event("fitted")
    n = dec.labels_.shape[0]
    assert dec.labels_.dtype.kind == "i" and set(np.unique(dec.labels_)) <= set(range(k))
    assert np.isfinite(dec.cluster_centers_).all()
    assert n >= k
    return dec


@settings(max_examples=250, **SETTINGS)
@given(_fit_inputs)
def test_fit_works_or_raises_a_documented_error(X):
    _check_fit(X, TINY)


@settings(max_examples=100, **SETTINGS)
@given(_fit_inputs)
def test_layerwise_fit_works_or_raises_a_documented_error(X):
    _check_fit(X, TINY_LAYERWISE)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    return DEC(n_clusters=2, **TINY).fit(X)


@settings(max_examples=300, **SETTINGS)
@given(_inputs)
def test_predict_transform_and_score_work_or_raise_a_documented_error(fitted, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("predict", "predict_proba", "transform", "score"):
            try:
                out = getattr(fitted, method)(X)
            except DOCUMENTED:
                continue
            if method == "score":
                assert np.isfinite(out)
                continue
            n = X.shape[0] if hasattr(X, "shape") else len(X)
            assert out.shape[0] == n
            if method == "predict":
                assert set(np.unique(out)) <= {0, 1}
            elif method == "predict_proba":
                assert out.shape == (n, 2) and np.isfinite(out).all()
                np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
            else:
                assert out.shape == (n, 2) and np.isfinite(out).all()


_labels = st.one_of(
    hnp.arrays(st.sampled_from([np.int64, np.int8, np.float64, np.bool_]),
               hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=8),
               elements=None),
    st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=1)), max_size=8),
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=8),
    st.lists(st.sampled_from([0.0, 1.0, np.nan]), max_size=8),
    st.sampled_from([None, 5, "abc"]),
)


@settings(max_examples=400, **SETTINGS)
@given(_labels, _labels)
def test_metrics_work_or_raise_a_documented_error(y_true, y_pred):
    for metric in (cluster_accuracy, normalized_mutual_info_score, adjusted_rand_score):
        try:
            value = metric(y_true, y_pred)
        except (ValueError, TypeError):
            continue
        assert np.isfinite(value)
        if metric is cluster_accuracy:
            assert 0.0 <= value <= 1.0
            # Relabelling the clusters never changes the accuracy.
            y = np.asarray(y_pred)
            if y.ndim == 1 and y.dtype.kind in "iub":
                assert cluster_accuracy(y_true, -y.astype(np.int64) - 1) == value
