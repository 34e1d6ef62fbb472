"""NDLScorer's training side: the three networks on the training patients' slices, the slice
threshold, and whether scoring can share one encoder pass."""

from __future__ import annotations

import contextlib
import logging
import time

import numpy as np
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from skhe.neural._classifier import SliceClassifier
from skhe.neural._multitask import MultiTaskHEModel
from skhe.neural._ndl_inputs import stacked_slices
from skhe.neural._segmenter import HematomaSegmenter
from skhe.utils import binary_target, check_fold_counts, unwrap_frozen

_LOG = logging.getLogger("skhe")


def _progress(message: str) -> None:
    """Report a step: to the ``skhe`` logger when something listens to it, else to stdout."""
    if _LOG.hasHandlers() and _LOG.isEnabledFor(logging.INFO):
        _LOG.info(message)
    else:
        print(message, flush=True)


class _StateArrays(dict):
    """A state dict's tensors as numpy arrays, for the cache key: joblib hashes an array by
    its content, a tensor by what its pickle holds (which changes when it is saved and loaded:
    a segmenter loaded from the cache would not find the HE model fit on its weights)."""

    @classmethod
    def of(cls, value):
        if isinstance(value, dict) and value and all(torch.is_tensor(v) for v in value.values()):
            return cls({k: v.detach().cpu().numpy() for k, v in value.items()})
        return value

    def tensors(self) -> dict:
        return {k: torch.from_numpy(v) for k, v in self.items()}


def _fit_network(est, X, *args, **kwargs):
    """``est`` fit on the slices ``X``: the function ``NDLScorer.memory`` caches per network."""
    kwargs = {k: v.tensors() if isinstance(v, _StateArrays) else v for k, v in kwargs.items()}
    return est.fit(X, *args, **kwargs)


