"""Head-centred crops: find the head on a windowed slice, crop a square around it, map back.

Pure array functions. A slice is cropped to a square box around its head (the largest connected
region above a low intensity), with a margin, before it is resized for a network: at 128-192 px
this about doubles the pixels on the brain, and images that scanners or exports framed
differently look alike. The boxes are kept so that a network's output maps back onto the
original pixels (and so areas stay in original pixels, hence mm^2 with the pixel spacing).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

#: Box columns: top row, left column, side (pixels of the original slice).
BOX_COLUMNS = ("top", "left", "side")
#: 3x3 cross: the opening with two iterations removes structures thinner than ~5 sampled pixels.
_DISK = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


def head_boxes(
    images,
    *,
    level: float = 0.02,
    margin: float = 0.04,
    min_side: float = 0.5,
    min_area: float = 0.01,
    step: int = 2,
) -> np.ndarray:
    """Square box around the head of each windowed slice.

    The head is the largest connected region of pixels above ``level`` (windowed units; 0.02
    is 2 HU in the 0-100 HU window, so air, which windows to 0, is outside and brain, CSF,
    blood and bone inside), after a morphological opening that removes thin structures such as
    the head holder. The box is centred on that region's bounding box, its side the
    longer bounding-box side plus ``margin`` on each end, and at least ``min_side`` of the
    slice's longer side (slices near the vertex hold a small head that should not be blown up
    several-fold). Boxes may extend past the slice (cropping pads with 0). A slice with nothing
    above ``level`` gets the whole slice.

    Parameters
    ----------
    images : array-like of shape (n, H, W) or (n, C, H, W)
        Windowed slices in [0, 1] (channel 0 is used).
    level : float, default=0.02
    margin : float, default=0.04
        Fraction of the bounding box's longer side added on each side.
    min_side : float, default=0.5
        Smallest box side, as a fraction of the slice's longer side.
    min_area : float, default=0.01
        A largest region smaller than this fraction of the slice is not a head (the slice gets
        the whole-slice box).
    step : int, default=2
        The head is found on every ``step``-th row and column (boxes are coarse anyway).

    Returns
    -------
    ndarray of int64, shape (n, 3)
        ``top``, ``left``, ``side`` of each box, in pixels of the original slice.
    """
    from scipy import ndimage

    arr = np.asarray(images)
    if arr.ndim == 4:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"head_boxes expects (n, H, W) or (n, C, H, W); got {arr.shape}.")
    if not 0 <= margin < 1 or not 0 < min_side <= 1 or int(step) < 1 or not 0 <= min_area < 1:
        raise ValueError(
            "head_boxes needs 0 <= margin < 1, 0 < min_side <= 1, 0 <= min_area < 1 and step >= 1."
        )
    n, h, w = arr.shape
    longest = max(h, w)
    boxes = np.empty((n, 3), dtype=np.int64)
    step = int(step)
    for i in range(n):
        # an opening drops thin bright structures (head holder, table, lines) before labelling
        fg = ndimage.binary_opening(arr[i, ::step, ::step] > level, structure=_DISK, iterations=2)
        labels, count = ndimage.label(fg)
        sizes = np.bincount(labels.ravel())[1:]
        if count == 0 or sizes.max() < min_area * fg.size:
            side = longest
            boxes[i] = ((h - side) // 2, (w - side) // 2, side)
            continue
        rows, cols = np.nonzero(labels == 1 + int(np.argmax(sizes)))
        r0, r1 = rows.min() * step, min(h, (rows.max() + 1) * step)
        c0, c1 = cols.min() * step, min(w, (cols.max() + 1) * step)
        extent = max(r1 - r0, c1 - c0)
        side = round(max(extent * (1 + 2 * margin), min_side * longest))
        boxes[i] = ((r0 + r1 - side) // 2, (c0 + c1 - side) // 2, side)
    return boxes


def _check_boxes(boxes, n: int) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.int64)
    if b.shape != (n, 3) or (b[:, 2] < 1).any():
        raise ValueError(f"boxes must have shape ({n}, 3) with positive sides; got {b.shape}.")
    return b


def _window_of(x: torch.Tensor, top: int, left: int, side: int) -> torch.Tensor:
    """The ``side`` x ``side`` window of ``x`` (..., H, W) at (top, left), 0 outside."""
    h, w = x.shape[-2:]
    t0, l0 = max(top, 0), max(left, 0)
    t1, l1 = min(top + side, h), min(left + side, w)
    out = x.new_zeros((*x.shape[:-2], side, side))
    if t1 > t0 and l1 > l0:
        out[..., t0 - top : t1 - top, l0 - left : l1 - left] = x[..., t0:t1, l0:l1]
    return out


def crop_to_boxes(images, boxes, size: int, *, mask: bool = False) -> np.ndarray:
    """Cut each slice's box and resize it to ``size`` x ``size``.

    Parameters
    ----------
    images : array-like of shape (n, H, W) or (n, C, H, W)
    boxes : array-like of shape (n, 3)
        From :func:`head_boxes`.
    size : int
    mask : bool, default=False
        Masks are resized bilinearly and thresholded at 0.5 (uint8 0/1); images are resized
        with antialiasing when shrunk (as :func:`skhe.preprocessing.resize`).

    Returns
    -------
    ndarray of shape (n, size, size) or (n, C, size, size)
    """
    arr = np.asarray(images)
    squeeze = arr.ndim == 3
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    if squeeze:
        t = t[:, None]
    b = _check_boxes(boxes, len(t))
    out = torch.empty((len(t), t.shape[1], int(size), int(size)), dtype=torch.float32)
    for i, (top, left, side) in enumerate(b.tolist()):
        win = _window_of(t[i], top, left, side)[None]
        if side != size:
            win = F.interpolate(
                win,
                size=(int(size), int(size)),
                mode="bilinear",
                align_corners=False,
                antialias=not mask and side > size,
            )
        out[i] = win[0]
    res = out.numpy()
    if squeeze:
        res = res[:, 0]
    if mask:
        return (res >= 0.5).astype(np.uint8)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    return np.clip(res, min(lo, 0.0), hi).astype(np.float32, copy=False)


def paste_from_boxes(maps: torch.Tensor, boxes, shape: tuple[int, int]) -> torch.Tensor:
    """Map per-box outputs (n, C, s, s) back onto slices of ``shape`` (0 outside the boxes).

    The inverse of :func:`crop_to_boxes` for a network's probability maps: each map is resized
    bilinearly to its box's side and placed at the box (clipped to the slice).

    Parameters
    ----------
    maps : torch.Tensor of shape (n, C, s, s)
    boxes : array-like of shape (n, 3)
    shape : (H, W)

    Returns
    -------
    torch.Tensor of shape (n, C, H, W), on ``maps``' device
    """
    h, w = int(shape[0]), int(shape[1])
    b = _check_boxes(boxes, len(maps))
    out = maps.new_zeros((len(maps), maps.shape[1], h, w))
    for i, (top, left, side) in enumerate(b.tolist()):
        m = maps[i : i + 1]
        if m.shape[-1] != side or m.shape[-2] != side:
            m = F.interpolate(m, size=(side, side), mode="bilinear", align_corners=False)
        t0, l0 = max(top, 0), max(left, 0)
        t1, l1 = min(top + side, h), min(left + side, w)
        if t1 > t0 and l1 > l0:
            out[i, :, t0:t1, l0:l1] = m[0, :, t0 - top : t1 - top, l0 - left : l1 - left]
    return out
