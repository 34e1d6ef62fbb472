"""Decision-curve analysis (Vickers & Elkin 2006)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from skhe.utils import binary_target, positive_scores


def net_benefit(y_true, y_prob, thresholds=None, *, pos_label=None) -> pd.DataFrame:
    """Net benefit of the model, treat-all and treat-none across threshold probabilities.

    ``net benefit = TP/N - FP/N * pt / (1 - pt)`` where a patient is treated when
    ``y_prob >= pt``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_prob : array-like of shape (n_samples,) or (n_samples, 2)
    thresholds : array-like of float in (0, 1), default=None
        Threshold probabilities ``pt``; default 0.01, 0.02, ..., 0.99.
    pos_label : scalar, default=None

    Returns
    -------
    DataFrame
        Columns ``threshold``, ``model``, ``treat_all``, ``treat_none`` (always 0).
    """
    y01, _ = binary_target(y_true, pos_label=pos_label, name="y_true")
    p = positive_scores(y_prob, y01.shape[0], name="y_prob")
    pt = np.arange(1, 100) / 100 if thresholds is None else np.asarray(thresholds, dtype=float)
    if pt.ndim != 1 or np.any((pt <= 0) | (pt >= 1)):
        raise ValueError("thresholds must be a 1-d array of probabilities strictly in (0, 1).")
    n = y01.size
    treated = p[None, :] >= pt[:, None]
    tp = (treated & (y01 == 1)).sum(axis=1)
    fp = (treated & (y01 == 0)).sum(axis=1)
    odds = pt / (1 - pt)
    prev = y01.mean()
    return pd.DataFrame(
        {
            "threshold": pt,
            "model": tp / n - fp / n * odds,
            "treat_all": prev - (1 - prev) * odds,
            "treat_none": np.zeros_like(pt),
        }
    )
