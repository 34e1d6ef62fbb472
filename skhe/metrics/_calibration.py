"""Calibration of predicted probabilities."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from scipy.special import logit

from skhe.utils import binary_target, positive_scores

_EPS = 1e-12


@dataclass(frozen=True)
class CalibrationResult:
    """Calibration curve and summary statistics.

    Attributes
    ----------
    curve : DataFrame
        One row per bin: ``mean_predicted``, ``observed`` (fraction of positives), ``count``,
        ``low`` and ``high`` (bin edges).
    intercept : float
        Calibration-in-the-large: intercept of a logistic model of the outcome with the predicted
        log-odds as offset (0 is ideal; > 0 means the model under-predicts risk).
    slope : float
        Calibration slope: coefficient of the predicted log-odds in a logistic model of the
        outcome (1 is ideal; < 1 means predictions are too extreme, typical of overfitting).
    brier : float
        Mean squared difference between probability and outcome.
    hl_statistic, hl_df, hl_p_value : float, int, float
        Hosmer-Lemeshow goodness-of-fit on the same bins (df = bins - 2).
    """

    curve: pd.DataFrame
    intercept: float
    slope: float
    brier: float
    hl_statistic: float
    hl_df: int
    hl_p_value: float


def _bins(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ValueError(f"strategy must be 'quantile' or 'uniform'; got {strategy!r}.")
    if edges.size < 2:
        edges = np.array([p.min(), p.max()])
    # bin i holds edges[i] <= p < edges[i+1]; the last bin is closed on the right
    return np.clip(np.searchsorted(edges, p, side="right") - 1, 0, edges.size - 2), edges


def calibration_slope(y_true, y_prob) -> float:
    """Calibration slope alone (see :func:`calibration`).

    NaN, with scikit-learn's ``UndefinedMetricWarning``, when every prediction has the same
    log-odds (a model that ranks nobody): no slope fits such predictions."""
    y01, _ = binary_target(y_true, name="y_true")
    p = positive_scores(y_prob, y01.shape[0], name="y_prob", probabilities=True)
    lp = logit(np.clip(p, _EPS, 1 - _EPS))
    design = sm.add_constant(lp, has_constant="add")
    if np.linalg.matrix_rank(design) < 2:  # statsmodels' own test, which only warns
        from sklearn.exceptions import UndefinedMetricWarning

        warnings.warn(
            f"calibration slope is undefined: all {len(p)} predicted probabilities are equal "
            f"({p[0]:.4g}); returning nan.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    res = sm.GLM(y01, design, family=sm.families.Binomial()).fit()
    return float(res.params[1])


def calibration(
    y_true, y_prob, *, n_bins: int = 10, strategy: str = "quantile", pos_label=None
) -> CalibrationResult:
    """Calibration curve, calibration-in-the-large, slope, Brier score and Hosmer-Lemeshow.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_prob : array-like of shape (n_samples,) or (n_samples, 2)
        Predicted probabilities of the positive class, in [0, 1].
    n_bins : int, default=10
    strategy : {"quantile", "uniform"}, default="quantile"
        ``"quantile"`` gives groups of equal size (deciles of risk for Hosmer-Lemeshow).
    pos_label : scalar, default=None

    Returns
    -------
    CalibrationResult
    """
    y01, _ = binary_target(y_true, pos_label=pos_label, name="y_true")
    p = positive_scores(y_prob, y01.shape[0], name="y_prob", probabilities=True)
    if int(n_bins) < 2:
        raise ValueError(f"n_bins must be >= 2; got {n_bins}.")
    idx, edges = _bins(p, int(n_bins), strategy)
    rows = []
    hl = 0.0
    for b in range(edges.size - 1):
        sel = idx == b
        n_b = int(sel.sum())
        if n_b == 0:
            continue
        e = float(p[sel].sum())
        o = float(y01[sel].sum())
        rows.append((p[sel].mean(), o / n_b, n_b, edges[b], edges[b + 1]))
        denom = e * (1 - e / n_b)
        if denom > 0:
            hl += (o - e) ** 2 / denom
    curve = pd.DataFrame(rows, columns=["mean_predicted", "observed", "count", "low", "high"])
    hl_df = max(len(rows) - 2, 1)
    lp = logit(np.clip(p, _EPS, 1 - _EPS))
    ones = np.ones((p.size, 1))
    citl = sm.GLM(y01, ones, family=sm.families.Binomial(), offset=lp).fit()
    slope = calibration_slope(y01, p)
    brier = float(np.mean((p - y01) ** 2))
    return CalibrationResult(
        curve,
        float(citl.params[0]),
        slope,
        brier,
        float(hl),
        int(hl_df),
        float(stats.chi2.sf(hl, hl_df)),
    )
