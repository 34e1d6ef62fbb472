"""One patient's CT as the networks see it, and an in-memory cache of such patients.

:func:`preprocess_patient` is the one path from a CT volume (and mask) to network input: HU
window -> resize to the network's size -> spacing rescaled to the resized pixels. Every caller
(:class:`~skhe.neural.NDLScorer`, :class:`~skhe.preprocessing.SliceCache`, the report's
Grad-CAM figures, the benchmarks) goes through it. :class:`PatientSliceCache` keeps preprocessed
patients in memory for the object that owns it; nothing here is process-wide.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skhe.io import CTVolume, path_given, read_ct, read_mask
from skhe.preprocessing._arrays import resize, window_resize
from skhe.preprocessing._hashing import content_hash, stat_signature

#: Default size limit of a :class:`PatientSliceCache` (bytes).
DEFAULT_CACHE_BYTES = 4 * 2**30


@dataclass
class PatientSlices:
    """One patient's windowed, resized slices, masks (uint8 or None) and spacing (mm).

    ``spacing`` is (z, y, x) of the resized pixels, so areas in mm^2 stay true. With
    ``native=True`` (:func:`preprocess_patient`) the windowed slices are also kept at the CT's
    own resolution, as uint8 (256 levels over the window), with their masks and spacing: what
    hematoma-centred ROIs (:mod:`skhe.preprocessing._roi`) are cut from.
    """

    images: np.ndarray
    masks: np.ndarray | None
    spacing: tuple[float, float, float]
    native: np.ndarray | None = None
    native_masks: np.ndarray | None = None
    native_spacing: tuple[float, float, float] | None = None

    @property
    def nbytes(self) -> int:
        arrays = (self.images, self.masks, self.native, self.native_masks)
        return sum(a.nbytes for a in arrays if a is not None)

    def native_slices(self, index=slice(None)) -> np.ndarray:
        """Native-resolution windowed slices ``index`` as float32 in [0, 1]."""
        if self.native is None:
            raise ValueError("these slices were read without native=True.")
        return self.native[index].astype(np.float32) / 255.0


def has_mask(mask) -> bool:
    """Whether a manifest's ``mask`` entry names a mask (:func:`skhe.io.path_given`)."""
    return path_given(mask)


def preprocess_patient(
    volume: CTVolume,
    mask: np.ndarray | None,
    *,
    image_size: int,
    hu_window=(0.0, 100.0),
    native: bool = False,
    device=None,
) -> PatientSlices:
    """Window, resize and rescale the spacing of one patient (pure arrays, no I/O).

    Parameters
    ----------
    volume : CTVolume
    mask : ndarray of shape volume.shape or None
    image_size : int
        Slices become ``image_size`` x ``image_size`` (non-square slices are padded first).
    hu_window : (low, high), default=(0, 100)
    native : bool, default=False
        Also keep the windowed slices (uint8) and masks at the CT's own resolution.
    device : None or torch device, default=None
        Where the slices are windowed and resized (:func:`~skhe.preprocessing.window_resize`):
        None on the CPU; ``"cuda"`` on the GPU (the results come back to the CPU).

    Returns
    -------
    PatientSlices
        float32 images in [0, 1]; uint8 masks.
    """
    img, native_img = window_resize(volume.hu, image_size, *hu_window, native=native, device=device)
    masks = resize(mask, image_size, mask=True) if mask is not None else None
    h, w = volume.hu.shape[1:]
    scale = max(h, w) / image_size
    z, y, x = volume.spacing
    out = PatientSlices(img, masks, (z, y * scale, x * scale))
    if native:
        out.native = native_img
        out.native_masks = None if mask is None else (np.asarray(mask) > 0).astype(np.uint8)
        out.native_spacing = (float(z), float(y), float(x))
    return out


def read_patient(
    ct,
    mask=None,
    *,
    image_size: int,
    hu_window=(0.0, 100.0),
    native: bool = False,
    device=None,
) -> PatientSlices:
    """Read one patient's CT (and mask) and preprocess it (:func:`preprocess_patient`, on
    ``device``).

    Images are kept as float16 (half the memory; the networks' input precision is lower).
    """
    vol = read_ct(ct)
    m = read_mask(mask, like=vol) if has_mask(mask) else None
    ps = preprocess_patient(
        vol, m, image_size=image_size, hu_window=hu_window, native=native, device=device
    )
    ps.images = ps.images.astype(np.float16)
    return ps


def _key(source) -> tuple:
    if isinstance(source, CTVolume | np.ndarray):
        return ("content", content_hash(source))
    if not has_mask(source):
        return ("none",)
    p = Path(str(source)).resolve()
    return (str(p), stat_signature(p) if p.exists() else "missing")


class PatientSliceCache:
    """Preprocessed patients kept in memory, least recently used dropped beyond ``max_bytes``.

    Keys are the input's content for in-memory volumes and masks, and the path plus the files'
    names, sizes and modification times for files, so an edited file or another volume never
    returns stale slices. The cache belongs to whoever holds it (an :class:`NDLScorer` holds one
    of its own unless given one). Copies made by ``clone``/``deepcopy`` share it, so the folds
    of ``cross_validate`` read each patient once; pickling keeps only its size limit.

    Parameters
    ----------
    max_bytes : int, default=4 GiB
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int | np.integer):
            raise TypeError(f"max_bytes must be an int; got {max_bytes!r}.")
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0; got {max_bytes}.")
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._items: OrderedDict = OrderedDict()

    def get(
        self,
        ct,
        mask=None,
        *,
        image_size: int,
        hu_window=(0.0, 100.0),
        native: bool = False,
        key: tuple | None = None,
        device=None,
    ) -> PatientSlices:
        """The patient's slices, read and preprocessed on first use (``native``, ``device``:
        see :func:`preprocess_patient`; ``key``: :meth:`key` of these arguments, when the
        caller has it already). Where they were preprocessed is not part of the key: the
        slices agree to float rounding."""
        if key is None:
            key = self.key(ct, mask, image_size=image_size, hu_window=hu_window, native=native)
        hit = self.lookup(key)
        if hit is not None:
            return hit
        out = read_patient(
            ct, mask, image_size=image_size, hu_window=hu_window, native=native, device=device
        )
        self.store(key, out)
        return out

    @staticmethod
    def key(
        ct, mask=None, *, image_size: int, hu_window=(0.0, 100.0), native: bool = False
    ) -> tuple:
        """The cache key of a patient read with these settings (see :meth:`get`)."""
        window_key = tuple(float(v) for v in hu_window)
        return (_key(ct), _key(mask), int(image_size), window_key, bool(native))

    def lookup(self, key: tuple) -> PatientSlices | None:
        """The patient stored under ``key`` (:meth:`key`), or None."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def store(self, key: tuple, value: PatientSlices) -> None:
        """Keep ``value`` under ``key``, dropping the least recently used beyond
        ``max_bytes``."""
        with self._lock:
            self._items[key] = value
            total = self.nbytes
            while total > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                total -= old.nbytes

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return sum(v.nbytes for v in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget every patient."""
        with self._lock:
            self._items.clear()

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __getstate__(self):
        return {"max_bytes": self.max_bytes}

    def __setstate__(self, state):
        self.__init__(state["max_bytes"])

    def __repr__(self) -> str:
        return f"PatientSliceCache(max_bytes={self.max_bytes})"
