"""Hematoma-centred regions of interest (ROIs): fixed-size crops, in millimetres, of a slice.

Pure array functions. A network that sees a whole 512 px slice resized to 64 px sees a 20 mL
hematoma as a blob of ~5 px: its margin, density pattern and islands are gone. An ROI is a
square of ``roi_mm`` millimetres around the hematoma, cut from the slice at its own resolution
and resampled to ``roi_size`` pixels, so a small network sees the hematoma in detail whatever
the slice size. The centre comes from a mask or a probability map (its centroid, see
:func:`roi_centres`); :func:`paste_rois` maps an ROI-sized map (a Grad-CAM, a segmentation)
back onto the slice's pixels.

Coordinates are (row, column) in pixels of the array they refer to, pixel centres at integers.
A network's input of ``image_size`` pixels was made by padding the slice to a square and
resizing (:func:`skhe.preprocessing.resize`); :func:`native_to_model` and
:func:`model_to_native` convert between the two frames.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "cut_rois",
    "model_map_to_native",
    "model_to_native",
    "native_to_model",
    "paste_rois",
    "roi_box",
    "roi_centres",
]


def _frame(native_shape, image_size: int) -> tuple[float, np.ndarray]:
    """Scale (native px per model px) and the padding (rows, cols) added before resizing."""
    h, w = int(native_shape[0]), int(native_shape[1])
    side = max(h, w)
    pad = np.array([(side - h) // 2, (side - w) // 2], dtype=float)
    return side / float(image_size), pad


def native_to_model(points, native_shape, image_size: int) -> np.ndarray:
    """(row, col) points of a native slice in pixels of its ``image_size`` network input."""
    scale, pad = _frame(native_shape, image_size)
    return (np.asarray(points, float) + pad + 0.5) / scale - 0.5


def model_to_native(points, native_shape, image_size: int) -> np.ndarray:
    """Inverse of :func:`native_to_model`."""
    scale, pad = _frame(native_shape, image_size)
    return (np.asarray(points, float) + 0.5) * scale - 0.5 - pad


def model_map_to_native(maps, native_shape) -> np.ndarray:
    """Maps over a network's square input (n, s, s) brought onto the native slice's pixels
    (the inverse of padding to a square and resizing)."""
    m = np.asarray(maps, dtype=np.float32)
    h, w = int(native_shape[0]), int(native_shape[1])
    side = max(h, w)
    up = np.stack([cv2.resize(x, (side, side), interpolation=cv2.INTER_LINEAR) for x in m])
    top, left = (side - h) // 2, (side - w) // 2
    return np.ascontiguousarray(up[:, top : top + h, left : left + w])


def roi_centres(
    maps, *, min_mass: float = 1.0, relative: float = 0.5, min_peak: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Centre (row, col) of the hematoma on each slice's mask or probability map, and whether
    the slice had one.

    The centre is the mass-weighted centroid of the map's largest blob: the pixels at or above
    ``relative`` times the slice's maximum, the connected region of them with the most mass. A
    diffuse low probability over the whole slice, or a false-positive speck, then does not pull
    the centre off the hematoma. A slice whose maximum is below ``min_peak`` or whose blob has
    less than ``min_mass`` (pixels of probability) has no hematoma of its own: it gets the
    mass-weighted centre of the other slices' blobs (one patient's slices: the hematoma's
    centre in 3D, so a slice above or below it is cut where the hematoma is; all blobs when no
    slice has a hematoma), or the slice centre when no slice has any probability.

    Parameters
    ----------
    maps : array-like of shape (n, H, W)
        Masks (0/1) or probabilities of one patient's slices.
    min_mass : float, default=1.0
    relative : float, default=0.5
    min_peak : float, default=0.5

    Returns
    -------
    centres : ndarray of shape (n, 2)
    found : bool ndarray of shape (n,)
    """
    from scipy import ndimage

    m = np.asarray(maps, dtype=np.float64)
    if m.ndim != 3:
        raise ValueError(f"roi_centres expects (n, H, W) maps; got shape {m.shape}.")
    n, h, w = m.shape
    mass, peak = np.zeros(n), np.zeros(n)
    sums = np.zeros((n, 2))
    for i in range(n):
        top = peak[i] = m[i].max() if m[i].size else 0.0
        if not top > 0:
            continue
        keep = m[i] >= relative * top
        labels, count = ndimage.label(keep)
        if count > 1:
            weights = ndimage.sum(m[i], labels, index=np.arange(1, count + 1))
            keep = labels == 1 + int(np.argmax(weights))
        wgt = np.where(keep, m[i], 0.0)
        mass[i] = wgt.sum()
        sums[i] = [(wgt.sum(axis=1) * np.arange(h)).sum(), (wgt.sum(axis=0) * np.arange(w)).sum()]
    found = (mass >= min_mass) & (peak >= min_peak)
    centres = np.empty((n, 2))
    centres[found] = sums[found] / mass[found, None]
    donors = found if found.any() else mass > 0
    if donors.any():
        fallback = sums[donors].sum(axis=0) / mass[donors].sum()
    else:
        fallback = np.array([(h - 1) / 2, (w - 1) / 2])
    centres[~found] = fallback
    return centres, found


