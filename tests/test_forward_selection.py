import pickle

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate

from skhe.datasets import make_clinical_cohort
from skhe.linear_model import ForwardSelectingLogisticRegression, infer_groups
from skhe.metrics import SCORERS
from skhe.pipelines import make_clinical_to_he


@pytest.fixture(scope="module")
def cohort():
    return make_clinical_cohort(2000, random_state=11)


def test_clinical_pipeline_recovers_the_true_predictors(cohort):
    model = make_clinical_to_he().fit(cohort, cohort["he"])
    lr = model.named_steps["logistic"]
    assert {"age", "fibrinogen", "gcs_group"} <= set(lr.selected_groups_)
    assert {"gcs_group__moderate", "gcs_group__severe"} <= set(lr.selected_features_)
    ors = lr.odds_ratios_
    # true values: age 1.057/year, fibrinogen 0.333/(g/L), moderate 2.72, severe 6.05
    assert ors.loc["age", "ci_low"] < np.exp(0.055) < ors.loc["age", "ci_high"]
    assert ors.loc["fibrinogen", "ci_low"] < np.exp(-1.1) < ors.loc["fibrinogen", "ci_high"]
    assert ors.loc["gcs_group__severe", "odds_ratio"] > ors.loc["gcs_group__moderate", "odds_ratio"]
    path = lr.selection_path_
    assert list(path["action"]) == ["enter"] * len(lr.selected_groups_)
    assert (path["p_value"] < 0.05).all()


def test_final_model_equals_a_direct_statsmodels_fit(cohort):
    model = make_clinical_to_he().fit(cohort, cohort["he"])
    lr = model.named_steps["logistic"]
    Xt = model.named_steps["features"].transform(cohort)
    cols = list(lr.selected_features_)
    ref = sm.Logit(cohort["he"].to_numpy(), sm.add_constant(Xt[cols])).fit(disp=0)
    np.testing.assert_allclose(lr.odds_ratios_["odds_ratio"], np.exp(ref.params[cols]), rtol=1e-6)
    np.testing.assert_allclose(
        lr.odds_ratios_["ci_low"], np.exp(ref.conf_int()[0][cols]), rtol=1e-6
    )
    np.testing.assert_allclose(lr.odds_ratios_["p_value"], ref.pvalues[cols], rtol=1e-5)
    assert lr.aic_ == pytest.approx(ref.aic) and lr.llf_ == pytest.approx(ref.llf)
    np.testing.assert_allclose(model.predict_proba(cohort)[:, 1], ref.predict(), rtol=1e-6)


def test_block_enters_by_likelihood_ratio_test():
    rng = np.random.default_rng(0)
    n = 1500
    level = rng.choice(["a", "b", "c"], n)
    X = pd.DataFrame(
        {"g__b": (level == "b") * 1.0, "g__c": (level == "c") * 1.0, "noise": rng.normal(size=n)}
    )
    y = (rng.random(n) < np.where(level == "c", 0.5, 0.2)).astype(int)
    assert infer_groups(X) == {"g": ["g__b", "g__c"], "noise": ["noise"]}
    m = ForwardSelectingLogisticRegression().fit(X, y)
    assert m.selected_groups_ == ["g"]
    assert list(m.selected_features_) == ["g__b", "g__c"]  # b not significant alone, enters with c
    null = sm.Logit(y, np.ones(n)).fit(disp=0)
    full = sm.Logit(y, sm.add_constant(X[["g__b", "g__c"]])).fit(disp=0)
    lr_p = m.selection_path_.loc[0, "p_value"]
    from scipy import stats

    assert lr_p == pytest.approx(stats.chi2.sf(2 * (full.llf - null.llf), 2))
    # groups=None treats the dummies separately
    m2 = ForwardSelectingLogisticRegression(groups=None).fit(X, y)
    assert "g__c" in m2.selected_features_ and "g" not in m2.selected_groups_


def test_verbose_names_of_numeric_columns_are_not_grouped():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(50, 2)), columns=["num__age", "num__sbp"])
    assert infer_groups(X) == {"num__age": ["num__age"], "num__sbp": ["num__sbp"]}


