"""scikit-learn's common estimator checks over every public estimator of skhe.

Checks an estimator cannot pass are listed in ``EXPECTED_FAILED_CHECKS`` with a one-sentence reason.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skhe.linear_model import ForwardSelectingLogisticRegression

EXPECTED_FAILED_CHECKS = {
    "ForwardSelectingLogisticRegression": {},
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [ForwardSelectingLogisticRegression()],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
