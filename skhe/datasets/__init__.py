"""Synthetic cohorts (clearly synthetic) and loaders for shared real data."""

from skhe.datasets._clinical import TRUE_CLINICAL_MODEL, clinical_logit, make_clinical_cohort
from skhe.datasets._ctich import CTICHData, load_ctich
from skhe.datasets._synthetic_ct import TRUE_IMAGE_MODEL, image_logit, make_synthetic_cohort

__all__ = [
    "TRUE_CLINICAL_MODEL",
    "TRUE_IMAGE_MODEL",
    "CTICHData",
    "clinical_logit",
    "image_logit",
    "load_ctich",
    "make_clinical_cohort",
    "make_synthetic_cohort",
]
