"""An in-process cache of preprocessed patient slices, so CV folds never re-read DICOM files."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skhe.io import CTVolume, read_ct, read_mask
from skhe.preprocessing import resize, window
from skhe.preprocessing._cache import _stat_signature

_MAX_BYTES = 4 * 2**30
_LOCK = threading.Lock()
_CACHE: OrderedDict = OrderedDict()


@dataclass
class PatientSlices:
    """One patient's windowed, resized slices (float16), masks (uint8 or None), spacing."""

    images: np.ndarray
    masks: np.ndarray | None
    spacing: tuple[float, float, float]

    @property
    def nbytes(self) -> int:
        return self.images.nbytes + (0 if self.masks is None else self.masks.nbytes)


def _key(source) -> tuple:
    if isinstance(source, CTVolume):
        return ("volume", id(source))
    if source is None or (isinstance(source, float) and np.isnan(source)):
        return ("none",)
    p = Path(str(source)).resolve()
    return (str(p), _stat_signature(p) if p.exists() else "missing")


def load_patient_slices(ct, mask, *, image_size: int, hu_window=(0.0, 100.0)) -> PatientSlices:
    """Read, window and resize one patient (memoized on path, file stats and settings)."""
    key = (_key(ct), _key(mask), int(image_size), tuple(hu_window))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    vol = read_ct(ct)
    has_mask = mask is not None and not (isinstance(mask, float) and np.isnan(mask))
    m = read_mask(mask, like=vol) if has_mask else None
    img = resize(window(vol.hu, *hu_window), image_size).astype(np.float16)
    mm = resize(m, image_size, mask=True) if m is not None else None
    h, w = vol.hu.shape[1:]
    scale = max(h, w) / image_size
    out = PatientSlices(img, mm, (vol.spacing[0], vol.spacing[1] * scale, vol.spacing[2] * scale))
    with _LOCK:
        _CACHE[key] = out
        total = sum(v.nbytes for v in _CACHE.values())
        while total > _MAX_BYTES and len(_CACHE) > 1:
            _, old = _CACHE.popitem(last=False)
            total -= old.nbytes
    return out


def clear_volume_cache() -> None:
    """Forget every cached patient."""
    with _LOCK:
        _CACHE.clear()
