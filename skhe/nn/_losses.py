"""Losses (plain torch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def soft_dice(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice coefficient of sigmoid(logits) and a binary target, over the whole batch.

    ``dice = (2 * sum(p * t) + smooth) / (sum(p) + sum(t) + smooth)``
    """
    p = torch.sigmoid(logits.float())
    t = target.float()
    inter = (p * t).sum()
    return (2 * inter + smooth) / (p.sum() + t.sum() + smooth)


class DiceBCELoss(nn.Module):
    """Dice + BCE for segmentation: ``bce_weight * BCE + dice_weight * (1 - Dice)``.

    By default the Dice term is computed over the whole batch (so slices without hematoma do
    not make it undefined; :func:`soft_dice`); BCE is the mean over pixels.

    Parameters
    ----------
    dice_weight, bce_weight : float, default=1.0
    smooth : float, default=1.0
        Laplace smoothing of the Dice ratio.
    per_slice : bool or float in [0, 1], default=False
        The share of the Dice term taken per hematoma slice (:func:`per_slice_soft_dice`, each
        slice counting equally) rather than over the batch's pixels: ``False`` / 0 the batch
        Dice (the paper's), ``True`` / 1 the per-slice Dice, 0.5 their mean (the batch Dice
        still sees pixels marked on slices without hematoma, which the per-slice Dice does not).
    """

    def __init__(
        self,
        dice_weight: float = 1.0,
        bce_weight: float = 1.0,
        smooth: float = 1.0,
        per_slice: bool | float = False,
    ):
        super().__init__()
        if not 0 <= float(per_slice) <= 1:
            raise ValueError(f"per_slice must be a bool or a share in [0, 1], got {per_slice!r}")
        self.dice_weight = dice_weight
        self.bce_weight = bce_weight
        self.smooth = smooth
        self.per_slice = per_slice

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        bce = F.binary_cross_entropy_with_logits(logits.float(), target)
        share = float(self.per_slice)
        dice = 0.0
        if share > 0:
            dice = share * per_slice_soft_dice(logits, target, self.smooth)
        if share < 1:
            dice = dice + (1 - share) * soft_dice(logits, target, self.smooth)
        return self.bce_weight * bce + self.dice_weight * (1 - dice)


def per_slice_soft_dice(
    logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0
) -> torch.Tensor:
    """Mean soft Dice over the slices (first axis) whose target is not empty.

    Each hematoma slice counts equally, whatever its bleed's size (the batch Dice of
    :func:`soft_dice` is dominated by the large ones). A batch without any hematoma falls
    back to the batch Dice (which then rewards predicting nothing).
    """
    t = target.float().flatten(1)
    has = t.sum(1) > 0
    if not bool(has.any()):
        return soft_dice(logits, target, smooth)
    p = torch.sigmoid(logits.float()).flatten(1)[has]
    t = t[has]
    inter = (p * t).sum(1)
    return ((2 * inter + smooth) / (p.sum(1) + t.sum(1) + smooth)).mean()


class TverskyBCELoss(nn.Module):
    """Tversky + BCE: ``bce_weight * BCE + tversky_weight * (1 - TI)`` over the batch.

    ``TI = (TP + smooth) / (TP + alpha FP + beta FN + smooth)`` with soft counts; ``beta >
    alpha`` penalizes missed hematoma pixels more than false alarms (Salehi et al. 2017), which
    helps small and thin bleeds. ``alpha = beta = 0.5`` is the Dice loss.
    """

    def __init__(
        self,
        tversky_weight: float = 1.0,
        bce_weight: float = 1.0,
        alpha: float = 0.3,
        beta: float = 0.7,
        smooth: float = 1.0,
    ):
        super().__init__()
        self.tversky_weight = tversky_weight
        self.bce_weight = bce_weight
        self.alpha = alpha
        self.beta = beta
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        bce = F.binary_cross_entropy_with_logits(logits.float(), target)
        p = torch.sigmoid(logits.float())
        tp = (p * target).sum()
        fp = (p * (1 - target)).sum()
        fn = ((1 - p) * target).sum()
        ti = (tp + self.smooth) / (tp + self.alpha * fp + self.beta * fn + self.smooth)
        return self.bce_weight * bce + self.tversky_weight * (1 - ti)


class WeightedBCEWithLogitsLoss(nn.Module):
    """BCE with logits, with optional per-sample weights carried in the target.

    ``target`` is either the labels, shape (n,), or ``[label, weight]`` pairs, shape (n, 2):
    the loss is then ``mean(weight * bce)``. ``pos_weight`` weighs the positive class (as
    ``torch.nn.BCEWithLogitsLoss``'s). With all weights 1 it equals ``BCEWithLogitsLoss``.
    """

    def __init__(self, pos_weight: float | None = None):
        super().__init__()
        pw = None if pos_weight is None else torch.tensor([float(pos_weight)])
        self.register_buffer("pos_weight", pw)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        weight = None
        if target.ndim == 2 and target.shape[1] == 2:
            target, weight = target[:, 0], target[:, 1]
        return F.binary_cross_entropy_with_logits(
            logits.reshape(target.shape), target, weight=weight, pos_weight=self.pos_weight
        )
