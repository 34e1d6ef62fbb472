import numpy as np
import pandas as pd
import pytest

from skhe.clinical import (
    abc2_volume,
    ellipsoid_volume,
    gcs_group,
    he_label,
    make_clinical_preprocessor,
)
from skhe.datasets import make_clinical_cohort


def test_gcs_group_boundaries():
    g = gcs_group([3, 8, 9, 12, 13, 15, np.nan])
    assert list(g[:6]) == ["severe", "severe", "moderate", "moderate", "mild", "mild"]
    assert pd.isna(g[6])
    assert g.ordered and list(g.categories) == ["mild", "moderate", "severe"]
    s = gcs_group(pd.Series([14, 7], index=["p1", "p2"]))
    assert list(s.index) == ["p1", "p2"] and s["p2"] == "severe"
    with pytest.raises(ValueError, match="3 to 15"):
        gcs_group([2, 10])
    with pytest.raises(ValueError, match="whole"):
        gcs_group([10.5])


def test_he_label_rule_and_options():
    base = np.array([30.0, 30.0, 5.0, 10.0])
    foll = np.array([36.0, 35.9, 6.0, 13.5])
    # +6 mL (20%) | +5.9 mL (19.7%) | +1 mL (20%) | +3.5 mL (35%)
    assert he_label(base, foll).tolist() == [1, 0, 0, 1]
    assert he_label(base, foll, inclusive=False).tolist() == [0, 0, 0, 1]
    # exactly at the relative threshold (4/16 = 0.25 is exact in binary)
    assert he_label([16.0], [20.0], relative=0.25).tolist() == [1]
    assert he_label([16.0], [20.0], relative=0.25, inclusive=False).tolist() == [0]
    assert he_label(base, foll, absolute_ml=12.5, relative=0.26).tolist() == [0, 0, 0, 1]
    s = he_label(pd.Series(base, index=list("abcd")), pd.Series(foll, index=list("abcd")))
    assert s.index.tolist() == list("abcd")
    with pytest.raises(ValueError, match="baseline_ml must be > 0"):
        he_label([0.0], [3.0])
    with pytest.raises(ValueError, match="followup_ml.*missing"):
        he_label([1.0], [np.nan])


def test_volume_formulas():
    assert ellipsoid_volume(2, 3, 4) == pytest.approx(0.523 * 24)
    assert abc2_volume(2, 3, 4) == pytest.approx(12)
    # ABC/2 approximates the ellipsoid pi/6 * ABC
    assert abc2_volume(2, 3, 4) / ellipsoid_volume(2, 3, 4) == pytest.approx(0.956, abs=1e-3)


def test_preprocessor_output_names_and_references():
    df = make_clinical_cohort(300, random_state=0)
    ct = make_clinical_preprocessor(impute="median")
    out = ct.fit_transform(df)
    assert "gcs_group__moderate" in out.columns and "gcs_group__mild" not in out.columns
    assert "sex__male" in out.columns and "sex__female" not in out.columns
    assert len(out) == len(df) and not out.isna().any().any()
    assert out["gcs_group__severe"].sum() == (df.gcs_group == "severe").sum()
    assert (
        "baseline_volume"
        not in make_clinical_preprocessor(impute="median", exclude=["baseline_volume"])
        .fit_transform(df)
        .columns
    )


def test_preprocessor_bad_input_names_the_column():
    df = make_clinical_cohort(100, random_state=1)
    with pytest.raises(ValueError, match="'fibrinogen'.*missing"):
        make_clinical_preprocessor(impute=None).fit(df)
    ct = make_clinical_preprocessor().fit(df)  # imputes the median, as the pipelines
    bad = df.copy()
    bad["gcs_group"] = bad["gcs_group"].astype(str)
    bad.loc[bad.index[0], "gcs_group"] = "comatose"
    with pytest.raises(ValueError, match="'gcs_group'.*comatose"):
        ct.transform(bad)
    with pytest.raises(ValueError, match="fibrinogen"):
        ct.transform(df.drop(columns=["fibrinogen"]))
    bad = df.astype({"age": object})
    bad.loc[bad.index[2], "age"] = "sixty"
    with pytest.raises(ValueError, match="'age'.*numeric"):
        ct.transform(bad)


def test_synthetic_cohort_is_deterministic_and_consistent():
    a = make_clinical_cohort(300, random_state=5)
    b = make_clinical_cohort(300, random_state=5)
    pd.testing.assert_frame_equal(a, b)
    assert 0.12 < a.he.mean() < 0.32
    assert (he_label(a.baseline_volume, a.followup_volume) == a.he).all()
    assert a.fibrinogen.isna().sum() > 0
