"""The paper-style report: tables, figures and one HTML file, rendered from an
:class:`~skhe.model_selection.Evaluation`.

``evaluate_holdout``, ``evaluate_cv``, ``Evaluation`` and ``ModelEvaluation`` live in
:mod:`skhe.model_selection` and are re-exported here for convenience.
"""

from skhe.model_selection import Evaluation, ModelEvaluation, evaluate_cv, evaluate_holdout
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
