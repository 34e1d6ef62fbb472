"""Preprocessing: HU windowing, resizing, head-centred crops, one patient's network input, caches,
augmentation and torch datasets."""

from skhe.preprocessing._arrays import resize, window
from skhe.preprocessing._augmentation import SliceAugmenter
from skhe.preprocessing._cache import CacheEntry, SliceCache
from skhe.preprocessing._datasets import PatientBagDataset, SliceDataset
from skhe.preprocessing._hashing import content_hash
from skhe.preprocessing._head import crop_to_boxes, head_boxes, paste_from_boxes
from skhe.preprocessing._patients import (
    PatientSliceCache,
    PatientSlices,
    has_mask,
    preprocess_patient,
    read_patient,
)

__all__ = [
    "CacheEntry",
    "PatientBagDataset",
    "PatientSliceCache",
    "PatientSlices",
    "SliceAugmenter",
    "SliceCache",
    "SliceDataset",
    "content_hash",
    "crop_to_boxes",
    "has_mask",
    "head_boxes",
    "paste_from_boxes",
    "preprocess_patient",
    "read_patient",
    "resize",
    "window",
]
