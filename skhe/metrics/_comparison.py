"""Likelihood-ratio test between nested logistic models."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from skhe.utils import outcome_fingerprint


@dataclass(frozen=True)
class LRTResult:
    """Likelihood-ratio test of a restricted model against a fuller model (and their AICs)."""

    statistic: float
    df: int
    p_value: float
    aic_restricted: float
    aic_full: float

    def to_dict(self) -> dict:
        """Fields as a plain dict."""
        return asdict(self)


def _describe(model, label: str):
    """(llf, aic, parameter names, nobs, fingerprint) of a fitted model."""
    if hasattr(model, "llf_") and hasattr(model, "selected_features_"):
        names = {"const", *map(str, model.selected_features_)}
        return model.llf_, model.aic_, names, model.n_obs_, model.train_fingerprint_
    if hasattr(model, "steps"):  # a fitted Pipeline ending in the selector
        return _describe(model.steps[-1][1], label)
    if hasattr(model, "llf") and hasattr(model, "params"):
        names = {str(n) for n in getattr(model.params, "index", range(len(model.params)))}
        endog = getattr(getattr(model, "model", None), "endog", None)
        fp = None
        if endog is not None and np.size(endog) == model.nobs:
            fp = outcome_fingerprint(endog)
        return float(model.llf), float(model.aic), names, int(model.nobs), fp
    raise TypeError(
        f"{label} must be a fitted ForwardSelectingLogisticRegression (or a Pipeline ending in "
        f"one) or a statsmodels result; got {type(model).__name__}."
    )


def likelihood_ratio_test(restricted, full) -> LRTResult:
    """Likelihood-ratio test of nested logistic models fitted on the same rows.

    Parameters
    ----------
    restricted, full : fitted ForwardSelectingLogisticRegression, Pipeline, or statsmodels result
        ``restricted``'s parameters must be a subset of ``full``'s (e.g. Clinical-to-HE inside
        Integrated-to-HE).

    Returns
    -------
    LRTResult
        ``statistic = 2 (llf_full - llf_restricted)``, chi-squared with ``df`` = difference in the
        number of parameters, its ``p_value``, and both AICs.

    Raises
    ------
    ValueError
        When the models were fit on different rows (different number of observations or outcome
        vector) or are not nested.
    """
    llf_r, aic_r, names_r, n_r, fp_r = _describe(restricted, "restricted")
    llf_f, aic_f, names_f, n_f, fp_f = _describe(full, "full")
    if n_r != n_f or (fp_r is not None and fp_f is not None and fp_r != fp_f):
        raise ValueError(
            f"The models were not fit on the same rows (n={n_r} vs n={n_f}, or different "
            "outcomes); a likelihood-ratio test needs both fit on identical data."
        )
    if not names_r < names_f:
        extra = sorted(names_r - names_f)
        raise ValueError(
            "The models are not nested: the restricted model must have a strict subset of the full "
            f"model's parameters (only in restricted: {extra or 'none'}; "
            f"same parameter set: {names_r == names_f})."
        )
    df = len(names_f) - len(names_r)
    stat = max(0.0, 2.0 * (llf_f - llf_r))
    return LRTResult(float(stat), int(df), float(stats.chi2.sf(stat, df)), aic_r, aic_f)
