"""The clinical ColumnTransformer: validation, optional imputation, one-hot with references."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.validation import check_is_fitted

#: Numeric candidates of the paper (antiplatelet use is coded 0/1).
PAPER_NUMERIC = (
    "age",
    "sbp",
    "dbp",
    "fibrinogen",
    "inr",
    "platelet",
    "antiplatelet",
    "time_to_ct",
    "aptt",
    "baseline_volume",
)
#: Categorical candidates: column -> (levels, reference level).
PAPER_CATEGORICAL = {
    "sex": (("female", "male"), "female"),
    "gcs_group": (("mild", "moderate", "severe"), "mild"),
}


def level_name(feature: str, category) -> str:
    """Output name of a one-hot column: ``<variable>__<level>`` (what grouping expects)."""
    return f"{feature}__{category}"


#: Physiologically possible values of the paper's numeric variables (units as in
#: :func:`skhe.datasets.make_clinical_cohort`): a value outside is an error naming the row, since
#: it is a data-entry or unit error, not a patient. Pass ``ranges=`` to change them.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "age": (0.0, 120.0),  # years
    "sbp": (20.0, 350.0),  # mmHg
    "dbp": (5.0, 250.0),  # mmHg
    "fibrinogen": (0.0, 20.0),  # g/L
    "inr": (0.3, 25.0),
    "platelet": (0.0, 2000.0),  # 10^9/L
    "antiplatelet": (0.0, 1.0),  # 0/1
    "time_to_ct": (0.0, 24.0 * 30),  # hours
    "aptt": (5.0, 300.0),  # s
    "baseline_volume": (0.0, 500.0),  # mL
}


def _rows(labels, mask) -> str:
    shown = [str(v) for v in labels[mask][:5]]
    more = f" and {int(mask.sum()) - 5} more" if mask.sum() > 5 else ""
    return ", ".join(shown) + more


def check_clinical_values(
    X: pd.DataFrame,
    numeric: Sequence[str] = (),
    categorical: Mapping[str, Sequence] | None = None,
    *,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    allow_missing: bool = False,
    row_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Check clinical columns and return them converted (numeric columns as float).

    Every problem is a :class:`~skhe.exceptions.DataError` (a ValueError) naming the column and
    the rows: a value that is not a number, inf, a value outside its plausible range, an unknown
    category, a column missing for every patient, missing values when ``allow_missing`` is False.

    Parameters
    ----------
    X : DataFrame
    numeric : sequence of str
        Numeric columns of ``X`` to check.
    categorical : dict, optional
        Column -> allowed levels.
    ranges : dict, optional
        Column -> (low, high) plausible range (inclusive); default :data:`PLAUSIBLE_RANGES`.
        Pass ``{}`` to check no range.
    allow_missing : bool, default=False
        Whether missing values are allowed (they are imputed later).
    row_names : sequence of str, optional
        How to name each row in messages (e.g. "line 5 (patient P004)"); default "row <index>".

    Returns
    -------
    DataFrame
        A copy of ``X`` with the numeric columns as float.
    """
    from skhe.exceptions import DataError

    if not isinstance(X, pd.DataFrame):
        raise TypeError("clinical preprocessing needs a pandas DataFrame with named columns.")
    ranges = PLAUSIBLE_RANGES if ranges is None else ranges
    labels = np.asarray(
        [f"row {i}" for i in X.index] if row_names is None else list(row_names), dtype=object
    )
    out = X.copy()
    categorical = categorical or {}
    for col in [*numeric, *categorical]:
        if col not in X.columns:
            continue
        s = X[col]
        n_missing = int(s.isna().sum())
        if len(s) and n_missing == len(s):
            raise DataError(
                f"column {col!r} is missing for every patient ({len(s)} of {len(s)}); supply its "
                "values or leave it out of the candidate variables (exclude=[...])."
            )
        if col in categorical:
            allowed = categorical[col]
            vals = s.astype(object)
            bad = (vals.notna() & ~vals.isin(list(allowed))).to_numpy()
            if bad.any():
                unknown = sorted({str(v) for v in vals[bad]})
                raise DataError(
                    f"column {col!r} has unknown categories {unknown} ({_rows(labels, bad)}); "
                    f"expected one of {list(allowed)}."
                )
            out[col] = vals
        else:
            num = pd.to_numeric(s, errors="coerce")
            bad = (num.isna() & s.notna()).to_numpy()
            if bad.any():
                first = s[bad].iloc[0]
                raise DataError(
                    f"column {col!r} must be numeric; {_rows(labels, bad)}: {first!r} is not a "
                    "number."
                )
            values = num.to_numpy(dtype=float)
            inf = np.isinf(values)
            if inf.any():
                raise DataError(f"column {col!r} contains inf ({_rows(labels, inf)}).")
            if col in ranges and ranges[col] is not None:
                lo, hi = ranges[col]
                outside = (values < lo) | (values > hi)
                if outside.any():
                    first = values[outside][0]
                    raise DataError(
                        f"column {col!r}: {int(outside.sum())} value(s) outside the plausible "
                        f"range [{lo:g}, {hi:g}] ({_rows(labels, outside)}: {first:g}); a "
                        "data-entry or unit error? Fix the data, or pass ranges= (e.g. "
                        f"{{**PLAUSIBLE_RANGES, {col!r}: (low, high)}}) to accept them."
                    )
            out[col] = values
        if n_missing and not allow_missing:
            miss = s.isna().to_numpy()
            raise DataError(
                f"column {col!r} has {n_missing} missing values ({_rows(labels, miss)}); pass "
                "impute='median' to make_clinical_preprocessor or handle them explicitly (rows "
                "are never dropped)."
            )
    return out


