import numpy as np
import pytest
from sklearn.exceptions import UndefinedMetricWarning

from skhe.metrics import diagnostic_performance, proportion_ci, youden_threshold


def test_counts_and_rates_by_hand():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.6, 0.2, 0.7, 0.4, 0.3, 0.2, 0.1, 0.05])
    d = diagnostic_performance(y, s, threshold=0.5)
    assert (d.tp, d.fn, d.fp, d.tn) == (3, 1, 1, 5)
    assert d.sensitivity == 0.75 and d.specificity == 5 / 6 and d.accuracy == 0.8
    assert d.ppv == 0.75 and d.npv == 5 / 6
    assert d.sensitivity_ci == proportion_ci(3, 4)
    assert d.specificity_ci == proportion_ci(5, 6)
    assert d.accuracy_ci == proportion_ci(8, 10)
    # scores equal to the threshold count as positive
    assert diagnostic_performance(y, s, threshold=0.2).tp == 4


def test_youden_threshold_matches_brute_force():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 150)
    s = np.round(y * 0.7 + rng.normal(size=150), 2)
    best_j, best_t = -np.inf, None
    for t in np.unique(s)[::-1]:
        pred = s >= t
        j = pred[y == 1].mean() - pred[y == 0].mean()
        if j > best_j + 1e-12:
            best_j, best_t = j, t
    assert youden_threshold(y, s) == pytest.approx(best_t)
    d = diagnostic_performance(y, s)
    assert d.threshold == pytest.approx(best_t)
    assert d.sensitivity + d.specificity - 1 == pytest.approx(best_j)


def test_paper_table3_style_counts():
    # 22 positives / 85 negatives (the shape of the paper's 107-patient test set):
    # sensitivity 17/22 and specificity 64/85 with Wilson intervals
    y = np.r_[np.ones(22, int), np.zeros(85, int)]
    s = np.r_[np.ones(17), np.zeros(5), np.ones(21), np.zeros(64)]
    d = diagnostic_performance(y, s, threshold=0.5)
    assert d.sensitivity == pytest.approx(17 / 22)
    assert d.sensitivity_ci == pytest.approx((0.5656, 0.8988), abs=1e-4)
    assert d.specificity_ci == pytest.approx(proportion_ci(64, 85))


def test_undefined_ppv_warns_and_is_nan():
    y = np.array([0, 1, 0, 1])
    with pytest.warns(UndefinedMetricWarning, match="PPV"):
        d = diagnostic_performance(y, np.zeros(4), threshold=0.5)
    assert np.isnan(d.ppv) and d.npv == 0.5


@pytest.mark.parametrize("threshold", ["best", np.nan])
def test_bad_threshold(threshold):
    with pytest.raises(ValueError, match="threshold"):
        diagnostic_performance([0, 1], [0.1, 0.9], threshold=threshold)


def test_youden_scorers_match_and_warn_only_about_themselves():
    import warnings

    from skhe.metrics import diagnostic_performance
    from skhe.metrics._scorers import youden_sensitivity, youden_specificity

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    p = rng.random(80) * 0.5 + 0.4 * y
    d = diagnostic_performance(y, p)
    assert youden_sensitivity(y, p) == pytest.approx(d.sensitivity)
    assert youden_specificity(y, p) == pytest.approx(d.specificity)
    tied = np.full(6, 0.5)  # every patient called positive: NPV undefined, sensitivity is not
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert youden_sensitivity([0, 1, 0, 1, 1, 0], tied) == 1.0
