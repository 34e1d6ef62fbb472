"""Plain statsmodels Logit fitting with the failure modes made explicit (no sklearn here)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning as SMConvergenceWarning,
)
from statsmodels.tools.sm_exceptions import (
    PerfectSeparationError,
    PerfectSeparationWarning,
)


@dataclass
class LogitFit:
    """Outcome of one Logit fit: the result (or None) and what went wrong, if anything."""

    result: object | None
    problem: str | None  # None, "separation", "nonconvergence", "singular"

    @property
    def ok(self) -> bool:
        """True when the fit converged with finite estimates and no separation."""
        return self.result is not None and self.problem is None


def fit_logit(y: np.ndarray, exog: pd.DataFrame, *, maxiter: int = 100, weights=None) -> LogitFit:
    """Fit ``Logit(y, exog)`` (exog already holds the constant) and classify failures.

    Never raises for numerical trouble: perfect separation, non-convergence and singular
    information matrices are reported in ``problem``.

    ``weights`` (frequency weights, one per row) fit the same model as a binomial GLM with
    ``freq_weights``: its likelihood, estimates and standard errors are those of the Logit on
    the data with each row repeated ``weight`` times.
    """
    if weights is None:
        model = sm.Logit(y, exog)
        fit_kwargs = {"disp": 0, "method": "newton", "maxiter": maxiter}
    else:
        model = sm.GLM(y, exog, family=sm.families.Binomial(), freq_weights=np.asarray(weights))
        fit_kwargs = {"maxiter": maxiter}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = model.fit(**fit_kwargs)
        except PerfectSeparationError:
            return LogitFit(None, "separation")
        except (np.linalg.LinAlgError, ValueError):
            return LogitFit(None, "singular")
    kinds = {type(w.message) for w in caught if isinstance(w.message, Warning)}
    if PerfectSeparationWarning in kinds:
        return LogitFit(res, "separation")
    params = np.asarray(res.params, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bse = np.asarray(res.bse, dtype=float)
    if not (np.isfinite(params).all() and np.isfinite(bse).all()):
        return LogitFit(res, "singular")
    converged = result_converged(res)
    if SMConvergenceWarning in kinds or not converged:
        return LogitFit(res, "nonconvergence")
    return LogitFit(res, None)


def wald_p(result, column: str) -> float:
    """Two-sided Wald p-value of one coefficient."""
    return float(result.pvalues[column])


def lr_p(full, restricted) -> tuple[float, float, int]:
    """Likelihood-ratio test of two nested fitted Logit results: (statistic, p, df)."""
    df = round(float(full.df_model) - float(restricted.df_model))
    stat = max(0.0, 2.0 * (float(full.llf) - float(restricted.llf)))
    return stat, float(stats.chi2.sf(stat, df)) if df > 0 else 1.0, df


def design(X: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Design matrix with an intercept column named ``const`` followed by ``columns``."""
    out = X[columns].astype(float).copy() if columns else pd.DataFrame(index=X.index)
    out.insert(0, "const", 1.0)
    return out


def result_converged(res) -> bool:
    """Whether a Logit (``mle_retvals``) or GLM (``converged``) fit converged."""
    retvals = getattr(res, "mle_retvals", None)
    if retvals:
        return bool(retvals.get("converged", True))
    return bool(getattr(res, "converged", True))


def result_iterations(res) -> int:
    """Newton (Logit) or IRLS (GLM) iterations of a fit."""
    retvals = getattr(res, "mle_retvals", None)
    if retvals:
        return int(retvals.get("iterations", 1))
    history = getattr(res, "fit_history", None) or {}
    return int(history.get("iteration", 1))


def result_bic(res) -> float:
    """BIC from the log-likelihood (a GLM's ``bic`` is the deviance-based one)."""
    return float(getattr(res, "bic_llf", res.bic))
