import numpy as np
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from skhe.metrics import calibration, net_benefit


@pytest.fixture(scope="module")
def overfit():
    rng = np.random.default_rng(0)
    lp = rng.normal(-1, 1.2, 4000)
    y = (rng.random(lp.size) < expit(lp)).astype(int)
    return y, expit(2 * lp + 0.3)  # predictions twice as extreme, shifted


def test_slope_and_intercept_against_sklearn(overfit):
    y, p = overfit
    c = calibration(y, p)
    lp = np.log(p / (1 - p))
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(lp[:, None], y)
    assert c.slope == pytest.approx(ref.coef_[0, 0], rel=1e-4)
    assert c.slope == pytest.approx(0.5, abs=0.05)
    # calibration-in-the-large: intercept with the log-odds as offset, solved by hand (Newton)
    a = 0.0
    for _ in range(50):
        q = expit(lp + a)
        a += (y - q).sum() / (q * (1 - q)).sum()
    assert c.intercept == pytest.approx(a, abs=1e-6)
    assert c.brier == pytest.approx(brier_score_loss(y, p))


def test_well_calibrated_model_has_slope_one_and_large_hl_p():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.02, 0.9, 5000)
    y = (rng.random(p.size) < p).astype(int)
    c = calibration(y, p)
    assert c.slope == pytest.approx(1, abs=0.1)
    assert abs(c.intercept) < 0.1
    assert c.hl_p_value > 0.01
    assert c.curve["count"].sum() == 5000 and len(c.curve) == 10
    np.testing.assert_allclose(c.curve["observed"], c.curve["mean_predicted"], atol=0.05)


def test_hosmer_lemeshow_equals_two_by_g_pearson_chi2(overfit):
    y, p = overfit
    c = calibration(y, p, n_bins=10)
    order = np.argsort(p, kind="stable")
    stat = 0.0
    for g in np.array_split(order, 10):  # equal-size groups (no ties in continuous p)
        o1, e1, n = y[g].sum(), p[g].sum(), g.size
        stat += (o1 - e1) ** 2 / e1 + ((n - o1) - (n - e1)) ** 2 / (n - e1)
    assert c.hl_statistic == pytest.approx(stat, rel=1e-6)
    assert c.hl_df == 8 and c.hl_p_value < 1e-6


def test_calibration_bad_input():
    with pytest.raises(ValueError, match="probabilities"):
        calibration([0, 1, 0], [0.2, 1.3, 0.1])
    with pytest.raises(ValueError, match="one class"):
        calibration([1, 1, 1], [0.2, 0.3, 0.1])


def test_net_benefit_by_hand():
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.55, 0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05])
    nb = net_benefit(y, p, [0.1, 0.5])
    # pt=0.1: treated p>=0.1 -> 8 patients: TP=3, FP=5; NB = 3/10 - 5/10 * (0.1/0.9)
    assert nb.loc[0, "model"] == pytest.approx(0.3 - 0.5 / 9)
    # pt=0.5: treated 3 -> TP=2, FP=1
    assert nb.loc[1, "model"] == pytest.approx(0.2 - 0.1)
    assert nb.loc[0, "treat_all"] == pytest.approx(0.3 - 0.7 / 9)
    assert (nb["treat_none"] == 0).all()
    with pytest.raises(ValueError, match="thresholds"):
        net_benefit(y, p, [0.0, 0.5])


def test_statistics_accept_predict_proba_output():
    """calibration(y, model.predict_proba(X)) works as sklearn's scorers do (positive column)."""
    from skhe.metrics import net_benefit, roc_auc_ci, youden_threshold

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 48)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.15, 48), 0.01, 0.99)
    two = np.column_stack([1 - p, p])
    assert calibration(y, two).brier == pytest.approx(calibration(y, p).brier)
    assert roc_auc_ci(y, two).auc == pytest.approx(roc_auc_ci(y, p).auc)
    assert youden_threshold(y, two) == pytest.approx(youden_threshold(y, p))
    assert net_benefit(y, two).equals(net_benefit(y, p))
    with pytest.raises(ValueError, match=r"one score per sample \(n,\) or predict_proba"):
        calibration(y, np.ones((48, 3)) / 3)


def test_slope_of_constant_predictions_is_nan_with_a_warning():
    """Predictions that rank nobody have no calibration slope: nan and a warning that says
    why, not the number statsmodels returns for a rank-deficient design."""
    from sklearn.exceptions import UndefinedMetricWarning

    from skhe.metrics import calibration_slope

    y = np.array([0, 1, 0, 0, 1, 0, 1, 0])
    with pytest.warns(UndefinedMetricWarning, match="all 8 predicted probabilities are equal"):
        assert np.isnan(calibration_slope(y, np.full(8, 0.3)))
    with pytest.warns(UndefinedMetricWarning):
        c = calibration(y, np.full(8, 0.3))
    assert np.isnan(c.slope) and c.brier == pytest.approx(np.mean((0.3 - y) ** 2))
    # two distinct values: a slope exists (the warning is for constant predictions only)
    p = np.where(np.arange(8) < 4, 0.2, 0.6)
    ref = LogisticRegression(C=np.inf, tol=1e-10).fit(np.log(p / (1 - p))[:, None], y)
    assert calibration_slope(y, p) == pytest.approx(ref.coef_[0, 0], rel=1e-4)
