"""LightningModule for the classifiers, and the transfer-learning schedule.

The backbone is injected (a plain ``nn.Module`` from the registry); Lightning
only orchestrates: optimisation (AdamW, Loshchilov & Hutter, ICLR 2019, with a
cosine schedule), validation AUROC (torchmetrics) for checkpointing and early
stopping, and prediction.

Transfer modes (Yosinski et al., "How transferable are features in deep neural
networks?", NeurIPS 2014; Kornblith et al., "Do better ImageNet models transfer
better?", CVPR 2019):

* ``finetune``: every parameter trains from the first step;
* ``linear-probe``: only the final layer (``backbone.head``) trains;
* ``frozen-then-unfrozen``: the head alone until ``unfreeze_epoch``, then the
  body joins the optimiser at a tenth of the current learning rate.

Freezing uses Lightning's :class:`BaseFinetuning`: frozen BatchNorm layers keep
their affine parameters and running statistics fixed (``track_running_stats``
off), so a probe does not drift the pretrained statistics.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torchmetrics.classification import BinaryAUROC, MulticlassAUROC

from cxr.classifier.backbones import Backbone
from cxr.runtime.errors import ConfigError

TRANSFER_MODES: tuple[str, ...] = ("finetune", "linear-probe", "frozen-then-unfrozen")


class ClassifierModule(L.LightningModule):
    """Train / validate / predict an injected backbone on ``(B, 1, S, S)`` images."""

    def __init__(
        self,
        backbone: Backbone,
        loss_fn: nn.Module,
        *,
        classes: tuple[str, ...],
        positive: str = "covid",
        lr: float = 3e-4,
        weight_decay: float = 1e-4,
        max_epochs: int = 10,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.loss_fn = loss_fn
        self.classes = tuple(classes)
        self.positive_index = self.classes.index(positive)
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max(1, int(max_epochs))
        n = len(self.classes)
        self.val_auroc = BinaryAUROC() if n == 2 else MulticlassAUROC(num_classes=n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def _probs(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float().softmax(dim=1)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits = self(batch["image"])
        loss = self.loss_fn(logits, batch["label"])
        self.log("train_loss", loss, prog_bar=True, batch_size=logits.shape[0])
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch["image"])
        y = batch["label"]
        loss = self.loss_fn(logits, y)
        probs = self._probs(logits)
        self.val_auroc.update(probs[:, self.positive_index] if probs.shape[1] == 2 else probs, y)
        self.log("val_loss", loss, prog_bar=True, batch_size=logits.shape[0], sync_dist=True)
        self.log("val_auroc", self.val_auroc, prog_bar=True, on_epoch=True, on_step=False)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        return {"probs": self._probs(self(batch["image"])).cpu(), "index": batch["index"].cpu()}

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.max_epochs)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


class TransferSchedule(BaseFinetuning):
    """Freeze the body for ``linear-probe`` / ``frozen-then-unfrozen``; unfreeze on schedule."""

    def __init__(self, mode: str, unfreeze_epoch: int = 1) -> None:
        super().__init__()
        if mode not in TRANSFER_MODES:
            valid = ", ".join(TRANSFER_MODES)
            raise ConfigError(f"unknown transfer mode '{mode}' (valid: {valid})")
        if unfreeze_epoch < 0:
            raise ConfigError(f"unfreeze_epoch must be >= 0, got {unfreeze_epoch}")
        self.mode = mode
        self.unfreeze_epoch = int(unfreeze_epoch)

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        if self.mode == "finetune":
            return
        backbone: Backbone = pl_module.backbone  # type: ignore[assignment]
        self.freeze(backbone, train_bn=False)
        self.make_trainable(backbone.head)

    def finetune_function(
        self, pl_module: L.LightningModule, epoch: int, optimizer: torch.optim.Optimizer
    ) -> None:
        if self.mode == "frozen-then-unfrozen" and epoch == self.unfreeze_epoch:
            self.unfreeze_and_add_param_group(
                modules=pl_module.backbone, optimizer=optimizer, initial_denom_lr=10.0
            )
