"""The stray-region filter of ``benchmarks/ctich.py`` and ``benchmarks/ctich_regions.py``
(docs/benchmarks/ctich-design.md, section 29): whether each mask region touches the true bleed,
the Dice of masks keeping some regions (from region areas and overlaps, no mask rebuilt), the
filter fit out of fold on the validation fold, and the mask rule and cut-off chosen with it.
What a region looks like and the stored filter's use are skhe's
(:func:`skhe.preprocessing.mask_region_features`, :func:`~skhe.preprocessing.drop_stray_regions`).
Pure array functions."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from _ctich_choices import apply_mask_rule

from skhe.preprocessing import REGION_FEATURES, mask_region_features, regions_kept

#: Cut-offs on the filter's probability offered to the validation fold (0: no filter).
REGION_CUTOFFS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


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


def rule_regions(rule: tuple, images, proba, true, neighbours):
    """One mask rule's regions on these slices: their features, slice, area and overlap with
    the true masks (:func:`region_overlap`)."""
    masks = apply_mask_rule(rule, images, proba)
    labels, features, region_slice, region_label = mask_region_features(
        masks, images, proba, neighbours
    )
    overlap = region_overlap(labels, true, region_slice, region_label)
    return features, region_slice, np.rint(np.exp(features[:, 0])), overlap


def region_filter_json(model, cutoff: float) -> dict:
    """A fitted :func:`region_filter_model` and its cut-off as plain numbers (the mapping
    :func:`skhe.preprocessing.drop_stray_regions` applies; ``detector.json``'s
    ``region_filter``)."""
    scaler, logistic = model[0], model[-1]
    return {
        "features": list(REGION_FEATURES),
        "mean": [float(v) for v in scaler.mean_],
        "scale": [float(v) for v in scaler.scale_],
        "coef": [float(v) for v in logistic.coef_[0]],
        "intercept": float(logistic.intercept_[0]),
        "cutoff": float(cutoff),
        "ring": 3,
    }


class RuleRegions(NamedTuple):
    """One mask rule's regions on the validation slices (:func:`rule_regions`), whether they
    touch the bleed, and each one's out-of-fold filter probability (None: no filter can be
    learnt from them)."""

    features: np.ndarray
    region_slice: np.ndarray
    area: np.ndarray
    overlap: np.ndarray
    touches: np.ndarray
    oof: np.ndarray | None


class RegionFilterChoice(NamedTuple):
    """What :func:`choose_region_filter` chose on the validation slices."""

    rule: tuple
    cutoff: float
    #: ``region_filter_json`` of the filter fit on all validation regions of ``rule`` (None at
    #: cut-off 0: no filter)
    region_filter: dict | None
    #: {(rule, cutoff): (Dice per hemorrhage slice, Dice per patient)} on validation, the
    #: filter's probabilities out of fold
    table: dict
    #: {rule: RuleRegions} on validation, what the table was measured from
    regions: dict


def criterion_value(dice: tuple[float, float], criterion: str) -> float:
    """What a mask criterion maximizes, from (Dice per slice, Dice per patient): "slice" the
    first, "slice_patient" their mean."""
    if criterion == "slice":
        return dice[0]
    if criterion == "slice_patient":
        return (dice[0] + dice[1]) / 2
    raise ValueError(f"criterion must be 'slice' or 'slice_patient'; got {criterion!r}")


def best_without_filter(table: dict, criterion: str = "slice") -> tuple:
    """The (rule, 0.0) key of :attr:`RegionFilterChoice.table` that the criterion ranks first
    among the rules without the filter: the mask rule a run without ``--region-filter``
    would choose."""
    return max(
        (k for k in table if k[1] == 0.0), key=lambda k: criterion_value(table[k], criterion)
    )


def choose_region_filter(
    images, proba, true, patients, neighbours, rules, cutoffs=REGION_CUTOFFS, criterion="slice"
) -> RegionFilterChoice:
    """The mask rule and the filter's cut-off with the best validation Dice, chosen together.

    For each rule, each region's probability of touching the bleed comes from a filter that did
    not see its patient (:func:`out_of_fold_region_proba`); each cut-off's masks keep the
    regions at or above it and each slice's heaviest region. ``criterion``: "slice" (mean Dice
    per hemorrhage slice) or "slice_patient" (its mean with the mean Dice per patient). Ties go
    to the earlier rule and the lower cut-off, so with no gain from filtering the choice is the
    rule chosen without it (cut-off 0). A rule whose regions cannot train a filter (one patient,
    or all regions on one side) is offered at cut-off 0 only.
    """
    true_area = np.asarray(true).reshape(len(true), -1).sum(1)
    patients = np.asarray(patients)
    table, regions = {}, {}
    for rule in rules:
        f, r_slice, area, overlap = rule_regions(rule, images, proba, true, neighbours)
        touches = (overlap > 0).astype(int)
        groups = patients[r_slice]
        can = len(np.unique(touches)) == 2 and len(np.unique(groups)) >= 2
        oof = out_of_fold_region_proba(f, touches, groups) if can else None
        for cut in cutoffs:
            if cut > 0 and oof is None:
                continue
            keep = regions_kept(np.ones(len(f)) if oof is None else oof, f, cut)
            d = dice_keeping(keep, r_slice, area, overlap, true_area, patients)
            table[(tuple(rule), float(cut))] = (d["dice_per_slice"], d["dice_per_patient"])
        regions[tuple(rule)] = RuleRegions(f, r_slice, area, overlap, touches, oof)
    rule, cutoff = max(table, key=lambda k: criterion_value(table[k], criterion))
    region_filter = None
    if cutoff > 0:
        chosen = regions[rule]
        model = region_filter_model().fit(chosen.features, chosen.touches)
        region_filter = region_filter_json(model, cutoff)
    return RegionFilterChoice(rule, cutoff, region_filter, table, regions)
