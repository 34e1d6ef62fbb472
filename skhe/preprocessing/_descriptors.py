"""Hematoma descriptors: density heterogeneity, shape irregularity and size of a segmented hematoma.

Pure array functions (no estimator, no network), with two clean-ups of a segmentation
(:func:`refine_hematoma_mask`, :func:`largest_region`). The descriptors are the radiological
signs of expansion written as numbers: a heterogeneous density (swirl, blend and black-hole
signs) and an irregular margin (island sign, irregular shape), plus the volume. They are
measured on a patient's hematoma slices: the CT (windowed to [0, 1]) and a hematoma mask on
the same pixels, typically the hematoma ROIs of :func:`skhe.preprocessing.cut_rois` and a
thresholded segmentation. :class:`~skhe.neural.NDLScorer` (``score="descriptors"``) combines
them in a penalized logistic regression.

First-order (density) descriptors use the pixels of the mask eroded by one pixel (the margin
mixes hematoma and brain); shape descriptors are per slice, weighted by the slice's area.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, stats
from scipy.spatial import ConvexHull, QhullError

#: Names of :func:`hematoma_descriptors`' values, in this order.
DESCRIPTORS = (
    "density_sd",
    "density_p90_p10",
    "density_skewness",
    "density_kurtosis",
    "density_entropy",
    "compactness",
    "solidity",
    "radial_cv",
    "log_volume_ml",
    "log_surface_to_volume",
)

#: Histogram bin width (HU) of ``density_entropy``.
ENTROPY_BIN_HU = 5.0
_MIN_SHAPE_PIXELS = 5  # smaller cross-sections carry no shape


def slice_perimeter(mask: np.ndarray, pixel_mm=(1.0, 1.0)) -> float:
    """Perimeter (mm) of a 2-D binary mask: exposed pixel edges times ``pi / 4``.

    The count of exposed pixel edges is the outline's length in the city-block metric, which
    exceeds the Euclidean length by ``4 / pi`` on average over orientations; the factor undoes
    it, so a digitised disc of radius ``r`` gives about ``2 pi r``.

    Parameters
    ----------
    mask : 2-D array
    pixel_mm : (row, column) pixel size in mm

    Returns
    -------
    float
    """
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    vertical_edges = np.count_nonzero(m[:, 1:] != m[:, :-1])  # between columns: row-long edges
    horizontal_edges = np.count_nonzero(m[1:, :] != m[:-1, :])
    return float((vertical_edges * pixel_mm[0] + horizontal_edges * pixel_mm[1]) * np.pi / 4.0)


def slice_solidity(mask: np.ndarray) -> float:
    """Area of a 2-D mask over the area of the convex hull of its pixels (squares, not centres).

    1 for a convex shape (up to digitisation), lower for lobes and notches.
    """
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError("slice_solidity: empty mask.")
    corners = np.concatenate(
        [np.c_[rows + dr, cols + dc] for dr in (0, 1) for dc in (0, 1)]
    ).astype(float)
    try:
        hull = ConvexHull(corners).volume  # in 2-D, .volume is the area
    except QhullError:  # cannot happen for unit squares, kept as a guard
        return 1.0
    return float(min(1.0, rows.size / hull))


def slice_radial_cv(mask: np.ndarray, pixel_mm=(1.0, 1.0)) -> float:
    """Coefficient of variation of the outline's distance to the centroid (0 for a circle)."""
    m = np.asarray(mask, dtype=bool)
    rows, cols = np.nonzero(m)
    if rows.size == 0:
        raise ValueError("slice_radial_cv: empty mask.")
    edge = m & ~ndimage.binary_erosion(m)
    er, ec = np.nonzero(edge)
    d = np.hypot((er - rows.mean()) * pixel_mm[0], (ec - cols.mean()) * pixel_mm[1])
    return float(d.std() / d.mean()) if d.mean() > 0 else 0.0


