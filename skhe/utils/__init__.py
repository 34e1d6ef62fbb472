"""Small shared helpers (validation of targets and tables)."""

from skhe.utils._validation import binary_target, column_names

__all__ = ["binary_target", "column_names"]
