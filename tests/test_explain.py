"""Grad-CAM follows the signal."""

import numpy as np
import pytest

from skhe.explain import grad_cam, overlay
from skhe.neural import SliceClassifier


def lesion_slices(n, size=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.1, 0.3, (n, size, size)).astype(np.float32)
    y = np.arange(n) % 2
    yy, xx = np.ogrid[:size, :size]
    for i in np.flatnonzero(y):
        cy, cx = rng.integers(10, size - 10), rng.integers(10, size - 10)
        X[i][(yy - cy) ** 2 + (xx - cx) ** 2 <= 36] = 0.85
    return X, y


@pytest.fixture(scope="module")
def clf():
    X, y = lesion_slices(96)
    return SliceClassifier(
        "test_resnet",
        image_size=64,
        lr=3e-3,
        batch_size=16,
        max_epochs=5,
        augment=False,
        random_state=0,
    ).fit(X, y)


def test_cam_lights_up_the_side_of_the_lesion(clf):
    size = 64
    rng = np.random.default_rng(1)
    yy, xx = np.ogrid[:size, :size]
    left = rng.uniform(0.1, 0.3, (size, size)).astype(np.float32)
    left[(yy - 32) ** 2 + (xx - 14) ** 2 <= 36] = 0.85
    right = rng.uniform(0.1, 0.3, (size, size)).astype(np.float32)
    right[(yy - 32) ** 2 + (xx - 50) ** 2 <= 36] = 0.85
    cams = grad_cam(clf, np.stack([left, right]))
    assert cams.shape == (2, 64, 64) and cams.min() >= 0 and cams.max() <= 1
    assert cams[0][:, :32].mean() > cams[0][:, 32:].mean()
    assert cams[1][:, 32:].mean() > cams[1][:, :32].mean()


def test_overlay_is_rgb():
    img = overlay(np.zeros((8, 8)), np.ones((8, 8)))
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8 and img.max() > 0


def test_unfitted_model_is_refused():
    with pytest.raises(ValueError, match="fitted"):
        grad_cam(SliceClassifier(), np.zeros((1, 32, 32)))
