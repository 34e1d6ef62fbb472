import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from skhe.datasets import make_clinical_cohort
from skhe.metrics import univariable_analysis


def test_matches_statsmodels_formula_fits():
    df = make_clinical_cohort(800, random_state=3)
    t = univariable_analysis(df, "he", columns=["age", "fibrinogen", "gcs_group", "sex"])
    ref = smf.logit("he ~ age", df).fit(disp=0)
    assert t.loc[("age", ""), "odds_ratio"] == pytest.approx(np.exp(ref.params["age"]))
    ci = np.exp(ref.conf_int().loc["age"])
    assert t.loc[("age", ""), "ci_low"] == pytest.approx(ci[0])
    assert t.loc[("age", ""), "p_value"] == pytest.approx(ref.pvalues["age"])
    # missing fibrinogen: complete cases for that variable only, counted
    assert t.loc[("fibrinogen", ""), "missing"] == df["fibrinogen"].isna().sum()
    ref = smf.logit("he ~ fibrinogen", df.dropna(subset=["fibrinogen"])).fit(disp=0)
    assert t.loc[("fibrinogen", ""), "odds_ratio"] == pytest.approx(np.exp(ref.params.iloc[1]))
    # categorical: one row per level, reference first; OR equals the dummy model's
    d = df.assign(g=df.gcs_group.astype(str))
    ref = smf.logit("he ~ C(g, Treatment('mild'))", d).fit(disp=0)
    assert t.loc[("gcs_group", "severe"), "odds_ratio"] == pytest.approx(
        np.exp(ref.params["C(g, Treatment('mild'))[T.severe]"])
    )
    assert t.loc[("gcs_group", "mild (ref)"), "odds_ratio"] == 1.0
    assert t.loc[("gcs_group", "severe"), "p_overall"] == pytest.approx(ref.llr_pvalue)
    # group summaries
    sel = df.he == 1
    assert t.loc[("age", ""), "mean_pos"] == pytest.approx(df.age[sel].mean())
    assert t.loc[("age", ""), "sd_neg"] == pytest.approx(df.age[~sel].std())
    assert t.loc[("sex", "male"), "n_pos"] == ((df.sex == "male") & sel).sum()


def test_real_asah_table(asah):
    t = univariable_analysis(
        asah.drop(columns=["outcome", "gos6"]), "poor", categorical={"gender": "Female"}
    )
    ref = smf.logit("poor ~ s100b", asah).fit(disp=0)
    assert t.loc[("s100b", ""), "odds_ratio"] == pytest.approx(np.exp(ref.params["s100b"]))
    # published counts: 41 poor, 72 good outcomes
    assert t.loc[("age", ""), "n_pos"] == 41 and t.loc[("age", ""), "n_neg"] == 72
    assert t.loc[("wfns", ""), "odds_ratio"] > 1 and t.loc[("wfns", ""), "p_value"] < 1e-4


def test_bad_input():
    df = pd.DataFrame({"x": [1.0, 2, 3, 4], "he": [0, 1, 0, np.nan]})
    with pytest.raises(ValueError, match="he"):
        univariable_analysis(df, "he")
    with pytest.raises(ValueError, match="outcome column 'y'"):
        univariable_analysis(df, "y")
    with pytest.raises(ValueError, match="one class"):
        univariable_analysis(df.assign(he=1), "he")
    with pytest.raises(ValueError, match="zzz"):
        univariable_analysis(df.fillna(0), "he", columns=["zzz"])
