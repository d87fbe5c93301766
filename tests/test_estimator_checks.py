"""scikit-learn's own estimator checks, run against DEC, IDEC, DCN and DBC with small settings."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from deepclust import DBC, DCN, DEC, IDEC

from .conftest import FAST, FAST_LAYERWISE

# Checks we skip, each with its reason.
_PROBA_IS_NOT_CLASSIFIER = (
    "the check assumes an estimator with predict_proba is a classifier: it reads "
    "classifier_tags (None for a clusterer) and expects 2 or 4 probability columns, "
    "while DEC's predict_proba has n_clusters columns. Sparse input is covered by "
    "tests/test_dec.py::test_sparse_input_matches_dense."
)
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_estimator_sparse_array": _PROBA_IS_NOT_CLASSIFIER,
    "check_estimator_sparse_matrix": _PROBA_IS_NOT_CLASSIFIER,
}


@parametrize_with_checks(
    [DEC(n_clusters=3, random_state=0, **FAST), DEC(n_clusters=3, random_state=0, **FAST_LAYERWISE),
     IDEC(n_clusters=3, random_state=0, **FAST), DCN(n_clusters=3, random_state=0, **FAST),
     DBC(n_clusters=3, random_state=0, channels=(4, 8), embedding_dim=3, pretrain_epochs=10, n_init=3,
         max_iter=60, batch_size=32)],
    # DCN has no predict_proba, so the sparse checks pass for it.
    expected_failed_checks=lambda est: {} if isinstance(est, DCN) else EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
