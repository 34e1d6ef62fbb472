"""Per-slice detection features from the networks' outputs (pure arrays, no fitting).

A slice is a hemorrhage slice when the classifier says so, when the segmenter finds hematoma on
it, or, best on real CT, when a fitted combination of both says so (``benchmarks/ctich.py``,
``docs/benchmarks/ctich.md``). :func:`slice_detection_features` lays out what such a
combination reads: the classifier's log-odds, the segmenter's expected area and largest pixel
probability, and optionally their context in the patient's volume (a bleed spans neighbouring
slices; a false positive often sits alone). Fit any scikit-learn classifier on them, on slices
the networks were not trained on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def neighbour_index(patient, slice_number=None) -> np.ndarray:
    """Each slice's two neighbours in its patient's volume, as row indices.

    Parameters
    ----------
    patient : array-like of shape (n_slices,)
        The patient of each slice.
    slice_number : array-like of shape (n_slices,) or None
        Position of each slice in its volume; None: the order given.

    Returns
    -------
    ndarray of int, shape (n_slices, 2)
        The rows of the slice below and above (``[:, 0]`` and ``[:, 1]``, by slice number). An
        edge slice stands in for its missing neighbour, and a patient's only slice for both.
    """
    patient = np.asarray(patient)
    order = np.arange(len(patient)) if slice_number is None else np.asarray(slice_number)
    if len(order) != len(patient):
        raise ValueError(f"slice_number has {len(order)} entries for {len(patient)} slices.")
    out = np.empty((len(patient), 2), dtype=np.intp)
    for p in pd.unique(patient):
        idx = np.flatnonzero(patient == p)
        idx = idx[np.argsort(order[idx], kind="stable")]
        out[idx, 0] = np.r_[idx[:1], idx[:-1]]
        out[idx, 1] = np.r_[idx[1:], idx[-1:]]
    return out


def neighbour_mean(values, patient, slice_number=None) -> np.ndarray:
    """Each slice's mean of its two neighbours' ``values`` in its patient's volume.

    Parameters
    ----------
    values : array-like of shape (n_slices,)
    patient : array-like of shape (n_slices,)
        The patient of each slice.
    slice_number : array-like of shape (n_slices,) or None
        Position of each slice in its volume; None: the order given.

    Returns
    -------
    ndarray of shape (n_slices,)
        The mean of the slices below and above (:func:`neighbour_index`): an edge slice's own
        value stands in for its missing neighbour, and a patient's only slice keeps its own
        value.
    """
    values = np.asarray(values, dtype=float)
    patient = np.asarray(patient)
    if len(patient) != len(values):
        raise ValueError(f"patient has {len(patient)} entries for {len(values)} slices.")
    nb = neighbour_index(patient, slice_number)  # checks slice_number's length
    return (values[nb[:, 0]] + values[nb[:, 1]]) / 2


def patient_max(values, patient) -> np.ndarray:
    """Each slice's patient's largest ``values`` (shape (n_slices,))."""
    values = np.asarray(values, dtype=float)
    patient = np.asarray(patient)
    if len(patient) != len(values):
        raise ValueError(f"patient has {len(patient)} entries for {len(values)} slices.")
    out = np.empty_like(values)
    for p in pd.unique(patient):
        sel = patient == p
        out[sel] = values[sel].max()
    return out


def slice_detection_features(
    *,
    classifier_proba=None,
    expected_area=None,
    max_probability=None,
    patient=None,
    slice_number=None,
    context: bool = False,
) -> pd.DataFrame:
    """What a fitted combination of the slice classifier and the segmenter reads, per slice.

    Parameters
    ----------
    classifier_proba : array-like of shape (n_slices,) or None
        :class:`SliceClassifier`'s hemorrhage probability (``predict_proba(X)[:, 1]``).
    expected_area : array-like of shape (n_slices,) or None
        :class:`HematomaSegmenter`'s expected hematoma area in pixels
        (``slice_score(X, kind="area")``).
    max_probability : array-like of shape (n_slices,) or None
        Its largest pixel probability (``slice_score(X, kind="max")``).
    patient, slice_number : array-like of shape (n_slices,) or None
        The slices' patients and positions in their volumes; needed with ``context``
        (``slice_number`` None: the order given).
    context : bool, default=False
        Also each feature's mean over the neighbouring slices (:func:`neighbour_mean`) and the
        patient's largest log expected area (:func:`patient_max`; with ``expected_area``).

    Returns
    -------
    DataFrame of shape (n_slices, n_features)
        Columns ``classifier_logit``, ``log1p_expected_area_px``, ``max_probability`` (those
        given), then with ``context`` ``neighbour_mean_<column>`` for each and
        ``patient_max_log1p_expected_area_px``.
    """
    cols: dict[str, np.ndarray] = {}
    if classifier_proba is not None:
        p = np.clip(np.asarray(classifier_proba, dtype=float), 1e-6, 1 - 1e-6)
        cols["classifier_logit"] = np.log(p / (1 - p))
    if expected_area is not None:
        area = np.asarray(expected_area, dtype=float)
        if (area < 0).any():
            raise ValueError("expected_area must be >= 0 (pixels).")
        cols["log1p_expected_area_px"] = np.log1p(area)
    if max_probability is not None:
        cols["max_probability"] = np.asarray(max_probability, dtype=float)
    if not cols:
        raise ValueError(
            "slice_detection_features needs classifier_proba, expected_area or max_probability."
        )
    lengths = {len(v) for v in cols.values()}
    if len(lengths) != 1:
        raise ValueError(f"the scores have different lengths: {sorted(lengths)}.")
    for name, v in cols.items():
        if not np.isfinite(v).all():
            raise ValueError(f"{name} contains NaN or inf values.")
    out = pd.DataFrame(cols)
    if not context:
        return out
    if patient is None:
        raise ValueError("context=True needs each slice's patient (and slice_number).")
    for name in list(cols):
        out[f"neighbour_mean_{name}"] = neighbour_mean(cols[name], patient, slice_number)
    if "log1p_expected_area_px" in cols:
        out["patient_max_log1p_expected_area_px"] = patient_max(
            cols["log1p_expected_area_px"], patient
        )
    return out
