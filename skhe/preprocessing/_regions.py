"""The connected regions of a segmenter's masks: what each region looks like (numbers that read
no label) and a learnt filter that drops stray regions (bone edges, calcifications, streaks)
while keeping each slice's heaviest region. Pure array functions; the filter's weights are plain
numbers (``benchmarks/ctich.py`` fits them on its validation fold and writes them into
``detector.json``), never pickled code."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

#: The columns of :func:`mask_region_features`.
REGION_FEATURES = (
    "log_area",
    "max_probability",
    "mean_probability",
    "mean_density",
    "blood_fraction",
    "bone_ring_fraction",
    "neighbour_mean_probability",
    "neighbour_max_probability",
    "probability_share",
    "is_top_region",
)


def mask_region_features(masks, images, prob, neighbours, ring: int = 3):
    """Label each slice's mask (4-connected) and describe every region.

    Ten numbers per region, none of which reads a label (:data:`REGION_FEATURES`): its log
    area, largest and mean probability, mean density and share of pixels at 40-100 HU, the
    share of bone (>= 100 HU) in a ``ring``-pixel band around it, the neighbouring slices' mean
    and largest probability over its pixels, its share of the slice's probability mass, and
    whether it is the slice's heaviest region (the most probability mass).

    Parameters
    ----------
    masks : array of shape (n, H, W)
        Binary masks.
    images : array of shape (n, H, W)
        The slices windowed to [0, 1] over 0-100 HU.
    prob : array of shape (n, H, W)
        The segmenter's probabilities.
    neighbours : int array of shape (n, 2)
        Rows of each slice's neighbours below and above (:func:`skhe.neural.neighbour_index`).
    ring : int, default=3
        Width in pixels of the ring around a region whose bone share is measured.

    Returns
    -------
    labels : int32 array of shape (n, H, W)
        Each slice's region labels (0: background).
    features : array of shape (n_regions, len(REGION_FEATURES))
    region_slice, region_label : int arrays of shape (n_regions,)
        Region r is ``labels[region_slice[r]] == region_label[r]``.
    """
    masks = np.asarray(masks) > 0
    images, prob = np.asarray(images), np.asarray(prob)
    neighbours = np.asarray(neighbours)
    if not masks.shape == images.shape == prob.shape or masks.ndim != 3:
        raise ValueError(
            f"mask_region_features: masks {masks.shape}, images {images.shape} and prob "
            f"{prob.shape} must be the same (n, H, W)."
        )
    if neighbours.shape != (len(masks), 2):
        raise ValueError(f"neighbours must be ({len(masks)}, 2); got {neighbours.shape}.")
    labels = np.zeros(masks.shape, np.int32)
    feats, where, which = [], [], []
    cross = ndimage.generate_binary_structure(2, 1)
    height, width = masks.shape[1:]
    for i in range(len(masks)):
        lab, k = ndimage.label(masks[i])
        if k == 0:
            continue
        labels[i] = lab
        on = lab > 0  # statistics over the regions' pixels only (cheap on 512 px slices)
        lab_on, p, im = lab[on], prob[i][on], images[i][on]
        below, above = prob[neighbours[i, 0]][on], prob[neighbours[i, 1]][on]

        def per_region(values, lab_on=lab_on, k=k):
            return np.bincount(lab_on, weights=values, minlength=k + 1)[1:]

        def region_max(values, lab_on=lab_on, k=k):
            out = np.full(k + 1, -np.inf)
            np.maximum.at(out, lab_on, values)
            return out[1:]

        area = per_region(np.ones_like(p))
        mass = per_region(p)
        blood = ((im >= 0.4) & (im < 0.999)).astype(np.float64)  # 40-100 HU
        bone = np.zeros(k)
        for j, box in enumerate(ndimage.find_objects(lab)):
            r0, r1 = max(box[0].start - ring, 0), min(box[0].stop + ring, height)
            c0, c1 = max(box[1].start - ring, 0), min(box[1].stop + ring, width)
            region = lab[r0:r1, c0:c1] == j + 1
            around = ndimage.binary_dilation(region, cross, iterations=ring) & ~region
            if around.any():  # >= 100 HU, the window's top: bone, calcification
                bone[j] = (images[i][r0:r1, c0:c1][around] >= 0.999).mean()
        top = np.zeros(k)
        top[int(np.argmax(mass))] = 1.0
        feats.append(
            np.c_[
                np.log(area),
                region_max(p),
                mass / area,
                per_region(im) / area,
                per_region(blood) / area,
                bone,
                per_region((below + above) / 2) / area,
                region_max(np.maximum(below, above)),
                mass / max(mass.sum(), np.finfo(float).tiny),
                top,
            ]
        )
        where.append(np.full(k, i))
        which.append(np.arange(1, k + 1))
    if not feats:
        empty = np.zeros(0, dtype=int)
        return labels, np.zeros((0, len(REGION_FEATURES))), empty, empty
    return labels, np.vstack(feats), np.concatenate(where), np.concatenate(which)


def keep_regions(labels, region_slice, region_label, keep) -> np.ndarray:
    """The masks (bool) holding only the regions where ``keep`` is true.

    ``labels``, ``region_slice`` and ``region_label`` are :func:`mask_region_features`'s; ``keep``
    has one entry per region."""
    keep = np.asarray(keep, dtype=bool)
    out = np.zeros(labels.shape, dtype=bool)
    for i in np.unique(region_slice):
        sel = region_slice == i
        kept = region_label[sel][keep[sel]]
        if kept.size:
            out[i] = np.isin(labels[i], kept)
    return out


def regions_kept(region_proba, features, cutoff: float) -> np.ndarray:
    """The regions the filter keeps at ``cutoff``: those whose probability of touching the
    bleed is at least ``cutoff``, and each slice's heaviest region whatever its probability
    (``is_top_region``: a slice the mask rule marks keeps a mask). ``cutoff`` 0 keeps all."""
    region_proba = np.asarray(region_proba, dtype=float)
    if cutoff <= 0:
        return np.ones(len(region_proba), dtype=bool)
    top = np.asarray(features)[:, REGION_FEATURES.index("is_top_region")] == 1
    return (region_proba >= cutoff) | top


#: The keys of a region filter (:func:`drop_stray_regions`).
REGION_FILTER_KEYS = ("features", "mean", "scale", "coef", "intercept", "cutoff")


def region_filter_proba(features, region_filter: Mapping) -> np.ndarray:
    """Each region's probability of touching the bleed under a stored logistic filter.

    Parameters
    ----------
    features : array of shape (n_regions, len(REGION_FEATURES))
        :func:`mask_region_features`'s numbers.
    region_filter : mapping
        ``features`` (the names, which must be :data:`REGION_FEATURES`), the scaler's ``mean``
        and ``scale``, the logistic ``coef`` and ``intercept``, and the ``cutoff``, as
        ``benchmarks/ctich.py`` writes them into ``detector.json``.

    Returns
    -------
    ndarray of shape (n_regions,)
    """
    missing = [k for k in REGION_FILTER_KEYS if k not in region_filter]
    if missing:
        raise ValueError(
            f"region filter lacks {', '.join(missing)}; it needs {REGION_FILTER_KEYS}."
        )
    if tuple(region_filter["features"]) != REGION_FEATURES:
        raise ValueError(
            f"region filter was fit on features {list(region_filter['features'])}; this version "
            f"of skhe computes {list(REGION_FEATURES)}."
        )
    params = {k: np.asarray(region_filter[k], dtype=float) for k in ("mean", "scale", "coef")}
    for k, v in params.items():
        if v.shape != (len(REGION_FEATURES),) or not np.all(np.isfinite(v)):
            raise ValueError(
                f"region filter's {k} must be {len(REGION_FEATURES)} finite numbers; got {v.shape}."
            )
    if np.any(params["scale"] <= 0):
        raise ValueError("region filter's scale must be positive.")
    features = np.asarray(features, dtype=float).reshape(-1, len(REGION_FEATURES))
    z = (features - params["mean"]) / params["scale"] @ params["coef"]
    return 1.0 / (1.0 + np.exp(-(z + float(region_filter["intercept"]))))


def drop_stray_regions(masks, images, prob, neighbours, region_filter: Mapping) -> np.ndarray:
    """Drop the mask regions a stored filter deems stray; each slice keeps its heaviest region.

    A segmenter trained on few patients marks regions beside the hematoma (bone edges,
    calcifications, beam-hardening streaks). Each connected region is described by
    :func:`mask_region_features` and scored by a logistic filter fit on annotated slices
    (:func:`region_filter_proba`); regions below the filter's ``cutoff`` are dropped, except
    each slice's heaviest region, so a slice the mask marks keeps a mask (on CT-ICH, a filter
    free to empty slices dropped whole bleeds; docs/benchmarks/ctich-design.md, section 29).

    Parameters
    ----------
    masks : array of shape (n, H, W)
        Binary masks (nonzero = hematoma), e.g. ``HematomaSegmenter.predict``'s.
    images : array of shape (n, H, W)
        The slices windowed to [0, 1] over 0-100 HU (:func:`window`).
    prob : array of shape (n, H, W)
        The segmenter's probabilities on the same pixels.
    neighbours : int array of shape (n, 2)
        Rows of each slice's neighbours below and above in its volume
        (:func:`skhe.neural.neighbour_index`).
    region_filter : mapping
        The filter's plain numbers (see :func:`region_filter_proba`); a ``cutoff`` of 0 keeps
        every region. An optional ``ring`` (default 3) is the bone band's width in pixels.

    Returns
    -------
    ndarray of bool, shape (n, H, W)

    Examples
    --------
    >>> import numpy as np
    >>> from skhe.preprocessing import REGION_FEATURES, drop_stray_regions
    >>> masks = np.zeros((1, 8, 8), bool); masks[0, 1:4, 1:4] = True; masks[0, 6, 6] = True
    >>> prob = masks * 0.9
    >>> keep_large = dict(features=REGION_FEATURES, mean=[0.0] * 10, scale=[1.0] * 10,
    ...                   coef=[5.0] + [0.0] * 9, intercept=-2.0, cutoff=0.5)
    >>> out = drop_stray_regions(masks, prob, prob, np.zeros((1, 2), int), keep_large)
    >>> int(out.sum())  # the one-pixel region is dropped, the 3 x 3 one kept
    9
    """
    labels, features, region_slice, region_label = mask_region_features(
        masks, images, prob, neighbours, ring=int(region_filter.get("ring", 3))
    )
    keep = regions_kept(
        region_filter_proba(features, region_filter), features, float(region_filter["cutoff"])
    )
    return keep_regions(labels, region_slice, region_label, keep)
