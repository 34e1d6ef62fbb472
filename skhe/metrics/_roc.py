"""ROC AUC with confidence intervals, and the paired DeLong test.

DeLong's variance is computed with the O(n log n) algorithm of Sun & Xu (2014), "Fast
implementation of DeLong's algorithm for comparing the areas under correlated receiver operating
characteristic curves", IEEE Signal Processing Letters 21(11): midranks replace the O(n^2) pairwise
comparison of positives and negatives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from skhe.utils import binary_target, positive_scores


@dataclass(frozen=True)
class AUCResult:
    """Area under the ROC curve with its confidence interval."""

    auc: float
    ci_low: float
    ci_high: float
    se: float
    method: str = "delong"

    def to_dict(self) -> dict:
        """Fields as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class DeLongTestResult:
    """Paired, two-sided DeLong test of two AUCs on the same samples."""

    auc_a: float
    auc_b: float
    difference: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float

    def to_dict(self) -> dict:
        """Fields as a plain dict."""
        return asdict(self)


def _check_scores(y_score, n: int, name: str) -> np.ndarray:
    return positive_scores(y_score, n, name=name)


def _delong_components(y01: np.ndarray, scores: np.ndarray):
    """AUCs and DeLong structural components for ``k`` score vectors.

    Parameters
    ----------
    y01 : ndarray of shape (n,)
    scores : ndarray of shape (k, n)

    Returns
    -------
    aucs : ndarray of shape (k,)
    v10 : ndarray of shape (k, m)   -- per positive sample
    v01 : ndarray of shape (k, n_neg) -- per negative sample
    """
    pos = scores[:, y01 == 1]
    neg = scores[:, y01 == 0]
    m, n = pos.shape[1], neg.shape[1]
    tx = stats.rankdata(pos, axis=1)
    ty = stats.rankdata(neg, axis=1)
    tz = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = tz[:, :m].sum(axis=1) / (m * n) - (m + 1.0) / (2.0 * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return aucs, v10, v01


def _delong_cov(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((v10.shape[0],) * 2)
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((v01.shape[0],) * 2)
    return s10 / m + s01 / n


def roc_auc_ci(
    y_true,
    y_score,
    *,
    alpha: float = 0.05,
    method: str = "delong",
    pos_label=None,
    n_bootstraps: int = 2000,
    random_state=None,
) -> AUCResult:
    """ROC AUC with a ``1 - alpha`` confidence interval.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary outcome.
    y_score : array-like of shape (n_samples,) or (n_samples, 2)
        Higher means more likely positive.
    alpha : float, default=0.05
    method : {"delong", "hanley-mcneil", "bootstrap"}, default="delong"
        ``"delong"``: DeLong et al. (1988) variance (fast algorithm), normal interval clipped to
        [0, 1], as pROC's ``ci.auc``. ``"hanley-mcneil"``: Hanley & McNeil (1982) exponential
        approximation. ``"bootstrap"``: stratified percentile bootstrap.
    pos_label : scalar, default=None
        Positive class; default the larger label.
    n_bootstraps : int, default=2000
        Bootstrap replicates (``method="bootstrap"`` only).
    random_state : int, Generator or None
        Seed for the bootstrap.

    Returns
    -------
    AUCResult
        Fields ``auc``, ``ci_low``, ``ci_high``, ``se``, ``method``.
    """
    y01, _ = binary_target(y_true, pos_label=pos_label, name="y_true")
    s = _check_scores(y_score, y01.shape[0], "y_score")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}.")
    z = stats.norm.isf(alpha / 2)
    aucs, v10, v01 = _delong_components(y01, s[None, :])
    auc = float(aucs[0])
    if method == "delong":
        se = float(np.sqrt(max(_delong_cov(v10, v01)[0, 0], 0.0)))
        low, high = auc - z * se, auc + z * se
    elif method == "hanley-mcneil":
        n_pos, n_neg = int(y01.sum()), int((1 - y01).sum())
        q1 = auc / (2 - auc)
        q2 = 2 * auc**2 / (1 + auc)
        var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (
            n_pos * n_neg
        )
        se = float(np.sqrt(max(var, 0.0)))
        low, high = auc - z * se, auc + z * se
    elif method == "bootstrap":
        rng = np.random.default_rng(random_state)
        pos_idx, neg_idx = np.flatnonzero(y01 == 1), np.flatnonzero(y01 == 0)
        boots = np.empty(n_bootstraps)
        chunk = max(1, min(n_bootstraps, 2_000_000 // max(1, s.size)))
        for start in range(0, n_bootstraps, chunk):
            k = min(chunk, n_bootstraps - start)
            idx = np.concatenate(
                [
                    rng.choice(pos_idx, size=(k, pos_idx.size)),
                    rng.choice(neg_idx, size=(k, neg_idx.size)),
                ],
                axis=1,
            )
            yb = np.concatenate([np.ones(pos_idx.size, int), np.zeros(neg_idx.size, int)])
            boots[start : start + k] = _delong_components(yb, s[idx])[0]
        se = float(boots.std(ddof=1))
        low, high = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    else:
        raise ValueError(
            f"method must be 'delong', 'hanley-mcneil' or 'bootstrap'; got {method!r}."
        )
    return AUCResult(auc, float(max(0.0, low)), float(min(1.0, high)), se, method)


def delong_test(
    y_true, score_a, score_b, *, alpha: float = 0.05, pos_label=None
) -> DeLongTestResult:
    """Paired two-sided DeLong test comparing the AUCs of two scores on the same samples.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    score_a, score_b : array-like of shape (n_samples,)
        Two scores for the same samples (e.g. two models' predicted probabilities).
    alpha : float, default=0.05
        For the confidence interval of the difference ``auc_a - auc_b``.
    pos_label : scalar, default=None

    Returns
    -------
    DeLongTestResult
        ``auc_a``, ``auc_b``, ``difference`` (a - b), its CI, the z ``statistic`` and
        ``p_value``. Identical scores give ``statistic=0`` and ``p_value=1``.
    """
    y01, _ = binary_target(y_true, pos_label=pos_label, name="y_true")
    a = _check_scores(score_a, y01.shape[0], "score_a")
    b = _check_scores(score_b, y01.shape[0], "score_b")
    aucs, v10, v01 = _delong_components(y01, np.vstack([a, b]))
    cov = _delong_cov(v10, v01)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = float(aucs[0] - aucs[1])
    z = stats.norm.isf(alpha / 2)
    if var <= 1e-15 * max(1.0, cov[0, 0] + cov[1, 1]):
        stat, p, se = 0.0 if diff == 0 else np.sign(diff) * np.inf, 1.0 if diff == 0 else 0.0, 0.0
    else:
        se = float(np.sqrt(var))
        stat = diff / se
        p = float(2 * stats.norm.sf(abs(stat)))
    return DeLongTestResult(
        float(aucs[0]), float(aucs[1]), diff, diff - z * se, diff + z * se, float(stat), float(p)
    )
