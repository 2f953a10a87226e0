"""LightningModule for the lung segmenter: BCE + soft Dice, AdamW with a cosine schedule.

The network is injected (a plain ``nn.Module``, :class:`cxr.lungs.unet.UNet`); Lightning only
orchestrates. Validation logs ``val_dice``, the mean per-image Dice of the thresholded
(``p >= 0.5``) prediction, which the best checkpoint is chosen on, and ``val_loss``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from cxr.lungs.seg_losses import dice_bce_loss

__all__ = ["LungSegModule", "hard_dice"]


def hard_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image Dice of ``logits >= 0`` against ``target`` (1 where both are empty)."""
    p = (logits >= 0).flatten(1).float()
    g = (target > 0.5).flatten(1).float()
    inter, total = (p * g).sum(1), p.sum(1) + g.sum(1)
    return torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(total))


class LungSegModule(L.LightningModule):
    def __init__(self, net: nn.Module, *, lr: float = 2e-3, weight_decay: float = 1e-4,
                 epochs: int = 30) -> None:
        super().__init__()
        self.net = net
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self._dice: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = dice_bce_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(x))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self.net(x)
        self.log("val_loss", dice_bce_loss(logits, y), on_epoch=True, batch_size=len(x))
        self._dice.append(hard_dice(logits, y).detach().cpu())

    def on_validation_epoch_end(self) -> None:
        if self._dice:
            self.log("val_dice", torch.cat(self._dice).mean(), prog_bar=True)
        self._dice.clear()

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.epochs))
        return {"optimizer": opt, "lr_scheduler": sched}
