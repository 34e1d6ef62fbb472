"""NDLScorer(slice_selection="combined"): slices picked by a fitted combination of the classifier
and the segmenter (skhe.neural._ndl_selection), checked against an independent sklearn fit."""

import warnings

import numpy as np
import pytest
from _roi_scorers import COMMON, DEC, SIZE
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from skhe.datasets import make_synthetic_cohort
from skhe.exceptions import DataWarning, small_model_warnings_ignored
from skhe.io import load_manifest
from skhe.metrics import youden_threshold
from skhe.neural import (
    HematomaSegmenter,
    MultiTaskHEModel,
    NDLScorer,
    SliceClassifier,
    _ndl_selection,
    slice_detection_features,
)
from skhe.neural._ndl_selection import combined_selection_score, fit_slice_combination
from skhe.preprocessing import read_patient


def networks(epochs: int = 4):
    return (
        SliceClassifier("test_resnet", lr=3e-3, max_epochs=max(1, epochs - 1), **COMMON),
        HematomaSegmenter(
            "tu-test_resnet", decoder_channels=DEC, lr=3e-3, max_epochs=epochs, **COMMON
        ),
        MultiTaskHEModel("tu-test_resnet", decoder_channels=DEC, lr=3e-3, max_epochs=1, **COMMON),
    )


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("selection") / "cohort"
    make_synthetic_cohort(24, out, image_size=SIZE, n_slices=(6, 8), random_state=5, progress=False)
    return load_manifest(out / "manifest.csv")


@pytest.fixture(scope="module")
def trained(cohort):
    """The three networks fit once on the cohort (frozen in the tests below)."""
    clf, seg, he = networks()
    with small_model_warnings_ignored():
        scorer = NDLScorer(clf, seg, he, image_size=SIZE, cv=None, random_state=0)
        scorer.fit(cohort, cohort["he"])
    return scorer


def frozen_scorer(trained, **kw):
    return NDLScorer(
        FrozenEstimator(trained.classifier_),
        FrozenEstimator(trained.segmenter_),
        FrozenEstimator(trained.he_model_),
        image_size=SIZE,
        slice_selection="combined",
        **kw,
    )


def cohort_slices(cohort):
    """Every slice of the cohort as the scorer reads it, whether it holds hematoma, and its
    patient (an index)."""
    pats = [read_patient(r.ct, r.mask, image_size=SIZE) for r in cohort.itertuples()]
    images = np.concatenate([p.images for p in pats]).astype(np.float32)
    labels = np.concatenate([p.masks.reshape(len(p.masks), -1).max(1) > 0 for p in pats])
    patient = np.repeat(np.arange(len(pats)), [len(p.images) for p in pats])
    return images, labels, patient


def test_two_noisy_detectors_combine_into_a_better_one():
    """Two scores that each carry half the signal: the fitted combination ranks the slices
    better than either, and equals sklearn's standardized logistic regression."""
    rng = np.random.default_rng(0)
    n_pat, per = 40, 10
    y = (rng.random(n_pat * per) < 0.3).astype(int)
    p_cls = 1 / (1 + np.exp(-(1.5 * y + rng.normal(0, 1, len(y)))))
    area = np.exp(2 + 1.5 * y + rng.normal(0, 1, len(y)))
    starts = np.arange(0, n_pat * per + 1, per)
    patient = np.repeat(np.arange(n_pat), per)
    frame = slice_detection_features(
        classifier_proba=p_cls, expected_area=area, patient=patient, context=True
    )
    fitted = fit_slice_combination(frame.to_numpy(), y, frame.columns)
    score = combined_selection_score(
        _ndl_selection.combined_selection_features(p_cls, area, starts), fitted
    )
    assert roc_auc_score(y, score) > max(roc_auc_score(y, p_cls), roc_auc_score(y, area)) + 0.04
    z = StandardScaler().fit_transform(frame.to_numpy())
    ref = LogisticRegression(max_iter=1000).fit(z, y)
    np.testing.assert_allclose(score, ref.predict_proba(z)[:, 1], rtol=1e-6, atol=1e-9)
    assert fitted.features == tuple(frame.columns)
    with pytest.raises(ValueError, match="all empty slices"):
        fit_slice_combination(frame.to_numpy(), np.zeros(len(y)), frame.columns)


