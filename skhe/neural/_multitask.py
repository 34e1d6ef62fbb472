"""MultiTaskHEModel: the per-slice DL score (HE head on the U-Net encoder), trained with skorch."""

from __future__ import annotations

import typing

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch.utils.data import Dataset

from skhe.neural._base import DeepEstimatorMixin
from skhe.neural._binary import BinaryProbaMixin
from skhe.neural._params import MULTITASK_CONSTRAINTS, check_deep_params
from skhe.neural._validation import check_images, check_masks
from skhe.nn import MultiTaskHELoss, MultiTaskHENet
from skhe.utils import binary_target
from skhe.utils._docs import DocLinkMixin


class _MultiTaskDataset(Dataset):
    def __init__(self, images, masks, he, has_mask, augment=None):
        self.images, self.masks, self.he, self.has_mask = images, masks, he, has_mask
        self.augment = augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        img, mask = self.images[i], self.masks[i]
        if self.augment is not None:
            a, m = self.augment(img if len(img) > 1 else img[0], mask[0])  # channels together
            img, mask = (a if a.ndim == 3 else a[None]), m[None].astype(np.float32)
        target = {
            "mask": torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)),
            "he": torch.tensor(float(self.he[i])),
            "has_hematoma": torch.tensor(float(self.has_mask[i] and mask.any())),
            "has_mask": torch.tensor(float(self.has_mask[i])),
        }
        return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)), target


class MultiTaskHEModel(
    DocLinkMixin, BinaryProbaMixin, DeepEstimatorMixin, ClassifierMixin, BaseEstimator
):
    """Per-slice HE classifier sharing a U-Net encoder with hematoma segmentation.

    Trained with :class:`skhe.nn.MultiTaskHELoss` (segmentation + HE + consistency; the formula is
    in its docstring). Each hematoma slice carries its patient's HE label. ``predict_proba`` gives
    the slice's DL score.

    Parameters
    ----------
    encoder, decoder_channels, image_size, lr, weight_decay, batch_size, max_epochs, augment,
    device, mixed_precision, channels_last, n_threads, num_workers, predict_batch_size, compile,
    bn_recalibration, random_state, verbose, net_kwargs, callbacks, accelerate, pretrained,
    in_chans
        As in :class:`HematomaSegmenter`.
    seg_weight, he_weight, consistency_weight : float
        Loss weights (1, 1, 0.5).
    image_features, hidden, dropout
        Width of the image branch and of the head (see :class:`skhe.nn.MultiTaskHENet`).
    freeze_encoder : bool, default=True
        When the U-Net starts from a fitted segmenter (``unet_state``), keep its encoder fixed
        (weights and BatchNorm statistics): the HE head then reads the segmenter's encoder
        features, as in the paper, cannot memorize patients through the encoder, and
        :class:`NDLScorer` runs the shared encoder once per slice for both networks.
    early_stopping, checkpoint_dir, validation_data
        Accepted for interface symmetry; validation is not supported for this model (None only).
    """

    _parameter_constraints: typing.ClassVar[dict] = MULTITASK_CONSTRAINTS

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
        seg_weight=1.0,
        he_weight=1.0,
        consistency_weight=0.5,
        image_features=16,
        hidden=64,
        dropout=0.2,
        freeze_encoder=True,
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
        self.seg_weight = seg_weight
        self.he_weight = he_weight
        self.consistency_weight = consistency_weight
        self.image_features = image_features
        self.hidden = hidden
        self.dropout = dropout
        self.freeze_encoder = freeze_encoder
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
        self.bn_recalibration = bn_recalibration
        self.random_state = random_state
        self.verbose = verbose
        self.net_kwargs = net_kwargs
        self.callbacks = callbacks
        self.accelerate = accelerate

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.non_deterministic = self.random_state is None
        return tags

    def _build_module(self, pretrained):
        return MultiTaskHENet(
            self.encoder,
            self.in_chans,
            decoder_channels=tuple(self.decoder_channels),
            image_features=self.image_features,
            hidden=self.hidden,
            dropout=self.dropout,
            pretrained=pretrained,
        )

    def _criterion(self):
        return MultiTaskHELoss(self.seg_weight, self.he_weight, self.consistency_weight)

    def fit(self, X, y, masks=None, unet_state=None):
        """Train on slices with per-slice HE labels (their patient's) and hematoma masks.

        Parameters
        ----------
        X : array-like of shape (n, H, W) or (n, 1, H, W), values in [0, 1]
        y : array-like of shape (n,)
            HE label of each slice's patient.
        masks : array-like of shape (n, H, W)
            Hematoma masks (required: they tell which slices are hematoma slices).
        unet_state : dict, optional
            Initial weights for the U-Net (e.g. a fitted HematomaSegmenter's ``module_``
            state dict), so the HE head is trained on the segmenter's encoder features.

        Returns
        -------
        self
        """
        check_deep_params(self)
        if y is None:
            raise ValueError("MultiTaskHEModel requires y to be passed, but the target y is None.")
        if self.validation_data is not None:
            raise ValueError("MultiTaskHEModel does not support validation_data (use None).")
        y01, self.classes_ = binary_target(y, name="y")
        raw = check_images(X, in_chans=self.in_chans)
        if masks is None:
            raise ValueError("MultiTaskHEModel.fit needs the hematoma masks (masks=...).")
        m = check_masks(masks, raw)
        if len(y01) != len(raw):
            raise ValueError(f"X has {len(raw)} slices but y has {len(y01)} labels.")
        images, m = self._to_model_size(raw), self._masks_to_model_size(m)
        has_hem = m.reshape(len(m), -1).max(axis=1) > 0
        if not has_hem.any():
            raise ValueError("masks: no slice has a hematoma; the HE head has nothing to learn.")
        if len(np.unique(y01[has_hem])) < 2:
            raise ValueError(
                "y: the hematoma slices carry only one class of HE label; both are needed."
            )
        self.input_shape_ = tuple(raw.shape[1:])
        ds = _MultiTaskDataset(
            images, m, y01.astype(np.float32), np.ones(len(images), bool), self._augmenter()
        )
        init = None if unet_state is None else (lambda net: self._start_from(net, unet_state))
        self._fit_datasets(ds, None, init_net=init)
        return self

    def _start_from(self, net, unet_state: dict) -> None:
        """Load a fitted U-Net's weights into the net (and freeze its encoder if asked)."""
        net.initialize()
        own = net.module_.unet.state_dict()
        usable = {k: v for k, v in unet_state.items() if k in own and own[k].shape == v.shape}
        if len(usable) < len(own) // 2:
            raise ValueError("unet_state does not match this U-Net (different encoder?).")
        net.module_.unet.load_state_dict(usable, strict=False)
        if self.freeze_encoder:
            net.module_.freeze_encoder()

    def decision_function(self, X) -> np.ndarray:
        """Per-slice HE logits (DL score on the logit scale), shape (n,)."""
        check_is_fitted(self)
        run = lambda m, x: m(x)["he"].float()  # noqa: E731
        out = [torch.cat(self._forward(images, run)) for images in self._image_chunks(X)]
        return torch.cat(out).numpy()
