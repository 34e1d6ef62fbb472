"""Linear models: the paper's forward-selecting logistic regression."""

from skhe.linear_model._forward_selection import ForwardSelectingLogisticRegression, infer_groups

__all__ = ["ForwardSelectingLogisticRegression", "infer_groups"]
