"""Small shared helpers (validation of targets and tables, atomic output folders)."""

from skhe.utils._atomic import MARKER, atomic_output_dir, check_not_input, check_output_dir
from skhe.utils._validation import (
    binary_target,
    check_device,
    check_fold_counts,
    column_names,
    outcome_fingerprint,
    positive_scores,
    unwrap_frozen,
    user_stacklevel,
)

__all__ = [
    "MARKER",
    "atomic_output_dir",
    "binary_target",
    "check_device",
    "check_fold_counts",
    "check_not_input",
    "check_output_dir",
    "column_names",
    "outcome_fingerprint",
    "positive_scores",
    "unwrap_frozen",
    "user_stacklevel",
]
