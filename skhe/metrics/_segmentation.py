"""Overlap metrics for binary masks."""

from __future__ import annotations

import numpy as np


def _check(y_true, y_pred):
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"mask shapes differ: {t.shape} vs {p.shape}.")
    for name, m in (("y_true", t), ("y_pred", p)):
        if not np.isin(np.unique(m), (0, 1, False, True)).all():
            raise ValueError(f"{name} must be a binary mask (0/1).")
    return t.astype(bool), p.astype(bool)


def dice_coefficient(y_true, y_pred) -> float:
    """Dice ``2 |A ∩ B| / (|A| + |B|)`` over all voxels; 1.0 when both masks are empty."""
    t, p = _check(y_true, y_pred)
    denom = t.sum() + p.sum()
    return 1.0 if denom == 0 else float(2 * (t & p).sum() / denom)


def per_slice_dice(y_true, y_pred, *, only_positive: bool = True) -> np.ndarray:
    """Dice of each slice of (n, H, W) masks.

    Parameters
    ----------
    only_positive : bool, default=True
        Return only slices whose true mask is non-empty (the usual "Dice on slices with
        hemorrhage"); otherwise every slice, an empty-empty slice scoring 1.
    """
    t, p = _check(y_true, y_pred)
    if t.ndim != 3:
        raise ValueError(f"expected (n, H, W) masks; got {t.shape}.")
    inter = (t & p).reshape(len(t), -1).sum(axis=1)
    denom = t.reshape(len(t), -1).sum(axis=1) + p.reshape(len(p), -1).sum(axis=1)
    dice = np.where(denom == 0, 1.0, 2 * inter / np.maximum(denom, 1))
    if only_positive:
        return dice[t.reshape(len(t), -1).any(axis=1)]
    return dice
