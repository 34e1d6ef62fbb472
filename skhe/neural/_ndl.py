"""NDLScorer: a patient-level transformer from CT scans to the normalized DL (nDL) score.

Over 500 lines on purpose: it is one public estimator whose user-facing docstring (every
parameter and attribute, about 140 lines) and public methods (``transform``, ``slice_table``,
``descriptor_table``, ...) must live on the class to be documented. Its parts are already in
mixins by responsibility: reading patients (``_ndl_inputs``), training (``_ndl_training``),
hematoma ROIs (``_ndl_roi``), the fitted slice selection (``_ndl_selection``), the descriptor
score (``_ndl_descriptors``), and the nDL formula as pure functions (``_ndl_score``).
"""

from __future__ import annotations

import itertools
import os
import typing
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from skhe.exceptions import DataWarning
from skhe.neural._ndl_descriptors import NDLDescriptorMixin
from skhe.neural._ndl_inputs import NDLInputsMixin, stacked_slices
from skhe.neural._ndl_roi import NDLRoiMixin
from skhe.neural._ndl_score import ndl_from_pooled, ndl_normalization, pool_slice_scores
from skhe.neural._ndl_selection import NDLSelectionMixin
from skhe.neural._ndl_training import NDLTrainingMixin, _fit_transform_uncached
from skhe.preprocessing import PatientSliceCache
from skhe.utils import binary_target, unwrap_frozen, user_stacklevel
from skhe.utils._compat import HasMethods, Interval, StrOptions, validate_params
from skhe.utils._docs import DocLinkMixin


