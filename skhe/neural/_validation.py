"""Input checks for the deep estimators (image stacks, masks, labels)."""

from __future__ import annotations

import numpy as np


def check_images(X, *, name: str = "X", in_chans: int = 1) -> np.ndarray:
    """Validate a stack of windowed slices; return float32 (n, C, H, W) in [0, 1]."""
    if hasattr(X, "to_numpy"):
        X = X.to_numpy()
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} is not an array of slices ({exc}).") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating)
        or np.issubdtype(arr.dtype, np.integer)
        or arr.dtype == bool
    ):
        raise ValueError(f"{name} must hold numbers; got dtype {arr.dtype}.")
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[1] not in {1, 3, int(in_chans)}:
        raise ValueError(
            f"{name} must be slices shaped (n, H, W) or (n, {in_chans}, H, W); got shape "
            f"{arr.shape}. (skhe's deep estimators take image stacks, not tabular features.)"
        )
    if 1 < arr.shape[1] < in_chans:
        raise ValueError(f"{name} has {arr.shape[1]} channels; the model takes {in_chans}.")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} holds no slices.")
    if min(arr.shape[2:]) < 8:
        raise ValueError(f"{name}: slices of {arr.shape[2:]} pixels are too small (min 8).")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf values.")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-5 or hi > 1 + 1e-5:
        raise ValueError(
            f"{name} values must be in [0, 1] (windowed slices); got [{lo:.4g}, {hi:.4g}]. "
            "Window HU first with skhe.preprocessing.window(hu, 0, 100)."
        )
    if lo < 0 or hi > 1:  # float rounding of an upstream resize: clip, do not refuse
        arr = np.clip(arr, 0.0, 1.0)
    if arr.shape[1] != in_chans:
        arr = np.repeat(arr, in_chans, axis=1) if arr.shape[1] == 1 else arr[:, :in_chans]
    return np.ascontiguousarray(arr)


def check_masks(masks, images: np.ndarray, *, name: str = "masks") -> np.ndarray:
    """Validate binary masks matching ``images``; return float32 (n, 1, H, W)."""
    m = np.asarray(masks)
    if m.ndim == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.ndim != 3:
        raise ValueError(f"{name} must be shaped (n, H, W); got {m.shape}.")
    if m.shape[0] != images.shape[0] or m.shape[1:] != images.shape[2:]:
        raise ValueError(
            f"{name} shape {m.shape} does not match the images "
            f"{images.shape[:1] + images.shape[2:]}."
        )
    if np.issubdtype(m.dtype, np.floating) and not np.isfinite(m).all():
        raise ValueError(f"{name} contain NaN or inf values.")
    values = np.unique(m)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must be binary (0/1); found values {values[:6].tolist()}.")
    return np.ascontiguousarray(m[:, None].astype(np.float32))
