"""NDLScorer's descriptor score (``score="descriptors"``): hematoma descriptors measured on the
segmented hematoma, combined by a penalized logistic regression fit on the training patients.

For each patient, the slices the scorer selects (as for the nDL: classifier probability or
segmented area above ``slice_threshold``; the slice with the largest segmented area when none
is) are cut into hematoma ROIs at the CT's own resolution (``roi_mm``, ``roi_size``, centred
on the segmenter's map as with ``he_input="roi"``), the segmenter's probability over each ROI
is thresholded at 0.5 (at half its peak when nothing reaches 0.5), and
:func:`skhe.preprocessing.hematoma_descriptors` measures density heterogeneity, shape
irregularity and volume. A logistic regression (L2, ``descriptor_C``) on the standardized
descriptors gives the patient's probability :math:`\\bar p`, standardized into the score as the
nDL is. No HE network is trained.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from skhe.exceptions import DataWarning
from skhe.neural._ndl_roi import patient_rois
from skhe.preprocessing._descriptors import (
    DESCRIPTORS,
    hematoma_descriptors,
    refine_hematoma_mask,
)
from skhe.utils import unwrap_frozen, user_stacklevel


def descriptor_probability(table: pd.DataFrame, mean, scale, coef, intercept) -> np.ndarray:
    """The descriptor model's HE probability: ``sigmoid(intercept + z @ coef)``, with ``z`` the
    descriptors standardized by ``mean``/``scale``; a patient without descriptors (NaN) gets
    the training mean (``z = 0``)."""
    z = (table[list(DESCRIPTORS)].to_numpy(float) - mean) / scale
    z = np.where(np.isnan(z), 0.0, z)
    return 1.0 / (1.0 + np.exp(-(intercept + z @ coef)))


def hematoma_mask(prob: np.ndarray) -> np.ndarray | None:
    """The hematoma in ROI probability maps: ``>= 0.5``, else ``>= half the peak`` (peak at
    least 0.05); None when the maps show no hematoma."""
    mask = prob >= 0.5
    if mask.any():
        return mask
    peak = float(prob.max()) if prob.size else 0.0
    return prob >= 0.5 * peak if peak >= 0.05 else None


class NDLDescriptorMixin:
    """The ``score="descriptors"`` side of :class:`NDLScorer`."""

    def _descriptors(self) -> bool:
        return getattr(self, "score", "dl") == "descriptors"

    def _descriptor_inputs(self, pats: list, details: list, names=None) -> list[tuple]:
        """Per patient: the ROI CT slices of its chosen slices (windowed, (n, roi_size,
        roi_size)), their hematoma mask (None when nothing is segmented) and the slice numbers.
        With ``names``, a patient without selected slice is named in a warning."""
        seg = unwrap_frozen(self.segmenter_)
        chosen = []
        for i, d in enumerate(details):
            w = d["weight"].to_numpy(float)
            if np.nansum(w) > 0:
                chosen.append(np.flatnonzero(w > 0))
                continue
            # nothing selected: the slice with the largest segmented area
            chosen.append(np.array([int(np.nanargmax(d["area_mm2"].fillna(-1).to_numpy()))]))
            if names is not None:
                warnings.warn(
                    DataWarning(
                        f"NDLScorer: patient {names[i]}: no hematoma slice found (no slice above "
                        f"the {self.slice_selection} threshold {self.slice_threshold_:.3g} with "
                        "segmented area); its descriptors come from the slice with the largest "
                        "segmented area.",
                        patient=str(names[i]),
                    ),
                    stacklevel=user_stacklevel(),
                )
        stack = np.concatenate([p.images[i] for p, i in zip(pats, chosen, strict=True)])
        maps = seg.predict_proba(stack.astype(np.float32))
        kwargs = {**self._roi_kwargs(), "mask_channel": True}
        out, start = [], 0
        for ps, idx in zip(pats, chosen, strict=True):
            m = maps[start : start + len(idx)]
            start += len(idx)
            x = patient_rois(ps, idx, m, centre_from="maps", **kwargs)[0]
            mask = hematoma_mask(x[:, 1])
            refine = getattr(self, "descriptor_refine_hu", None)
            if mask is not None and refine is not None:
                mask = refine_hematoma_mask(
                    x[:, 0], x[:, 1], mask, hu_threshold=refine, hu_window=self.hu_window
                )
            out.append((x[:, 0], mask, idx))
        return out

    def _descriptor_table(
        self, names: list, pats: list, details: list, warn: bool = True
    ) -> pd.DataFrame:
        """One row of :data:`DESCRIPTORS` per patient (NaN where no hematoma is segmented)."""
        inputs = self._descriptor_inputs(pats, details, names if warn else None)
        return self._descriptor_rows(names, pats, inputs, warn)

    def _descriptor_rows(self, names: list, pats: list, inputs: list, warn: bool) -> pd.DataFrame:
        """:meth:`_descriptor_table` from the patients' :meth:`_descriptor_inputs`."""
        rows = []
        roi_px = float(self.roi_mm) / int(self.roi_size)
        for name, ps, (images, mask, _) in zip(names, pats, inputs, strict=True):
            if mask is None:
                if warn:
                    warnings.warn(
                        DataWarning(
                            f"NDLScorer: patient {name}: no hematoma segmented on its selected "
                            "slices; its descriptor score is the training patients' average.",
                            patient=str(name),
                        ),
                        stacklevel=user_stacklevel(),
                    )
                rows.append(dict.fromkeys(DESCRIPTORS, np.nan))
                continue
            rows.append(
                hematoma_descriptors(
                    images,
                    mask,
                    pixel_mm=(roi_px, roi_px),
                    slice_mm=float(ps.native_spacing[0]),
                    hu_window=self.hu_window,
                )
            )
        return pd.DataFrame(rows, columns=list(DESCRIPTORS))

    def _descriptor_frame(self, X: pd.DataFrame, warn: bool) -> pd.DataFrame:
        """:meth:`_descriptor_table` of every patient of ``X``, read and scored in chunks."""
        return pd.concat(
            [
                self._descriptor_table(names, pats, self._slice_details(pats, gate=True), warn)
                for _, names, pats in self._patient_chunks(X, need_masks=False)
            ],
            ignore_index=True,
        )

    def _fit_descriptor_model(self, X: pd.DataFrame, y01: np.ndarray) -> None:
        """Measure the training patients' descriptors and fit the logistic regression."""
        values = self._descriptor_frame(X, warn=True).to_numpy(float)
        known = ~np.isnan(values).any(axis=1)
        if known.sum() < 2 or len(np.unique(y01[known])) < 2:
            raise ValueError(
                "NDLScorer(score='descriptors'): fewer than two training patients of each class "
                "have a segmented hematoma; the descriptor model cannot be fit."
            )
        mean = values[known].mean(axis=0)
        scale = values[known].std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        z = (values[known] - mean) / scale
        model = LogisticRegression(C=float(self.descriptor_C), max_iter=1000).fit(z, y01[known])
        self.descriptor_names_ = np.asarray(DESCRIPTORS, dtype=object)
        self.descriptor_mean_ = mean
        self.descriptor_scale_ = scale
        self.descriptor_coef_ = model.coef_[0].copy()
        self.descriptor_intercept_ = float(model.intercept_[0])

    def _descriptor_proba(self, table: pd.DataFrame) -> np.ndarray:
        """The fitted descriptor model's probability for each row of ``table``."""
        return descriptor_probability(
            table,
            self.descriptor_mean_,
            self.descriptor_scale_,
            self.descriptor_coef_,
            self.descriptor_intercept_,
        )
