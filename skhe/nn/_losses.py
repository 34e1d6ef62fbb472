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
