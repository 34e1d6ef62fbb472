"""Synthetic cohorts (clearly synthetic) and loaders for shared real data."""

from skhe.datasets._clinical import TRUE_CLINICAL_MODEL, clinical_logit, make_clinical_cohort

__all__ = ["TRUE_CLINICAL_MODEL", "clinical_logit", "make_clinical_cohort"]
