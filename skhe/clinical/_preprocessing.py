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


class _ColumnGuard(TransformerMixin, BaseEstimator):
    """Pass-through that checks columns and names the offending one in every error."""

    def __init__(self, kind="numeric", categories=None, allow_missing=False):
        self.kind = kind
        self.categories = categories
        self.allow_missing = allow_missing

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
        out = X.copy()
        for col in X.columns:
            s = X[col]
            if self.kind == "numeric":
                num = pd.to_numeric(s, errors="coerce")
                bad = num.isna() & s.notna()
                if bad.any():
                    raise ValueError(
                        f"column {col!r} must be numeric; got {s[bad].astype(str).unique()[:3]}."
                    )
                if np.isinf(num.to_numpy(dtype=float)).any():
                    raise ValueError(f"column {col!r} contains inf values.")
                out[col] = num.astype(float)
            else:
                allowed = self.categories[col]
                vals = s.astype(object)
                unknown = sorted({str(v) for v in vals[vals.notna()] if v not in allowed})
                if unknown:
                    raise ValueError(
                        f"column {col!r} has unknown categories {unknown}; expected one of "
                        f"{list(allowed)}."
                    )
                out[col] = vals
            n_missing = int(s.isna().sum())
            if n_missing and not self.allow_missing:
                raise ValueError(
                    f"column {col!r} has {n_missing} missing values; pass impute='median' to "
                    "make_clinical_preprocessor or handle them explicitly (rows are never dropped)."
                )
        return out

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        return self.feature_names_in_


def make_clinical_preprocessor(
    numeric: Sequence[str] | None = None,
    categorical: Mapping[str, tuple[Sequence, object]] | None = None,
    *,
    impute: str | None = None,
    exclude: Sequence[str] = (),
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
    impute : {None, "median", "mean"}, default=None
        None raises on any missing value (naming the column); otherwise numeric columns are
        imputed with the training median/mean and categorical columns with the most frequent
        level. Rows are never dropped.
    exclude : sequence of str, default=()
        Columns to leave out (e.g. ``"baseline_volume"`` when the nDL score is in the model).

    Returns
    -------
    ColumnTransformer
        With ``set_output(transform="pandas")`` and plain (non-prefixed) output names.
    """
    if impute not in (None, "median", "mean"):
        raise ValueError(f"impute must be None, 'median' or 'mean'; got {impute!r}.")
    numeric = [c for c in (PAPER_NUMERIC if numeric is None else numeric) if c not in exclude]
    categorical = {
        k: v
        for k, v in (PAPER_CATEGORICAL if categorical is None else categorical).items()
        if k not in exclude
    }
    transformers = []
    if numeric:
        steps = [("check", _ColumnGuard("numeric", allow_missing=impute is not None))]
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