def test_stepwise_removes_a_variable_made_redundant():
    rng = np.random.default_rng(2)
    n = 3000
    z1, z2 = rng.normal(size=n), rng.normal(size=n)
    X = pd.DataFrame({"proxy": z1 + z2 + 0.8 * rng.normal(size=n), "z1": z1, "z2": z2})
    y = (rng.random(n) < 1 / (1 + np.exp(-1.5 * (z1 + z2)))).astype(int)
    fwd = ForwardSelectingLogisticRegression().fit(X, y)
    # pure forward selection keeps the proxy that entered first, although it is now useless
    assert fwd.selected_groups_ == ["proxy", "z1", "z2"]
    assert fwd.odds_ratios_.loc["proxy", "p_value"] > 0.10
    step = ForwardSelectingLogisticRegression(p_remove=0.10).fit(X, y)
    assert "proxy" not in step.selected_groups_
    assert set(step.selected_groups_) == {"z1", "z2"}
    assert "remove" in set(step.selection_path_["action"])


def test_force_and_screening():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "weak", "noise"])
    y = (rng.random(400) < 1 / (1 + np.exp(-1.5 * X.a))).astype(int)
    m = ForwardSelectingLogisticRegression(force=["noise"]).fit(X, y)
    assert m.selected_groups_[0] == "noise" and "a" in m.selected_groups_
    assert m.selection_path_.loc[0, "action"] == "force"
    assert "noise" not in set(m.screening_["feature"])
    m = ForwardSelectingLogisticRegression(screen_p=None, p_enter=1.0).fit(X, y)
    assert set(m.selected_groups_) == {"a", "weak", "noise"}
    with pytest.raises(ValueError, match="'zz'"):
        ForwardSelectingLogisticRegression(force=["zz"]).fit(X, y)


def test_separation_warns_with_the_feature_name_and_never_nans():
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X.a + 0.5 * rng.normal(size=200) > 0).astype(int)
    X["leak"] = y * 2.0 + rng.random(200) * 0.1  # perfectly separates
    with pytest.warns(ConvergenceWarning, match="'leak'.*separation"):
        m = ForwardSelectingLogisticRegression().fit(X, y)
    assert "leak" not in m.selected_features_ and "a" in m.selected_features_
    p = m.predict_proba(X)
    assert np.isfinite(p).all()
    # forced separating feature: kept with a warning, predictions still finite
    with pytest.warns(ConvergenceWarning, match="leak"):
        m = ForwardSelectingLogisticRegression(force=["leak"]).fit(X, y)
    assert np.isfinite(m.predict_proba(X)).all()


def test_cross_validate_with_scorers_and_grid_search(cohort):
    small = cohort.iloc[:600]
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    res = cross_validate(make_clinical_to_he(), small, small["he"], cv=cv, scoring=SCORERS)
    assert set(SCORERS) <= {k.removeprefix("test_") for k in res}
    assert res["test_roc_auc"].mean() > 0.7
    assert np.all((res["test_sensitivity"] > 0) & (res["test_sensitivity"] <= 1))
    assert np.isfinite(res["test_calibration_slope"]).all()
    gs = GridSearchCV(
        make_clinical_to_he(),
        {"logistic__p_enter": [0.001, 0.05, 0.2]},
        cv=cv,
        scoring=SCORERS["roc_auc"],
    ).fit(small, small["he"])
    assert gs.best_params_["logistic__p_enter"] in (0.001, 0.05, 0.2)
    assert hasattr(gs.best_estimator_.named_steps["logistic"], "odds_ratios_")


