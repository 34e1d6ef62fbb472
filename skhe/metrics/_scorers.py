"""sklearn scorers for cross_validate / GridSearchCV of the HE models."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, make_scorer, roc_auc_score

from skhe.metrics._calibration import calibration_slope
from skhe.metrics._diagnostic import youden_threshold
from skhe.utils import binary_target, positive_scores


def _youden_calls(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    y01, _ = binary_target(y_true, name="y_true")
    p = positive_scores(y_prob, y01.shape[0], name="y_prob")
    return y01, p >= youden_threshold(y01, p)


def youden_sensitivity(y_true, y_prob) -> float:
    """Sensitivity at the Youden-optimal threshold chosen on the same data (as the paper).

    Only the sensitivity is computed (no warning about other rates, e.g. an undefined NPV).
    """
    y01, called = _youden_calls(y_true, y_prob)
    return float(called[y01 == 1].mean())


def youden_specificity(y_true, y_prob) -> float:
    """Specificity at the Youden-optimal threshold chosen on the same data (as the paper)."""
    y01, called = _youden_calls(y_true, y_prob)
    return float((~called[y01 == 0]).mean())


def _log_loss(y_true, y_prob) -> float:
    return log_loss(y_true, np.clip(y_prob, 1e-15, 1 - 1e-15), labels=np.unique(y_true))


#: Scorers for ``cross_validate(..., scoring=SCORERS)``. All use the positive-class probability.
#: ``sensitivity``/``specificity`` are taken at the Youden threshold of each test fold (optimistic,
#: as in the paper); ``neg_brier_score`` and ``neg_log_loss`` are negated so larger is better;
#: ``calibration_slope`` is ideally 1 (it is reported, not maximized).
SCORERS = {
    "roc_auc": make_scorer(roc_auc_score, response_method="predict_proba"),
    "sensitivity": make_scorer(youden_sensitivity, response_method="predict_proba"),
    "specificity": make_scorer(youden_specificity, response_method="predict_proba"),
    "neg_brier_score": make_scorer(
        brier_score_loss, response_method="predict_proba", greater_is_better=False
    ),
    "calibration_slope": make_scorer(calibration_slope, response_method="predict_proba"),
    "neg_log_loss": make_scorer(
        _log_loss, response_method="predict_proba", greater_is_better=False
    ),
}
