"""Fast batched Grad-CAM / Grad-CAM++ for whole test sets, kept on the model's device.

Same maps as pytorch-grad-cam (Selvaraju et al. 2017; Chattopadhay et al.
2018), computed differently:

* one forward pass per batch with a single forward hook on ``model.cam_layer``
  that keeps the activation ``A`` (B, K, h, w) on the device;
* ``torch.autograd.grad(sum_b y_b^c, A)``: the backward pass stops at the
  hooked layer, so no parameter gradients are computed or stored (the library
  runs a full ``backward()`` and copies activations and gradients to numpy);
* weights, ReLU, min-max normalisation and bilinear upsampling run as tensor
  ops on the device; only the finished ``(B, H, W)`` maps leave it.

Normalisation follows the library exactly (ReLU -> min-max with ``1e-7`` ->
bilinear resize with half-pixel centres, as ``cv2.resize`` -> min-max again),
which a test checks to ``< 1e-4`` max abs difference. With ``normalise=False``
both min-max steps are skipped: the raw ``ReLU(sum_k alpha_k^c A^k)`` upsampled
to the input size, whose magnitude can be compared across images (the common
scale of progression views; the library cannot give these maps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxr.explain.cam import CAM_METHODS, cam_layer_of
from cxr.runtime.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

_EPS = 1e-7


def _minmax(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    lo = flat.min(dim=1, keepdim=True).values
    flat = flat - lo
    hi = flat.max(dim=1, keepdim=True).values
    return (flat / (hi + _EPS)).view_as(x)


def _weights(acts: torch.Tensor, grads: torch.Tensor, method: str) -> torch.Tensor:
    import torch

    if method == "gradcam":
        return grads.mean(dim=(2, 3))
    # Grad-CAM++ (Chattopadhay et al. 2018, eq. 19 with the exponential replaced
    # by the identity, as in pytorch-grad-cam): alpha = g^2 / (2 g^2 + sum(A) g^3)
    g2 = grads.pow(2)
    g3 = g2 * grads
    sum_a = acts.sum(dim=(2, 3), keepdim=True)
    alpha = g2 / (2.0 * g2 + sum_a * g3 + 1e-6)
    alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
    return (torch.relu(grads) * alpha).sum(dim=(2, 3))


def fast_cam(
    model: nn.Module,
    images: torch.Tensor,
    target: torch.Tensor,
    *,
    method: str = "gradcam",
    normalise: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maps ``(B, H, W)`` in ``[0, 1]`` and logits ``(B, K)``, both on ``images.device``.

    ``target`` holds the explained class index per image (a tensor ``(B,)``).
    ``normalise=False`` returns the un-normalised maps (``>= 0``, in the units of
    the class score times the activations) instead of per-image ``[0, 1]``.
    The forward hook is removed before returning, also on error.
    """
    import torch
    import torch.nn.functional as F

    from cxr.explain.targets import class_score

    if method not in CAM_METHODS:
        raise ConfigError(f"unknown CAM method {method!r} (valid: {', '.join(CAM_METHODS)})")
    layer = cam_layer_of(model)
    store: dict[str, torch.Tensor] = {}

    def keep(_module: nn.Module, _inp: object, out: torch.Tensor) -> None:
        store["acts"] = out

    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            x = images.detach()
            logits = model(x)
            if "acts" not in store or not store["acts"].requires_grad:
                raise ConfigError(
                    f"{type(model).__name__}.cam_layer produced no differentiable activation "
                    "(is it used in forward, and are its parameters frozen with no_grad?)"
                )
            acts = store["acts"]
            score = class_score(logits.reshape(len(x), -1), target.to(logits.device))
            (grads,) = torch.autograd.grad(score.sum(), acts)
    finally:
        handle.remove()
        store.clear()
    with torch.no_grad():
        acts = acts.detach()
        w = _weights(acts, grads, method)
        cam = torch.relu((w[:, :, None, None] * acts).sum(dim=1, keepdim=True))
        if normalise:
            cam = _minmax(cam)
        cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)
        if normalise:
            cam = _minmax(cam)
        cam = cam[:, 0]  # raw: still >= 0, bilinear weights are convex
    return cam, logits.detach().reshape(len(x), -1)
