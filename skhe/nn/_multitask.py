"""The multi-task image model: a U-Net whose encoder also feeds a per-slice HE head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skhe.nn._builders import build_unet, fp32_region, unet_logits
from skhe.nn._losses import DiceBCELoss


class BatchNorm1dAnyBatch(nn.BatchNorm1d):
    """BatchNorm1d that also takes a training batch of one (normalized with running statistics)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


class MultiTaskHENet(nn.Module):
    """Shared-encoder network: hematoma segmentation logits and one HE logit per slice.

    The HE head sees the concatenation of (i) the U-Net encoder's deepest features, globally
    average-pooled; (ii) image-derived features from a small convolutional branch on the CT slice,
    pooled inside the predicted hematoma (density pattern) and over the whole slice; (iii) four
    descriptors of the predicted hematoma, computed from the (detached) probability map ``p``:
    the mean and SD of the windowed density inside it (heterogeneity), its compactness
    ``4 pi A / P^2`` with ``A = sum p`` and ``P = sum |grad p|`` (1 for a disc, lower for an
    irregular outline) and ``log(1 + A)`` (size). Its output is the slice's DL score (logit).

    Parameters
    ----------
    encoder : str, default="resnet34"
    in_channels : int, default=1
    decoder_channels : tuple of int, default=(256, 128, 64, 32, 16)
    image_features : int, default=16
        Channels of the image branch.
    hidden : int, default=64
        Width of the head's hidden layer.
    dropout : float, default=0.2

    Notes
    -----
    ``forward(x)`` returns a dict with ``"seg"`` (n, 1, H, W) segmentation logits and ``"he"``
    (n,) HE logits. ``forward(x, feats=...)`` takes the encoder's features of ``x`` computed
    elsewhere (by a segmenter with the same encoder, see :meth:`freeze_encoder`) and skips the
    encoder.
    """

    def __init__(
        self,
        encoder: str = "resnet34",
        in_channels: int = 1,
        *,
        decoder_channels=(256, 128, 64, 32, 16),
        image_features: int = 16,
        hidden: int = 64,
        dropout: float = 0.2,
        pretrained=False,
    ):
        super().__init__()
        self.unet = build_unet(
            encoder, in_channels, pretrained=pretrained, decoder_channels=decoder_channels
        )
        enc_c = self.unet.encoder.out_channels[-1]
        k = int(image_features)
        self.image_branch = nn.Sequential(
            nn.Conv2d(in_channels, k, 5, stride=2, padding=2),
            nn.BatchNorm2d(k),
            nn.ReLU(inplace=True),
            nn.Conv2d(k, k, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(
            BatchNorm1dAnyBatch(enc_c + 2 * k + 4),  # encoder, image and shape inputs on one scale
            nn.Linear(enc_c + 2 * k + 4, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )
        self.encoder_frozen = False

    def freeze_encoder(self) -> None:
        """Fix the encoder: no gradients, and eval-mode BatchNorm even while training.

        The HE head then reads exactly the features of the segmenter the encoder came from
        (its weights and its BatchNorm statistics), so at inference one encoder pass serves both.
        """
        for param in self.unet.encoder.parameters():
            param.requires_grad_(False)
        self.encoder_frozen = True
        self.unet.encoder.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.encoder_frozen:
            self.unet.encoder.eval()
        return self

    def forward(self, x: torch.Tensor, feats: list | None = None) -> dict:
        if feats is None:
            feats = self.unet.encoder(x)
        seg = unet_logits(self.unet, x, feats)
        # the small image branch and the head in fp32 under mixed precision: the DL score is
        # this logit (bf16 rounding of it moved nDL scores by up to ~0.01 per slice)
        with fp32_region(x):
            enc = feats[-1].float().mean(dim=(2, 3))
            xf = x.float()
            img = self.image_branch(xf)
            prob = torch.sigmoid(seg.float()).detach()
            w = F.interpolate(prob, size=img.shape[-2:], mode="bilinear", align_corners=False)
            inside = (img * w).sum(dim=(2, 3)) / (w.sum(dim=(2, 3)) + 1e-3)
            shape = hematoma_descriptors(xf[:, :1], prob)
            he = self.head(torch.cat([enc, inside, img.mean(dim=(2, 3)), shape], dim=1))
        return {"seg": seg, "he": he.reshape(-1)}


class SegmentAndScore(nn.Module):
    """One encoder pass for a segmentation U-Net and a :class:`MultiTaskHENet` sharing its encoder.

    ``forward(x)`` returns the expected hematoma area per slice (the sum of the U-Net's pixel
    probabilities, in pixels) and the HE network's logit: what the two networks give
    separately when the HE network's encoder equals the U-Net's, at the cost of one encoder.
    """

    def __init__(self, unet: nn.Module, he_net: MultiTaskHENet):
        super().__init__()
        self.unet = unet
        self.he_net = he_net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.unet.encoder(x)
        prob = torch.sigmoid(unet_logits(self.unet, x, feats).float())
        logit = self.he_net(x, feats=feats)["he"].float()
        return prob.sum(dim=(1, 2, 3)).double(), logit


def hematoma_descriptors(x: torch.Tensor, prob: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Density mean/SD inside a soft mask, its compactness and log size: (n, 4).

    Parameters
    ----------
    x : (n, 1, H, W) windowed slice in [0, 1]
    prob : (n, 1, H, W) hematoma probability map
    """
    area = prob.sum(dim=(1, 2, 3))
    mean = (prob * x).sum(dim=(1, 2, 3)) / (area + eps)
    var = (prob * (x - mean[:, None, None, None]) ** 2).sum(dim=(1, 2, 3)) / (area + eps)
    gy = prob[:, :, 1:, :-1] - prob[:, :, :-1, :-1]
    gx = prob[:, :, :-1, 1:] - prob[:, :, :-1, :-1]
    perimeter = torch.sqrt(gx**2 + gy**2 + 1e-8).sum(dim=(1, 2, 3))
    compact = torch.clamp(4 * torch.pi * area / (perimeter**2 + eps), 0, 2)
    compact = torch.where(area > 1.0, compact, torch.zeros_like(compact))
    return torch.stack([mean, torch.sqrt(var + 1e-8), compact, torch.log1p(area)], dim=1)


class MultiTaskHELoss(nn.Module):
    r"""Segmentation + HE + consistency loss of the multi-task image model.

    .. math::

        L = w_{seg} \, L_{seg} + w_{he} \, L_{he} + w_{c} \, L_{c}

    - :math:`L_{seg}` = Dice + BCE of the segmentation logits, over the slices that have a mask
      (``target["has_mask"] == 1``; 0 when none has).
    - :math:`L_{he}` = mean BCE-with-logits of the HE logit :math:`s` against the patient's HE
      label, over hematoma slices only (``target["has_hematoma"] == 1``; 0 when none).
    - :math:`L_{c} = \mathrm{mean}_{slices} \big[(1 - \mathrm{sg}(q)) \, \sigma(s)\big]` with
      :math:`q = \max_{pixels} \sigma(\text{seg logits})` the predicted presence of hematoma on the
      slice and sg the stop-gradient: no expansion evidence where no hematoma is segmented. It only
      moves the HE head (never inflates the segmentation), is 0 on slices with a confidently
      segmented hematoma and equals the mean HE probability on slices with none.

    Targets are a dict with ``"mask"`` (n, 1, H, W), ``"he"`` (n,), ``"has_hematoma"`` (n,) and
    ``"has_mask"`` (n,).
    """

    def __init__(
        self, seg_weight: float = 1.0, he_weight: float = 1.0, consistency_weight: float = 0.5
    ):
        super().__init__()
        self.seg_weight = seg_weight
        self.he_weight = he_weight
        self.consistency_weight = consistency_weight
        self.seg_loss = DiceBCELoss()

    def components(self, out: dict, target: dict) -> dict:
        """The three terms separately (``seg``, ``he``, ``consistency``)."""
        seg, s = out["seg"].float(), out["he"].float()
        has_mask = target["has_mask"].bool()
        has_hem = target["has_hematoma"].bool()
        zero = s.sum() * 0.0
        l_seg = self.seg_loss(seg[has_mask], target["mask"][has_mask]) if has_mask.any() else zero
        l_he = (
            F.binary_cross_entropy_with_logits(s[has_hem], target["he"].float()[has_hem])
            if has_hem.any()
            else zero
        )
        q = torch.sigmoid(seg).amax(dim=(1, 2, 3)).detach()
        l_c = ((1 - q) * torch.sigmoid(s)).mean()
        return {"seg": l_seg, "he": l_he, "consistency": l_c}

    def forward(self, out: dict, target: dict) -> torch.Tensor:
        c = self.components(out, target)
        return (
            self.seg_weight * c["seg"]
            + self.he_weight * c["he"]
            + self.consistency_weight * c["consistency"]
        )