def test_frozen_networks_fit_the_combination_on_the_training_slices(trained, cohort):
    """With frozen networks the combination is fit on the training patients' slices: the same
    coefficients and scores as sklearn on slice_detection_features, the Youden threshold of
    those scores, and the slice table and the (gated) transform agree."""
    scorer = frozen_scorer(trained, cv=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # frozen networks: no in-sample warning
        with small_model_warnings_ignored():
            scorer.fit(cohort, cohort["he"])
    images, labels, patient = cohort_slices(cohort)
    p_cls = trained.classifier_.predict_proba(images)[:, 1]
    area = trained.segmenter_.slice_score(images)
    frame = slice_detection_features(
        classifier_proba=p_cls, expected_area=area, patient=patient, context=True
    )
    z = StandardScaler().fit_transform(frame.to_numpy())
    ref = LogisticRegression(max_iter=1000).fit(z, labels)
    np.testing.assert_allclose(scorer.selection_coef_, ref.coef_[0], rtol=1e-4, atol=1e-6)
    assert list(scorer.selection_features_) == list(frame.columns)
    expected = ref.predict_proba(z)[:, 1]
    assert scorer.slice_threshold_ == pytest.approx(youden_threshold(labels, expected), rel=1e-5)
    # the combination detects the synthetic bleeds at least as well as the better network
    auc = roc_auc_score(labels, expected)
    assert auc >= max(roc_auc_score(labels, p_cls), roc_auc_score(labels, area)) - 0.01
    t = scorer.slice_table(cohort.iloc[:3])
    n = len(t)
    np.testing.assert_allclose(t["classifier_prob"], p_cls[:n], rtol=1e-5)
    # the first 3 patients' context is their own: the same scores as on the whole cohort
    np.testing.assert_allclose(t["selection_score"], expected[:n], rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(t["selected"], t["selection_score"] >= scorer.slice_threshold_)
    full = t.groupby("patient", sort=False)["ndl_score"].first().to_numpy()
    np.testing.assert_allclose(scorer.transform(cohort.iloc[:3])[:, 0], full, rtol=1e-5)


def test_trained_networks_fit_the_combination_on_out_of_fold_slice_scores(cohort, monkeypatch):
    """Networks trained here, with cv: the combination is fit once, on every training slice's
    out-of-fold scores (each patient held out once), not on in-sample scores; the folds'
    descriptor regressions are fit after it."""
    seen = []
    real = _ndl_selection.fit_slice_combination

    def spy(features, labels, names):
        seen.append((np.asarray(features).copy(), np.asarray(labels).copy()))
        return real(features, labels, names)

    monkeypatch.setattr(_ndl_selection, "fit_slice_combination", spy)
    clf, seg, _ = networks()
    # the descriptor score: each fold's regression is fit after the combination is known
    scorer = NDLScorer(
        clf,
        seg,
        image_size=SIZE,
        slice_selection="combined",
        score="descriptors",
        roi_size=16,
        cv=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # out-of-fold: no in-sample warning
        with small_model_warnings_ignored():
            out = scorer.fit_transform(cohort, cohort["he"])
    assert len(seen) == 1  # the folds' networks did not fit their own
    features, labels = seen[0]
    images, is_bleed, _ = cohort_slices(cohort)
    assert features.shape == (len(images), 5) and labels.sum() == is_bleed.sum()
    # the final classifier's in-sample log-odds are not what the combination saw
    in_sample = np.sort(scorer.classifier_.predict_proba(images)[:, 1])
    oof_p = np.sort(1 / (1 + np.exp(-features[:, 0])))
    assert np.abs(in_sample - oof_p).max() > 1e-3
    assert scorer.classifier_ is not None and np.isfinite(out).all()
    assert np.isfinite(scorer.oof_scores_).all() and 0 <= scorer.slice_threshold_ <= 1
    assert np.isfinite(scorer.descriptor_coef_).all()
    # without cv the combination is fit in-sample, and the user is told
    clf, seg, he = networks(epochs=1)
    with pytest.warns(DataWarning, match="over-confident"), small_model_warnings_ignored():
        NDLScorer(
            clf, seg, he, image_size=SIZE, slice_selection="combined", cv=None, random_state=0
        ).fit(cohort, cohort["he"])


def test_combined_selection_saves_and_checks_its_threshold(trained, cohort, tmp_path):
    from skhe.persistence import load_model, save_model

    scorer = frozen_scorer(trained, cv=None)
    with small_model_warnings_ignored():
        scorer.fit(cohort, cohort["he"])
    save_model(scorer, tmp_path / "ndl")
    back = load_model(tmp_path / "ndl")
    np.testing.assert_allclose(back.transform(cohort.iloc[:4]), scorer.transform(cohort.iloc[:4]))
    np.testing.assert_array_equal(back.selection_coef_, scorer.selection_coef_)
    with pytest.raises(ValueError, match=r"\[0, 1\] with slice_selection='combined'"):
        frozen_scorer(trained, cv=None, slice_threshold=40.0).fit(cohort, cohort["he"])
    no_masks = cohort.drop(columns="mask")
    with pytest.raises(ValueError, match="need masks"):
        frozen_scorer(trained, cv=None, slice_threshold=0.5).fit(no_masks, cohort["he"])


def test_equal_weight_selection_standardizes_and_sums_without_the_labels(trained, cohort, tmp_path):
    """slice_selection="combined_equal" with frozen networks: the classifier's log-odds, the log
    expected area and their neighbours' means (no patient maximum), standardized on the training
    slices and summed with weight 1; the threshold is the Youden point of that sum, the slice
    table and the transform use it, and it saves as plain numbers."""
    from skhe.persistence import load_model, save_model

    scorer = frozen_scorer(trained, cv=None).set_params(slice_selection="combined_equal")
    with small_model_warnings_ignored():
        scorer.fit(cohort, cohort["he"])
    images, labels, patient = cohort_slices(cohort)
    frame = slice_detection_features(
        classifier_proba=trained.classifier_.predict_proba(images)[:, 1],
        expected_area=trained.segmenter_.slice_score(images),
        patient=patient,
        context=True,
    ).drop(columns="patient_max_log1p_expected_area_px")
    total = StandardScaler().fit_transform(frame.to_numpy()).sum(axis=1)
    expected = 1 / (1 + np.exp(-total))
    assert list(scorer.selection_features_) == list(frame.columns)  # four, no patient maximum
    np.testing.assert_array_equal(scorer.selection_coef_, np.ones(4))
    assert scorer.selection_intercept_ == 0.0
    assert scorer.slice_threshold_ == pytest.approx(youden_threshold(labels, expected), rel=1e-5)
    # the synthetic bleeds are detected far above chance by the label-free sum
    assert roc_auc_score(labels, expected) > 0.8
    t = scorer.slice_table(cohort.iloc[:3])
    np.testing.assert_allclose(t["selection_score"], expected[: len(t)], rtol=1e-4, atol=1e-7)
    save_model(scorer, tmp_path / "ndl")
    back = load_model(tmp_path / "ndl")
    np.testing.assert_allclose(back.transform(cohort.iloc[:4]), scorer.transform(cohort.iloc[:4]))
    # one class only: no threshold can be chosen, and the error says which selection
    with pytest.raises(ValueError, match="combined_equal.*all empty slices"):
        _ndl_selection._fit_and_score(frame, np.zeros(len(frame)), equal_weights=True)