def refine_hematoma_mask(
    images: np.ndarray,
    prob: np.ndarray,
    core: np.ndarray,
    *,
    hu_threshold: float = 40.0,
    grow_prob: float = 0.2,
    hu_window=(0.0, 100.0),
) -> np.ndarray:
    """Sharpen a coarse hematoma segmentation with the CT's own density.

    A segmenter that works on small slices draws a smooth, blurred outline; at the CT's
    resolution the hematoma's margin is where the density falls below that of fresh blood.
    Per slice, the pixels at least ``hu_threshold`` HU where the segmenter's probability is at
    least ``grow_prob`` are kept where they connect to the ``core`` (the thresholded
    segmentation), and their holes are filled (a hypodense centre, the black-hole sign, stays
    hematoma). A slice where nothing qualifies keeps its core.

    Parameters
    ----------
    images : array of shape (n_slices, H, W)
        The CT windowed to [0, 1] over ``hu_window``.
    prob : array of shape (n_slices, H, W)
        The segmenter's hematoma probability on the same pixels.
    core : array of shape (n_slices, H, W)
        The hematoma as segmented (e.g. ``prob >= 0.5``).
    hu_threshold : float, default=40.0
        Density from which a pixel can be hematoma (acute blood is 50-90 HU; brain 20-45).
    grow_prob : float, default=0.2
        The outline may grow over pixels with at least this probability.
    hu_window : (low, high), default=(0, 100)
        The window ``images`` were scaled with.

    Returns
    -------
    ndarray of bool, shape (n_slices, H, W)
    """
    images, prob = np.asarray(images, float), np.asarray(prob, float)
    core = np.asarray(core, bool)
    if not images.shape == prob.shape == core.shape:
        raise ValueError(
            f"refine_hematoma_mask: images {images.shape}, prob {prob.shape} and core "
            f"{core.shape} must have the same shape."
        )
    low, high = (float(v) for v in hu_window)
    level = (float(hu_threshold) - low) / (high - low)
    candidate = (prob >= grow_prob) & (images >= level)
    out = np.zeros_like(core)
    for i in range(len(core)):
        labels, _ = ndimage.label(candidate[i])
        keep = np.unique(labels[core[i] & candidate[i]])
        keep = keep[keep > 0]
        if keep.size:
            out[i] = ndimage.binary_fill_holes(np.isin(labels, keep))
        else:
            out[i] = core[i]
    return out


