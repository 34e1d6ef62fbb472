"""Clinical variables: GCS grouping, the HE rule, volume formulas and preprocessing."""

from skhe.clinical._preprocessing import (
    PAPER_CATEGORICAL,
    PAPER_NUMERIC,
    level_name,
    make_clinical_preprocessor,
)
from skhe.clinical._scores import GCS_LEVELS, abc2_volume, ellipsoid_volume, gcs_group, he_label

__all__ = [
    "GCS_LEVELS",
    "PAPER_CATEGORICAL",
    "PAPER_NUMERIC",
    "abc2_volume",
    "ellipsoid_volume",
    "gcs_group",
    "he_label",
    "level_name",
    "make_clinical_preprocessor",
]
