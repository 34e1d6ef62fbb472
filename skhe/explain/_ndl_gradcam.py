"""Grad-CAM of a fitted NDLScorer's HE model on one patient, mapped onto the CT's own pixels."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skhe.explain._gradcam import grad_cam
from skhe.utils import unwrap_frozen


def ndl_grad_cam(ndl, X, *, slice_index: int | None = None, layer=None) -> dict:
    """Grad-CAM of the HE model on one patient's slice, on the slice at the CT's resolution.

    Works for both designs of :class:`~skhe.neural.NDLScorer`: with ``he_input="slice"`` the
    map over the whole ``image_size`` slice is brought back to the CT's pixels; with
    ``he_input="roi"`` the map over the hematoma ROI is pasted where the ROI was cut (0
    elsewhere), so either way it lies on the original slice.

    Parameters
    ----------
    ndl : fitted NDLScorer (or FrozenEstimator of one)
    X : DataFrame
        One patient (a ``ct`` column, as for ``transform``).
    slice_index : int, default=None
        The slice to explain; default the one that weighs most in the patient's nDL score (the
        highest DL score when no slice is selected).
    layer : torch.nn.Module, default=None
        See :func:`grad_cam`.

    Returns
    -------
    dict
        ``slice`` (int), ``image`` (H, W) windowed slice in [0, 1] at the CT's resolution,
        ``cam`` (H, W) in [0, 1], ``box`` (top, left, height, width) of the ROI in the slice's
        pixels or None (whole-slice input), ``dl_score`` and ``weight`` of the slice.
    """
    from skhe.neural._ndl_roi import patient_rois
    from skhe.preprocessing import model_map_to_native, paste_rois, roi_box

    ndl = unwrap_frozen(ndl)
    check_is_fitted(ndl, "segmenter_")
    if getattr(ndl, "he_model_", None) is None:
        raise ValueError(
            "ndl_grad_cam explains the HE network; this NDLScorer has none "
            "(score='descriptors'). Its score is a regression on hematoma descriptors: see "
            "NDLScorer.descriptor_table and descriptor_odds_ratios."
        )
    X = ndl._check_frame(X)
    if len(X) != 1:
        raise ValueError(f"ndl_grad_cam explains one patient; X has {len(X)} rows.")
    table = ndl.slice_table(X)
    if slice_index is None:
        w = table["weight"].to_numpy()
        k = int(np.argmax(w)) if w.max() > 0 else int(np.nanargmax(table["dl_score"].to_numpy()))
    else:
        k = int(slice_index)
        if not 0 <= k < len(table):
            raise ValueError(f"slice_index {k} outside the patient's {len(table)} slices.")
    # through the scorer's cache: an ROI scorer has just read this patient (native) for the table
    ps = ndl._slices().get(
        X["ct"].iloc[0], None, image_size=ndl.image_size, hu_window=ndl.hu_window, native=True
    )
    image = ps.native_slices(k)
    he = unwrap_frozen(ndl.he_model_)
    box = None
    if ndl._roi():
        maps = unwrap_frozen(ndl.segmenter_).predict_proba(ps.images.astype(np.float32))
        kw = ndl._roi_kwargs()
        x, _, centres = patient_rois(ps, np.arange(len(ps.images)), maps, centre_from="maps", **kw)
        cam_roi = grad_cam(he, x[[k]], layer=layer)
        pixel_mm = ps.native_spacing[1:]
        cam = paste_rois(cam_roi, centres[[k]], pixel_mm, image.shape, roi_mm=kw["roi_mm"])[0]
        box = roi_box(centres[k], pixel_mm, roi_mm=kw["roi_mm"])
    else:
        cam_small = grad_cam(he, ps.images[[k]].astype(np.float32), layer=layer)
        cam = model_map_to_native(cam_small, image.shape)[0]
    return {
        "slice": k,
        "image": image,
        "cam": np.clip(cam, 0.0, 1.0),
        "box": box,
        "dl_score": float(table["dl_score"].iloc[k]),
        "weight": float(table["weight"].iloc[k]),
    }
