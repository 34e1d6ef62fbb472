"""Clinical variables: GCS grouping, the HE rule, volume formulas and preprocessing."""

from skhe.clinical._preprocessing import (
    PAPER_CATEGORICAL,
    PAPER_NUMERIC,
    PLAUSIBLE_RANGES,
    check_clinical_values,
    clinical_candidates,
    level_name,
    make_clinical_preprocessor,
)
from skhe.clinical._scores import GCS_LEVELS, abc2_volume, ellipsoid_volume, gcs_group, he_label

__all__ = [
    "GCS_LEVELS",
    "PAPER_CATEGORICAL",
    "PAPER_NUMERIC",
    "PLAUSIBLE_RANGES",
    "abc2_volume",
    "check_clinical_values",
    "clinical_candidates",
    "ellipsoid_volume",
    "gcs_group",
    "he_label",
    "level_name",
    "make_clinical_preprocessor",
]
