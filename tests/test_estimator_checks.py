"""scikit-learn's own estimator checks, run against DEC with small settings."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from deepclust import DEC

from .conftest import FAST

# Checks we skip, each with its reason. (Empty: DEC passes every check.)
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@parametrize_with_checks(
    [DEC(n_clusters=3, random_state=0, **FAST)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