class NDLScorer(
    DocLinkMixin,
    NDLInputsMixin,
    NDLRoiMixin,
    NDLDescriptorMixin,
    NDLTrainingMixin,
    NDLSelectionMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Patient-level nDL score from the CT: slice classifier + segmenter + multi-task HE head.

    For each patient: the :class:`SliceClassifier` picks the hematoma slices (probability >=
    ``slice_threshold``), the :class:`HematomaSegmenter` gives each slice's expected hematoma area
    (sum of pixel probabilities times the pixel area, mm^2: robust where a hard mask would be
    empty),
    and the :class:`MultiTaskHEModel` gives each slice's DL score :math:`s_k` (HE probability).
    The patient's raw score is the area-weighted mean over the selected slices,
    :math:`\\bar p = \\sum_k a_k s_k / \\sum_k a_k`, and the **nDL score** is its log-odds
    standardized on the training patients:

    .. math:: \\mathrm{nDL} = (\\mathrm{logit}(\\bar p) - \\mu_{train}) / \\sigma_{train}

    so a logistic regression reports an odds ratio per SD of nDL (the formula as pure functions:
    :mod:`skhe.neural._ndl_score`, exported as :func:`pool_slice_scores`,
    :func:`ndl_normalization` and :func:`ndl_from_pooled`). A patient with no selected
    slice or no segmented area gets :math:`\\bar p` = the unweighted mean DL score of all its
    slices, and a warning naming the patient (never NaN).

    With ``score="descriptors"`` no HE network is trained: :math:`\\bar p` is instead a
    penalized logistic regression on **hematoma descriptors** (density heterogeneity, shape
    irregularity, volume; :func:`skhe.preprocessing.hematoma_descriptors`) measured on the
    segmented hematoma of the selected slices, in ROIs cut at the CT's own resolution
    (:mod:`skhe.neural._ndl_descriptors`), and standardized the same way. On small cohorts it
    recovers more of the image's signal than the per-slice network
    (``docs/benchmarks/he_signal.md``); the output is still called ``ndl_score`` so the
    pipelines, reports and tests treat both alike.

    Parameters
    ----------
    classifier : SliceClassifier, FrozenEstimator or None, default=None
        Cloned and fit on the training slices (labels from the masks), unless wrapped in
        ``sklearn.frozen.FrozenEstimator`` (used as is). None: ``SliceClassifier()`` with the
        paper's settings at ``image_size``.
    segmenter : HematomaSegmenter, FrozenEstimator or None, default=None
        Fit on the hematoma slices of the training patients plus as many without.
    he_model : MultiTaskHEModel, FrozenEstimator or None, default=None
        Fit on the same slices, each hematoma slice carrying its patient's HE label, starting from
        the fitted segmenter's U-Net weights when the architectures match. None: a
        ``MultiTaskHEModel`` with the segmenter's encoder.
    image_size : int, default=512
        Slices are resized to this once (and cached for the process).
    hu_window : (low, high), default=(0, 100)
    slice_selection : {"classifier", "segmenter", "combined", "combined_equal"}, \
            default="classifier"
        What picks the hematoma slices. "classifier": the :class:`SliceClassifier`'s probability
        (the paper). "segmenter": the segmenter's expected hematoma area in pixels of the
        ``image_size`` slice (:meth:`HematomaSegmenter.slice_score`); no classifier is trained
        (``classifier_`` is None), which saves its training, and on real CT (CT-ICH, 5 folds;
        ``docs/benchmarks/ctich.md``) it separates hemorrhage slices about as well as the
        classifier. "combined": a logistic regression on both networks' scores and their
        neighbouring slices' (:func:`~skhe.neural.slice_detection_features` with context),
        fit on out-of-fold slice scores of the ``cv`` folds, or on the training slices when
        the networks are frozen (:mod:`skhe.neural._ndl_selection`). On CT-ICH's 5 folds
        the combinations detected hemorrhage slices best (slice AUC 0.889-0.892 against the
        classifier's 0.859; ``docs/benchmarks/ctich-cv-no-refit.md``). "combined_equal": the
        same slices and features without the patient's largest area, standardized and summed
        with weight 1 (no weights fit; only the threshold reads the labels). On the saved
        scores of CT-ICH's test folds 1-4 it beat the fitted combination on three of four
        (slice AUC 0.9575, 0.9561, 0.8872, 0.9186 against 0.9533, 0.9480, 0.8884, 0.8975;
        ``docs/benchmarks/ctich-design.md`` section 18). The default stays the paper's.
    he_input : {"slice", "roi"}, default="slice"
        What the HE model sees per slice. "slice": the whole slice at ``image_size`` (the
        paper). "roi": a square of ``roi_mm`` mm around the segmented hematoma, cut from the
        slice at the CT's own resolution and resampled to ``roi_size`` px, with the segmenter's
        probability over it as a second channel (``roi_mask_channel``); the HE model's
        ``image_size`` and ``in_chans`` are set to match. Small slices then suffice to *find*
        the hematoma while the HE model still sees its margin and density pattern
        (:mod:`skhe.neural._ndl_roi`). The two are interchangeable in ``GridSearchCV``
        (``ndl__he_input``).
    roi_mm : float, default=80.0
        Side of the ROI in millimetres (``he_input="roi"``).
    roi_size : int, default=64
        Side of the ROI in pixels (``he_input="roi"``).
    roi_mask_channel : bool, default=True
        Give the HE model the segmenter's hematoma probability over the ROI as a second
        channel (``he_input="roi"``).
    score : {"dl", "descriptors"}, default="dl"
        The patient score. "dl": the HE network's slice scores pooled by area (the paper's
        nDL). "descriptors": a logistic regression on hematoma descriptors measured in
        ``roi_mm`` ROIs on the segmenter's hematoma (probability >= 0.5); ``he_model`` is not
        used and ``he_model_`` is None. ``GridSearchCV`` can compare the two
        (``ndl__score``).
    descriptor_C : float, default=0.03
        Inverse L2 penalty of the descriptor regression (``score="descriptors"``), on
        standardized descriptors; chosen by cross-validation on the benchmark cohort
        (``benchmarks/he_signal.py``).
    descriptor_refine_hu : float or None, default=40.0
        Sharpen the segmented hematoma's outline for the descriptors with the CT's density
        (``score="descriptors"``): pixels of at least this many HU where the segmenter's
        probability is at least 0.2, connected to its hematoma, holes filled
        (:func:`skhe.preprocessing.refine_hematoma_mask`). None: the segmenter's outline
        alone. Chosen with ``descriptor_C`` on the benchmark cohort (35, 40, 45 HU).
    slice_threshold : "youden" or float, default="youden"
        Selection score from which a slice counts as a hematoma slice (a probability, or an
        area in pixels with ``slice_selection="segmenter"``); "youden" uses the Youden-optimal
        threshold of the score on the training slices (``slice_threshold_``; with
        ``slice_selection="combined"`` and ``cv``, on their out-of-fold scores).
    normalize : bool, default=True
        Standardize the log-odds (False returns ``logit(p̄)``).
    cv : int or None, default=3
        Cross-fitting, as sklearn's ``TargetEncoder``: ``fit_transform`` (what a Pipeline calls)
        returns *out-of-fold* nDL scores for the training patients, each from networks fit on the
        other folds, so the downstream logistic regression sees scores as honest as on new
        patients (in-sample scores of networks that saw the patient's HE label are nearly perfect
        and make the regression separate). The standardization uses the out-of-fold scores;
        ``transform`` uses networks fit on all training patients. Costs ``cv + 1`` fits. None:
        in-sample scores (only sensible with frozen, independently trained sub-estimators).
    patient_column : str, default="patient_id"
        Column naming patients in warnings and slice tables (row index when absent).
    chunk_pixels : int, default=2**26
        ``transform`` scores patients in groups of about this many slice pixels (256 MB as
        float32: 256 slices at 512 x 512, 16,384 at 64 x 64), so memory stays bounded while the
        networks see full batches across patients.
    read_ahead : bool, default=True
        ``transform`` reads (decodes, windows, resizes) the next group of ``chunk_pixels``
        in a background thread while the networks score the current one. The groups are the
        same either way, and so are the scores, bit for bit. False: read a group, then score
        it.
    read_jobs : int or None, default=None
        Worker processes that read and preprocess patients (DICOM decoding, windowing,
        resizing) in parallel; None or 1 reads in this process, -1 uses every core. Decoding
        holds Python's interpreter lock, so only processes read in parallel. The workers (one
        torch thread each) start once, about 2 s each with torch imported, and serve later
        calls until idle for 5 minutes, so they pay off on cohorts, not on a few patients
        (``benchmarks/inference.py --read-jobs``). The slices, and so the scores, are the same.
    preprocess_device : str, default="auto"
        Where the patients read in this process are windowed and resized
        (:func:`~skhe.preprocessing.window_resize`): "cpu", a torch device such as "cuda", or
        "auto": the networks' device (so on a GPU the CPU only decodes the DICOM files and
        the int16 HU cross to the GPU). The ``read_jobs`` workers always preprocess on the
        CPU. The slices agree with the CPU's to float rounding (bit for bit on a CPU).
    slice_cache : None, int or PatientSliceCache, default=None
        Where preprocessed patients are kept between ``fit``, its cross-fitting folds and
        ``transform``, so each CT is read once. None: a cache of up to 4 GiB owned by this
        scorer; an int: the same with that many bytes; a
        :class:`~skhe.preprocessing.PatientSliceCache`: that one, shared by the clones that
        ``cross_validate`` and ``GridSearchCV`` make (so folds never re-read a patient).
    memory : str, path or joblib.Memory, default=None
        Cache of fitted scorers (as ``Pipeline(memory=...)``): a second ``fit`` of an identically
        configured scorer on the same patients and labels loads the fitted networks instead of
        training them again, e.g. when Image- and Integrated-to-HE share one nDL score. The key
        is the parameters and the ``ct``/``mask`` paths, not the files' contents. Each network
        fit is also cached on its own (key: its settings and the slices it trains on), so
        scorers that differ in what comes after a network share its fits: ``score="dl"`` and
        ``"descriptors"``, or a grid over the HE model's settings, train the segmenter once per
        fold. The cache holds pickles: point it only at a folder you own.
    random_state : int or None
    verbose : int, default=0
        1 shows progress bars.

    Attributes
    ----------
    classifier_, segmenter_, he_model_ : fitted sub-estimators
        (``classifier_`` is None with ``slice_selection="segmenter"``)
    slice_threshold_ : float
        The selection-score threshold in use.
    selection_features_, selection_mean_, selection_scale_, selection_coef_, \
