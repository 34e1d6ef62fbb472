"""Preprocessing: HU windowing, resizing, augmentation, a slice cache and torch datasets."""

from skhe.preprocessing._arrays import resize, window
from skhe.preprocessing._augmentation import SliceAugmenter
from skhe.preprocessing._cache import CacheEntry, SliceCache, content_hash
from skhe.preprocessing._datasets import PatientBagDataset, SliceDataset

__all__ = [
    "CacheEntry",
    "PatientBagDataset",
    "SliceAugmenter",
    "SliceCache",
    "SliceDataset",
    "content_hash",
    "resize",
    "window",
]
