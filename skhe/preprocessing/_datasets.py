"""torch Datasets over a :class:`SliceCache`: single slices and per-patient bags."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from skhe.preprocessing._cache import SliceCache


class SliceDataset(Dataset):
    """Slices of some patients, with labels and masks.

    Parameters
    ----------
    cache : SliceCache
    patients : sequence of str, default=None
        Default: every patient in the cache.
    target : {"label", "mask", "both"}, default="label"
        ``"label"``: (image, float label) with label = hematoma present on the slice (from the
        mask, or ``labels``); ``"mask"``: (image, mask); ``"both"``: (image, {"label", "mask"}).
    labels : dict, default=None
        Patient -> per-slice labels, for patients without masks.
    augment : callable, default=None
        ``augment(image, mask) -> (image, mask)``, e.g. :class:`SliceAugmenter`.

    Items are float32 tensors of shape (1, size, size) in [0, 1].
    """

    def __init__(
        self,
        cache: SliceCache,
        patients: Sequence[str] | None = None,
        *,
        target: str = "label",
        labels: dict | None = None,
        augment=None,
    ):
        if target not in ("label", "mask", "both"):
            raise ValueError(f"target must be 'label', 'mask' or 'both'; got {target!r}.")
        self.cache = cache
        self.patients = [str(p) for p in (cache.patients if patients is None else patients)]
        self.target = target
        self.augment = augment
        self._labels = {}
        for p in self.patients:
            if labels is not None and p in labels:
                lab = np.asarray(labels[p], dtype=np.float32)
            elif cache.entry(p).has_mask:
                lab = cache.slice_labels(p).astype(np.float32)
            elif target == "label":
                raise ValueError(f"patient {p!r} has neither a mask nor labels.")
            else:
                lab = None
            if target in ("mask", "both") and not cache.entry(p).has_mask:
                raise ValueError(f"patient {p!r} has no mask; target={target!r} needs masks.")
            self._labels[p] = lab
        self.index = [(p, k) for p in self.patients for k in range(cache.entry(p).n_slices)]

    def __len__(self) -> int:
        return len(self.index)

    @property
    def labels(self) -> np.ndarray:
        """Per-item slice labels (float32)."""
        return np.array([self._labels[p][k] for p, k in self.index], dtype=np.float32)

    def __getitem__(self, i):
        p, k = self.index[i]
        img = self.cache.slice(p, k)
        mask = self.cache.mask_slice(p, k)
        if self.augment is not None:
            img, mask = self.augment(img, mask)
        x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None]
        if self.target == "label":
            label = self._labels[p][k]
            if mask is not None and self.augment is not None:
                label = np.float32(mask.any())
            return x, torch.tensor(label, dtype=torch.float32)
        m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None]
        if self.target == "mask":
            return x, m
        return x, {"label": torch.tensor(float(mask.any())), "mask": m}


class PatientBagDataset(Dataset):
    """One item per patient: all of its slices (a bag), masks when cached, and its id.

    Items are ``(images, masks, patient)`` with images float32 (n, 1, size, size) and masks
    float32 (n, 1, size, size) or None.
    """

    def __init__(self, cache: SliceCache, patients: Sequence[str] | None = None):
        self.cache = cache
        self.patients = [str(p) for p in (cache.patients if patients is None else patients)]
        for p in self.patients:
            cache.entry(p)

    def __len__(self) -> int:
        return len(self.patients)

    def __getitem__(self, i):
        p = self.patients[i]
        imgs = np.asarray(self.cache.images(p))
        imgs = (
            imgs.astype(np.float32) / 255.0 if imgs.dtype == np.uint8 else imgs.astype(np.float32)
        )
        masks = self.cache.masks(p)
        m = None if masks is None else torch.from_numpy(np.asarray(masks, np.float32))[:, None]
        return torch.from_numpy(imgs)[:, None], m, p