class NDLTrainingMixin:
    """Fits an NDLScorer's classifier, segmenter and HE model (or takes them frozen)."""

    def _set_slice_threshold(self, images, slice_labels, score=None) -> None:
        """``slice_threshold_``: the number given, or the Youden point of the selection score
        (``score``, else computed on ``images``) against ``slice_labels``."""
        if not isinstance(self.slice_threshold, str):
            self.slice_threshold_ = float(self.slice_threshold)
            return
        if self.slice_threshold != "youden":
            raise ValueError(
                f"slice_threshold must be 'youden' or a number; got {self.slice_threshold!r}."
            )
        from skhe.metrics import youden_threshold

        if score is None:
            score = self._selection_score(images)
        self.slice_threshold_ = float(youden_threshold(np.asarray(slice_labels), score))

    def _fit_selection(self, images, starts, slice_labels, frozen: bool, selection) -> None:
        """The slice threshold, and with ``slice_selection="combined"`` the combination.

        ``selection``: None fits them on these slices; ``"deferred"`` leaves them to the
        caller (the cross-fitting folds, which fit them on out-of-fold scores); a
        ``(SliceCombination, threshold)`` pair is used as given.
        """
        if isinstance(selection, str):
            return
        if not self._combined():
            self._set_slice_threshold(images, slice_labels)
            return
        if selection is not None:
            self._use_selection(selection)
            return
        labels = np.asarray(slice_labels).astype(int)
        score = self._combination_in_sample(images, starts, labels, frozen)
        self._set_slice_threshold(images, slice_labels, score)

    def _selection_score(self, images) -> np.ndarray:
        """The score that selects hematoma slices (classifier probability or expected area)."""
        if self.slice_selection == "segmenter":
            return unwrap_frozen(self.segmenter_).slice_score(images, kind="area")
        return self.classifier_.predict_proba(images)[:, 1]

    def _all_frozen(self) -> bool:
        """Whether every sub-estimator in use is a FrozenEstimator (nothing to train)."""
        used = [self.segmenter]
        if not self._descriptors():  # the descriptor score trains no HE network
            used.append(self.he_model)
        if self._uses_classifier():
            used.append(self.classifier)
        return all(isinstance(e, FrozenEstimator) for e in used)

    @contextlib.contextmanager
    def _reported(self, stage: str, what: str, on: str):
        """Report a training step (``what`` ``on`` what) and its time, when verbose."""
        if not self.verbose:
            yield
            return
        _progress(f"NDLScorer ({stage}): {what} on {on} ...")
        t0 = time.perf_counter()
        yield
        _progress(f"NDLScorer ({stage}): {what} done in {time.perf_counter() - t0:.1f} s")

    def _fit_step(self, stage: str, what: str, est, default, X, *args, **kwargs):
        """A clone of ``est`` (``default`` when None) fit on the slices ``X``, or ``est`` itself
        when frozen; the step and its time reported when verbose.

        Under ``memory`` (see ``_fit_transform_uncached``) a network fit with the same settings
        on the same slices is loaded from the cache instead of trained again."""
        if isinstance(est, FrozenEstimator):
            with self._reported(stage, what, f"{len(X)} slices"):
                check_is_fitted(est.estimator)
            return est
        est = clone(est if est is not None else default)
        memory = getattr(self, "_network_memory", None)
        if memory is None:
            with self._reported(stage, what, f"{len(X)} slices"):
                return est.fit(X, *args, **kwargs)
        kwargs = {k: _StateArrays.of(v) for k, v in kwargs.items()}
        fit = memory.cache(_fit_network)
        # (hashing the slices again only to say so, when verbose)
        cached = bool(self.verbose) and fit.check_call_in_cache(est, X, *args, **kwargs)
        with self._reported(
            stage, what, f"{len(X)} slices" + (", from the cache" if cached else "")
        ):
            return fit(est, X, *args, **kwargs)

    def _fit_networks(self, X, y, stage: str = "fit", selection=None) -> None:
        """Fit the sub-estimators (and the slice selection, see ``_fit_selection``) on the
        patients ``X``."""
        X = self._check_frame(X)
        y01, self.classes_ = binary_target(y, name="y")
        if len(y01) != len(X):
            raise ValueError(f"X has {len(X)} patients but y has {len(y01)} labels.")
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        frozen = self._all_frozen()
        pats = self._patients(X, need_masks=not frozen)
        if not frozen:
            images, starts = stacked_slices(pats)
            masks = np.concatenate([p.masks for p in pats])
            slice_lab = (masks.reshape(len(masks), -1).max(axis=1) > 0).astype(int)
            he_slice = np.concatenate([np.full(len(p.images), y01[i]) for i, p in enumerate(pats)])
            if slice_lab.min() == slice_lab.max():
                raise ValueError(
                    "training masks: every slice is "
                    f"{'a hematoma' if slice_lab[0] else 'empty'} slice; the "
                    "slice classifier needs both."
                )
            rng = np.random.default_rng(self.random_state)
            pos = np.flatnonzero(slice_lab == 1)
            neg = np.flatnonzero(slice_lab == 0)
            sel = np.sort(
                np.concatenate([pos, rng.choice(neg, size=min(len(neg), len(pos)), replace=False)])
            )
            rs = self.random_state
            self.classifier_ = None
            if self._uses_classifier():
                self.classifier_ = self._fit_step(
                    stage,
                    "slice classifier",
                    self.classifier,
                    SliceClassifier(image_size=self.image_size, random_state=rs),
                    images,
                    slice_lab,
                )
            self.segmenter_ = self._fit_step(
                stage,
                "hematoma segmenter",
                self.segmenter,
                HematomaSegmenter(image_size=self.image_size, random_state=rs),
                images[sel],
                masks[sel],
            )
            self._fit_selection(images, starts, slice_lab, frozen, selection)
            if self._descriptors():
                self.he_model_ = None
            else:
                self.he_model_ = self._fit_he_model(stage, pats, images, masks, he_slice, sel)
        else:
            self.classifier_, self.segmenter_ = (
                self.classifier if self._uses_classifier() else None,
                self.segmenter,
            )
            self.he_model_ = None
            if not self._descriptors():
                he = self.he_model
                self.he_model_ = self._roi_he_model(he, None) if self._roi() else he
            if isinstance(self.slice_threshold, str) or self._combined():
                masks_known = [p.masks for p in pats if p.masks is not None]
                if len(masks_known) != len(pats):
                    raise ValueError(
                        "slice_threshold='youden' and slice_selection='combined' need masks for "
                        "the training patients; give a number instead when the sub-estimators "
                        "are frozen and masks absent (and another slice_selection)."
                    )
                images, starts = stacked_slices(pats)
                masks = np.concatenate(masks_known)
                labels = masks.reshape(len(masks), -1).max(axis=1) > 0
                self._fit_selection(images, starts, labels, frozen, selection)
            else:
                self.slice_threshold_ = float(self.slice_threshold)
        self._decide_shared_encoder()
        if self._descriptors() and not isinstance(selection, str):  # "deferred": after it
            self._fit_descriptors(stage, X, y01)

    def _fit_descriptors(self, stage: str, X, y01) -> None:
        with self._reported(stage, "hematoma descriptors", f"{len(X)} patients"):
            self._fit_descriptor_model(X, y01)

    def _cross_fit(self, X, y01) -> tuple[np.ndarray, tuple | None]:
        """Out-of-fold raw scores of the training patients ``X`` from ``cv`` folds (networks
        fit on the other folds), and with ``slice_selection="combined"`` the selection fit on
        the folds' out-of-fold slice scores (``(combination, threshold)``, else None)."""
        from sklearn.model_selection import StratifiedKFold

        k = int(self.cv)
        try:
            check_fold_counts(y01, k)
        except ValueError as exc:
            raise ValueError(f"NDLScorer (cross-fitting): {exc}") from None
        oof = np.empty(len(X))
        folds = StratifiedKFold(k, shuffle=True, random_state=self.random_state)
        combined = self._combined()
        subs = []
        for i, (tr, te) in enumerate(folds.split(np.zeros(len(X)), y01)):
            sub = clone(self).set_params(cv=None)
            sub._network_memory = getattr(self, "_network_memory", None)
            stage = f"cross-fitting fold {i + 1}/{k}"
            # "combined": the selection is fit below, on all folds' out-of-fold slice scores
            sub._fit_networks(
                X.iloc[tr], y01[tr], stage=stage, selection="deferred" if combined else None
            )
            if combined:
                subs.append((sub, stage, tr, te))
            else:
                oof[te] = sub._raw_scores(X.iloc[te], warn=False)[0]
        if not combined:
            return oof, None
        selection = self._stacked_selection([s for s, *_ in subs], X, [te for *_, te in subs])
        for sub, stage, tr, te in subs:
            sub._use_selection(selection)
            if sub._descriptors():
                sub._fit_descriptors(stage, X.iloc[tr], y01[tr])
            oof[te] = sub._raw_scores(X.iloc[te], warn=False)[0]
        return oof, selection

    def _fit_he_model(self, stage: str, pats, images, masks, he_slice, sel):
        """The HE network fit on the training slices ``sel`` (ROIs with ``he_input="roi"``)."""
        seg = unwrap_frozen(self.segmenter_)
        rs = self.random_state
        default_he = MultiTaskHEModel(
            seg.encoder,
            decoder_channels=seg.decoder_channels,
            image_size=self.image_size,
            random_state=rs,
        )
        he = self.he_model if self.he_model is not None else default_he
        if self._roi():  # its own U-Net on the ROIs: no segmenter weights to start from
            he = self._roi_he_model(he, default_he)
            he_x, he_masks = self._roi_training_set(pats, sel, images)
            kwargs = {"masks": he_masks}
        else:
            he_x, kwargs = images[sel], {"masks": masks[sel]}
            if (
                not isinstance(he, FrozenEstimator)
                and he.encoder == seg.encoder
                and tuple(he.decoder_channels) == tuple(seg.decoder_channels)
            ):
                kwargs["unet_state"] = seg.module_.state_dict()
        what = "HE model (ROIs)" if self._roi() else "HE model"
        return self._fit_step(stage, what, he, None, he_x, he_slice[sel], **kwargs)

    def _decide_shared_encoder(self) -> None:
        """Whether scoring runs one encoder pass for the segmenter and the HE model."""
        seg = unwrap_frozen(self.segmenter_)
        self.shared_encoder_ = bool(
            not self._roi()
            and isinstance(seg, HematomaSegmenter)
            and seg.image_size == self.image_size
            and seg.shares_encoder_with(self.he_model_)
        )

    def _shared_encoder(self) -> bool:
        if not hasattr(self, "shared_encoder_"):  # a model saved before the attribute existed
            self._decide_shared_encoder()
        return self.shared_encoder_


def _fit_transform_uncached(scorer: NDLTrainingMixin, X, y, network_memory=None):
    """``(fitted scorer, fit_transform output)``: the function ``NDLScorer.memory`` caches
    (called by ``NDLScorer.fit_transform``).

    Inside, each network fit is cached on its own in ``network_memory`` (the same cache):
    scorers that differ only after the networks (``score``, pooling, the HE head's settings)
    share the fits they have in common."""
    scorer._network_memory = network_memory
    try:
        out = scorer.fit_transform(X, y)
    finally:
        del scorer._network_memory
    return scorer, out
