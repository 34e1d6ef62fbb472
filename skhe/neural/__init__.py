"""skorch-backed deep estimators with the scikit-learn interface, and the nDL formula."""

from skhe.neural._classifier import SliceClassifier
from skhe.neural._datasets import BalancedSampler, ValidationData
from skhe.neural._multitask import MultiTaskHEModel
from skhe.neural._ndl import NDLScorer
from skhe.neural._ndl_score import ndl_from_pooled, ndl_normalization, pool_slice_scores
from skhe.neural._segmenter import HematomaSegmenter
from skhe.neural._slice_features import (
    neighbour_index,
    neighbour_mean,
    patient_max,
    slice_detection_features,
)

__all__ = [
    "BalancedSampler",
    "HematomaSegmenter",
    "MultiTaskHEModel",
    "NDLScorer",
    "SliceClassifier",
    "ValidationData",
    "ndl_from_pooled",
    "ndl_normalization",
    "neighbour_index",
    "neighbour_mean",
    "patient_max",
    "pool_slice_scores",
    "slice_detection_features",
]
