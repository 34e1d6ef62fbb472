"""Per-slice detection features (skhe.neural.slice_detection_features and its helpers)."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from skhe.neural import neighbour_index, neighbour_mean, patient_max, slice_detection_features


def test_neighbours_follow_slice_order_within_each_patient():
    patient = np.array(["a", "a", "a", "b"])
    number = np.array([3, 1, 2, 5])  # slices out of order
    v = np.array([30.0, 10.0, 20.0, 7.0])
    # a: slices 1, 2, 3 hold 10, 20, 30 (rows 1, 2, 0); an edge's own value stands in for its
    # missing neighbour; b has one slice
    np.testing.assert_array_equal(
        neighbour_index(patient, number), [[2, 0], [1, 2], [1, 0], [3, 3]]
    )
    np.testing.assert_array_equal(neighbour_mean(v, patient, number), [25.0, 15.0, 20.0, 7.0])
    np.testing.assert_array_equal(neighbour_mean(v, patient), [20.0, 25.0, 15.0, 7.0])  # as given
    np.testing.assert_array_equal(patient_max(v, patient), [30.0, 30.0, 30.0, 7.0])
    with pytest.raises(ValueError, match="slice_number has 2 entries for 4 slices"):
        neighbour_mean(v, patient, number[:2])


def test_features_and_their_context():
    p = np.array([0.5, 0.9, 0.1, 0.5])
    area = np.array([0.0, 99.0, 3.0, 1.0])
    f = slice_detection_features(classifier_proba=p, expected_area=area, max_probability=p)
    assert list(f.columns) == ["classifier_logit", "log1p_expected_area_px", "max_probability"]
    np.testing.assert_allclose(f["classifier_logit"], np.log(p / (1 - p)))
    np.testing.assert_allclose(f["log1p_expected_area_px"], np.log1p(area))
    patient, number = ["a", "a", "a", "b"], [1, 2, 3, 1]
    g = slice_detection_features(
        expected_area=area, max_probability=p, patient=patient, slice_number=number, context=True
    )
    assert list(g.columns) == [
        "log1p_expected_area_px",
        "max_probability",
        "neighbour_mean_log1p_expected_area_px",
        "neighbour_mean_max_probability",
        "patient_max_log1p_expected_area_px",
    ]
    np.testing.assert_allclose(g["neighbour_mean_max_probability"], [0.7, 0.3, 0.5, 0.5])
    np.testing.assert_allclose(g["patient_max_log1p_expected_area_px"], np.log1p([99, 99, 99, 1]))
    with pytest.raises(ValueError, match="needs each slice's patient"):
        slice_detection_features(expected_area=area, context=True)
    with pytest.raises(ValueError, match="needs classifier_proba"):
        slice_detection_features()
    with pytest.raises(ValueError, match="different lengths"):
        slice_detection_features(expected_area=area, max_probability=p[:3])
    with pytest.raises(ValueError, match="max_probability contains NaN"):
        slice_detection_features(max_probability=[0.1, np.nan])
    with pytest.raises(ValueError, match=">= 0"):
        slice_detection_features(expected_area=[-1.0])


def test_context_recovers_bleeds_that_span_slices():
    """Simulated scores: a bleed spans neighbouring slices, false positives sit alone. A
    logistic regression on the features with context separates the slices better than one
    on each slice's own scores, on patients it was not fitted on."""

    def cohort(n_patients, seed):
        r = np.random.default_rng(seed)
        rows = []
        for k in range(n_patients):
            n = 30
            y = np.zeros(n, int)
            start = r.integers(5, 20)
            y[start : start + r.integers(3, 8)] = 1
            noise = r.normal(0, 1.0, n)
            lone = r.random(n) < 0.1  # isolated false positives
            score = 1.2 * y + noise + 2.0 * lone * (1 - y)
            rows.append((np.full(n, f"p{seed}-{k}"), np.arange(n), y, score))
        pat, num, y, score = (np.concatenate(c) for c in zip(*rows, strict=True))
        area = np.exp(score + 2)
        return pat, num, y, area

    auc = {}
    train, test = cohort(40, 1), cohort(40, 2)
    for context in (False, True):
        fits = []
        for pat, num, y, area in (train, test):
            f = slice_detection_features(
                expected_area=area, patient=pat, slice_number=num, context=context
            )
            fits.append((f.to_numpy(), y))
        model = LogisticRegression().fit(*fits[0])
        auc[context] = roc_auc_score(fits[1][1], model.predict_proba(fits[1][0])[:, 1])
    assert auc[True] > auc[False] + 0.05, auc