class _ColumnGuard(TransformerMixin, BaseEstimator):
    """Pass-through that checks columns and names the offending one in every error."""

    def __init__(self, kind="numeric", categories=None, allow_missing=False, ranges=None):
        self.kind = kind
        self.categories = categories
        self.allow_missing = allow_missing
        self.ranges = ranges

    def fit(self, X, y=None):
        self._check(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self)
        return self._check(X)

    def _check(self, X):
        if not isinstance(X, pd.DataFrame):
            raise TypeError("clinical preprocessing needs a pandas DataFrame with named columns.")
        if self.kind == "numeric":
            return check_clinical_values(
                X, list(X.columns), ranges=self.ranges, allow_missing=self.allow_missing
            )
        cats = {c: self.categories[c] for c in X.columns}
        return check_clinical_values(X, (), cats, allow_missing=self.allow_missing)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        return self.feature_names_in_


def clinical_candidates(
    numeric: Sequence[str] | None = None,
    categorical: Mapping[str, tuple[Sequence, object]] | None = None,
    exclude: Sequence[str] = (),
) -> tuple[list[str], dict]:
    """The candidate clinical variables: numeric columns and categorical column -> (levels,
    reference), the paper's by default (:data:`PAPER_NUMERIC`, :data:`PAPER_CATEGORICAL`),
    less ``exclude``. One definition for the preprocessor, the pipelines and the command line."""
    num = [c for c in (PAPER_NUMERIC if numeric is None else numeric) if c not in exclude]
    cats = PAPER_CATEGORICAL if categorical is None else categorical
    return num, {k: v for k, v in cats.items() if k not in exclude}


def make_clinical_preprocessor(
    numeric: Sequence[str] | None = None,
    categorical: Mapping[str, tuple[Sequence, object]] | None = None,
    *,
    impute: str | None = "median",
    exclude: Sequence[str] = (),
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> ColumnTransformer:
    """ColumnTransformer for the paper's clinical variables.

    Parameters
    ----------
    numeric : sequence of str, default=None
        Numeric columns passed through (after checks); default :data:`PAPER_NUMERIC`.
    categorical : dict, default=None
        Column -> (levels, reference level); one-hot encoded with the reference dropped, output
        columns named ``<variable>__<level>``. Default :data:`PAPER_CATEGORICAL` (sex with
        reference "female"; GCS group with reference "mild").
    impute : {"median", "mean", None}, default="median"
        Numeric columns are imputed with the training median/mean and categorical columns with
        the most frequent level (the same default as the HE pipelines); None raises on any
        missing value instead (naming the column). Rows are never dropped.
    exclude : sequence of str, default=()
        Columns to leave out (e.g. ``"baseline_volume"`` when the nDL score is in the model).
    ranges : dict, default=None
        Column -> (low, high) plausible values; a value outside is an error naming the row.
        Default :data:`PLAUSIBLE_RANGES`; ``{}`` checks none. A column missing for every patient
        is always an error (imputation would silently drop it).

    Returns
    -------
    ColumnTransformer
        With ``set_output(transform="pandas")`` and plain (non-prefixed) output names.
    """
    if impute not in (None, "median", "mean"):
        raise ValueError(f"impute must be None, 'median' or 'mean'; got {impute!r}.")
    numeric, categorical = clinical_candidates(numeric, categorical, exclude)
    transformers = []
    if numeric:
        guard = _ColumnGuard("numeric", allow_missing=impute is not None, ranges=ranges)
        steps = [("check", guard)]
        if impute is not None:
            steps.append(("impute", SimpleImputer(strategy=impute)))
        transformers.append(("numeric", Pipeline(steps), list(numeric)))
    if categorical:
        cats = {k: tuple(v[0]) for k, v in categorical.items()}
        for k, (levels, ref) in categorical.items():
            if ref not in levels:
                raise ValueError(f"reference {ref!r} of {k!r} is not one of its levels {levels}.")
        steps = [("check", _ColumnGuard("categorical", cats, allow_missing=impute is not None))]
        if impute is not None:
            steps.append(("impute", SimpleImputer(strategy="most_frequent")))
        steps.append(
            (
                "onehot",
                OneHotEncoder(
                    categories=[list(v[0]) for v in categorical.values()],
                    drop=[v[1] for v in categorical.values()],
                    sparse_output=False,
                    handle_unknown="error",
                    feature_name_combiner=level_name,
                    dtype=float,
                ),
            )
        )
        transformers.append(("categorical", Pipeline(steps), list(categorical)))
    ct = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return ct.set_output(transform="pandas")
