"""skorch-backed deep estimators with the scikit-learn interface."""

from skhe.neural._classifier import SliceClassifier
from skhe.neural._multitask import MultiTaskHEModel
from skhe.neural._ndl import NDLScorer
from skhe.neural._segmenter import HematomaSegmenter

__all__ = [
    "HematomaSegmenter",
    "MultiTaskHEModel",
    "NDLScorer",
    "SliceClassifier",
]