selection_intercept_ : ndarray, float
        The fitted combination (``slice_selection="combined"``): feature names, their mean and
        SD, and the logistic regression's coefficients (per SD) and intercept; with
        ``"combined_equal"`` the coefficients are 1 and the intercept 0.
    center_, scale_ : float
        Mean and SD of the training patients' (out-of-fold) ``logit(p̄)``.
    oof_scores_ : ndarray or None
        Out-of-fold nDL scores of the training patients (with ``cv``).
    descriptor_names_, descriptor_mean_, descriptor_scale_ : ndarray
        The descriptors (``score="descriptors"``) and their training mean and SD.
    descriptor_coef_ : ndarray
        The descriptor regression's log-odds per SD of each descriptor (see
        :meth:`descriptor_odds_ratios`).
    descriptor_intercept_ : float
        Its intercept.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    _parameter_constraints: typing.ClassVar[dict] = {
        "classifier": [None, HasMethods(["fit", "predict_proba"])],
        "segmenter": [None, HasMethods(["fit", "predict_proba"])],
        "he_model": [None, HasMethods(["fit", "predict_proba"])],
        "image_size": [Interval(Integral, 8, None, closed="left")],
        "hu_window": [tuple, list],
        "slice_selection": [StrOptions({"classifier", "segmenter", "combined", "combined_equal"})],
        "he_input": [StrOptions({"slice", "roi"})],
        "roi_mm": [Interval(Real, 0, None, closed="neither")],
        "roi_size": [Interval(Integral, 8, None, closed="left")],
        "roi_mask_channel": ["boolean"],
        "score": [StrOptions({"dl", "descriptors"})],
        "descriptor_C": [Interval(Real, 0, None, closed="neither")],
        "descriptor_refine_hu": [None, Interval(Real, None, None, closed="neither")],
        "slice_threshold": [StrOptions({"youden"}), Interval(Real, 0, None, closed="left")],
        "normalize": ["boolean"],
        "cv": [None, Interval(Integral, 2, None, closed="left")],
        "patient_column": [str],
        "chunk_pixels": [Interval(Integral, 1, None, closed="left")],
        "read_ahead": ["boolean"],
        "read_jobs": [
            None,
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "preprocess_device": [str],
        "slice_cache": [None, Interval(Integral, 0, None, closed="left"), PatientSliceCache],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "random_state": [None, Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
    }

    # a cache folder belongs to the machine that fit the scorer (skhe.persistence saves None)
    _not_persisted = ("memory", "slice_cache", "_slice_cache")

    def __init__(
        self,
        classifier=None,
        segmenter=None,
        he_model=None,
        *,
        image_size=512,
        hu_window=(0.0, 100.0),
        slice_selection="classifier",
        he_input="slice",
        roi_mm=80.0,
        roi_size=64,
        roi_mask_channel=True,
        score="dl",
        descriptor_C=0.03,
        descriptor_refine_hu=40.0,
        slice_threshold="youden",
        normalize=True,
        cv=3,
        patient_column="patient_id",
        chunk_pixels=2**26,
        read_ahead=True,
        read_jobs=None,
        preprocess_device="auto",
        slice_cache=None,
        memory=None,
        random_state=None,
        verbose=0,
    ):
        self.classifier = classifier
        self.segmenter = segmenter
        self.he_model = he_model
        self.image_size = image_size
        self.hu_window = hu_window
        self.slice_selection = slice_selection
        self.he_input = he_input
        self.roi_mm = roi_mm
        self.roi_size = roi_size
        self.roi_mask_channel = roi_mask_channel
        self.score = score
        self.descriptor_C = descriptor_C
        self.descriptor_refine_hu = descriptor_refine_hu
        self.slice_threshold = slice_threshold
        self.normalize = normalize
        self.cv = cv
        self.patient_column = patient_column
        self.chunk_pixels = chunk_pixels
        self.read_ahead = read_ahead
        self.read_jobs = read_jobs
        self.preprocess_device = preprocess_device
        self.slice_cache = slice_cache
        self.memory = memory
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    # ------------------------------------------------------------------ fit
    def fit(self, X, y):
        """Fit the sub-estimators on all training patients and the nDL normalization.

        With ``cv`` this runs the cross-fitting of :meth:`fit_transform` (for the normalization).

        Parameters
        ----------
        X : DataFrame
            One row per patient; ``ct`` (and ``mask`` for fitting) columns.
        y : array-like of shape (n_patients,)
            Patient HE labels (0/1).

        Returns
        -------
        self
        """
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, and return out-of-fold nDL scores of the training patients (with ``cv``).

        Returns
        -------
        ndarray of shape (n_patients, 1) (a DataFrame with ``set_output``)
        """
        validate_params(self)
        if y is None:
            raise ValueError("NDLScorer requires y to be passed, but the target y is None.")
        threshold = self.slice_threshold
        if self.slice_selection != "segmenter" and not isinstance(threshold, str):
            if not 0 <= threshold <= 1:  # an area threshold only makes sense for the segmenter
                raise ValueError(
                    "slice_threshold must be a probability in [0, 1] with "
                    f"slice_selection={self.slice_selection!r}; got {threshold}."
                )
        X = self._check_frame(X)
        y01, _ = binary_target(y, name="y")
        if self.memory is not None:
            from sklearn.utils.validation import check_memory

            memory = os.fspath(self.memory) if isinstance(self.memory, os.PathLike) else self.memory
            memory = check_memory(memory)
            fitted, out = memory.cache(_fit_transform_uncached, ignore=["network_memory"])(
                clone(self).set_params(memory=None), X, y01, network_memory=memory
            )
            self.__dict__.update(
                {k: v for k, v in fitted.__dict__.items() if k not in self.get_params(deep=False)}
            )
            return out
        frozen = self._all_frozen()
        oof = selection = None
        if self.cv and not frozen:
            oof, selection = self._cross_fit(X, y01)
        self._fit_networks(X, y01, stage="all training patients", selection=selection)
        raw_train = oof
        if raw_train is None:  # in-sample scores, only when there is no cross-fitting
            raw_train = self._raw_scores(X, warn=False)[0]
        self.center_, self.scale_ = ndl_normalization(raw_train)
        self.oof_scores_ = None if oof is None else self._normalize(oof)
        # sklearn's set_output wraps it (DataFrame with column "ndl_score")
        return self._normalize(raw_train)[:, None]

    # ------------------------------------------------------------------ scoring
    def _slice_details(self, pats: list, gate: bool = False) -> list[pd.DataFrame]:
        """Per-slice selection score, area and DL score of each patient of ``pats``.

        The patients' slices go through each network together (full batches). With ``gate``
        the segmenter and the HE model only see the slices the classifier selects (their area
        and DL score are NaN elsewhere): the pooled score only uses those, and it saves most of
        the inference time. A patient without selected slices has every slice scored. When the
        HE model's encoder is the segmenter's (``freeze_encoder``), one encoder pass serves both.
        With ``slice_selection="segmenter"`` (or ``"combined"``) the segmenter scores every
        slice (its expected area selects them, or goes into the combination) and only the HE
        model is gated.
        """
        imgs, starts = stacked_slices(pats)
        pixel_mm2 = np.repeat([p.spacing[1] * p.spacing[2] for p in pats], np.diff(starts))
        if self.slice_selection == "segmenter":
            return self._slice_details_by_area(pats, imgs, starts, pixel_mm2, gate)
        p_cls = self.classifier_.predict_proba(imgs)[:, 1]
        if self._combined():
            return self._slice_details_by_area(pats, imgs, starts, pixel_mm2, gate, p_cls)
        selected = p_cls >= self.slice_threshold_
        run = _slices_to_run(selected, starts, gate)
        area = np.full(len(imgs), np.nan)
        dl = np.full(len(imgs), np.nan)
        if run.any():
            sub = imgs[run]
            if self._shared_encoder():
                seg = unwrap_frozen(self.segmenter_)
                area[run], dl[run] = seg.area_and_he_score(self.he_model_, sub)
            elif self._descriptors():  # no HE network: the areas select and weight slices
                area[run] = self.segmenter_.predict_proba(sub).reshape(len(sub), -1).sum(axis=1)
            elif self._roi():
                maps = self.segmenter_.predict_proba(sub)
                area[run] = maps.reshape(len(sub), -1).sum(axis=1, dtype=np.float64)
                dl[run] = self._roi_dl_scores(pats, run, maps)
            else:
                area[run] = self.segmenter_.predict_proba(sub).reshape(len(sub), -1).sum(axis=1)
                dl[run] = self.he_model_.predict_proba(sub)[:, 1]
            area[run] *= pixel_mm2[run]
        return _detail_frames(starts, p_cls, p_cls, selected, area, dl)

    def _slice_details_by_area(
        self, pats, imgs, starts, pixel_mm2, gate: bool, p_cls=None
    ) -> list[pd.DataFrame]:
        """``_slice_details`` when the segmenter's expected area (pixels) selects the slices,
        alone or (with the classifier's probabilities ``p_cls``) in the fitted combination."""
        seg = unwrap_frozen(self.segmenter_)
        dl = np.full(len(imgs), np.nan)
        shared = self._shared_encoder()
        maps = None
        if shared:  # one pass gives both; nothing to gate
            area_px, dl = seg.area_and_he_score(self.he_model_, imgs)
        elif self._roi() and not self._descriptors():  # the maps also centre the ROIs
            maps = seg.predict_proba(imgs)
            area_px = maps.reshape(len(imgs), -1).sum(axis=1, dtype=np.float64)
        else:
            area_px = seg.slice_score(imgs, kind="area")
        score = area_px if p_cls is None else self._combined_score(p_cls, area_px, starts)
        selected = score >= self.slice_threshold_
        if not shared and not self._descriptors():
            run = _slices_to_run(selected, starts, gate)
            if run.any() and maps is not None:
                dl[run] = self._roi_dl_scores(pats, run, maps[run])
            elif run.any():
                dl[run] = self.he_model_.predict_proba(imgs[run])[:, 1]
        p_cls = np.full(len(imgs), np.nan) if p_cls is None else p_cls
        return _detail_frames(starts, p_cls, score, selected, area_px * pixel_mm2, dl)

    def _pool(
        self, name: str, ps, d: pd.DataFrame, warn: bool = True
    ) -> tuple[float, pd.DataFrame]:
        """The patient's raw score from its slice details ``d`` (and ``d``, rescored if needed)."""
        pooled = pool_slice_scores(d["weight"], d["dl_score"])
        if pooled is not None:
            return pooled, d
        if warn:
            warnings.warn(
                DataWarning(
                    f"NDLScorer: patient {name}: no hematoma slice found (no slice above the "
                    f"{self.slice_selection} threshold {self.slice_threshold_:.3g} with "
                    "segmented area); using the mean DL score of all its slices.",
                    patient=str(name),
                ),
                stacklevel=user_stacklevel(),  # the user's call, not sklearn's
            )
        if d["dl_score"].isna().any():  # gated, and the selected slices have no area
            d = self._slice_details([ps], gate=False)[0]
        return float(d["dl_score"].mean()), d

    def _raw_scores(
        self, X: pd.DataFrame, warn: bool = True, gate: bool = True
    ) -> tuple[np.ndarray, list[pd.DataFrame]]:
        """Raw scores (and slice details) of ``X``'s patients, read and scored in chunks."""
        raw = np.empty(len(X))
        details: list = [None] * len(X)
        for pos, names, pats in self._patient_chunks(X, need_masks=False):
            chunk = self._slice_details(pats, gate=gate)
            if self._descriptors():
                raw[pos] = self._descriptor_proba(self._descriptor_table(names, pats, chunk, warn))
                for i, d in zip(pos, chunk, strict=True):
                    details[i] = d
                continue
            for i, name, ps, d in zip(pos, names, pats, chunk, strict=True):
                raw[i], details[i] = self._pool(name, ps, d, warn=warn)
        return raw, details

    def _normalize(self, raw: np.ndarray) -> np.ndarray:
        return ndl_from_pooled(raw, self.center_, self.scale_, normalize=self.normalize)

    def transform(self, X) -> np.ndarray:
        """nDL score per patient, shape (n_patients, 1) (a DataFrame with ``set_output``)."""
        check_is_fitted(self)
        X = self._check_frame(X)
        raw = self._raw_scores(X)[0]
        return self._normalize(raw)[:, None]

    def slice_table(self, X) -> pd.DataFrame:
        """Per-slice results of each patient of ``X``: which slices, areas, slice scores.

        Columns ``patient``, ``slice``, ``classifier_prob`` (NaN with
        ``slice_selection="segmenter"``), ``selection_score`` (the classifier probability, the
        expected area in pixels, or the combination's probability), ``selected``,
        ``area_mm2``, ``dl_score``, ``weight`` (the area when selected, else 0) and the
        patient's ``ndl_score``.
        Every slice is scored here (``transform`` scores only the selected ones).
        """
        check_is_fitted(self)
        X = self._check_frame(X)
        raw, details = self._raw_scores(X, gate=False)
        frames = []
        for n, r, d in zip(self._names(X), raw, details, strict=True):
            d.insert(0, "patient", n)
            d["ndl_score"] = float(self._normalize(np.array([r]))[0])
            frames.append(d)
        return pd.concat(frames, ignore_index=True)

    def descriptor_table(self, X) -> pd.DataFrame:
        """The hematoma descriptors of each patient of ``X`` (``score="descriptors"``).

        One row per patient: ``patient``, the descriptors
        (:data:`skhe.preprocessing.DESCRIPTORS`; NaN where no hematoma is segmented) and the
        patient's ``ndl_score``.
        """
        check_is_fitted(self)
        if not self._descriptors():
            raise ValueError(
                "descriptor_table needs NDLScorer(score='descriptors'); this scorer's score is "
                f"{self.score!r}."
            )
        X = self._check_frame(X)
        table = self._descriptor_frame(X, warn=False)
        table["ndl_score"] = self._normalize(self._descriptor_proba(table))
        table.insert(0, "patient", self._names(X))
        return table

    def descriptor_odds_ratios(self) -> pd.Series:
        """Odds ratio of HE per SD of each descriptor in the fitted descriptor regression
        (penalized, so shrunk towards 1; a summary, not an inference)."""
        check_is_fitted(self, "descriptor_coef_")
        return pd.Series(
            np.exp(self.descriptor_coef_), index=list(self.descriptor_names_), name="odds_ratio"
        )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``["ndl_score"]``."""
        return np.asarray(["ndl_score"], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.non_deterministic = self.random_state is None
        return tags


def _slices_to_run(selected: np.ndarray, starts, gate: bool) -> np.ndarray:
    """Which slices the later networks score: with ``gate``, each patient's selected slices
    (every slice of a patient without any selected); without, all."""
    run = np.ones(len(selected), bool)
    if gate:
        for lo, hi in itertools.pairwise(starts):
            if selected[lo:hi].any():
                run[lo:hi] = selected[lo:hi]
    return run


def _detail_frames(starts, p_cls, score, selected, area, dl) -> list[pd.DataFrame]:
    """One slice-detail frame per patient (rows ``starts[i]:starts[i + 1]`` of the arrays)."""
    frames = []
    for lo, hi in itertools.pairwise(starts):
        frames.append(
            pd.DataFrame(
                {
                    "slice": np.arange(hi - lo),
                    "classifier_prob": p_cls[lo:hi],
                    "selection_score": score[lo:hi],
                    "selected": selected[lo:hi],
                    "area_mm2": area[lo:hi],
                    "dl_score": dl[lo:hi],
                    "weight": np.where(selected[lo:hi], area[lo:hi], 0.0),
                }
            )
        )
    return frames
