"""The paper's Table 1: cohort characteristics and univariable logistic regression."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from skhe.linear_model import design, fit_logit, lr_p
from skhe.utils import binary_target, user_stacklevel

_COLUMNS = [
    "n_neg",
    "n_pos",
    "summary_neg",
    "summary_pos",
    "missing",
    "odds_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "p_overall",
]


def _reference(series: pd.Series, given) -> tuple[object, list]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        levels = [lv for lv in series.cat.categories if (series == lv).any()]
    else:
        levels = sorted(series.dropna().unique().tolist(), key=str)
    ref = given if given is not None else (levels[0] if levels else None)
    if ref is not None and ref not in levels:
        raise ValueError(f"reference level {ref!r} of column {series.name!r} is not observed.")
    return ref, levels


def univariable_analysis(
    df: pd.DataFrame,
    outcome: str,
    *,
    categorical: Sequence[str] | Mapping[str, object] | None = None,
    columns: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Cohort characteristics by outcome group with univariable logistic odds ratios (Table 1).

    Parameters
    ----------
    df : DataFrame
        One row per patient.
    outcome : str
        Binary outcome column (e.g. ``"he"``); positive = the larger label.
    categorical : list of str or dict, default=None
        Categorical columns; a dict maps each to its reference level. Non-numeric columns are
        categorical anyway (reference: the first category of an ordered categorical, else the
        first level in sort order).
    columns : list of str, default=None
        Variables to analyse; default every column but the outcome.
    alpha : float, default=0.05
        Level of the Wald confidence intervals.

    Returns
    -------
    DataFrame
        Indexed by (``variable``, ``level``); ``level`` is ``""`` for a numeric variable and each
        non-reference level for a categorical one. Columns: ``n_neg``/``n_pos`` (non-missing
        counts, or counts at the level), ``summary_neg``/``summary_pos`` ("mean ± SD" or
        "n (%)"), ``missing``, the univariable ``odds_ratio`` with ``ci_low``/``ci_high`` and Wald
        ``p_value``, and ``p_overall`` (likelihood-ratio test of the whole variable).
        Numeric variables also get ``mean_neg``, ``sd_neg``, ``mean_pos``, ``sd_pos``.
    """
    if outcome not in df.columns:
        raise ValueError(f"outcome column {outcome!r} is not in the table.")
    y_all = df[outcome]
    if y_all.isna().any():
        raise ValueError(
            f"outcome column {outcome!r} has {int(y_all.isna().sum())} missing values."
        )
    y01, _ = binary_target(y_all, name=f"outcome column {outcome!r}")
    cat_ref: dict = {}
    if isinstance(categorical, Mapping):
        cat_ref = dict(categorical)
    elif categorical is not None:
        cat_ref = dict.fromkeys(categorical)
    cols = list(columns) if columns is not None else [c for c in df.columns if c != outcome]
    missing_cols = [c for c in cols if c not in df.columns]
    if missing_cols:
        raise ValueError(f"column(s) {missing_cols} are not in the table.")
    z = stats.norm.isf(alpha / 2)
    rows, index = [], []
    for col in cols:
        s = df[col]
        is_cat = col in cat_ref or not (
            pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
        )
        ok = s.notna().to_numpy()
        n_missing = int((~ok).sum())
        y = y01[ok]
        if is_cat:
            ref, levels = _reference(s, cat_ref.get(col))
            obs = s[ok].astype(object)
            others = [lv for lv in levels if lv != ref]
            X = pd.DataFrame(
                {str(lv): (obs == lv).to_numpy(dtype=float) for lv in others}, index=obs.index
            )
            f = fit_logit(y, design(X, list(X.columns)))
            null = fit_logit(y, design(X, []))
            if not f.ok:
                warnings.warn(
                    f"univariable model of {col!r}: {f.problem}; its odds ratios are NaN.",
                    RuntimeWarning,
                    stacklevel=user_stacklevel(),
                )
            p_overall = lr_p(f.result, null.result)[1] if f.result is not None else np.nan
            for lv in [ref, *others]:
                at = (obs == lv).to_numpy()
                n_neg, n_pos = int(at[y == 0].sum()), int(at[y == 1].sum())
                d_neg, d_pos = max(int((y == 0).sum()), 1), max(int((y == 1).sum()), 1)
                row = {
                    "n_neg": n_neg,
                    "n_pos": n_pos,
                    "summary_neg": f"{n_neg} ({100 * n_neg / d_neg:.1f}%)",
                    "summary_pos": f"{n_pos} ({100 * n_pos / d_pos:.1f}%)",
                    "missing": n_missing,
                }
                if lv == ref:
                    row.update(
                        odds_ratio=1.0,
                        ci_low=np.nan,
                        ci_high=np.nan,
                        p_value=np.nan,
                        p_overall=p_overall,
                    )
                    index.append((col, f"{lv} (ref)"))
                else:
                    row.update(_or_row(f, str(lv), z), p_overall=p_overall)
                    index.append((col, str(lv)))
                rows.append(row)
        else:
            x = pd.to_numeric(s, errors="raise").astype(float)[ok]
            f = fit_logit(y, design(pd.DataFrame({col: x}), [col]))
            if not f.ok:
                warnings.warn(
                    f"univariable model of {col!r}: {f.problem}; its odds ratio is NaN.",
                    RuntimeWarning,
                    stacklevel=user_stacklevel(),
                )
            xn, xp = x[y == 0], x[y == 1]
            row = {
                "n_neg": int(xn.size),
                "n_pos": int(xp.size),
                "mean_neg": xn.mean(),
                "sd_neg": xn.std(ddof=1),
                "mean_pos": xp.mean(),
                "sd_pos": xp.std(ddof=1),
                "summary_neg": f"{xn.mean():.2f} ± {xn.std(ddof=1):.2f}",
                "summary_pos": f"{xp.mean():.2f} ± {xp.std(ddof=1):.2f}",
                "missing": n_missing,
            }
            row.update(_or_row(f, col, z))
            row["p_overall"] = row["p_value"]
            rows.append(row)
            index.append((col, ""))
    out = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["variable", "level"]))
    extra = [c for c in out.columns if c not in _COLUMNS]
    return out[_COLUMNS + extra]


def _or_row(fit, name: str, z: float) -> dict:
    if not fit.ok:
        return dict(odds_ratio=np.nan, ci_low=np.nan, ci_high=np.nan, p_value=np.nan)
    b, se = float(fit.result.params[name]), float(fit.result.bse[name])
    return dict(
        odds_ratio=float(np.exp(b)),
        ci_low=float(np.exp(b - z * se)),
        ci_high=float(np.exp(b + z * se)),
        p_value=float(fit.result.pvalues[name]),
    )
