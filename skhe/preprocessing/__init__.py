"""Preprocessing: HU windowing, resizing, head-centred crops, hematoma-centred ROIs, hematoma
descriptors, mask regions and a filter of stray ones, one patient's network input, caches,
augmentation and torch datasets."""

from skhe.preprocessing._arrays import resize, rewindow, window, window_resize
from skhe.preprocessing._augmentation import SliceAugmenter
from skhe.preprocessing._cache import CacheEntry, SliceCache
from skhe.preprocessing._datasets import PatientBagDataset, SliceDataset
from skhe.preprocessing._descriptors import (
    DESCRIPTORS,
    hematoma_descriptors,
    largest_region,
    refine_hematoma_mask,
)
from skhe.preprocessing._hashing import content_hash
from skhe.preprocessing._head import crop_to_boxes, head_boxes, paste_from_boxes
from skhe.preprocessing._patients import (
    PatientSliceCache,
    PatientSlices,
    has_mask,
    preprocess_patient,
    read_patient,
)
from skhe.preprocessing._regions import (
    REGION_FEATURES,
    drop_stray_regions,
    keep_regions,
    mask_region_features,
    region_filter_proba,
    regions_kept,
)
from skhe.preprocessing._roi import (
    cut_rois,
    model_map_to_native,
    model_to_native,
    native_to_model,
    paste_rois,
    roi_box,
    roi_centres,
)

__all__ = [
    "DESCRIPTORS",
    "REGION_FEATURES",
    "CacheEntry",
    "PatientBagDataset",
    "PatientSliceCache",
    "PatientSlices",
    "SliceAugmenter",
    "SliceCache",
    "SliceDataset",
    "content_hash",
    "crop_to_boxes",
    "cut_rois",
    "drop_stray_regions",
    "has_mask",
    "head_boxes",
    "hematoma_descriptors",
    "keep_regions",
    "largest_region",
    "mask_region_features",
    "model_map_to_native",
    "model_to_native",
    "native_to_model",
    "paste_from_boxes",
    "paste_rois",
    "preprocess_patient",
    "read_patient",
    "refine_hematoma_mask",
    "region_filter_proba",
    "regions_kept",
    "resize",
    "rewindow",
    "roi_box",
    "roi_centres",
    "window",
    "window_resize",
]
