"""The nDL formula as pure functions: pooling a patient's slice scores, and standardising.

For one patient with slices :math:`k`, segmented hematoma areas :math:`a_k` (mm^2, 0 on slices
the classifier did not select) and DL scores :math:`s_k` (the HE model's probability):

.. math:: \\bar p = \\sum_k a_k s_k / \\sum_k a_k

and the **nDL score** is its log-odds standardised on the training patients:

.. math:: \\mathrm{nDL} = (\\mathrm{logit}(\\bar p) - \\mu_{train}) / \\sigma_{train}

so a logistic regression reports an odds ratio per SD of nDL.
:class:`~skhe.neural.NDLScorer` applies these to the networks' outputs.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logit

#: Pooled scores are clipped to [EPS, 1 - EPS] before the log-odds (no infinite nDL).
EPS = 1e-4


def pool_slice_scores(weights, dl_scores) -> float | None:
    """Area-weighted mean DL score :math:`\\bar p` of one patient, or None without weight.

    Parameters
    ----------
    weights : array-like of shape (n_slices,)
        The segmented area of each selected slice (mm^2), 0 on the others.
    dl_scores : array-like of shape (n_slices,)
        The HE model's probability per slice (NaN allowed where the weight is 0).

    Returns
    -------
    float or None
        None when no slice has weight (no selected slice, or no segmented area): the caller
        decides the fallback (NDLScorer: the mean DL score of all slices, with a warning).
    """
    w = np.asarray(weights, dtype=float)
    if not w.sum() > 0:
        return None
    s = np.asarray(dl_scores, dtype=float)
    used = w > 0
    return float(np.sum(w[used] * s[used]) / w[used].sum())


def log_odds(pooled) -> np.ndarray:
    """``logit(p̄)``, with p̄ clipped to [EPS, 1 - EPS]."""
    return logit(np.clip(np.asarray(pooled, dtype=float), EPS, 1 - EPS))


def ndl_normalization(pooled_train) -> tuple[float, float]:
    """Mean and SD (ddof=1) of the training patients' log-odds; SD 1 when it is 0 or undefined."""
    lo = log_odds(pooled_train)
    sd = float(lo.std(ddof=1)) if lo.size > 1 else 0.0
    return float(lo.mean()), sd if sd > 0 else 1.0


def ndl_from_pooled(pooled, center: float, scale: float, *, normalize: bool = True) -> np.ndarray:
    """nDL scores of pooled scores ``pooled`` (``normalize=False``: the log-odds)."""
    lo = log_odds(pooled)
    return (lo - center) / scale if normalize else lo
