"""Plain torch: network builders and losses (no scikit-learn here)."""

from skhe.nn._batchnorm import update_batchnorm
from skhe.nn._builders import (
    PretrainedWeightsError,
    SliceClassifierNet,
    build_unet,
    load_matching_weights,
    load_state_dict_file,
)
from skhe.nn._losses import (
    DiceBCELoss,
    TverskyBCELoss,
    WeightedBCEWithLogitsLoss,
    per_slice_soft_dice,
    soft_dice,
)
from skhe.nn._multitask import (
    MultiTaskHELoss,
    MultiTaskHENet,
    SegmentAndScore,
    hematoma_descriptors,
)

__all__ = [
    "DiceBCELoss",
    "MultiTaskHELoss",
    "MultiTaskHENet",
    "PretrainedWeightsError",
    "SegmentAndScore",
    "SliceClassifierNet",
    "TverskyBCELoss",
    "WeightedBCEWithLogitsLoss",
    "build_unet",
    "hematoma_descriptors",
    "load_matching_weights",
    "load_state_dict_file",
    "per_slice_soft_dice",
    "soft_dice",
    "update_batchnorm",
]