def largest_region(masks: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Keep, on each slice, the one connected region of the mask with the most probability.

    A segmenter trained on few patients marks stray regions (bone edges, calcifications,
    beam-hardening streaks) beside the hematoma; on CT-ICH such regions outnumbered the
    hematoma's own pixels on hemorrhage slices (docs/benchmarks/ctich-design.md, section 28).
    Per slice, the mask's regions (4-connected, as :func:`scipy.ndimage.label`) are weighed by
    the sum of ``prob`` over their pixels and the heaviest is kept; a slice with an empty mask
    stays empty. A slice with two separate bleeds keeps only one, which is why
    ``benchmarks/ctich.py`` offers this rule to the validation fold rather than imposing it.

    Parameters
    ----------
    masks : array of shape (n_slices, H, W)
        Binary masks (nonzero = hematoma).
    prob : array of shape (n_slices, H, W)
        The segmenter's probabilities on the same pixels.

    Returns
    -------
    ndarray of bool, shape (n_slices, H, W)
    """
    masks, prob = np.asarray(masks) > 0, np.asarray(prob, dtype=np.float64)
    if masks.shape != prob.shape or masks.ndim != 3:
        raise ValueError(
            f"largest_region: masks {masks.shape} and prob {prob.shape} must be the same "
            "(n_slices, H, W)."
        )
    out = np.zeros_like(masks)
    for i in range(len(masks)):
        labels, n = ndimage.label(masks[i])
        if n == 1:
            out[i] = masks[i]
        elif n > 1:
            mass = ndimage.sum_labels(prob[i], labels, index=np.arange(1, n + 1))
            out[i] = labels == 1 + int(np.argmax(mass))
    return out


def hematoma_descriptors(
    images: np.ndarray,
    masks: np.ndarray,
    *,
    pixel_mm=(1.0, 1.0),
    slice_mm: float = 5.0,
    hu_window=(0.0, 100.0),
) -> dict[str, float]:
    """The :data:`DESCRIPTORS` of one patient's hematoma.

    Parameters
    ----------
    images : array of shape (n_slices, H, W)
        The hematoma slices (or ROIs), windowed to [0, 1] over ``hu_window``.
    masks : array of shape (n_slices, H, W)
        The hematoma on the same pixels (nonzero = hematoma).
    pixel_mm : (row, column)
        Pixel size of ``images`` in mm.
    slice_mm : float, default=5.0
        Slice thickness (mm), for the volume.
    hu_window : (low, high), default=(0, 100)
        The window ``images`` were scaled with; densities are reported in HU.

    Returns
    -------
    dict
        ``density_sd``, ``density_p90_p10`` (HU), ``density_skewness``,
        ``density_kurtosis`` (excess; 0 for a constant density), ``density_entropy`` (nats,
        5 HU bins), ``compactness`` (``4 pi A / P^2``, 1 for a disc), ``solidity``,
        ``radial_cv`` (area-weighted over slices with at least 5 pixels), ``log_volume_ml``
        and ``log_surface_to_volume`` (log of outline length over area, 1/mm).

    Raises
    ------
    ValueError
        When shapes differ or the mask is empty.
    """
    img = np.asarray(images, dtype=np.float64)
    m = np.asarray(masks) > 0
    if img.ndim == 2 and m.ndim == 2:  # one slice
        img, m = img[None], m[None]
    if img.ndim != 3 or img.shape != m.shape:
        raise ValueError(
            f"hematoma_descriptors: images {img.shape} and masks {m.shape} must be the same "
            "(n_slices, H, W)."
        )
    if not m.any():
        raise ValueError("hematoma_descriptors: the hematoma mask is empty.")
    pixel_mm = (float(pixel_mm[0]), float(pixel_mm[1]))
    lo, hi = float(hu_window[0]), float(hu_window[1])
    inner = np.stack([ndimage.binary_erosion(s) for s in m])
    core = inner if inner.sum() >= 10 else m
    hu = lo + img[core] * (hi - lo)
    sd = float(hu.std())
    p10, p90 = np.percentile(hu, [10, 90])
    bins = max(1, int(np.ceil((hi - lo) / ENTROPY_BIN_HU)))
    counts, _ = np.histogram(hu, bins=bins, range=(lo, hi))
    freq = counts[counts > 0] / counts.sum()
    out = {
        "density_sd": sd,
        "density_p90_p10": float(p90 - p10),
        "density_skewness": float(stats.skew(hu)) if sd > 0 else 0.0,
        "density_kurtosis": float(stats.kurtosis(hu)) if sd > 0 else 0.0,
        "density_entropy": float(-(freq * np.log(freq)).sum()),
    }
    pixel_area = pixel_mm[0] * pixel_mm[1]
    areas = m.reshape(len(m), -1).sum(axis=1).astype(float)
    perimeters = np.array([slice_perimeter(s, pixel_mm) for s in m])
    shaped = areas >= _MIN_SHAPE_PIXELS
    if shaped.any():
        w = areas[shaped] / areas[shaped].sum()
        a_mm = areas[shaped] * pixel_area
        out["compactness"] = float(np.sum(w * 4 * np.pi * a_mm / perimeters[shaped] ** 2))
        out["solidity"] = float(np.sum(w * [slice_solidity(s) for s in m[shaped]]))
        out["radial_cv"] = float(np.sum(w * [slice_radial_cv(s, pixel_mm) for s in m[shaped]]))
    else:  # a few pixels: no measurable outline
        out.update(compactness=1.0, solidity=1.0, radial_cv=0.0)
    volume_ml = areas.sum() * pixel_area * float(slice_mm) / 1000.0
    out["log_volume_ml"] = float(np.log(volume_ml))
    out["log_surface_to_volume"] = float(np.log(perimeters.sum() / (areas.sum() * pixel_area)))
    return out
