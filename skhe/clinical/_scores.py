"""GCS grouping, the HE labelling rule and bedside hematoma volume formulas (pure functions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

GCS_LEVELS = ("mild", "moderate", "severe")


def _where(values) -> str:
    if isinstance(values, pd.Series):
        return "index " + ", ".join(map(str, values.index[:5]))
    return "position " + ", ".join(map(str, np.flatnonzero(values)[:5]))


def gcs_group(scores) -> pd.Categorical | pd.Series:
    """Group Glasgow Coma Scale scores: >= 13 mild, 9-12 moderate, <= 8 severe.

    Parameters
    ----------
    scores : array-like or Series of int in [3, 15]
        Missing values stay missing.

    Returns
    -------
    Categorical (or Series, for a Series input, keeping its index)
        Ordered categories ``["mild", "moderate", "severe"]``; "mild" is the reference level.

    Raises
    ------
    ValueError
        For scores outside 3-15 or not whole numbers.
    """
    s = pd.to_numeric(pd.Series(scores) if not isinstance(scores, pd.Series) else scores)
    bad = s.notna() & ((s < 3) | (s > 15) | (s != np.round(s)))
    if bad.any():
        raise ValueError(
            f"GCS scores must be whole numbers from 3 to 15; got {s[bad].tolist()[:5]} at "
            f"{_where(s[bad]) if isinstance(scores, pd.Series) else _where(bad.to_numpy())}."
        )
    codes = np.select([s >= 13, s >= 9, s >= 3], [0, 1, 2], default=-1)
    codes = np.where(s.isna(), -1, codes)
    cat = pd.Categorical.from_codes(codes, categories=list(GCS_LEVELS), ordered=True)
    if isinstance(scores, pd.Series):
        return pd.Series(cat, index=scores.index, name=scores.name or "gcs_group")
    return cat


def he_label(
    baseline_ml,
    followup_ml,
    *,
    absolute_ml: float = 6.0,
    relative: float = 0.33,
    inclusive: bool = True,
):
    """Hematoma expansion: absolute growth >= ``absolute_ml`` or relative growth >= ``relative``.

    The paper's rule is ">= 6 mL or >= 33%". Published definitions differ (6 vs 12.5 mL,
    33% vs 26%, >= vs >): all are configurable.

    Parameters
    ----------
    baseline_ml, followup_ml : array-like of float
        Hematoma volumes in mL on the baseline and follow-up CT; the baseline must be > 0.
    absolute_ml : float, default=6.0
    relative : float, default=0.33
        Relative growth as a fraction of the baseline volume.
    inclusive : bool, default=True
        ``>=`` when True, ``>`` when False.

    Returns
    -------
    ndarray of int (or Series for Series input)
        1 for expansion, 0 otherwise.
    """
    b = np.asarray(baseline_ml, dtype=float)
    f = np.asarray(followup_ml, dtype=float)
    if b.shape != f.shape:
        raise ValueError(f"baseline_ml {b.shape} and followup_ml {f.shape} differ in shape.")
    for name, v in (("baseline_ml", b), ("followup_ml", f)):
        if not np.isfinite(v).all():
            raise ValueError(
                f"{name} has missing or non-finite values at {_where(~np.isfinite(v))}."
            )
        if (v < 0).any():
            raise ValueError(f"{name} has negative volumes at {_where(v < 0)}.")
    if (b <= 0).any():
        raise ValueError(
            f"baseline_ml must be > 0 (relative growth is undefined) at {_where(b <= 0)}."
        )
    growth = f - b
    ge = np.greater_equal if inclusive else np.greater
    out = (ge(growth, absolute_ml) | ge(growth / b, relative)).astype(int)
    if isinstance(baseline_ml, pd.Series):
        return pd.Series(out, index=baseline_ml.index, name="he")
    return out


def ellipsoid_volume(d1, d2, d3):
    """Ellipsoid volume ``0.523 * D1 * D2 * D3`` (the paper's formula; pi/6 ~ 0.523).

    Diameters in cm give mL.
    """
    return 0.523 * np.asarray(d1, float) * np.asarray(d2, float) * np.asarray(d3, float)


def abc2_volume(a, b, c):
    """ABC/2 volume (Kothari et al. 1996): ``A * B * C / 2``; cm give mL."""
    return np.asarray(a, float) * np.asarray(b, float) * np.asarray(c, float) / 2.0
