"""The paper-style report: evaluation of the HE models, tables, figures and one HTML file."""

from skhe.report._evaluation import Evaluation, ModelEvaluation, evaluate_cv, evaluate_holdout
from skhe.report._html import build_report, write_report
from skhe.report._methods import methods_info

__all__ = [
    "Evaluation",
    "ModelEvaluation",
    "build_report",
    "evaluate_cv",
    "evaluate_holdout",
    "methods_info",
    "write_report",
]
