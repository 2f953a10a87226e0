"""Classification losses: cross-entropy, class-weighted cross-entropy, focal loss.

Focal loss (Lin, Goyal, Girshick, He, Dollar, "Focal Loss for Dense Object
Detection", ICCV 2017), multi-class softmax form::

    FL(p_t) = - alpha_t * (1 - p_t) ** gamma * log(p_t)

``p_t`` is the softmax probability of the true class. ``alpha`` follows the
paper and torchvision: the positive class (COVID-19) gets ``alpha`` and every
other class ``1 - alpha``; ``alpha < 0`` disables the weighting. With two
classes, ``softmax(z)[1] = sigmoid(z1 - z0)``, so this loss equals
``torchvision.ops.sigmoid_focal_loss(z1 - z0, y, alpha, gamma, "mean")``
(tested). ``gamma = 0`` and ``alpha < 0`` reduce it to cross-entropy.
Optional per-class ``weight`` multiplies each sample's loss by ``weight[y]``
(mean over samples, as torchvision's reduction; not normalised by the weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cxr.runtime.errors import ConfigError

LOSSES: tuple[str, ...] = ("ce", "weighted-ce", "focal")


class FocalLoss(nn.Module):
    """Softmax focal loss over ``(B, K)`` logits and integer targets."""

    weight: torch.Tensor | None

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float = 0.25,
        positive_index: int = 1,
        weight: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"focal gamma must be >= 0, got {gamma}")
        if alpha > 1:
            raise ConfigError(f"focal alpha must be <= 1 (negative disables it), got {alpha}")
        self.gamma = float(gamma)
        self.alpha = float(alpha)
        self.positive_index = int(positive_index)
        self.register_buffer("weight", None if weight is None else weight.float())

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp_t = F.log_softmax(logits.float(), dim=1).gather(1, target[:, None]).squeeze(1)
        p_t = logp_t.exp()
        loss = -((1.0 - p_t) ** self.gamma) * logp_t
        if self.alpha >= 0:
            is_pos = target == self.positive_index
            loss = loss * torch.where(is_pos, self.alpha, 1.0 - self.alpha)
        if self.weight is not None:
            loss = loss * self.weight[target]
        return loss.mean()


def build_loss(
    name: str,
    *,
    num_classes: int,
    positive_index: int,
    class_weights: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float = 0.25,
) -> nn.Module:
    """``ce``, ``weighted-ce`` (needs ``class_weights``) or ``focal``."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss '{name}' (valid: {', '.join(LOSSES)})")
    if class_weights is not None and class_weights.shape != (num_classes,):
        raise ConfigError(
            f"class weights must have {num_classes} entries, got {tuple(class_weights.shape)}"
        )
    if name == "focal":
        return FocalLoss(gamma, alpha, positive_index, class_weights)
    if name == "weighted-ce":
        if class_weights is None:
            raise ConfigError("loss 'weighted-ce' needs class weights from the training labels")
        return nn.CrossEntropyLoss(weight=class_weights.float())
    return nn.CrossEntropyLoss(weight=None if class_weights is None else class_weights.float())
