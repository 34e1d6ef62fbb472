"""Confidence intervals for a binomial proportion."""

from __future__ import annotations

import numpy as np
from scipy import stats

_METHODS = ("wilson", "wald", "agresti-coull", "clopper-pearson")


def proportion_ci(
    count: int, nobs: int, *, alpha: float = 0.05, method: str = "wilson"
) -> tuple[float, float]:
    """Confidence interval for a binomial proportion ``count / nobs``.

    Parameters
    ----------
    count : int
        Number of successes, ``0 <= count <= nobs``.
    nobs : int
        Number of trials, ``> 0``.
    alpha : float, default=0.05
        Significance level: the interval has coverage ``1 - alpha``.
    method : {"wilson", "wald", "agresti-coull", "clopper-pearson"}, default="wilson"
        ``"wilson"`` is the Wilson score interval (Wilson 1927; Newcombe 1998, method 3), the
        one the paper reports for accuracy, sensitivity and specificity.
        ``"clopper-pearson"`` is the exact interval.

    Returns
    -------
    (low, high) : tuple of float
        Interval bounds as fractions in ``[0, 1]``.

    Examples
    --------
    >>> low, high = proportion_ci(81, 263)
    >>> round(low, 4), round(high, 4)
    (0.2553, 0.3662)
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}.")
    if int(nobs) != nobs or nobs <= 0:
        raise ValueError(f"nobs must be a positive integer; got {nobs}.")
    if int(count) != count or not 0 <= count <= nobs:
        raise ValueError(f"count must be an integer in [0, nobs={nobs}]; got {count}.")
    n = float(nobs)
    p = count / n
    z = stats.norm.isf(alpha / 2)
    if method == "wilson":
        denom = 1 + z**2 / n
        center = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        low, high = center - half, center + half
    elif method == "wald":
        half = z * np.sqrt(p * (1 - p) / n)
        low, high = p - half, p + half
    elif method == "agresti-coull":
        n_t = n + z**2
        p_t = (count + z**2 / 2) / n_t
        half = z * np.sqrt(p_t * (1 - p_t) / n_t)
        low, high = p_t - half, p_t + half
    else:  # clopper-pearson
        low = stats.beta.ppf(alpha / 2, count, nobs - count + 1) if count > 0 else 0.0
        high = stats.beta.isf(alpha / 2, count + 1, nobs - count) if count < nobs else 1.0
    return float(max(0.0, low)), float(min(1.0, high))
