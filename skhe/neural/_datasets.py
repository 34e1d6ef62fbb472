"""Torch datasets the deep estimators train on: arrays (with joint image/mask augmentation), a
skhe ``SliceDataset`` at the estimator's size, and the training/validation split."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class ValidationData:
    """Explicit validation data for a deep estimator's ``validation_data`` parameter.

    ``validation_data=(X_val, y_val)`` works too, but scikit-learn's ``clone`` (every
    ``cross_validate`` fold, every ``GridSearchCV`` candidate) deep-copies a tuple of arrays;
    the arrays inside a ``ValidationData`` are shared by the clones instead.

    Parameters
    ----------
    X : array-like or SliceDataset
        Validation slices (as ``fit``'s ``X``).
    y : array-like
        Their labels (classifier) or masks (segmenter).
    """

    def __init__(self, X, y):
        self.X = X
        self.y = y

    def __iter__(self):  # Xv, yv = validation_data
        yield self.X
        yield self.y

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self) -> str:
        n = len(self.X) if hasattr(self.X, "__len__") else "?"
        return f"ValidationData(<{n} slices>)"


class _ArrayDataset(Dataset):
    """(image, target) pairs from arrays, with optional joint augmentation of image and mask."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, augment=None):
        self.images = images
        self.targets = targets
        self.augment = augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        img, tgt = self.images[i], self.targets[i]
        if self.augment is not None:
            is_mask = np.ndim(tgt) == 3
            a, m = self.augment(img[0], tgt[0] if is_mask else None)
            img = np.repeat(a[None], img.shape[0], axis=0) if img.shape[0] > 1 else a[None]
            if is_mask:
                tgt = m[None].astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(img)), torch.as_tensor(tgt)


class _SliceDatasetAdapter(Dataset):
    """A skhe ``SliceDataset`` seen at the estimator's image size and channel count."""

    def __init__(self, dataset, image_size: int, in_chans: int):
        self.dataset = dataset
        self.image_size = int(image_size)
        self.in_chans = int(in_chans)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        import torch.nn.functional as F

        x, t = self.dataset[i]
        size = (self.image_size, self.image_size)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0]
            x = x.clamp(0, 1)
            if t.ndim == 3:
                t = (
                    F.interpolate(t[None], size=size, mode="bilinear", align_corners=False)[0]
                    >= 0.5
                ).float()
        if self.in_chans != x.shape[0]:
            x = x.repeat(self.in_chans, 1, 1)
        return x, t


def dataset_input(est, X, target: str):
    """Adapter for a skhe ``SliceDataset`` passed as X (None when X is an array)."""
    from skhe.preprocessing import SliceDataset

    if not isinstance(X, SliceDataset):
        return None
    if X.target != target:
        raise ValueError(
            f"{type(est).__name__} needs a SliceDataset with target={target!r}; got "
            f"target={X.target!r}."
        )
    return _SliceDatasetAdapter(X, est.image_size, est.in_chans)


def make_datasets(
    images, targets, augment, validation_data, prepare_valid, random_state, stratify=None
):
    """Training and (explicit) validation datasets; a float ``validation_data`` is a fraction."""
    valid_ds = None
    if validation_data is None:
        train = _ArrayDataset(images, targets, augment)
    elif isinstance(validation_data, float):
        if not 0 < validation_data < 1:
            raise ValueError(
                f"validation_data as a fraction must be in (0, 1); got {validation_data}"
            )
        from sklearn.model_selection import train_test_split

        idx_tr, idx_va = train_test_split(
            np.arange(len(images)),
            test_size=validation_data,
            random_state=random_state,
            stratify=stratify,
        )
        train = _ArrayDataset(images[idx_tr], targets[idx_tr], augment)
        valid_ds = _ArrayDataset(images[idx_va], targets[idx_va], None)
    else:
        try:
            Xv, yv = validation_data
        except (TypeError, ValueError):
            raise ValueError(
                "validation_data must be None, a fraction, or (X_val, y_val)."
            ) from None
        vi, vt = prepare_valid(Xv, yv)
        train = _ArrayDataset(images, targets, augment)
        valid_ds = _ArrayDataset(vi, vt, None)
    return train, valid_ds