def _affine(centre, pixel_mm, roi_mm: float, roi_size: int) -> np.ndarray:
    """2x3 map from ROI pixels (x = col, y = row) to the slice's pixels."""
    step = float(roi_mm) / int(roi_size)  # mm per ROI pixel
    sr, sc = step / float(pixel_mm[0]), step / float(pixel_mm[1])
    half = (int(roi_size) - 1) / 2
    r0, c0 = float(centre[0]) - half * sr, float(centre[1]) - half * sc
    return np.array([[sc, 0.0, c0], [0.0, sr, r0]], dtype=np.float64)


def cut_rois(
    slices, centres, pixel_mm, *, roi_mm: float = 80.0, roi_size: int = 64, mask: bool = False
) -> np.ndarray:
    """Square ROIs of ``roi_mm`` mm around ``centres``, resampled to ``roi_size`` pixels.

    Parameters
    ----------
    slices : array-like of shape (n, H, W)
        Windowed slices (or masks, probability maps) at any resolution.
    centres : array-like of shape (n, 2)
        ROI centre per slice, (row, col) in pixels of ``slices``.
    pixel_mm : (row_mm, col_mm)
        Pixel size of ``slices``.
    roi_mm : float, default=80
        Side of the ROI in millimetres.
    roi_size : int, default=64
        Side of the ROI in pixels.
    mask : bool, default=False
        Masks are resampled bilinearly and thresholded at 0.5 (uint8 0/1).

    Returns
    -------
    ndarray of shape (n, roi_size, roi_size)
        float32 (uint8 for masks); 0 outside the slice (air, after windowing).
    """
    arr = np.asarray(slices)
    c = np.asarray(centres, dtype=float)
    if arr.ndim != 3 or c.shape != (len(arr), 2):
        raise ValueError(
            f"cut_rois expects (n, H, W) slices and (n, 2) centres; got {arr.shape} and {c.shape}."
        )
    if not (roi_mm > 0 and int(roi_size) >= 4):
        raise ValueError(f"roi_mm must be > 0 and roi_size >= 4; got {roi_mm}, {roi_size}.")
    if not np.all(np.asarray(pixel_mm, float) > 0):
        raise ValueError(f"pixel_mm must be positive; got {pixel_mm}.")
    size = int(roi_size)
    out = np.empty((len(arr), size, size), np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for i in range(len(arr)):
        out[i] = cv2.warpAffine(
            np.ascontiguousarray(arr[i], dtype=np.float32),
            _affine(c[i], pixel_mm, roi_mm, size),
            (size, size),
            flags=flags,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0.0,
        )
    return (out >= 0.5).astype(np.uint8) if mask else out


def roi_box(centre, pixel_mm, *, roi_mm: float = 80.0) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` in pixels of the slice covered by the ROI at ``centre``."""
    height = float(roi_mm) / float(pixel_mm[0])
    width = float(roi_mm) / float(pixel_mm[1])
    top = float(centre[0]) + 0.5 - height / 2
    left = float(centre[1]) + 0.5 - width / 2
    return int(np.floor(top)), int(np.floor(left)), int(np.ceil(height)), int(np.ceil(width))


def paste_rois(
    maps, centres, pixel_mm, out_shape, *, roi_mm: float = 80.0, fill: float = 0.0
) -> np.ndarray:
    """Map ROI-sized maps (e.g. Grad-CAM) back onto slices of ``out_shape`` (the inverse of
    :func:`cut_rois` with the same ``centres``, ``pixel_mm`` and ``roi_mm``); ``fill`` outside
    the ROI.

    Returns
    -------
    ndarray of float32, shape (n, H, W) with (H, W) = ``out_shape``
    """
    m = np.asarray(maps, dtype=np.float32)
    c = np.asarray(centres, dtype=float)
    if m.ndim != 3 or m.shape[1] != m.shape[2] or c.shape != (len(m), 2):
        raise ValueError(f"paste_rois expects (n, R, R) maps and (n, 2) centres; got {m.shape}.")
    h, w = int(out_shape[0]), int(out_shape[1])
    out = np.empty((len(m), h, w), np.float32)
    for i in range(len(m)):
        out[i] = cv2.warpAffine(
            np.ascontiguousarray(m[i]),
            _affine(c[i], pixel_mm, roi_mm, m.shape[1]),
            (w, h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=float(fill),
        )
    return out
