"""The connected regions of a segmentation's masks, for ``benchmarks/ctich_regions.py``: what
each region looks like (numbers that read no label), whether it touches the true bleed, the
masks with some regions dropped, and a filter of stray regions learnt on the validation fold
(docs/benchmarks/ctich-design.md, section 29). Pure array functions."""

from __future__ import annotations

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
#: Cut-offs on the filter's probability offered to the validation fold (0: no filter).
REGION_CUTOFFS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


def mask_region_features(masks, images, prob, neighbours, ring: int = 3):
    """Label each slice's mask (4-connected) and describe every region.

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


def region_overlap(labels, true, region_slice, region_label) -> np.ndarray:
    """Each region's pixels inside the true mask (> 0: the region touches the bleed)."""
    true = np.asarray(true) > 0
    out = np.zeros(len(region_slice), dtype=np.int64)
    for i in np.unique(region_slice):
        sel = region_slice == i
        hits = np.bincount(labels[i][true[i]], minlength=int(region_label[sel].max()) + 1)
        out[sel] = hits[region_label[sel]]
    return out


def dice_keeping(keep, region_slice, region_area, region_overlap, true_area, patients) -> dict:
    """Dice of the masks that keep only the regions where ``keep`` is true, from each region's
    area and overlap with the true mask (no mask is built): the mean over slices with
    hemorrhage (``true_area`` > 0: each slice's true pixels), pooled over them, and the mean
    3-D Dice per patient with hemorrhage (``patients``: each slice's patient)."""
    keep = np.asarray(keep, dtype=bool)
    n = len(true_area)
    true_area = np.asarray(true_area, dtype=np.float64)
    pred = np.bincount(region_slice[keep], weights=region_area[keep], minlength=n)
    inter = np.bincount(region_slice[keep], weights=region_overlap[keep], minlength=n)
    has = true_area > 0
    _, pat = np.unique(np.asarray(patients), return_inverse=True)
    t_p, p_p, i_p = (np.bincount(pat, weights=w) for w in (true_area, pred, inter))
    with_bleed = t_p > 0
    return {
        "dice_per_slice": float(np.mean(2 * inter[has] / (true_area[has] + pred[has]))),
        "dice_pooled": float(2 * inter[has].sum() / (true_area[has].sum() + pred[has].sum())),
        "dice_per_patient": float(
            np.mean(2 * i_p[with_bleed] / (t_p[with_bleed] + p_p[with_bleed]))
        ),
    }


def keep_regions(labels, region_slice, region_label, keep) -> np.ndarray:
    """The masks (bool) holding only the regions where ``keep`` is true."""
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


def region_filter_model():
    """The filter: standardized features, logistic regression (C = 1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))


def out_of_fold_region_proba(features, touches, groups, n_splits: int = 5) -> np.ndarray:
    """Each validation region's filter probability from a fit that did not see its patient
    (``groups``: each region's patient)."""
    from sklearn.model_selection import GroupKFold, cross_val_predict

    k = min(n_splits, len(np.unique(groups)))
    if k < 2 or len(np.unique(touches)) < 2:
        raise ValueError(
            "the region filter needs regions of at least two patients, some touching the "
            f"bleed and some not; got {len(np.unique(groups))} patient(s), "
            f"{int(np.sum(touches))} of {len(touches)} regions touching it"
        )
    return cross_val_predict(
        region_filter_model(),
        features,
        touches,
        groups=groups,
        cv=GroupKFold(k),
        method="predict_proba",
    )[:, 1]
