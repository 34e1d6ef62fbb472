"""Pure array functions drawing a synthetic head CT with an intracerebral hematoma."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

FOV_MM = 230.0  # field of view: 512 px x 0.45 mm


@dataclass
class HematomaFeatures:
    """Generator-side truth about one hematoma (used to build the HE label)."""

    irregularity: float  # 0 = smooth ellipsoid, 1 = very lobulated outline
    heterogeneity: float  # 0 = uniform density, 1 = strong swirl/blend/black-hole pattern
    pattern: str  # "swirl", "blend" or "black-hole"
    ivh: bool  # extends into a ventricle


def _smooth_noise(rng, shape, sigma_px) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_px)
    return f / (f.std() + 1e-6)


def draw_head(rng: np.random.Generator, n_slices: int, size: int):
    """A head phantom in HU: air, skull (> 1000 HU), CSF rim, parenchyma 25-40 HU, ventricles.

    Returns
    -------
    hu : ndarray float32 (n_slices, size, size)
    brain : bool ndarray, the parenchyma
    ventricles : bool ndarray
    geometry : dict with pixel size (mm), head centre and semi-axes (mm)
    """
    px = FOV_MM / size
    a = rng.uniform(62, 76)  # left-right semi-axis (mm)
    b = rng.uniform(78, 94)  # antero-posterior
    cx, cy = rng.uniform(-10, 10), rng.uniform(-10, 10)
    c = (np.arange(size) - size / 2 + 0.5) * px
    y, x = np.meshgrid(c - cy, c - cx, indexing="ij")
    z = np.linspace(-0.95, 0.75, n_slices)  # skull base to vertex
    scale = np.sqrt(np.clip(1 - z**2, 0.12, 1))[:, None, None]
    r = np.sqrt((x / a) ** 2 + (y / b) ** 2)[None] / scale
    skull_t = rng.uniform(5, 8) / a
    hu = np.full((n_slices, size, size), -1000.0, dtype=np.float32)
    head = r <= 1
    skull = head & (r > 1 - skull_t)
    inner = r <= 1 - skull_t
    csf_rim = inner & (r > 1 - skull_t - 3.0 / a)
    brain = inner & ~csf_rim
    field = _smooth_noise(rng, hu.shape, (0.6, 6 / px, 6 / px))
    hu[skull] = (1250 + 250 * field[skull]).clip(1050, 1900)
    hu[csf_rim] = 8.0
    hu[brain] = 32 + 4 * field[brain]
    # two lateral ventricles in the middle slices (shrink with the head)
    vent = np.zeros_like(brain)
    mid = (z > -0.45) & (z < 0.35)
    for side in (-1, 1):
        vx, vy = side * rng.uniform(6, 10), rng.uniform(-12, 0)
        va, vb = rng.uniform(4, 7), rng.uniform(15, 24)
        shape2d = ((x - vx) / va) ** 2 + ((y - vy) / vb) ** 2 <= 1
        vent[mid] |= shape2d[None] & brain[mid]
    hu[vent] = 6.0
    brain &= ~vent
    geometry = {
        "px": px,
        "a": a,
        "b": b,
        "cx": cx,
        "cy": cy,
        "x": x,
        "y": y,
        "z": z,
        "scale": scale,
    }
    return hu, brain, vent, geometry


def draw_hematoma(
    rng,
    hu,
    brain,
    vent,
    geometry,
    *,
    volume_ml: float,
    irregularity: float,
    heterogeneity: float,
    slice_mm: float,
    ivh_prob: float = 0.2,
):
    """Add a hematoma (50-90 HU, irregular outline, density pattern) to ``hu`` in place.

    Returns
    -------
    mask : uint8 ndarray
    features : HematomaFeatures
    """
    px = geometry["px"]
    n = hu.shape[0]
    x, y = geometry["x"], geometry["y"]
    zmm = (np.arange(n) - n / 2) * slice_mm
    # centre: deep (basal ganglia / thalamus) or lobar, in a middle slice
    side = rng.choice([-1, 1])
    cx = side * rng.uniform(12, 35)
    cy = rng.uniform(-25, 25)
    kz = int(rng.integers(int(0.35 * n), int(0.65 * n) + 1))
    cz = zmm[kz]
    radius = (3 * volume_ml * 1000 / (4 * np.pi)) ** (1 / 3)  # mm
    elong = rng.uniform(1.0, 1.5)
    dx, dy = x[None] - cx, y[None] - cy
    dz = (zmm - cz)[:, None, None] * np.ones_like(dx)
    dist = np.sqrt((dx / elong) ** 2 + (dy * elong**0.5) ** 2 + (dz / 1.1) ** 2)
    theta = np.arctan2(dy, dx)
    elev = np.arctan2(dz, np.sqrt(dx**2 + dy**2) + 1e-6)
    lobes = np.zeros_like(dist)
    for k in (2, 3, 4, 5, 7):
        amp = rng.uniform(0.4, 1.0) / k**0.3
        lobes += (
            amp
            * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
            * np.cos((k // 2) * elev + rng.uniform(0, np.pi))
        )
    lobes /= np.abs(lobes).max() + 1e-6
    surface = radius * (1 + 0.55 * irregularity * lobes)
    mask = (dist <= surface) & (brain | vent)
    ivh = False
    if rng.random() < ivh_prob and vent.any():
        near = ndimage.binary_dilation(mask, iterations=max(1, int(6 / px)))
        touched = near & vent
        if touched.any():
            labels, _ = ndimage.label(vent)
            for lab in np.unique(labels[touched]):
                mask |= labels == lab
            ivh = True
    if mask.sum() < 4:  # tiny volume at a coarse grid: keep at least a few voxels
        mask[kz, np.abs(y - cy) <= px, np.abs(x - cx) <= px] = True
        mask &= brain | vent | mask
    # density: base 60-75 HU plus a heterogeneity pattern scaled by `heterogeneity`
    base = rng.uniform(60, 75)
    pattern = str(rng.choice(["swirl", "blend", "black-hole"]))
    dens = np.full(hu.shape, base, dtype=np.float32)
    if pattern == "swirl":
        spots = _smooth_noise(rng, hu.shape, (0.5, 2.5 / px, 2.5 / px)) > 0.6
        dens -= 30 * heterogeneity * spots
    elif pattern == "blend":
        split = (dx * np.cos(rng.uniform(0, np.pi)) + dy * np.sin(rng.uniform(0, np.pi))) > 0
        dens += np.where(split, 14, -22) * heterogeneity
    else:
        hole = dist <= 0.45 * surface
        dens -= 32 * heterogeneity * hole
    dens += 3 * _smooth_noise(rng, hu.shape, 1.0)
    hu[mask] = np.clip(dens[mask], 28, 92)
    features = HematomaFeatures(float(irregularity), float(heterogeneity), pattern, ivh)
    return mask.astype(np.uint8), features


def add_noise(rng, hu: np.ndarray, sd: float = 4.0) -> np.ndarray:
    """Add Gaussian noise to the soft tissue and round to int16 HU."""
    out = hu + rng.normal(0, sd, hu.shape).astype(np.float32) * (hu > -900)
    return np.clip(np.rint(out), -1024, 3000).astype(np.int16)