def test_clone_pickle_and_get_params(cohort):
    model = make_clinical_to_he(p_enter=0.01)
    assert model.get_params()["logistic__p_enter"] == 0.01
    fitted = clone(model).fit(cohort, cohort["he"])
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(cohort), fitted.predict_proba(cohort))
    assert len(pickle.dumps(fitted.named_steps["logistic"].results_)) < 200_000
    res = again.named_steps["logistic"].results_
    np.testing.assert_allclose(
        np.exp(res.conf_int()[0].drop("const")),
        again.named_steps["logistic"].odds_ratios_["ci_low"],
    )


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda X, y: (X.assign(a=np.nan), y), "'a'.*NaN"),
        (lambda X, y: (X.assign(b=np.inf), y), "'b'.*inf"),
        (lambda X, y: (X.assign(c=1.0), y), "'c'.*constant"),
        (lambda X, y: (X, np.ones_like(y)), "one class"),
        (lambda X, y: (X, np.arange(len(y)) % 3), "Only binary"),
        (lambda X, y: (X.assign(s="x"), y), "Non-numeric.*'s'"),
    ],
)
def test_bad_training_input(mutate, match):
    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = rng.integers(0, 2, 60)
    Xb, yb = mutate(X, y)
    with pytest.raises(ValueError, match=match):
        ForwardSelectingLogisticRegression().fit(Xb, yb)


def test_bad_predict_input():
    rng = np.random.default_rng(6)
    X = pd.DataFrame(rng.normal(size=(80, 2)), columns=["a", "b"])
    y = (X.a + rng.normal(size=80) > 0).astype(int)
    m = ForwardSelectingLogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="'b'"):
        m.predict(X.assign(b=np.nan))
    with pytest.raises(ValueError, match="b"):
        m.predict(X[["a"]])
    with pytest.raises(ValueError, match="extra"):
        m.predict(X.assign(extra=1.0))


def test_warnings_point_at_the_users_call_not_at_sklearn():
    """A ConvergenceWarning raised inside Pipeline.fit names this file, not sklearn/base.py."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = (X["a"] > 0).astype(int)  # "a" separates the outcome perfectly
    with pytest.warns(ConvergenceWarning, match="'a'") as record:
        make_pipeline(ForwardSelectingLogisticRegression()).fit(X, y)
    assert {w.filename for w in record if w.category is ConvergenceWarning} == {__file__}


def test_sample_weight_is_the_fit_on_repeated_rows():
    """Integer frequency weights give the selection, odds ratios, CIs and likelihood of the data
    with each row repeated that many times (an independent construction of the same fit)."""
    rng = np.random.default_rng(3)
    n = 300
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    p = 1 / (1 + np.exp(-(0.8 * X["a"] - 0.6 * X["b"])))
    y = (rng.random(n) < p).astype(int)
    w = rng.integers(1, 4, n)
    weighted = ForwardSelectingLogisticRegression().fit(X, y, sample_weight=w)
    rows = np.repeat(np.arange(n), w)
    repeated = ForwardSelectingLogisticRegression().fit(
        X.iloc[rows].reset_index(drop=True), y[rows]
    )
    assert list(weighted.selected_features_) == list(repeated.selected_features_)
    pd.testing.assert_frame_equal(
        weighted.odds_ratios_, repeated.odds_ratios_, check_exact=False, rtol=1e-5
    )
    assert weighted.llf_ == pytest.approx(repeated.llf_, rel=1e-7)
    assert weighted.aic_ == pytest.approx(repeated.aic_, rel=1e-7)
    ones = ForwardSelectingLogisticRegression().fit(X, y, sample_weight=np.ones(n))
    plain = ForwardSelectingLogisticRegression().fit(X, y)
    np.testing.assert_allclose(ones.coef_, plain.coef_, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="non-negative"):
        ForwardSelectingLogisticRegression().fit(X, y, sample_weight=-np.ones(n))


def test_pipelines_pass_sample_weight_to_the_logistic_step():
    from skhe.pipelines import make_clinical_to_he

    df = make_clinical_cohort(200, random_state=0)
    w = np.where(df["he"] == 1, 2, 1)
    model = make_clinical_to_he().fit(df, df["he"], logistic__sample_weight=w)
    rows = np.repeat(np.arange(len(df)), w)
    again = make_clinical_to_he().fit(df.iloc[rows], df["he"].iloc[rows])
    a, b = model.named_steps["logistic"], again.named_steps["logistic"]
    assert list(a.selected_features_) == list(b.selected_features_)
