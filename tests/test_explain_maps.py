"""Grad-CAM / Grad-CAM++ / saliency maps: shapes, agreement with pytorch-grad-cam, hook hygiene."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cxr.classifier.explain import cam, explain_batch, fastcam, saliency
from cxr.classifier.explain.targets import class_score, probabilities


class TinyNet(nn.Module):
    """A backbone-shaped toy: ``forward_features``/``forward_head`` and ``cam_layer``."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block = nn.Sequential(nn.Conv2d(6, 8, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(8, num_classes)
        self.cam_layer = self.block

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.stem(x))

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(f.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks)
        + len(m._backward_hooks)
        + len(m._forward_pre_hooks)
        + len(getattr(m, "_backward_pre_hooks", {}))
        for m in model.modules()
    )


def _batch(n: int = 4, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, size, size, generator=g) * 2 - 1


@pytest.mark.parametrize("num_classes", [3, 1])
@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_fast_cam_matches_pytorch_grad_cam(method: str, num_classes: int) -> None:
    torch.manual_seed(0)
    model = TinyNet(num_classes).eval()
    x = _batch(6)
    target = (
        torch.tensor([0, 1, 0, 1, 1, 0]) if num_classes == 1 else torch.tensor([0, 1, 2, 0, 1, 2])
    )
    ref = cam.library_cam(model, x, target.tolist(), method=method)
    fast, logits = fastcam.fast_cam(model, x, target, method=method)
    assert ref.shape == fast.shape == (6, 32, 32)
    assert float(np.abs(ref - fast.numpy()).max()) < 1e-4
    assert logits.shape == (6, num_classes)
    assert _hooks(model) == 0
    assert all(p.grad is None for p in model.parameters())


def test_binary_target_flips_sign() -> None:
    logits = torch.tensor([[2.0], [-1.0]])
    assert class_score(logits, torch.tensor([1, 0])).tolist() == [2.0, 1.0]
    assert probabilities(logits)[:, 1].tolist() == pytest.approx(
        torch.sigmoid(logits[:, 0]).tolist()
    )
    multi = torch.tensor([[1.0, 3.0], [0.5, -2.0]])
    assert class_score(multi, torch.tensor([1, 0])).tolist() == [3.0, 0.5]


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "saliency", "smoothgrad"])
@pytest.mark.parametrize("engine", ["fast", "library"])
def test_explain_batch_shapes_and_range(method: str, engine: str) -> None:
    model = TinyNet().eval()
    x = _batch(3, 40)
    maps, logits = explain_batch(
        model, x, torch.tensor([0, 1, 2]), method=method, engine=engine, smooth_samples=3
    )
    assert maps.shape == (3, 40, 40) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0 + 1e-6
    assert logits.shape == (3, 3)
    assert _hooks(model) == 0


def test_saliency_is_the_input_gradient() -> None:
    model = TinyNet().eval()
    x = _batch(2)
    target = torch.tensor([1, 2])
    maps, _ = saliency.saliency(model, x, target)
    assert all(p.grad is None for p in model.parameters())  # only the input got a gradient
    xr = x.clone().requires_grad_(True)
    model(xr).gather(1, target.view(-1, 1)).sum().backward()
    assert xr.grad is not None
    g = xr.grad.abs()[:, 0]
    # normalisation by a per-image percentile keeps the ordering of pixels
    flat_ref, flat = g[0].flatten(), maps[0].flatten()
    top = flat_ref.argsort(descending=True)[:20]
    assert torch.all(flat[top] >= flat.median())


def test_smoothgrad_is_seeded() -> None:
    model = TinyNet().eval()
    x = _batch(2)
    t = torch.tensor([0, 1])
    a, _ = saliency.smoothgrad(model, x, t, samples=4, seed=3)
    b, _ = saliency.smoothgrad(model, x, t, samples=4, seed=3)
    c, _ = saliency.smoothgrad(model, x, t, samples=4, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)


class Boom(TinyNet):
    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("head exploded")


@pytest.mark.parametrize("method", ["gradcam", "saliency"])
@pytest.mark.parametrize("engine", ["fast", "library"])
def test_hooks_released_on_error(method: str, engine: str) -> None:
    model = Boom().eval()
    with pytest.raises(RuntimeError, match="exploded"):
        explain_batch(model, _batch(2), torch.tensor([0, 1]), method=method, engine=engine)
    assert _hooks(model) == 0


def test_missing_cam_layer_is_a_clear_error() -> None:
    from cxr.errors import ConfigError

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.LazyLinear(2))
    with pytest.raises(ConfigError, match="cam_layer"):
        fastcam.fast_cam(model, _batch(1), torch.tensor([0]))
