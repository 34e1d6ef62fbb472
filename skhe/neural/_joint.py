"""One encoder pass for the segmenter and the HE model when the HE model's encoder is the
segmenter's (frozen, as NDLScorer trains it by default)."""

from __future__ import annotations

import numpy as np
import torch

from skhe.neural._multitask import MultiTaskHEModel
from skhe.neural._segmenter import HematomaSegmenter
from skhe.utils import unwrap_frozen


def shares_encoder(segmenter, he_model, image_size: int) -> bool:
    """True when both networks can share one encoder pass on slices of ``image_size``.

    That needs a fitted :class:`HematomaSegmenter` and :class:`MultiTaskHEModel` working at
    that size on one device with the same precision, and the HE model's U-Net encoder equal,
    tensor for tensor (weights and BatchNorm statistics), to the segmenter's: then the shared
    pass gives exactly what the two networks give separately.
    """
    seg, he = unwrap_frozen(segmenter), unwrap_frozen(he_model)
    if not (isinstance(seg, HematomaSegmenter) and isinstance(he, MultiTaskHEModel)):
        return False
    if not (hasattr(seg, "module_") and hasattr(he, "module_")):
        return False
    if not (seg.image_size == he.image_size == image_size and seg.in_chans == he.in_chans):
        return False
    device = next(seg.module_.parameters()).device
    if next(he.module_.parameters()).device != device:
        return False
    if seg._amp_dtype(str(device)) != he._amp_dtype(str(device)):
        return False
    a = seg.module_.encoder.state_dict()
    b = he.module_.unet.encoder.state_dict()
    return a.keys() == b.keys() and all(
        a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a
    )


def segment_and_score(segmenter, he_model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected hematoma area (pixels) and HE probability per slice, one encoder pass for both.

    Only valid when :func:`shares_encoder` holds. ``images``: (n, H, W) or (n, C, H, W) slices at
    the networks' size. Equal to ``segmenter.predict_proba(images).sum((1, 2))`` and
    ``he_model.predict_proba(images)[:, 1]``, at the cost of one encoder instead of two.
    """
    seg, he = unwrap_frozen(segmenter), unwrap_frozen(he_model)
    images = seg._prepare_images(images)
    he_net = he.module_
    he_net.eval()
    device = next(seg.module_.parameters()).device
    if seg._channels_last(str(device), training=False):
        he_net.to(memory_format=torch.channels_last)

    def run(unet, x):
        feats = unet.encoder(x)
        prob = torch.sigmoid(unet.segmentation_head(unet.decoder(feats)).float())
        logit = he_net(x, feats=feats)["he"].float()
        return prob.sum(dim=(1, 2, 3)).double().cpu(), logit.cpu()

    out = seg._forward(images, run, desc="segmenting and scoring")
    area = torch.cat([a for a, _ in out]).numpy()
    logit = torch.cat([s for _, s in out]).numpy().astype(np.float64)
    return area, 1 / (1 + np.exp(-logit))
