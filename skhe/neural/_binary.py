"""What the slice classifier and the multi-task HE model share: binary outputs from logits."""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from skhe.utils import binary_target


class BinaryProbaMixin:
    """``predict_proba``, ``predict`` and ``score`` from a ``decision_function`` of logits.

    The estimator provides ``decision_function(X)`` (shape (n,)), ``classes_`` and
    ``threshold``.
    """

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities, shape (n, 2), columns ordered as ``classes_``."""
        p = expit(self.decision_function(X).astype(np.float64))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        """Predicted labels: the positive class where the probability is >= ``threshold``."""
        p = self.predict_proba(X)[:, 1]
        return self.classes_[(p >= self.threshold).astype(int)]

    def score(self, X, y, sample_weight=None) -> float:
        """ROC AUC of the positive-class probabilities."""
        y01, _ = binary_target(y, pos_label=self.classes_[1], name="y")
        return float(roc_auc_score(y01, self.predict_proba(X)[:, 1], sample_weight=sample_weight))
