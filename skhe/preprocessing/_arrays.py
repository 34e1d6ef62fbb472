"""Pure array functions: HU windowing and resizing."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def window(hu, low: float = 0.0, high: float = 100.0) -> np.ndarray:
    """Map HU to [0, 1] through the window [low, high] (the paper's 0-100 HU).

    Parameters
    ----------
    hu : array-like
        Hounsfield units, any shape.
    low, high : float
        Window bounds; values below/above are clipped to 0/1.

    Returns
    -------
    ndarray of float32, same shape
    """
    if not high > low:
        raise ValueError(f"window needs high > low; got low={low}, high={high}.")
    src = np.asarray(hu)
    if src.dtype.kind == "f" and not np.isfinite(src).all():
        raise ValueError("window: input contains NaN/inf values.")
    # one float32 copy, then in place (a third of the time of the out-of-place expression)
    x = np.array(src, dtype=np.float32, copy=True)
    np.subtract(x, np.float32(low), out=x)
    np.divide(x, np.float32(high - low), out=x)
    return np.clip(x, 0.0, 1.0, out=x)


def rewindow(x, windows, base: tuple[float, float] = (0.0, 100.0)) -> np.ndarray:
    """Channels of other HU windows, from slices already windowed to ``base``.

    A window inside ``base`` is a clipped linear map of the ``base``-windowed values, so each
    channel equals :func:`window` on the HU itself: e.g. a blood window (40-90 HU) beside the
    paper's 0-100 HU one, for networks that take several windows as input channels.

    Parameters
    ----------
    x : array-like of shape (n, H, W)
        Slices windowed to ``base`` (values in [0, 1]).
    windows : sequence of (low, high)
        HU windows, each inside ``base``.
    base : (low, high), default=(0, 100)
        The window ``x`` was made with.

    Returns
    -------
    ndarray of float32, shape (n, len(windows), H, W)
    """
    b_lo, b_hi = (float(v) for v in base)
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 3:
        raise ValueError(f"rewindow takes slices shaped (n, H, W); got shape {arr.shape}.")
    wins = [(float(lo), float(hi)) for lo, hi in windows]
    if not wins:
        raise ValueError("rewindow needs at least one window.")
    out = np.empty((arr.shape[0], len(wins), *arr.shape[1:]), np.float32)
    for c, (lo, hi) in enumerate(wins):
        if not (b_lo <= lo < hi <= b_hi):
            raise ValueError(
                f"window ({lo:g}, {hi:g}) HU is not inside the slices' window "
                f"({b_lo:g}, {b_hi:g}): the values outside it were clipped away."
            )
        # HU = b_lo + x * (b_hi - b_lo); then (HU - lo) / (hi - lo), clipped
        scale = np.float32((b_hi - b_lo) / (hi - lo))
        np.multiply(arr, scale, out=out[:, c])
        out[:, c] += np.float32((b_lo - lo) / (hi - lo))
        np.clip(out[:, c], 0.0, 1.0, out=out[:, c])
    return out


def _pad_square(x: torch.Tensor, value: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    if h == w:
        return x
    d = abs(h - w)
    pad = (d // 2, d - d // 2, 0, 0) if h > w else (0, 0, d // 2, d - d // 2)
    return F.pad(x, pad, value=value)


def _to_square_size(t: torch.Tensor, size: int, pad_value: float, smooth: bool) -> torch.Tensor:
    """(n, 1, H, W) slices padded to a square with ``pad_value`` and brought to ``size`` x
    ``size`` bilinearly (antialiased when ``smooth`` and shrinking)."""
    t = _pad_square(t, pad_value)
    if t.shape[-1] == size:
        return t
    return F.interpolate(
        t,
        size=(size, size),
        mode="bilinear",
        align_corners=False,
        antialias=smooth and t.shape[-1] > size,
    )


def resize(slices, size: int = 512, *, mask: bool = False) -> np.ndarray:
    """Resize a stack of slices to ``size`` x ``size``.

    Non-square slices are first padded to a square (with the stack's minimum for images, 0 for
    masks) so anatomy keeps its aspect ratio.

    Parameters
    ----------
    slices : ndarray of shape (n, H, W)
    size : int, default=512
    mask : bool, default=False
        Masks are resized bilinearly and thresholded at 0.5, so they stay binary (uint8 0/1).

    Returns
    -------
    ndarray of shape (n, size, size); float32 for images, uint8 for masks
    """
    arr = np.asarray(slices)
    if arr.ndim != 3:
        raise ValueError(f"resize expects (n, H, W); got shape {arr.shape}.")
    if int(size) < 1:
        raise ValueError(f"size must be a positive integer; got {size}.")
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[:, None]
    lo, hi = (float(t.min()), float(t.max())) if t.numel() else (0.0, 0.0)
    out = _to_square_size(t, int(size), 0.0 if mask else lo, smooth=not mask)[:, 0].numpy()
    if mask:
        return (out >= 0.5).astype(np.uint8)
    # interpolation must not create values outside the input's range (rounding overshoot)
    return np.clip(out, lo, hi).astype(np.float32, copy=False)


def window_resize(
    hu,
    size: int,
    low: float = 0.0,
    high: float = 100.0,
    *,
    native: bool = False,
    block: int = 8,
    device=None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``resize(window(hu, low, high), size)`` without the full-resolution float copy.

    On the CPU (``device=None``) the slices are windowed and resized ``block`` at a time, so
    the windowed slices stay in the CPU's cache instead of making a float32 copy of the whole
    volume (for a 512x512 series about twice as fast; the result is the same, bit for bit).
    With a torch ``device`` (``"cuda"``) the series crosses in its own dtype (int16 HU: half
    the bytes of float32) and is windowed and resized there, ``max(block, 64)`` slices at a
    time; the result comes back to the CPU (on a CPU device it equals the default path bit for
    bit, on a GPU to float rounding).

    Parameters
    ----------
    hu : ndarray of shape (n, H, W)
        Hounsfield units (any real dtype).
    size : int
        Slices become ``size`` x ``size`` (non-square slices are padded first, as
        :func:`resize` does).
    low, high : float
        The window (:func:`window`).
    native : bool, default=False
        Also return the windowed slices at their own resolution as uint8
        (``rint(255 * window(hu))``).
    block : int, default=8
        Slices windowed and resized together.
    device : None, str or torch.device, default=None
        Where to window and resize: None, the CPU as above; a torch device, there.

    Returns
    -------
    images : ndarray of shape (n, size, size), float32
    native : ndarray of shape (n, H, W), uint8, or None
    """
    src = np.asarray(hu)
    if src.ndim != 3:
        raise ValueError(f"window_resize expects (n, H, W); got shape {src.shape}.")
    size, block = int(size), int(block)
    if size < 1 or block < 1:
        raise ValueError(f"size and block must be positive integers; got {size}, {block}.")
    out = np.empty((len(src), size, size), dtype=np.float32)
    nat = np.empty(src.shape, dtype=np.uint8) if native else None
    if len(src) == 0:
        return out, nat
    # window is monotone, so the windowed stack's range is the window of the HU range
    lo, hi = (float(v) for v in window(np.array([src.min(), src.max()]), low, high))
    if device is not None:
        return _window_resize_on(src, size, low, high, lo, hi, torch.device(device), block, nat)
    for start in range(0, len(src), block):
        part = window(src[start : start + block], low, high)
        if nat is not None:
            nat[start : start + len(part)] = np.rint(part * 255.0)
        t = _to_square_size(torch.from_numpy(part)[:, None], size, lo, smooth=True)
        out[start : start + len(part)] = t[:, 0].numpy()
    return np.clip(out, lo, hi, out=out), nat


def _window_resize_on(src, size, low, high, lo, hi, device, block, nat):
    """:func:`window_resize` on a torch ``device``: the same float32 operations as
    :func:`window` and :func:`resize`, on ``max(block, 64)`` slices at a time."""
    out = np.empty((len(src), size, size), dtype=np.float32)
    span = torch.tensor(np.float32(high - low), device=device)  # a true division, as numpy's
    start_hu = torch.tensor(np.float32(low), device=device)
    step = max(int(block), 64)
    for start in range(0, len(src), step):
        chunk = np.ascontiguousarray(src[start : start + step])
        if not chunk.flags.writeable:  # torch wraps only writable arrays without a warning
            chunk = chunk.copy()
        t = torch.from_numpy(chunk)
        if device.type == "cuda":
            t = t.pin_memory()
        t = t.to(device, non_blocking=True).to(torch.float32)
        part = torch.clamp((t - start_hu) / span, 0.0, 1.0)
        if nat is not None:
            nat[start : start + len(part)] = torch.round(part * 255.0).to(torch.uint8).cpu()
        r = _to_square_size(part[:, None], size, lo, smooth=True)[:, 0]
        out[start : start + len(part)] = torch.clamp(r, lo, hi).cpu().numpy()
    return out, nat
