"""NDLScorer's slice selection by a fitted combination of the classifier and the segmenter.

With ``slice_selection="combined"`` a slice's selection score is a logistic regression on
:func:`~skhe.neural.slice_detection_features` with context: the classifier's log-odds, the
segmenter's log expected area (pixels of the ``image_size`` slice), each one's mean over the
neighbouring slices, and the patient's largest log area. On the real CT-ICH folds this
combination detected hemorrhage slices better than either network alone
(``docs/benchmarks/ctich.md``).

The combination must be fit on slice scores of networks that did not train on those slices (a
network's scores on its own training slices are over-confident, the classifier's most). So:

- frozen networks: on the training patients' slices (the networks were trained elsewhere);
- networks trained here, with ``cv``: on the out-of-fold slice scores of the cross-fitting folds
  (each from the networks fit on the other folds), as scikit-learn's ``StackingClassifier``
  does; the networks fit on all patients then use it;
- networks trained here without ``cv``: on their own training slices, with a
  :class:`~skhe.exceptions.DataWarning` saying so.

The fitted combination is plain numbers (``selection_features_``, ``selection_mean_``,
``selection_scale_``, ``selection_coef_``, ``selection_intercept_``), so it saves in skhe's
safe model format; :func:`combined_selection_score` applies it.

``slice_selection="combined_equal"`` reads the same slices the same way but fits no weights: the
classifier's log-odds, the log expected area and each one's neighbours' mean (not the patient's
largest area) are standardized and summed with weight 1, the rule the CT-ICH benchmark measured
best (``docs/benchmarks/ctich-design.md``, sections 14 and 15). Only the features' means and SDs
are learnt, without the labels; the slice threshold still needs them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skhe.exceptions import DataWarning
from skhe.neural._ndl_inputs import stacked_slices
from skhe.neural._slice_features import slice_detection_features
from skhe.utils import unwrap_frozen, user_stacklevel

#: Inverse L2 penalty of the combination (standardized features); sklearn's default.
SELECTION_C = 1.0


@dataclass(frozen=True)
class SliceCombination:
    """A fitted logistic combination of slice features (plain numbers)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float


def combined_selection_features(classifier_proba, expected_area_px, starts) -> pd.DataFrame:
    """The features of ``slice_selection="combined"``, shape (n_slices, 5).

    Parameters
    ----------
    classifier_proba, expected_area_px : array-like of shape (n_slices,)
        The classifier's probability and the segmenter's expected area (pixels) per slice.
    starts : array-like of int
        Where each patient's slices start (and, last, the number of slices); the slices of a
        patient are in volume order.

    Returns
    -------
    DataFrame of shape (n_slices, 5)
        The columns of :func:`slice_detection_features` with ``context=True``.
    """
    starts = np.asarray(starts)
    patient = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    return slice_detection_features(
        classifier_proba=classifier_proba,
        expected_area=expected_area_px,
        patient=patient,
        context=True,
    )


def _both_classes(labels, what: str) -> np.ndarray:
    """``labels`` as ints; a ValueError naming ``what`` when they hold one class only."""
    labels = np.asarray(labels).astype(int)
    if labels.min() == labels.max():
        raise ValueError(
            f"{what} are all {'hematoma' if labels[0] else 'empty'} slices; it needs both."
        )
    return labels


