"""Acceptance of the three HE models on a synthetic CT cohort built to carry image and clinical
signal (240 patients, 64 px, tiny networks on the CPU; the slowest test of the suite, ~8 min).

The image networks are cross-fitted (NDLScorer(cv=3)), so the regressions see out-of-fold nDL
scores; the test split is never seen by any network or regression.
"""

import pytest
from sklearn.model_selection import train_test_split

from skhe.datasets import make_synthetic_cohort
from skhe.exceptions import small_model_warnings_ignored
from skhe.io import load_manifest
from skhe.metrics import roc_auc_ci
from skhe.neural import HematomaSegmenter, MultiTaskHEModel, NDLScorer, SliceClassifier
from skhe.pipelines import make_clinical_to_he, make_integrated_to_he, ndl_likelihood_ratio_test

SIZE = 64
# n_threads=2: the rest of the suite finishes early on the other xdist worker
COMMON = dict(image_size=SIZE, batch_size=32, random_state=0, augment=False, n_threads=2)
DECODER = (32, 16, 8, 8, 4)


@pytest.mark.slow
def test_integrated_beats_clinical_and_ndl_is_significant(tmp_path):
    make_synthetic_cohort(
        240, tmp_path / "c", image_size=SIZE, n_slices=(8, 10), random_state=11, progress=False
    )
    df = load_manifest(tmp_path / "c" / "manifest.csv")
    train, test = train_test_split(df, test_size=0.25, stratify=df["he"], random_state=0)
    ndl = NDLScorer(
        SliceClassifier("test_resnet", lr=3e-3, max_epochs=4, **COMMON),
        HematomaSegmenter(
            "tu-test_resnet", decoder_channels=DECODER, lr=3e-3, max_epochs=12, **COMMON
        ),
        MultiTaskHEModel(
            "tu-test_resnet", decoder_channels=DECODER, lr=3e-3, max_epochs=15, **COMMON
        ),
        image_size=SIZE,
        random_state=0,
        cv=3,
    )
    with small_model_warnings_ignored():
        integrated = make_integrated_to_he(ndl).fit(train, train["he"])
        clinical = make_clinical_to_he().fit(train, train["he"])
        auc_i = roc_auc_ci(test["he"], integrated.predict_proba(test)[:, 1]).auc
        auc_c = roc_auc_ci(test["he"], clinical.predict_proba(test)[:, 1]).auc
    lr_i = integrated.named_steps["logistic"]
    lr_c = clinical.named_steps["logistic"]
    # the nDL score is significantly associated with HE in the fitted regression
    assert lr_i.odds_ratios_.loc["ndl_score", "p_value"] < 0.05
    assert lr_i.odds_ratios_.loc["ndl_score", "ci_low"] > 1
    # Integrated-to-HE beats Clinical-to-HE on held-out AUC and on AIC
    assert auc_i > auc_c
    assert lr_i.aic_ < lr_c.aic_
    # the likelihood-ratio test of adding the nDL score to the integrated model's clinical part
    lrt = ndl_likelihood_ratio_test(integrated, train, train["he"])
    assert lrt.df == 1 and lrt.p_value < 0.05 and lrt.aic_full < lrt.aic_restricted
