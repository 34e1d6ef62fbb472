"""Training augmentation (albumentations 2.x), image and mask transformed together."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np


class SliceAugmenter:
    """The paper's ShiftScaleRotate + RandomScale, with albumentations 2.x transforms.

    ``ShiftScaleRotate`` is ``Affine(translate, scale, rotate)`` and ``RandomScale`` is an
    ``Affine(scale)`` at fixed output size (RandomScale itself changes the image size, which a
    fixed-size network cannot take). Outside the field of view is filled with 0 (air after
    windowing); masks use nearest-neighbour interpolation and stay binary.

    Parameters
    ----------
    shift : float, default=0.0625
        Maximum translation as a fraction of the image size (ShiftScaleRotate's default).
    scale : float, default=0.1
        Scale range 1 +- scale, for both transforms.
    rotate : float, default=45
        Maximum rotation in degrees.
    p : float, default=0.5
        Probability of each transform.
    flip : float, default=0.0
        Probability of a left-right flip (the head is near-symmetric; bleeds occur on both sides).
    intensity : float, default=0.0
        Brightness and contrast jitter within the window (albumentations'
        ``RandomBrightnessContrast`` limits, applied with probability ``p``); 0 turns it off.
    noise : float, default=0.0
        Gaussian noise with a standard deviation drawn up to this fraction of the window
        (0.03 of a 0-100 HU window is 3 HU), the same on every channel, applied with
        probability ``p``; 0 turns it off.
    blur : float, default=0.0
        Gaussian blur with a sigma drawn from 0.1 to this many pixels (of the network's input),
        applied with probability ``p``: a slice seen through more partial volume; 0 turns it off.
    random_state : int or None
        Seed; the same seed gives the same sequence of augmentations.
    """

    def __init__(
        self,
        shift=0.0625,
        scale=0.1,
        rotate=45.0,
        p=0.5,
        flip=0.0,
        intensity=0.0,
        noise=0.0,
        blur=0.0,
        random_state=None,
    ):
        self.shift = shift
        self.scale = scale
        self.rotate = rotate
        self.p = p
        self.flip = flip
        self.intensity = intensity
        self.noise = noise
        self.blur = blur
        self.random_state = random_state
        self._compose = None

    def _build(self):
        for name in ("noise", "blur"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0):
                raise ValueError(f"SliceAugmenter {name} must be a number >= 0; got {value!r}.")
        if self.noise >= 1:
            raise ValueError(
                f"SliceAugmenter noise is a fraction of the window, below 1; got {self.noise!r}."
            )
        common = dict(border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0)
        transforms = [A.HorizontalFlip(p=self.flip)] if self.flip else []
        transforms += [
            A.Affine(
                translate_percent=(-self.shift, self.shift),
                scale=(1 - self.scale, 1 + self.scale),
                rotate=(-self.rotate, self.rotate),
                p=self.p,
                **common,
            ),
            A.Affine(scale=(1 - self.scale, 1 + self.scale), p=self.p, **common),
        ]
        if self.intensity:
            transforms.append(
                A.RandomBrightnessContrast(
                    brightness_limit=self.intensity, contrast_limit=self.intensity, p=self.p
                )
            )
        if self.noise:
            transforms.append(
                A.GaussNoise(std_range=(0.0, self.noise), per_channel=False, p=self.p)
            )
        if self.blur:
            transforms.append(A.GaussianBlur(sigma_limit=(0.1, self.blur), p=self.p))
        self._compose = A.Compose(transforms, seed=self.random_state)

    def __call__(self, image: np.ndarray, mask: np.ndarray | None = None):
        """Augment one slice, (H, W) or (C, H, W) in [0, 1], and its optional mask (H, W).

        All channels of a slice (e.g. several HU windows) get the same geometric transform.
        """
        if self._compose is None:
            self._build()
        image = np.asarray(image, dtype=np.float32)
        channels = image.ndim == 3
        if channels:
            image = np.ascontiguousarray(np.moveaxis(image, 0, -1))
        elif image.ndim != 2:
            raise ValueError(f"augmentation expects one (H, W) slice; got {image.shape}.")
        if image.size and (image.min() < 0 or image.max() > 1):
            raise ValueError("augmentation expects a windowed slice with values in [0, 1].")
        kwargs = {"image": image}
        if mask is not None:
            kwargs["mask"] = np.asarray(mask, dtype=np.uint8)
        out = self._compose(**kwargs)
        img = np.clip(out["image"], 0.0, 1.0).astype(np.float32)
        if channels:
            img = np.ascontiguousarray(np.moveaxis(img, -1, 0))
        return img, (out["mask"] if mask is not None else None)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_compose"] = None
        return state
