"""Plain torch: network builders and losses (no scikit-learn here)."""

from skhe.nn._batchnorm import update_batchnorm
from skhe.nn._builders import (
    PretrainedWeightsError,
    SliceClassifierNet,
    build_unet,
    fp32_region,
    load_matching_weights,
    load_state_dict_file,
    unet_logits,
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
    "fp32_region",
    "hematoma_descriptors",
    "load_matching_weights",
    "load_state_dict_file",
    "per_slice_soft_dice",
    "soft_dice",
    "unet_logits",
    "update_batchnorm",
]
