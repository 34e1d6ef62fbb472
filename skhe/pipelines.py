"""Ready-made HE pipelines: a ColumnTransformer followed by the forward-selecting logistic model.

Image-, Clinical- and Integrated-to-HE take the same patient DataFrame ``X`` (``ct``, ``mask``,
clinical columns) and HE label ``y``, run under
``cross_validate(..., scoring=skhe.metrics.SCORERS)`` and ``GridSearchCV`` over any nested
parameter (``features__image__classifier__lr``, ``logistic__p_enter``, ...), and expose the
fitted odds ratios at ``pipeline.named_steps["logistic"].odds_ratios_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from skhe.clinical import clinical_candidates, make_clinical_preprocessor
from skhe.linear_model import ForwardSelectingLogisticRegression

if TYPE_CHECKING:  # the image models need torch; a clinical-only user never imports it
    from skhe.neural import NDLScorer

__all__ = [
    "CLINICAL",
    "FEATURES",
    "IMAGE",
    "INPUTS",
    "LOGISTIC",
    "image_columns",
    "make_clinical_to_he",
    "make_image_to_he",
    "make_integrated_to_he",
    "ndl_likelihood_ratio_test",
    "prepare_inputs",
    "with_mask_column",
]

#: Step names of the HE pipelines (``pipeline.named_steps[LOGISTIC]``), and the branch names of
#: the image pipelines' ColumnTransformer (``named_steps[FEATURES].named_transformers_[IMAGE]``).
INPUTS = "inputs"
FEATURES = "features"
LOGISTIC = "logistic"
IMAGE = "image"
CLINICAL = "clinical"


def image_columns(X) -> list[str]:
    """The columns the image branch reads: ``ct``, and ``mask`` and ``patient_id`` when there
    (so NDLScorer's warnings name the patient, not a row of the fold)."""
    return [c for c in ("ct", "mask", "patient_id") if c in X.columns]


def with_mask_column(X):
    """``X`` with an empty ``mask`` column added when it has none (new patients have no mask)."""
    if hasattr(X, "columns") and "mask" not in X.columns:
        X = X.assign(mask=None)
    return X


def prepare_inputs(X, required=(), add_mask: bool = True):
    """The pipelines' first step: the columns a model needs are there (the same error at fit
    and at predict, naming them), and an empty ``mask`` column for new patients."""
    if not hasattr(X, "columns"):
        raise TypeError(
            "the HE pipelines take a patient DataFrame (one row per patient, named columns); "
            f"got {type(X).__name__}."
        )
    missing = [c for c in required if c not in X.columns]
    if missing:
        found = [str(c) for c in X.columns]
        raise ValueError(
            f"missing column(s) {missing} needed by this model; the table has "
            f"{found[:15]}{' ...' if len(found) > 15 else ''} (see docs/user-guide.md, "
            "'Clinical columns')."
        )
    return with_mask_column(X) if add_mask else X


def _inputs_step(required=(), add_mask: bool = True):
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(
        prepare_inputs, kw_args={"required": list(required), "add_mask": add_mask}
    )


def make_clinical_to_he(
    *,
    numeric: Sequence[str] | None = None,
    categorical: dict | None = None,
    impute: str | None = "median",
    exclude: Sequence[str] = (),
    ranges: dict | None = None,
    screen_p: float | None = 0.05,
    p_enter: float = 0.05,
    p_remove: float | None = None,
    threshold: float | str = 0.5,
) -> Pipeline:
    """Clinical-to-HE: clinical preprocessing + univariable screening + forward selection.

    Parameters
    ----------
    numeric, categorical, exclude
        Candidate variables, see :func:`skhe.clinical.make_clinical_preprocessor` (defaults: the
        paper's variables).
    ranges : dict, default=None
        Plausible value ranges (default :data:`skhe.clinical.PLAUSIBLE_RANGES`), see
        :func:`skhe.clinical.make_clinical_preprocessor`.
    impute : {"median", "mean", None}, default="median"
        Missing laboratory values are imputed from the training data; None makes any missing value
        an error instead. Rows are never dropped.
    screen_p, p_enter, p_remove, threshold
        See :class:`skhe.linear_model.ForwardSelectingLogisticRegression` (``threshold``: the
        decision threshold of ``predict``, a probability or ``"youden"``).

    Returns
    -------
    Pipeline
        Steps ``"inputs"`` (checks the columns, with the same message at fit and predict),
        ``"features"`` (the clinical ColumnTransformer) and ``"logistic"``, named as in the image
        pipelines (so ``features__...`` and ``logistic__...`` grid-search all three).
    """
    num, cats = clinical_candidates(numeric, categorical, exclude)
    return Pipeline(
        [
            (INPUTS, _inputs_step([*num, *cats], add_mask=False)),
            (
                FEATURES,
                make_clinical_preprocessor(
                    numeric, categorical, impute=impute, exclude=exclude, ranges=ranges
                ),
            ),
            (
                LOGISTIC,
                ForwardSelectingLogisticRegression(
                    screen_p=screen_p, p_enter=p_enter, p_remove=p_remove, threshold=threshold
                ),
            ),
        ]
    )


def _default_ndl(ndl):
    if ndl is not None:
        return ndl
    from skhe.neural import NDLScorer

    return NDLScorer()


def _image_pipeline(branches: list, logistic, required=("ct",)) -> Pipeline:
    """inputs (columns checked, empty mask column when absent) -> ColumnTransformer(branches)
    -> logistic."""
    features = ColumnTransformer(
        branches, remainder="drop", verbose_feature_names_out=False
    ).set_output(transform="pandas")
    return Pipeline([(INPUTS, _inputs_step(required)), (FEATURES, features), (LOGISTIC, logistic)])


def make_image_to_he(ndl: NDLScorer | None = None, *, threshold: float | str = 0.5) -> Pipeline:
    """Image-to-HE: the nDL score alone in a logistic model (forced in, as in the paper).

    Parameters
    ----------
    ndl : NDLScorer, default=None
        Default ``NDLScorer()`` (the paper's networks at 512 px; pass a configured one).
    threshold : float or "youden", default=0.5
        Decision threshold of ``predict``
        (:class:`~skhe.linear_model.ForwardSelectingLogisticRegression`).

    Returns
    -------
    Pipeline
        Steps ``"inputs"`` (adds an empty ``mask`` column for patients without masks),
        ``"features"`` (ColumnTransformer with the ``"image"`` branch) and ``"logistic"``.
    """
    return _image_pipeline(
        [(IMAGE, _default_ndl(ndl), image_columns)],
        ForwardSelectingLogisticRegression(screen_p=None, force=["ndl_score"], threshold=threshold),
    )


def make_integrated_to_he(
    ndl: NDLScorer | None = None,
    *,
    numeric: Sequence[str] | None = None,
    categorical: dict | None = None,
    impute: str | None = "median",
    exclude: Sequence[str] = ("baseline_volume",),
    ranges: dict | None = None,
    screen_p: float | None = 0.05,
    p_enter: float = 0.05,
    p_remove: float | None = None,
    threshold: float | str = 0.5,
) -> Pipeline:
    """Integrated-to-HE: nDL score (forced in) plus forward-selected clinical variables.

    As in the paper, the initial hematoma volume is left out of the clinical candidates when the
    nDL score is in the model (``exclude``). The other parameters are those of
    :func:`make_clinical_to_he`.

    Returns
    -------
    Pipeline
        Steps ``"inputs"``, ``"features"`` (branches ``"image"`` and ``"clinical"``) and
        ``"logistic"``.
    """
    numeric, categorical = clinical_candidates(numeric, categorical, exclude)
    clinical = make_clinical_preprocessor(numeric, categorical, impute=impute, ranges=ranges)
    return _image_pipeline(
        [
            (IMAGE, _default_ndl(ndl), image_columns),
            (CLINICAL, clinical, [*numeric, *categorical]),
        ],
        ForwardSelectingLogisticRegression(
            screen_p=screen_p,
            p_enter=p_enter,
            p_remove=p_remove,
            force=["ndl_score"],
            threshold=threshold,
        ),
        required=["ct", *numeric, *categorical],
    )


def ndl_likelihood_ratio_test(integrated: Pipeline, X, y):
    """Likelihood-ratio test of the nDL score inside a fitted Integrated-to-HE pipeline.

    The integrated model's selected clinical features are refit without the nDL score on the same
    patients, and the two nested models are compared (chi-squared, df = 1) with their AICs. This is
    the comparison the paper reports between Clinical- and Integrated-to-HE; the separately fitted
    Clinical-to-HE may select the baseline volume, which Integrated-to-HE leaves out, and is then
    not nested in it.

    Parameters
    ----------
    integrated : fitted Pipeline from :func:`make_integrated_to_he`
    X : DataFrame
        The patients it was fit on.
    y : array-like
        Their HE labels.

    Returns
    -------
    skhe.metrics.LRTResult
    """
    from sklearn.utils.validation import check_is_fitted

    from skhe.metrics import likelihood_ratio_test

    logistic = integrated.named_steps[LOGISTIC]
    check_is_fitted(logistic)
    clinical = [f for f in logistic.selected_features_ if f != "ndl_score"]
    prepared = integrated.named_steps[INPUTS].transform(X)
    design = integrated.named_steps[FEATURES].named_transformers_[CLINICAL].transform(prepared)
    restricted = ForwardSelectingLogisticRegression(
        screen_p=None,
        p_enter=1e-300,
        force=clinical or None,
        groups=None,
    ).fit(design[clinical] if clinical else design, y)
    return likelihood_ratio_test(restricted, logistic)
