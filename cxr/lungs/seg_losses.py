"""Segmentation loss: binary cross-entropy plus soft Dice (Milletari et al., V-Net, 3DV 2016).

BCE gives every pixel a gradient from the first step; the soft Dice term
``1 - (2 sum(p g) + eps) / (sum(p) + sum(g) + eps)``, per image then averaged, optimises the
overlap that is reported and is insensitive to the lung's share of the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["dice_bce_loss", "soft_dice_loss"]


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Mean over images of ``1 - soft Dice`` between ``sigmoid(logits)`` and ``target``."""
    p = torch.sigmoid(logits).flatten(1)
    g = target.flatten(1).to(p.dtype)
    inter = (p * g).sum(1)
    return (1 - (2 * inter + eps) / (p.sum(1) + g.sum(1) + eps)).mean()


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``BCE + soft Dice`` (equal weights)."""
    bce = F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))
    return bce + soft_dice_loss(logits, target)
