"""Preprocessing: HU windowing, resizing, one patient's network input, caches, augmentation and
torch datasets."""

from skhe.preprocessing._arrays import resize, window
from skhe.preprocessing._augmentation import SliceAugmenter
from skhe.preprocessing._cache import CacheEntry, SliceCache
from skhe.preprocessing._datasets import PatientBagDataset, SliceDataset
from skhe.preprocessing._hashing import content_hash
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
    "has_mask",
    "preprocess_patient",
    "read_patient",
    "resize",
    "window",
]
