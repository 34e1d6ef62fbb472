import numpy as np
import pytest

from skhe.metrics import delong_test, roc_auc_ci


def naive_delong(y, scores):
    """O(n^2) DeLong (1988) from the pairwise kernel psi(x, y) = 1, 1/2, 0."""
    scores = np.atleast_2d(scores)
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    psi = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])
    v10 = psi.mean(axis=2)
    v01 = psi.mean(axis=1)
    aucs = psi.mean(axis=(1, 2))
    cov = np.cov(v10) / pos.shape[1] + np.cov(v01) / neg.shape[1]
    return aucs, np.atleast_2d(cov)


def test_delong_matches_naive_quadratic_computation_with_ties():
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.3).astype(int)
    a = np.round(y + rng.normal(size=300), 1)  # rounding creates ties
    b = np.round(0.5 * y + rng.normal(size=300), 1)
    aucs, cov = naive_delong(y, np.vstack([a, b]))
    ra, rb = roc_auc_ci(y, a), roc_auc_ci(y, b)
    assert ra.auc == pytest.approx(aucs[0])
    assert ra.se == pytest.approx(np.sqrt(cov[0, 0]))
    assert rb.se == pytest.approx(np.sqrt(cov[1, 1]))
    t = delong_test(y, a, b)
    se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert t.statistic == pytest.approx((aucs[0] - aucs[1]) / se)


def test_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + y
    assert roc_auc_ci(y, s).auc == pytest.approx(roc_auc_score(y, s))


def test_pROC_reference_values_on_asah(asah):
    """pROC 1.18 test suite values (tests/testthat/test-ci.auc.R and test-roc.test.R)."""
    y = asah["poor"].to_numpy()
    r = roc_auc_ci(y, asah["ndka"])
    assert (r.ci_low, r.auc, r.ci_high) == pytest.approx(
        (0.501244999271703, 0.611957994579946, 0.722670989888189), abs=1e-9
    )
    t1 = delong_test(y, asah["wfns"], asah["s100b"])
    assert t1.statistic == pytest.approx(2.20898359144091, abs=1e-9)
    assert t1.p_value == pytest.approx(0.0271757822291882, abs=1e-12)
    assert (t1.ci_low, t1.ci_high) == pytest.approx((0.0104061769564846, 0.174214419249478))
    t2 = delong_test(y, asah["wfns"], asah["ndka"])
    assert t2.statistic == pytest.approx(2.79777591868904, abs=1e-9)
    assert t2.p_value == pytest.approx(0.00514557970691098, abs=1e-12)
    t3 = delong_test(y, asah["ndka"], asah["s100b"])
    assert t3.statistic == pytest.approx(-1.39077002573558, abs=1e-9)
    assert (t3.ci_low, t3.ci_high) == pytest.approx((-0.2876917446341914, 0.0488706064228094))


def test_identical_scores_give_p_one():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 50)
    s = rng.normal(size=50)
    t = delong_test(y, s, s)
    assert t.statistic == 0 and t.p_value == 1 and t.difference == 0


def test_hanley_mcneil_formula_by_hand():
    # hand-worked: AUC from 4 positives / 5 negatives
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.4, 0.35, 0.7, 0.3, 0.2, 0.1, 0.05])
    auc = (5 + 5 + 4 + 4) / 20  # negatives beaten by each positive
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = np.sqrt((auc * (1 - auc) + 3 * (q1 - auc**2) + 4 * (q2 - auc**2)) / 20)
    r = roc_auc_ci(y, s, method="hanley-mcneil")
    assert r.auc == pytest.approx(auc)
    assert r.se == pytest.approx(se)
    assert r.ci_high == pytest.approx(min(1.0, auc + 1.959963984540054 * se))


def test_bootstrap_ci_close_to_delong_and_seeded():
    rng = np.random.default_rng(4)
    y = (rng.random(400) < 0.25).astype(int)
    s = y * 0.8 + rng.normal(size=400)
    d = roc_auc_ci(y, s)
    b1 = roc_auc_ci(y, s, method="bootstrap", n_bootstraps=1000, random_state=0)
    b2 = roc_auc_ci(y, s, method="bootstrap", n_bootstraps=1000, random_state=0)
    assert b1 == b2
    assert b1.se == pytest.approx(d.se, rel=0.15)
    assert b1.ci_low == pytest.approx(d.ci_low, abs=0.02)


def test_fast_delong_scales_to_a_million_scores():
    rng = np.random.default_rng(5)
    y = (rng.random(1_000_000) < 0.2).astype(np.int8)
    s = y + rng.normal(size=y.size)
    r = roc_auc_ci(y, s)
    assert 0.75 < r.auc < 0.77 and 0 < r.se < 0.001


def test_auc_coverage_of_delong_ci_by_simulation():
    """The 95% DeLong interval covers the true AUC in about 95% of repeated samples."""
    from scipy.stats import norm

    true_auc = norm.cdf(1 / np.sqrt(2))  # positives N(1,1) vs negatives N(0,1)
    rng = np.random.default_rng(6)
    hits = 0
    for _ in range(400):
        y = np.r_[np.ones(40, int), np.zeros(60, int)]
        s = np.r_[rng.normal(1, 1, 40), rng.normal(0, 1, 60)]
        r = roc_auc_ci(y, s)
        hits += r.ci_low <= true_auc <= r.ci_high
    assert 0.91 <= hits / 400 <= 0.98


@pytest.mark.parametrize(
    "y, s, match",
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "one class"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "binary"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "NaN"),
        ([0, 1, 1], [0.1, 0.3], "values"),
        ([0, 1, np.nan], [0.1, 0.2, 0.3], "NaN"),
    ],
)
def test_bad_input(y, s, match):
    with pytest.raises(ValueError, match=match):
        roc_auc_ci(y, s)
    with pytest.raises(ValueError, match=match):
        delong_test(y, s, s)
