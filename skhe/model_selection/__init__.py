"""Evaluating HE models: held-out and cross-validated evaluation with the paper's statistics,
and ``cross_validate`` of several models on the same folds."""

from skhe.model_selection._evaluation import (
    Evaluation,
    ModelEvaluation,
    cross_validate_models,
    evaluate_cv,
    evaluate_holdout,
)

__all__ = [
    "Evaluation",
    "ModelEvaluation",
    "cross_validate_models",
    "evaluate_cv",
    "evaluate_holdout",
]