def _standardization(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The features' mean and SD (1 where a feature is constant)."""
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    return features.mean(axis=0), scale


def fit_slice_combination(features, labels, feature_names) -> SliceCombination:
    """A standardized, L2-penalized logistic regression of the slice labels on ``features``."""
    from sklearn.linear_model import LogisticRegression

    features = np.asarray(features, dtype=np.float64)
    labels = _both_classes(labels, "slice_selection='combined': the slices it is fit on")
    mean, scale = _standardization(features)
    model = LogisticRegression(C=SELECTION_C, max_iter=1000)
    model.fit((features - mean) / scale, labels)
    return SliceCombination(
        tuple(feature_names), mean, scale, model.coef_[0].copy(), float(model.intercept_[0])
    )


def equal_weight_slice_combination(features, feature_names) -> SliceCombination:
    """``features`` standardized (their mean and SD) and summed with weight 1; no label read."""
    features = np.asarray(features, dtype=np.float64)
    mean, scale = _standardization(features)
    return SliceCombination(tuple(feature_names), mean, scale, np.ones(features.shape[1]), 0.0)


def combined_selection_score(features, combination: SliceCombination) -> np.ndarray:
    """The combination's probability that each slice holds hematoma, shape (n_slices,).

    ``features``: an array with the combination's columns, or a DataFrame holding them (by
    name; other columns are ignored)."""
    if isinstance(features, pd.DataFrame):
        features = features[list(combination.features)]
    z = (np.asarray(features, dtype=np.float64) - combination.mean) / combination.scale
    return 1.0 / (1.0 + np.exp(-(z @ combination.coef + combination.intercept)))


def _fit_and_score(
    features: pd.DataFrame, labels, equal_weights: bool = False
) -> tuple[SliceCombination, np.ndarray]:
    """The combination fit on ``features`` (named columns), and its scores of those slices.
    ``equal_weights``: the patient's largest area left out, weight 1 on the others."""
    if equal_weights:  # no weights from the labels, but the slice threshold needs both
        _both_classes(
            labels, "slice_selection='combined_equal': the slices its threshold is chosen on"
        )
        features = features.drop(columns=[c for c in features if c.startswith("patient_max")])
    values = features.to_numpy(np.float64)
    if equal_weights:
        combination = equal_weight_slice_combination(values, features.columns)
    else:
        combination = fit_slice_combination(values, labels, features.columns)
    return combination, combined_selection_score(values, combination)


class NDLSelectionMixin:
    """The fitted slice combination of an NDLScorer (``slice_selection="combined"`` or
    ``"combined_equal"``)."""

    def _combined(self) -> bool:
        return self.slice_selection in ("combined", "combined_equal")

    def _uses_classifier(self) -> bool:
        return self.slice_selection in ("classifier", "combined", "combined_equal")

    def _equal_weights(self) -> bool:
        return self.slice_selection == "combined_equal"

    def _detection_scores(self, imgs, starts) -> pd.DataFrame:
        """The combination's features of the slices ``imgs`` (patients starting at ``starts``):
        the classifier's probability and the segmenter's expected area (pixels), with context."""
        p_cls = self.classifier_.predict_proba(imgs)[:, 1]
        area_px = unwrap_frozen(self.segmenter_).slice_score(imgs, kind="area")
        return combined_selection_features(p_cls, area_px, starts)

    def _set_combination(self, combination: SliceCombination) -> None:
        self.selection_features_ = np.asarray(combination.features, dtype=object)
        self.selection_mean_ = combination.mean
        self.selection_scale_ = combination.scale
        self.selection_coef_ = combination.coef
        self.selection_intercept_ = combination.intercept

    def _combination(self) -> SliceCombination:
        return SliceCombination(
            tuple(self.selection_features_),
            np.asarray(self.selection_mean_, dtype=np.float64),
            np.asarray(self.selection_scale_, dtype=np.float64),
            np.asarray(self.selection_coef_, dtype=np.float64),
            float(self.selection_intercept_),
        )

    def _combined_score(self, p_cls, area_px, starts) -> np.ndarray:
        return combined_selection_score(
            combined_selection_features(p_cls, area_px, starts), self._combination()
        )

    def _combination_in_sample(self, imgs, starts, labels, frozen: bool) -> np.ndarray:
        """Fit the combination on the training patients' own slices ``imgs`` (see the module's
        note); returns their combined scores."""
        if not frozen:
            warnings.warn(
                DataWarning(
                    f"NDLScorer(slice_selection={self.slice_selection!r}, cv=None): the "
                    "combination of the "
                    "classifier and the segmenter is fit on the slices the networks were trained "
                    "on, where their scores are over-confident; give cv (out-of-fold slice "
                    "scores) or frozen networks trained on other slices."
                ),
                stacklevel=user_stacklevel(),
            )
        combination, scores = _fit_and_score(
            self._detection_scores(imgs, starts), labels, self._equal_weights()
        )
        self._set_combination(combination)
        return scores

    def _use_selection(self, selection: tuple[SliceCombination, float]) -> None:
        """Use a fitted ``(combination, threshold)``."""
        self._set_combination(selection[0])
        self.slice_threshold_ = float(selection[1])

    def _stacked_selection(self, subs, X, folds) -> tuple[SliceCombination, float]:
        """The combination and threshold from the cross-fitting folds' out-of-fold slice scores
        (:meth:`_stacked_combination`); the threshold is the number given or their Youden
        point."""
        from skhe.metrics import youden_threshold

        combination, scores, labels = self._stacked_combination(subs, X, folds)
        if isinstance(self.slice_threshold, str):
            return combination, float(youden_threshold(labels, scores))
        return combination, float(self.slice_threshold)

    def _stacked_combination(
        self, subs, X, folds
    ) -> tuple[SliceCombination, np.ndarray, np.ndarray]:
        """The combination fit on the out-of-fold slice scores of the cross-fitting ``subs``
        (each fit on the patients outside its held-out rows of ``folds``); returns it, and
        those slices' combined scores and labels."""
        feats, labels = [], []
        for sub, te in zip(subs, folds, strict=True):
            pats = self._patients(X.iloc[te], need_masks=True)
            feats.append(sub._detection_scores(*stacked_slices(pats)))
            labels.append(_slice_labels(pats))
        y = np.concatenate(labels)
        combination, scores = _fit_and_score(
            pd.concat(feats, ignore_index=True), y, self._equal_weights()
        )
        return combination, scores, y


def _slice_labels(pats) -> np.ndarray:
    """1 for each slice of ``pats`` whose mask has hematoma."""
    masks = [p.masks for p in pats]
    missing = [i for i, m in enumerate(masks) if m is None]
    if missing:
        raise ValueError(
            "slice_selection='combined' fits its combination on slices labelled by the training "
            f"masks; {len(missing)} training patient(s) have no mask."
        )
    return np.concatenate([m.reshape(len(m), -1).max(axis=1) > 0 for m in masks]).astype(int)
