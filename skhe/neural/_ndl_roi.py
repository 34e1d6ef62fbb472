"""NDLScorer's hematoma-centred input (``he_input="roi"``): what the HE model sees per slice.

With ``he_input="slice"`` (the paper) the HE model sees each whole slice at ``image_size``.
With ``he_input="roi"`` it sees a square of ``roi_mm`` millimetres around the hematoma, cut from
the slice at the CT's own resolution and resampled to ``roi_size`` pixels
(:func:`skhe.preprocessing.cut_rois`), plus (``roi_mask_channel``) the segmenter's hematoma
probability over the same square as a second channel. The centre is the centroid of the
hematoma on the slice: of the true mask while training (the segmenter is trained on those same
masks), of the segmenter's probability map when scoring; a slice without hematoma is cut around
the patient's hematoma (see :func:`skhe.preprocessing.roi_centres`). The segmenter only has to
find the hematoma, so it can work on small slices; the detail the HE model needs is in the ROI.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

from skhe.preprocessing._roi import cut_rois, model_to_native, native_to_model, roi_centres
from skhe.utils import unwrap_frozen


def patient_rois(
    ps,
    index: np.ndarray,
    maps: np.ndarray | None,
    *,
    image_size: int,
    roi_mm: float,
    roi_size: int,
    mask_channel: bool,
    centre_from: str,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """ROI inputs of slices ``index`` of one patient (``ps``, read with ``native=True``).

    Parameters
    ----------
    ps : PatientSlices
    index : int array
        The patient's slices to cut.
    maps : ndarray of shape (len(index), image_size, image_size) or None
        The segmenter's probability maps of those slices (the mask channel; the centres when
        ``centre_from="maps"``).
    centre_from : {"truth", "maps"}
        Centres from the true native masks (training) or from ``maps`` (scoring).

    Returns
    -------
    X : float32 array (len(index), C, roi_size, roi_size)
    masks : uint8 array (len(index), roi_size, roi_size) or None (no true masks)
    centres : (len(index), 2) ROI centres in native pixels
    """
    index = np.asarray(index, dtype=int)
    native_shape = ps.native.shape[1:]
    pixel_mm = ps.native_spacing[1:]
    if centre_from == "truth":
        if ps.native_masks is None:
            raise ValueError("ROI centres from the truth need the patient's mask.")
        centres = roi_centres(ps.native_masks)[0][index]
    else:
        model_centres = roi_centres(maps)[0]
        centres = model_to_native(model_centres, native_shape, image_size)
    images = cut_rois(ps.native_slices(index), centres, pixel_mm, roi_mm=roi_mm, roi_size=roi_size)
    channels = [images]
    if mask_channel:
        if maps is None:
            raise ValueError("the ROI mask channel needs the segmenter's probability maps.")
        scale = max(native_shape) / float(image_size)
        channels.append(
            np.clip(
                cut_rois(
                    maps,
                    native_to_model(centres, native_shape, image_size),
                    (pixel_mm[0] * scale, pixel_mm[1] * scale),
                    roi_mm=roi_mm,
                    roi_size=roi_size,
                ),
                0.0,
                1.0,
            )
        )
    masks = None
    if ps.native_masks is not None:
        masks = cut_rois(
            ps.native_masks[index], centres, pixel_mm, roi_mm=roi_mm, roi_size=roi_size, mask=True
        )
    return np.stack(channels, axis=1), masks, centres


def _slice_owners(pats: list) -> tuple[np.ndarray, np.ndarray]:
    """Patient number and slice number of each slice of ``pats`` concatenated."""
    counts = [len(p.images) for p in pats]
    owner = np.repeat(np.arange(len(pats)), counts)
    local = np.concatenate([np.arange(c) for c in counts])
    return owner, local


class NDLRoiMixin:
    """The ``he_input="roi"`` side of :class:`NDLScorer`."""

    def _roi(self) -> bool:
        return getattr(self, "he_input", "slice") == "roi"

    def _roi_kwargs(self) -> dict:
        return dict(
            image_size=int(self.image_size),
            roi_mm=float(self.roi_mm),
            roi_size=int(self.roi_size),
            mask_channel=bool(self.roi_mask_channel),
        )

    def _roi_he_model(self, he, default):
        """The HE model set up for ROI input (``image_size=roi_size``, one channel more with
        the mask channel); a frozen one must already take that input."""
        chans = 1 + int(bool(self.roi_mask_channel))
        if isinstance(he, FrozenEstimator):
            inner = unwrap_frozen(he)
            if (inner.image_size, inner.in_chans) != (int(self.roi_size), chans):
                raise ValueError(
                    f"he_input='roi': the frozen HE model takes {inner.in_chans} channel(s) at "
                    f"{inner.image_size} px; the ROIs have {chans} at roi_size={self.roi_size}."
                )
            return he
        base = he if he is not None else default
        return clone(base).set_params(image_size=int(self.roi_size), in_chans=chans)

    def _roi_training_set(self, pats: list, sel: np.ndarray, images: np.ndarray):
        """ROI inputs and true ROI masks of the training slices ``sel`` (sorted indices into
        the concatenated slices of ``pats``), centred on the true masks."""
        maps = None
        if self.roi_mask_channel:
            maps = unwrap_frozen(self.segmenter_).predict_proba(images[sel])
        x, masks, _ = self._rois_by_patient(pats, sel, maps, "truth")
        return x, masks

    def _roi_dl_scores(self, pats: list, run: np.ndarray, maps: np.ndarray) -> np.ndarray:
        """The HE model's probability on the ROIs of the slices ``run`` (a mask over the
        concatenated slices of ``pats``), centred on the segmenter's ``maps`` of those slices."""
        x = self._roi_inputs(pats, run, maps)[0]
        return self.he_model_.predict_proba(x)[:, 1]

    def _roi_inputs(self, pats: list, run: np.ndarray, maps: np.ndarray):
        """ROI inputs and native centres of the slices ``run``, in the order of the slices."""
        x, _, centres = self._rois_by_patient(pats, np.flatnonzero(run), maps, "maps")
        return x, centres

    def _rois_by_patient(self, pats: list, idx: np.ndarray, maps, centre_from: str):
        """:func:`patient_rois` of the slices ``idx`` (sorted indices into the concatenated
        slices of ``pats``; ``maps`` theirs, or None), patient by patient, concatenated in
        slice order: inputs, true ROI masks (None without masks) and native centres."""
        owner, local = _slice_owners(pats)
        xs, ms, centres = [], [], []
        for p in np.unique(owner[idx]):  # idx is sorted: patients, then slices, in order
            rows = np.flatnonzero(owner[idx] == p)
            x, m, c = patient_rois(
                pats[p],
                local[idx][rows],
                None if maps is None else maps[rows],
                centre_from=centre_from,
                **self._roi_kwargs(),
            )
            xs.append(x)
            ms.append(m)
            centres.append(c)
        masks = None if any(m is None for m in ms) else np.concatenate(ms)
        return np.concatenate(xs), masks, np.concatenate(centres)
