"""HematomaSegmenter: U-Net (segmentation-models-pytorch) with Dice + BCE loss."""

from __future__ import annotations

import os
import typing
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from skhe.metrics import dice_coefficient
from skhe.neural._base import DeepEstimatorMixin
from skhe.neural._datasets import balanced_sampler, dataset_input, make_datasets
from skhe.neural._params import SEGMENTER_CONSTRAINTS, check_deep_params
from skhe.neural._validation import check_masks
from skhe.nn import DiceBCELoss, TverskyBCELoss, build_unet
from skhe.utils._docs import DocLinkMixin


class HematomaSegmenter(DocLinkMixin, DeepEstimatorMixin, BaseEstimator):
    """Hematoma segmentation with a U-Net; Dice + BCE loss; lr 1e-3 (the paper's settings).

    Parameters
    ----------
    encoder : str, default="resnet34"
        Any segmentation-models-pytorch encoder (``"resnet18"``, ``"tu-<timm name>"``, ...).
    decoder_channels : tuple of int, default=(256, 128, 64, 32, 16)
        U-Net decoder widths (its length is the encoder depth).
    pretrained : bool or str, default=False
        False, or a local path to encoder (or whole-model) weights; True is refused (no download).
    in_chans, image_size, lr, weight_decay, batch_size, max_epochs, augment, validation_data,
    early_stopping, checkpoint_dir, device, mixed_precision, channels_last, n_threads,
    num_workers, predict_batch_size, compile, crop, tta, lr_schedule, random_state, verbose,
    net_kwargs, callbacks, accelerate
        As in :class:`SliceClassifier` (``lr`` defaults to 1e-3 here; ``in_chans`` may be
        any count, e.g. one channel per HU window from
        :func:`~skhe.preprocessing.rewindow`). With ``crop="head"`` the probability maps are
        pasted back onto the input's pixels (the head is found on channel 0); ``compile``
        compiles the U-Net's encoder and decoder.
    bn_recalibration : bool, default=True
        See :class:`SliceClassifier`.
    dice_weight, bce_weight : float, default=1.0
        Weights of the two loss terms.
    threshold : float, default=0.5
        Probability above which a pixel is hematoma.
    sampling : {"all", "balanced"}, default="all"
        As in :class:`SliceClassifier`: "balanced" lets training use all slices of a cohort in
        which hematoma slices are rare without collapsing to empty masks.
    loss : {"dice_bce", "slice_dice_bce", "mixed_dice_bce", "tversky_bce"}, default="dice_bce"
        "dice_bce": the paper's Dice (over the batch) + BCE. "slice_dice_bce": Dice averaged
        over the batch's hematoma slices, so a small bleed counts as much as a large one.
        "mixed_dice_bce": the mean of those two Dice terms + BCE (the batch Dice also counts
        pixels marked on the batch's slices without hematoma).
        "tversky_bce": Tversky index (false negatives weighted 0.7, false positives 0.3) + BCE,
        which favours finding small and thin bleeds. ``dice_weight`` / ``bce_weight`` weigh the
        two terms of each.

    Attributes
    ----------
    module_, history_, n_epochs_, device_, input_shape_
        As in :class:`SliceClassifier`.
    """

    _parameter_constraints: typing.ClassVar[dict] = SEGMENTER_CONSTRAINTS

    def __init__(
        self,
        encoder="resnet34",
        *,
        decoder_channels=(256, 128, 64, 32, 16),
        pretrained=False,
        in_chans=1,
        image_size=512,
        lr=1e-3,
        weight_decay=1e-6,
        batch_size=8,
        max_epochs=10,
        dice_weight=1.0,
        bce_weight=1.0,
        augment=True,
        validation_data=None,
        early_stopping=None,
        checkpoint_dir=None,
        device="auto",
        mixed_precision="auto",
        channels_last="auto",
        n_threads=None,
        num_workers="auto",
        predict_batch_size=None,
        compile=False,
        threshold=0.5,
        crop="none",
        tta=False,
        lr_schedule=None,
        loss="dice_bce",
        sampling="all",
        bn_recalibration=True,
        random_state=None,
        verbose=0,
        net_kwargs=None,
        callbacks=None,
        accelerate=None,
    ):
        self.encoder = encoder
        self.decoder_channels = decoder_channels
        self.pretrained = pretrained
        self.in_chans = in_chans
        self.image_size = image_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.dice_weight = dice_weight
        self.bce_weight = bce_weight
        self.augment = augment
        self.validation_data = validation_data
        self.early_stopping = early_stopping
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last
        self.n_threads = n_threads
        self.num_workers = num_workers
        self.predict_batch_size = predict_batch_size
        self.compile = compile
        self.threshold = threshold
        self.crop = crop
        self.tta = tta
        self.lr_schedule = lr_schedule
        self.loss = loss
        self.sampling = sampling
        self.bn_recalibration = bn_recalibration
        self.random_state = random_state
        self.verbose = verbose
        self.net_kwargs = net_kwargs
        self.callbacks = callbacks
        self.accelerate = accelerate

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    def _build_module(self, pretrained):
        return build_unet(
            self.encoder,
            self.in_chans,
            pretrained=pretrained,
            decoder_channels=tuple(self.decoder_channels),
        )

    def _compile_targets(self):
        return [self.module_.encoder, self.module_.decoder]  # what the predictions call

    def _criterion(self):
        if self.loss == "tversky_bce":
            return TverskyBCELoss(tversky_weight=self.dice_weight, bce_weight=self.bce_weight)
        return DiceBCELoss(
            dice_weight=self.dice_weight,
            bce_weight=self.bce_weight,
            per_slice={"slice_dice_bce": 1.0, "mixed_dice_bce": 0.5}.get(self.loss, 0.0),
        )

    def _train_sampler(self, train_ds, generator):
        return balanced_sampler(self, train_ds, generator, lambda t: t.reshape(len(t), -1).any(1))

    def _prepare_xm(self, X, masks):
        from skhe.neural._validation import check_images

        if masks is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None "
                "(y holds the hematoma masks)."
            )
        raw = check_images(X, in_chans=self.in_chans)
        m = check_masks(masks, raw)
        boxes = self._crop_boxes(raw)
        return self._to_model_size(raw, boxes), self._masks_to_model_size(m, boxes)

    def fit(self, X, y=None):
        """Train on windowed slices and their binary hematoma masks.

        Parameters
        ----------
        X : array-like of shape (n, H, W) or (n, 1, H, W), values in [0, 1], or SliceDataset
            Slices, or a :class:`skhe.preprocessing.SliceDataset` with ``target="mask"`` reading
            a slice cache lazily (then ``y`` is ignored).
        y : array-like of shape (n, H, W)
            Binary masks (slices without hematoma have empty masks).

        Returns
        -------
        self
        """
        check_deep_params(self)
        lazy = dataset_input(self, X, "mask")
        if lazy is not None:
            if self.validation_data is not None and not isinstance(self.validation_data, type(X)):
                raise ValueError("with a SliceDataset, validation_data must be one too (or None).")
            valid = (
                dataset_input(self, self.validation_data, "mask")
                if self.validation_data is not None
                else None
            )
            self.input_shape_ = (1, self.image_size, self.image_size)
            self._fit_datasets(lazy, valid)
            return self
        images, masks = self._prepare_xm(X, y)
        if masks.sum() == 0:
            raise ValueError(
                "y: every mask is empty; the segmenter needs hematoma pixels to learn."
            )
        self.input_shape_ = tuple(np.shape(X)[1:]) if np.ndim(X) == 4 else (1, *np.shape(X)[1:])
        train, valid = make_datasets(
            images,
            masks,
            self._augmenter(),
            self.validation_data,
            self._prepare_xm,
            self.random_state,
        )
        self._fit_datasets(train, valid)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Hematoma probability maps, shape (n, H, W) at the input's size."""
        from skhe.neural._validation import check_images

        check_is_fitted(self)
        return self._proba_of_checked(check_images(X, in_chans=self.in_chans))

    def _proba_of_checked(self, raw: np.ndarray) -> np.ndarray:
        boxes = self._crop_boxes(raw)
        images = self._to_model_size(raw, boxes)
        h, w = raw.shape[2:]
        done = [0]  # slices mapped back so far (batches come in order)

        def run(module, x):
            p = self._tta_proba(module, x)
            if boxes is not None:
                from skhe.preprocessing import paste_from_boxes

                p = paste_from_boxes(p, boxes[done[0] : done[0] + len(p)], (h, w))
                done[0] += len(p)
            elif (h, w) != tuple(p.shape[2:]):
                side = max(h, w)
                p = F.interpolate(p, size=(side, side), mode="bilinear", align_corners=False)
                top, left = (side - h) // 2, (side - w) // 2
                p = p[:, :, top : top + h, left : left + w]
            return p[:, 0]

        return torch.cat(self._forward(images, run)).numpy()

    def _tta_proba(self, module, x: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities at the network's size, averaged over the test-time views."""
        from skhe.nn import unet_logits  # the last convolution in fp32 under mixed precision

        views = self._tta_views(x)  # x, and its left-right flip with tta
        p = [torch.sigmoid(unet_logits(module, v).float()) for v in views]
        if len(p) == 2:
            p[1] = p[1].flip(-1)  # the flipped view's map, back onto the slice
        return p[0] if len(p) == 1 else (p[0] + p[1]) / 2

    def slice_score(self, X, kind: str = "area") -> np.ndarray:
        """How strongly each slice shows hematoma, from the segmentation: a slice detector.

        Parameters
        ----------
        X : array-like of shape (n, H, W) or (n, 1, H, W)
            Windowed slices, as in :meth:`fit`.
        kind : {"area", "max"}, default="area"
            "area": the expected hematoma area in pixels of ``X`` (the sum of the pixel
            probabilities; robust where a thresholded mask would be empty); "max": the
            largest pixel probability.

        Returns
        -------
        ndarray of shape (n,)
            Higher means more likely a hematoma slice; threshold it (e.g. at the Youden point
            on training slices, :func:`skhe.metrics.youden_threshold`) or rank by it.
        """
        if kind not in ("area", "max"):
            raise ValueError(f"kind must be 'area' or 'max'; got {kind!r}.")
        proba = self.predict_proba(X)
        flat = proba.reshape(len(proba), -1)
        return flat.sum(axis=1, dtype=np.float64) if kind == "area" else flat.max(axis=1)

    def predict(self, X) -> np.ndarray:
        """Binary masks (uint8), shape (n, H, W)."""
        return (self.predict_proba(X) >= self.threshold).astype(np.uint8)

    def predict_area(self, X, spacing=None) -> np.ndarray:
        """Predicted hematoma area per slice: pixels, or mm^2 with ``spacing=(row_mm, col_mm)``."""
        area = self.predict(X).reshape(len(np.asarray(X)), -1).sum(axis=1).astype(float)
        if spacing is not None:
            sy, sx = float(spacing[-2]), float(spacing[-1])
            area = area * sy * sx
        return area

    def encode(self, X, *, pooled: bool = False) -> np.ndarray:
        """Deepest encoder features: (n, C, h, w), or (n, C) global-average-pooled."""
        check_is_fitted(self)
        images = self._prepare_images(X)

        def run(module, x):
            f = module.encoder(x)[-1].float()
            return f.mean(dim=(2, 3)) if pooled else f

        return torch.cat(self._forward(images, run)).numpy()

    def save_encoder(self, path: str | os.PathLike) -> Path:
        """Write the fitted U-Net's encoder weights to a ``.safetensors`` file (no pickle).

        The file is what ``pretrained`` takes: a :class:`SliceClassifier` whose ``backbone``
        is the same architecture starts from what this segmenter learnt from pixel labels,
        e.g. ``SliceClassifier("resnet18", pretrained=seg.save_encoder("enc.safetensors"))``
        for ``HematomaSegmenter("resnet18")`` (smp's ResNet encoders and timm's ResNets name
        their tensors alike; the classifier's head starts at random). A
        :class:`HematomaSegmenter` with the same ``encoder`` takes it too.

        Parameters
        ----------
        path : str or path-like
            Where to write; a missing ``.safetensors`` suffix is added.

        Returns
        -------
        Path
            The file written.
        """
        from safetensors.torch import save_file

        check_is_fitted(self)
        path = Path(path)
        if path.suffix != ".safetensors":
            path = path.with_name(path.name + ".safetensors")
        state = {
            k: v.detach().to("cpu").contiguous()
            for k, v in self.module_.encoder.state_dict().items()
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(
            state,
            str(path),
            metadata={"skhe": "HematomaSegmenter encoder", "encoder": str(self.encoder)},
        )
        return path

    def shares_encoder_with(self, he_model) -> bool:
        """Whether ``he_model`` (a fitted :class:`MultiTaskHEModel`) can share this segmenter's
        encoder pass: whole slices without test-time flips (``crop="none"``, ``tta=False``),
        same slice size, channels, device and precision, and its U-Net encoder
        equal to this one tensor for tensor (weights and BatchNorm statistics), so the shared
        pass gives exactly what the two networks give separately."""
        from skhe.neural._multitask import MultiTaskHEModel
        from skhe.utils import unwrap_frozen

        he = unwrap_frozen(he_model)
        if not isinstance(he, MultiTaskHEModel) or not hasattr(self, "module_"):
            return False
        if self.crop != "none" or self.tta:  # the shared pass sees whole slices, once
            return False
        if not hasattr(he, "module_"):
            return False
        if not (self.image_size == he.image_size and self.in_chans == he.in_chans):
            return False
        device = next(self.module_.parameters()).device
        if next(he.module_.parameters()).device != device:
            return False
        if self._amp_dtype(str(device)) != he._amp_dtype(str(device)):
            return False
        a = self.module_.encoder.state_dict()
        b = he.module_.unet.encoder.state_dict()
        return a.keys() == b.keys() and all(
            a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a
        )

    def area_and_he_score(self, he_model, X) -> tuple[np.ndarray, np.ndarray]:
        """Expected hematoma area (pixels) and ``he_model``'s HE probability per slice, in one
        encoder pass (valid only when :meth:`shares_encoder_with` holds).

        Equal to ``self.predict_proba(X).sum((1, 2))`` and ``he_model.predict_proba(X)[:, 1]``.
        """
        from scipy.special import expit

        from skhe.nn import SegmentAndScore
        from skhe.utils import unwrap_frozen

        check_is_fitted(self)
        he = unwrap_frozen(he_model)
        joint = SegmentAndScore(self.module_, he.module_).eval()
        with he._compiled():  # the HE network's own ``compile``; this one's in _forward
            out = self._forward(
                self._prepare_images(X), lambda _, x: joint(x), desc="segmenting and scoring"
            )
        area = torch.cat([a for a, _ in out]).numpy()
        logit = torch.cat([s for _, s in out]).numpy().astype(np.float64)
        return area, expit(logit)

    def score(self, X, y, sample_weight=None) -> float:
        """Dice coefficient of the predicted masks over all pixels of all slices."""
        from skhe.neural._validation import check_images

        check_is_fitted(self)
        raw = check_images(X, in_chans=self.in_chans)
        m = check_masks(y, raw)[:, 0]
        pred = (self._proba_of_checked(raw) >= self.threshold).astype(np.uint8)
        return dice_coefficient(m.astype(np.uint8), pred)
