"""Linear models: the paper's forward-selecting logistic regression, and the plain statsmodels
Logit fitting it (and the univariable screening in :mod:`skhe.metrics`) is built on."""

from skhe.linear_model._forward_selection import ForwardSelectingLogisticRegression
from skhe.linear_model._groups import infer_groups
from skhe.linear_model._logit import LogitFit, design, fit_logit, lr_p, wald_p

__all__ = [
    "ForwardSelectingLogisticRegression",
    "LogitFit",
    "design",
    "fit_logit",
    "infer_groups",
    "lr_p",
    "wald_p",
]
