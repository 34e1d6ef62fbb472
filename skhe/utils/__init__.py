"""Small shared helpers (validation of targets and tables, atomic output folders)."""

from skhe.utils._atomic import atomic_output_dir, check_output_dir
from skhe.utils._validation import binary_target, column_names, unwrap_frozen

__all__ = [
    "atomic_output_dir",
    "binary_target",
    "check_output_dir",
    "column_names",
    "unwrap_frozen",
]
