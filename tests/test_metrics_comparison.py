import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from skhe.linear_model import ForwardSelectingLogisticRegression
from skhe.metrics import likelihood_ratio_test


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 3)), columns=["a", "b", "c"])
    y = (rng.random(600) < 1 / (1 + np.exp(-(X.a + 0.5 * X.b - 0.3 * X.c)))).astype(int)
    return X, y


def test_lrt_matches_statsmodels_nested_fits(data):
    X, y = data
    small = ForwardSelectingLogisticRegression(force=["a"], screen_p=None, p_enter=1e-300).fit(X, y)
    big = ForwardSelectingLogisticRegression(force=["a", "b", "c"]).fit(X, y)
    r = likelihood_ratio_test(small, big)
    f0 = sm.Logit(y, sm.add_constant(X[["a"]])).fit(disp=0)
    f1 = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    stat = 2 * (f1.llf - f0.llf)
    assert r.df == 2
    assert r.statistic == pytest.approx(stat, rel=1e-8)
    assert r.p_value == pytest.approx(stats.chi2.sf(stat, 2), rel=1e-6)
    assert r.aic_full == pytest.approx(f1.aic) and r.aic_restricted == pytest.approx(f0.aic)
    # the same on statsmodels results directly
    r2 = likelihood_ratio_test(f0, f1)
    assert r2.statistic == pytest.approx(stat)


def test_lrt_rejects_non_nested_and_different_rows(data):
    X, y = data
    ma = ForwardSelectingLogisticRegression(force=["a"], p_enter=1e-300).fit(X, y)
    mb = ForwardSelectingLogisticRegression(force=["b"], p_enter=1e-300).fit(X, y)
    with pytest.raises(ValueError, match="not nested"):
        likelihood_ratio_test(ma, mb)
    with pytest.raises(ValueError, match="not nested"):
        likelihood_ratio_test(ma, ma)
    other = ForwardSelectingLogisticRegression(force=["a", "b"]).fit(X.iloc[:500], y[:500])
    with pytest.raises(ValueError, match="same rows"):
        likelihood_ratio_test(ma, other)
    with pytest.raises(TypeError, match="fitted"):
        likelihood_ratio_test("model", ma)


def test_lrt_between_a_statsmodels_result_and_a_model_fit_on_a_dataframe(data):
    """One fingerprint for both: a DataFrame's index does not make the rows 'different'."""
    X, y = data
    Xi = X.set_axis(np.arange(1000, 1000 + len(X)))  # an index that is not 0..n-1
    full = ForwardSelectingLogisticRegression(force=["a", "b", "c"]).fit(Xi, y)
    small = sm.Logit(y, sm.add_constant(X[["a"]])).fit(disp=0)
    r = likelihood_ratio_test(small, full)
    f1 = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    assert r.statistic == pytest.approx(2 * (f1.llf - small.llf), rel=1e-8)
    flipped = sm.Logit(1 - y, sm.add_constant(X[["a"]])).fit(disp=0)
    with pytest.raises(ValueError, match="same rows"):
        likelihood_ratio_test(flipped, full)
