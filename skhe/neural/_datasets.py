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
            a, m = self.augment(img[0] if img.shape[0] == 1 else img, tgt[0] if is_mask else None)
            img = a[None] if a.ndim == 2 else a
            if is_mask:
                tgt = m[None].astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(img)), torch.as_tensor(tgt)


class _SliceDatasetAdapter(Dataset):
    """A skhe ``SliceDataset`` seen at the estimator's image size and channel count."""

    def __init__(self, dataset, image_size: int, in_chans: int, crop: str = "none"):
        self.dataset = dataset
        self.image_size = int(image_size)
        self.in_chans = int(in_chans)
        self.crop = crop

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        import torch.nn.functional as F

        x, t = self.dataset[i]
        size = (self.image_size, self.image_size)
        if self.crop == "head":
            from skhe.preprocessing import crop_to_boxes, head_boxes

            box = head_boxes(x[None].numpy())
            x = torch.from_numpy(crop_to_boxes(x[None].numpy(), box, self.image_size)[0])
            if t.ndim == 3:
                t = torch.from_numpy(
                    crop_to_boxes(t[None].numpy(), box, self.image_size, mask=True)[0]
                ).float()
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


class BalancedSampler(torch.utils.data.Sampler):
    """Every positive sample each epoch, plus a fresh random draw of the others.

    Epochs hold all ``n_pos`` positives and ``round(ratio * n_pos)`` negatives (at most all of
    them), drawn anew each epoch without replacement, in random order: over the epochs the
    network sees every negative slice, yet each epoch is balanced.

    Parameters
    ----------
    positive : array-like of bool, shape (n,)
    ratio : float, default=1.0
        Negatives per positive in an epoch.
    generator : torch.Generator or None
    """

    def __init__(self, positive, ratio: float = 1.0, generator=None):
        self.positive = np.asarray(positive, dtype=bool)
        if not self.positive.any():
            raise ValueError("BalancedSampler: no positive sample to balance.")
        self.ratio = float(ratio)
        self.generator = generator
        self._pos = torch.from_numpy(np.flatnonzero(self.positive))
        self._neg = torch.from_numpy(np.flatnonzero(~self.positive))
        self._n_neg = min(len(self._neg), round(self.ratio * len(self._pos)))

    def __len__(self) -> int:
        return len(self._pos) + self._n_neg

    def __iter__(self):
        draw = torch.randperm(len(self._neg), generator=self.generator)[: self._n_neg]
        idx = torch.cat([self._pos, self._neg[draw]])
        order = torch.randperm(len(idx), generator=self.generator)
        return iter(idx[order].tolist())


def balanced_sampler(est, train_ds, generator, is_positive):
    """The estimator's ``BalancedSampler`` with ``sampling="balanced"`` (else None);
    ``is_positive(targets)`` says which training samples are positive."""
    if est.sampling != "balanced":
        return None
    if not isinstance(train_ds, _ArrayDataset):
        raise ValueError("sampling='balanced' needs array input (not a SliceDataset).")
    return BalancedSampler(is_positive(np.asarray(train_ds.targets)), generator=generator)


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
    return _SliceDatasetAdapter(X, est.image_size, est.in_chans, crop=getattr(est, "crop", "none"))


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
