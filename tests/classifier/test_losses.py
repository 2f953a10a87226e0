"""Losses: focal equals torchvision's sigmoid focal loss in the binary case."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from cxr.classifier.losses import FocalLoss, build_loss
from cxr.runtime.errors import ConfigError


@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, 0.25), (0.5, 0.8), (3.0, -1.0), (0.0, 0.5)])
def test_binary_focal_equals_torchvision_sigmoid_focal(gamma: float, alpha: float) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 2, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, 2, (64,), generator=g)
    ours = FocalLoss(gamma, alpha, positive_index=1)(logits, y)
    ref = sigmoid_focal_loss(logits[:, 1] - logits[:, 0], y.double(), alpha, gamma, "mean")
    torch.testing.assert_close(ours.double(), ref, rtol=1e-6, atol=1e-7)


def test_focal_reduces_to_ce_and_down_weights_easy_examples() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(32, 3, generator=g)
    y = torch.randint(0, 3, (32,), generator=g)
    torch.testing.assert_close(FocalLoss(0.0, -1.0)(logits, y), F.cross_entropy(logits, y))
    easy = torch.tensor([[5.0, 0.0, 0.0]])
    hard = torch.tensor([[0.0, 0.0, 0.0]])
    t = torch.tensor([0])
    fl, ce = FocalLoss(2.0, -1.0), torch.nn.CrossEntropyLoss()
    assert fl(easy, t) / ce(easy, t) < 0.01 < fl(hard, t) / ce(hard, t)


def test_alpha_and_class_weights() -> None:
    logits = torch.zeros(2, 3)
    y = torch.tensor([0, 2])
    a = FocalLoss(0.0, 0.75, positive_index=0)(logits, y)
    # per-sample CE is log 3; weights 0.75 (positive) and 0.25
    torch.testing.assert_close(a, torch.tensor(0.5 * (0.75 + 0.25) * torch.log(torch.tensor(3.0))))
    w = torch.tensor([2.0, 1.0, 0.0])
    b = FocalLoss(0.0, -1.0, weight=w)(logits, y)
    torch.testing.assert_close(b, torch.log(torch.tensor(3.0)))  # (2 + 0) / 2 samples


def test_build_loss_errors_and_weighted_ce() -> None:
    with pytest.raises(ConfigError, match="unknown loss 'mse'.*focal"):
        build_loss("mse", num_classes=2, positive_index=1)
    with pytest.raises(ConfigError, match="needs class weights"):
        build_loss("weighted-ce", num_classes=2, positive_index=1)
    with pytest.raises(ConfigError, match="3 entries"):
        build_loss("ce", num_classes=3, positive_index=0, class_weights=torch.ones(2))
    loss = build_loss("weighted-ce", num_classes=2, positive_index=1,
                      class_weights=torch.tensor([1.0, 3.0]))
    logits, y = torch.randn(8, 2), torch.tensor([0, 1] * 4)
    torch.testing.assert_close(
        loss(logits, y), F.cross_entropy(logits, y, weight=torch.tensor([1.0, 3.0]))
    )
    with pytest.raises(ConfigError, match="gamma"):
        FocalLoss(-1.0)
