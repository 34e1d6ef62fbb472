"""Threshold choice and diagnostic performance with Wilson intervals."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_curve

from skhe.metrics._intervals import proportion_ci
from skhe.utils import binary_target, positive_scores, user_stacklevel


def _scores(y_score, n: int) -> np.ndarray:
    return positive_scores(y_score, n)


def youden_threshold(y_true, y_score, *, pos_label=None) -> float:
    """Threshold maximizing Youden's J = sensitivity + specificity - 1.

    A sample is called positive when ``y_score >= threshold``. Among thresholds with the same J the
    highest is returned (the most specific operating point).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_score : array-like of shape (n_samples,) or (n_samples, 2)
    pos_label : scalar, default=None

    Returns
    -------
    float
        One of the observed scores.
    """
    y01, _ = binary_target(y_true, pos_label=pos_label, name="y_true")
    s = _scores(y_score, y01.shape[0])
    fpr, tpr, thr = roc_curve(y01, s, drop_intermediate=False)
    j = tpr - fpr
    finite = np.isfinite(thr)
    j = np.where(finite, j, -np.inf)
    return float(thr[int(np.argmax(j))])


@dataclass(frozen=True)
class DiagnosticPerformance:
    """Confusion counts and rates at one threshold, with Wilson confidence intervals."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    accuracy: float
    accuracy_ci: tuple[float, float]
    sensitivity: float
    sensitivity_ci: tuple[float, float]
    specificity: float
    specificity_ci: tuple[float, float]
    ppv: float
    ppv_ci: tuple[float, float]
    npv: float
    npv_ci: tuple[float, float]

    @property
    def n(self) -> int:
        """Number of samples."""
        return self.tp + self.fp + self.tn + self.fn

    def to_dict(self) -> dict:
        """Fields as a plain dict."""
        return asdict(self)


def _rate(count: int, nobs: int, name: str, alpha: float, method: str):
    if nobs == 0:
        warnings.warn(
            f"{name} is undefined (its denominator is 0); reported as NaN.",
            UndefinedMetricWarning,
            stacklevel=user_stacklevel(),
        )
        return float("nan"), (float("nan"), float("nan"))
    return count / nobs, proportion_ci(count, nobs, alpha=alpha, method=method)


def diagnostic_performance(
    y_true,
    y_score,
    *,
    threshold="youden",
    alpha: float = 0.05,
    method: str = "wilson",
    pos_label=None,
) -> DiagnosticPerformance:
    """Accuracy, sensitivity, specificity, PPV and NPV with confidence intervals.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_score : array-like of shape (n_samples,) or (n_samples, 2)
        Scores or probabilities; positive when ``y_score >= threshold``.
    threshold : "youden" or float, default="youden"
        ``"youden"`` picks the optimal threshold on these data (:func:`youden_threshold`), as the
        paper did; pass a threshold fixed on training data for an unbiased test-set estimate.
    alpha : float, default=0.05
    method : str, default="wilson"
        Interval method of :func:`proportion_ci`.
    pos_label : scalar, default=None

    Returns
    -------
    DiagnosticPerformance
        Each rate with ``<name>_ci`` = (low, high). A rate whose denominator is zero (e.g. PPV
        when nothing is called positive) is NaN with an ``UndefinedMetricWarning``.
    """
    y01, _ = binary_target(y_true, pos_label=pos_label, name="y_true")
    s = _scores(y_score, y01.shape[0])
    if isinstance(threshold, str):
        if threshold != "youden":
            raise ValueError(f"threshold must be 'youden' or a number; got {threshold!r}.")
        thr = youden_threshold(y01, s)
    else:
        thr = float(threshold)
        if not np.isfinite(thr):
            raise ValueError(f"threshold must be finite; got {threshold}.")
    pred = s >= thr
    tp = int(np.sum(pred & (y01 == 1)))
    fp = int(np.sum(pred & (y01 == 0)))
    tn = int(np.sum(~pred & (y01 == 0)))
    fn = int(np.sum(~pred & (y01 == 1)))
    acc = _rate(tp + tn, y01.size, "accuracy", alpha, method)
    sens = _rate(tp, tp + fn, "sensitivity", alpha, method)
    spec = _rate(tn, tn + fp, "specificity", alpha, method)
    ppv = _rate(tp, tp + fp, "PPV", alpha, method)
    npv = _rate(tn, tn + fn, "NPV", alpha, method)
    return DiagnosticPerformance(
        thr,
        tp,
        fp,
        tn,
        fn,
        acc[0],
        acc[1],
        sens[0],
        sens[1],
        spec[0],
        spec[1],
        ppv[0],
        ppv[1],
        npv[0],
        npv[1],
    )
