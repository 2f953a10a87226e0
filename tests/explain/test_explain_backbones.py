"""Every registered backbone gives maps of the input size (batch 1 and 8), hooks released."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cxr.classifier import Backbone, create_backbone, list_backbones
from cxr.explain import explain_batch
from cxr.explain.cam import library_cam
from cxr.explain.fastcam import fast_cam


def _hooks(model: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
        for m in model.modules()
    )


@pytest.fixture(scope="module", params=list_backbones())
def backbone(request: pytest.FixtureRequest) -> Backbone:
    torch.manual_seed(0)
    return create_backbone(request.param, num_classes=3, pretrained="none", in_chans=1).eval()


def test_maps_have_input_size(backbone: Backbone) -> None:
    size = max(64, backbone.min_input_size)
    g = torch.Generator().manual_seed(0)
    for batch in (1, 8):
        x = torch.rand(batch, 1, size, size, generator=g) * 2 - 1
        target = torch.arange(batch) % 3
        maps, logits = explain_batch(backbone, x, target, method="gradcam")
        assert maps.shape == (batch, size, size)
        assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1 + 1e-6
        assert logits.shape == (batch, 3)
    assert _hooks(backbone) == 0


def test_fast_path_agrees_with_library(backbone: Backbone) -> None:
    size = max(64, backbone.min_input_size)
    x = torch.rand(2, 1, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    ref = library_cam(backbone, x, [0, 2])
    fast, _ = fast_cam(backbone, x, torch.tensor([0, 2]))
    assert float(np.abs(ref - fast.numpy()).max()) < 1e-4
    assert _hooks(backbone) == 0
