"""NDLScorer and the three HE pipelines on a small synthetic CT cohort (CPU, tiny networks)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import StratifiedKFold, cross_validate

from skhe.datasets import make_synthetic_cohort
from skhe.io import load_manifest
from skhe.metrics import SCORERS, likelihood_ratio_test
from skhe.neural import HematomaSegmenter, MultiTaskHEModel, NDLScorer, SliceClassifier
from skhe.pipelines import make_clinical_to_he, make_image_to_he, make_integrated_to_he

SIZE = 48
COMMON = dict(image_size=SIZE, batch_size=32, random_state=0, augment=False)


def tiny_ndl(**kw):
    return NDLScorer(
        SliceClassifier("test_resnet", lr=3e-3, max_epochs=3, **COMMON),
        HematomaSegmenter("tu-test_resnet", decoder_channels=(16, 8, 8, 8, 4), lr=3e-3,
                          max_epochs=5, **COMMON),
        MultiTaskHEModel("tu-test_resnet", decoder_channels=(16, 8, 8, 8, 4), lr=3e-3,
                         max_epochs=6, **COMMON),
        image_size=SIZE, random_state=0, **kw,
    )


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("ndl") / "cohort"
    make_synthetic_cohort(160, out, image_size=SIZE, n_slices=(8, 10), random_state=3,
                          progress=False)
    return load_manifest(out / "manifest.csv")


@pytest.fixture(scope="module")
def fitted(cohort):
    return tiny_ndl().fit(cohort, cohort["he"])


def test_ndl_scores_are_finite_named_and_cross_fitted(fitted, cohort):
    s = fitted.transform(cohort.iloc[:10])
    assert s.shape == (10, 1) and np.isfinite(s).all()
    assert list(fitted.get_feature_names_out()) == ["ndl_score"]
    oof = fitted.oof_scores_
    assert oof.shape == (len(cohort),)
    assert abs(oof.mean()) < 1e-6 and oof.std(ddof=1) == pytest.approx(1, abs=1e-6)
    out = clone(fitted).set_output(transform="pandas")
    assert out.get_params()["cv"] == 3


def test_slice_table_is_inspectable(fitted, cohort):
    t = fitted.slice_table(cohort.iloc[:2])
    assert set(t.columns) >= {"patient", "slice", "classifier_prob", "selected", "area_mm2",
                              "dl_score", "weight", "ndl_score"}
    assert t["patient"].unique().tolist() == cohort["patient_id"].iloc[:2].tolist()
    # the patient's score is the area-weighted mean of its selected slices' DL scores
    first = t[t.patient == cohort["patient_id"].iloc[0]]
    w = first["weight"].to_numpy()
    if w.sum() > 0:
        from scipy.special import logit

        p = np.sum(w * first["dl_score"]) / w.sum()
        z = (logit(p) - fitted.center_) / fitted.scale_
        assert first["ndl_score"].iloc[0] == pytest.approx(z, rel=1e-5)


def test_no_hematoma_found_gives_a_score_and_a_warning(fitted, cohort):
    scorer = clone(fitted)
    scorer.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    scorer.slice_threshold = 1.1  # nothing can be selected
    with pytest.warns(UserWarning, match=f"patient {cohort['patient_id'].iloc[0]}"):
        s = scorer.transform(cohort.iloc[:1])
    assert np.isfinite(s).all()


def test_three_models_cross_validate_and_integrated_beats_clinical(fitted, cohort):
    frozen = NDLScorer(FrozenEstimator(fitted.classifier_), FrozenEstimator(fitted.segmenter_),
                       FrozenEstimator(fitted.he_model_), image_size=SIZE)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    res = {}
    for name, model in [("clinical", make_clinical_to_he()),
                        ("image", make_image_to_he(frozen)),
                        ("integrated", make_integrated_to_he(frozen))]:
        res[name] = cross_validate(model, cohort, cohort["he"], cv=cv, scoring=SCORERS)
        assert np.isfinite(res[name]["test_roc_auc"]).all()
    assert res["image"]["test_roc_auc"].mean() > 0.6


def test_integrated_model_fit_statistics(fitted, cohort):
    """Out-of-fold nDL in the regressions: nDL significant, Integrated better than Clinical."""
    oof = pd.Series(fitted.oof_scores_, index=cohort.index)
    df = cohort.assign(ndl_score=oof)
    clinical = make_clinical_to_he().fit(df, df["he"])
    from skhe.clinical import make_clinical_preprocessor
    from skhe.linear_model import ForwardSelectingLogisticRegression

    pre = make_clinical_preprocessor(impute="median", exclude=["baseline_volume"])
    Xc = pre.fit_transform(df).assign(ndl_score=oof.to_numpy())
    integrated = ForwardSelectingLogisticRegression(force=["ndl_score"]).fit(Xc, df["he"])
    ors = integrated.odds_ratios_
    assert ors.loc["ndl_score", "p_value"] < 0.05 and ors.loc["ndl_score", "odds_ratio"] > 1
    assert integrated.aic_ < clinical.named_steps["logistic"].aic_
    restricted = ForwardSelectingLogisticRegression(
        force=[c for c in integrated.selected_features_ if c != "ndl_score"], p_enter=1e-300
    ).fit(Xc, df["he"])
    lrt = likelihood_ratio_test(restricted, integrated)
    assert lrt.df == 1 and lrt.p_value < 0.05


def test_full_patient_from_dicom_folder_to_probability(fitted, cohort):
    frozen = NDLScorer(FrozenEstimator(fitted.classifier_), FrozenEstimator(fitted.segmenter_),
                       FrozenEstimator(fitted.he_model_), image_size=SIZE)
    model = make_integrated_to_he(frozen).fit(cohort.iloc[20:], cohort["he"].iloc[20:])
    one = cohort.iloc[[0]].drop(columns=["mask", "he"])  # a new patient: DICOM folder + clinical
    assert (pd.Series(one["ct"]).map(lambda p: p.endswith("/ct"))).all()
    p = model.predict_proba(one)[:, 1]
    assert p.shape == (1,) and 0 < p[0] < 1


def test_grid_search_over_nested_parameters(cohort):
    from sklearn.model_selection import GridSearchCV

    small = cohort.iloc[:60]
    ndl = tiny_ndl(cv=None)
    gs = GridSearchCV(make_image_to_he(ndl),
                      {"features__image__classifier__lr": [1e-3, 3e-3]},
                      cv=StratifiedKFold(2, shuffle=True, random_state=0), scoring="roc_auc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gs.fit(small, small["he"])
    assert gs.best_params_["features__image__classifier__lr"] in (1e-3, 3e-3)


def test_bad_input(cohort):
    with pytest.raises(ValueError, match="'ct' column"):
        tiny_ndl().fit(cohort.drop(columns=["ct"]), cohort["he"])
    with pytest.raises(ValueError, match=f"patient {cohort['patient_id'].iloc[1]}: no hematoma"):
        tiny_ndl().fit(cohort.assign(mask=[cohort["mask"].iloc[0], None]
                                     + list(cohort["mask"].iloc[2:])), cohort["he"])
    with pytest.raises(ValueError, match="one class"):
        tiny_ndl().fit(cohort, np.zeros(len(cohort)))
    bad = cohort.iloc[:4].copy()
    bad.loc[bad.index[2], "ct"] = "/nonexistent/scan"
    with pytest.raises(FileNotFoundError, match="nonexistent"):
        tiny_ndl(cv=None).fit(bad, [0, 1, 0, 1])
