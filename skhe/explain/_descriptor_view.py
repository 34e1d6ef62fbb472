"""What a descriptor-score NDLScorer measured on one patient: its hematoma ROIs and mask."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skhe.utils import unwrap_frozen


def descriptor_rois(ndl, X) -> dict:
    """The hematoma ROIs an ``NDLScorer(score="descriptors")`` measured on one patient.

    Parameters
    ----------
    ndl : fitted NDLScorer (or FrozenEstimator of one) with ``score="descriptors"``
    X : DataFrame
        One patient (a ``ct`` column, as for ``transform``).

    Returns
    -------
    dict
        ``slices`` (the patient's slice numbers the descriptors come from), ``images``
        (n, roi_size, roi_size) windowed ROIs in [0, 1], ``mask`` (same shape, bool; None when
        nothing was segmented), ``descriptors`` (dict; NaN without a mask), ``ndl_score`` and
        ``roi_mm``.
    """
    ndl = unwrap_frozen(ndl)
    check_is_fitted(ndl, "segmenter_")
    if not ndl._descriptors():
        raise ValueError(
            "descriptor_rois needs NDLScorer(score='descriptors'); for the HE network use "
            "skhe.explain.ndl_grad_cam."
        )
    X = ndl._check_frame(X)
    if len(X) != 1:
        raise ValueError(f"descriptor_rois shows one patient; X has {len(X)} rows.")
    names, pats = ndl._names(X), ndl._patients(X, need_masks=False)
    inputs = ndl._descriptor_inputs(pats, ndl._slice_details(pats, gate=True))
    table = ndl._descriptor_rows(names, pats, inputs, warn=False)  # one pass: what is shown
    images, mask, idx = inputs[0]
    return {
        "slices": np.asarray(idx, dtype=int),
        "images": images,
        "mask": mask,
        "descriptors": {k: float(v) for k, v in table.iloc[0].items()},
        "ndl_score": float(ndl._normalize(ndl._descriptor_proba(table))[0]),
        "roi_mm": float(ndl.roi_mm),
    }
