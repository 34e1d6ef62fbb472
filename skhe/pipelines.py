"""Ready-made HE pipelines: a ColumnTransformer followed by the forward-selecting logistic model.

Clinical-to-HE is available now; Image- and Integrated-to-HE (which add the nDL score branch) share
the same interface: the same patient DataFrame ``X`` and HE label ``y``, usable in
``cross_validate(..., scoring=skhe.metrics.SCORERS)`` and ``GridSearchCV`` over nested parameters
such as ``logistic__p_enter``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.pipeline import Pipeline

from skhe.clinical import make_clinical_preprocessor
from skhe.linear_model import ForwardSelectingLogisticRegression


def make_clinical_to_he(
    *,
    numeric: Sequence[str] | None = None,
    categorical: dict | None = None,
    impute: str | None = "median",
    exclude: Sequence[str] = (),
    screen_p: float | None = 0.05,
    p_enter: float = 0.05,
    p_remove: float | None = None,
) -> Pipeline:
    """Clinical-to-HE: clinical preprocessing + univariable screening + forward selection.

    Parameters
    ----------
    numeric, categorical, exclude
        Candidate variables, see :func:`skhe.clinical.make_clinical_preprocessor` (defaults: the
        paper's variables).
    impute : {"median", "mean", None}, default="median"
        Missing laboratory values are imputed from the training data; None makes any missing value
        an error instead. Rows are never dropped.
    screen_p, p_enter, p_remove
        See :class:`skhe.linear_model.ForwardSelectingLogisticRegression`.

    Returns
    -------
    Pipeline
        Steps ``"preprocess"`` and ``"logistic"``.
    """
    return Pipeline(
        [
            (
                "preprocess",
                make_clinical_preprocessor(numeric, categorical, impute=impute, exclude=exclude),
            ),
            (
                "logistic",
                ForwardSelectingLogisticRegression(
                    screen_p=screen_p, p_enter=p_enter, p_remove=p_remove
                ),
            ),
        ]
    )
