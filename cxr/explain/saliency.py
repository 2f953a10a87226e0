"""Input-gradient saliency (Simonyan et al. 2014) and SmoothGrad (Smilkov et al. 2017).

* Saliency: ``|d y^c / d x|`` per pixel (one input channel, so the maximum
  over channels of Simonyan et al. is the absolute value itself).
* SmoothGrad: the mean of that map over ``n`` copies of the input with
  Gaussian noise ``N(0, sigma^2)``, ``sigma`` a fraction of the input range
  (Smilkov et al. use 10-20 %); the noise comes from a seeded generator.

Maps are normalised per image to ``[0, 1]`` by their 99th percentile (values
above are clipped), the visualisation Smilkov et al. describe, so that a few
extreme gradients do not wash out the map; ``normalise=False`` returns the
raw ``|gradient|`` maps instead (comparable across images). Only the input
receives a gradient (``torch.autograd.grad``), never the parameters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn


def _grad_abs(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    from cxr.explain.targets import class_score

    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        logits = model(x).reshape(len(x), -1)
        score = class_score(logits, target.to(logits.device))
        (g,) = torch.autograd.grad(score.sum(), x)
    return g.abs().amax(dim=1), logits.detach()


def _normalise(maps: torch.Tensor, q: float = 0.99) -> torch.Tensor:
    import torch

    flat = maps.flatten(1)
    hi = torch.quantile(flat, q, dim=1, keepdim=True).clamp_min(1e-12)
    return (flat / hi).clamp(0.0, 1.0).view_as(maps)


def saliency(
    model: nn.Module, images: torch.Tensor, target: torch.Tensor, *, normalise: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Vanilla gradient maps ``(B, H, W)`` in ``[0, 1]`` (or raw) and logits ``(B, K)``."""
    g, logits = _grad_abs(model, images, target)
    return (_normalise(g) if normalise else g), logits


def smoothgrad(
    model: nn.Module,
    images: torch.Tensor,
    target: torch.Tensor,
    *,
    samples: int = 16,
    sigma: float = 0.15,
    seed: int = 0,
    normalise: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SmoothGrad maps ``(B, H, W)`` in ``[0, 1]`` (or raw) and the clean-input logits ``(B, K)``.

    ``sigma`` is relative to the network input range ``[-1, 1]`` (width 2).
    """
    import torch

    if samples < 1:
        raise ValueError(f"SmoothGrad needs at least one sample, got {samples}")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    total = torch.zeros(images.shape[0], *images.shape[2:], device=images.device)
    for _ in range(samples):
        noise = torch.randn(images.shape, generator=gen).to(images.device) * (2.0 * sigma)
        g, _ = _grad_abs(model, images + noise, target)
        total += g
    with torch.no_grad():
        logits = model(images).reshape(len(images), -1)
    return (_normalise(total / samples) if normalise else total / samples), logits
