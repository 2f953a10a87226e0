"""ClassifierModule and the transfer schedule (linear probe, frozen-then-unfrozen)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from cxr.classifier import create_backbone
from cxr.classifier.module import ClassifierModule, TransferSchedule
from cxr.runtime.errors import ConfigError


class Tiny(Dataset):
    def __init__(self, n: int = 16) -> None:
        g = torch.Generator().manual_seed(0)
        self.y = torch.arange(n) % 2
        self.x = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1 + self.y[:, None, None, None] * 0.5

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.x[i], "label": int(self.y[i]), "index": i}


def _fit(mode: str, epochs: int, unfreeze: int = 1):
    torch.manual_seed(0)
    bb = create_backbone("resnet18", 2)
    body0 = bb.model.layer1[0].conv1.weight.detach().clone()
    head0 = bb.head.weight.detach().clone()
    bn0 = bb.model.bn1.running_mean.clone()
    module = ClassifierModule(bb, torch.nn.CrossEntropyLoss(), classes=("rest", "covid"),
                              lr=1e-2, max_epochs=epochs)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0,
                        callbacks=[TransferSchedule(mode, unfreeze)])
    dl = DataLoader(Tiny(), batch_size=8)
    trainer.fit(module, dl, dl)
    changed = {
        "body": not torch.equal(body0, bb.model.layer1[0].conv1.weight),
        "head": not torch.equal(head0, bb.head.weight),
        "bn_stats": not torch.equal(bn0, bb.model.bn1.running_mean),
    }
    return changed, trainer


def test_linear_probe_trains_only_the_head() -> None:
    changed, trainer = _fit("linear-probe", 1)
    assert changed == {"body": False, "head": True, "bn_stats": False}
    assert "val_auroc" in trainer.callback_metrics


def test_frozen_then_unfrozen_adds_the_body_at_the_epoch() -> None:
    changed, trainer = _fit("frozen-then-unfrozen", 2, unfreeze=1)
    assert changed["body"] and changed["head"]
    groups = trainer.optimizers[0].param_groups
    assert len(groups) == 2  # the head from the start, the body joined at epoch 1
    body = {id(p) for p in trainer.lightning_module.backbone.model.layer1.parameters()}
    assert body <= {id(p) for p in groups[1]["params"]}


def test_finetune_trains_everything() -> None:
    changed, _ = _fit("finetune", 1)
    assert changed == {"body": True, "head": True, "bn_stats": True}


def test_bad_transfer_mode() -> None:
    with pytest.raises(ConfigError, match="unknown transfer mode 'probe'.*linear-probe"):
        TransferSchedule("probe")
