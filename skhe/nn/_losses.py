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

    The Dice term is computed over the whole batch (so slices without hematoma do not make it
    undefined); BCE is the mean over pixels.

    Parameters
    ----------
    dice_weight, bce_weight : float, default=1.0
    smooth : float, default=1.0
        Laplace smoothing of the Dice ratio.
    """

    def __init__(self, dice_weight: float = 1.0, bce_weight: float = 1.0, smooth: float = 1.0):
        super().__init__()
        self.dice_weight = dice_weight
        self.bce_weight = bce_weight
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        bce = F.binary_cross_entropy_with_logits(logits.float(), target)
        dice = soft_dice(logits, target, self.smooth)
        return self.bce_weight * bce + self.dice_weight * (1 - dice)


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
