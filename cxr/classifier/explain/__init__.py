"""Explanations of classifier decisions and their measured localization.

* :mod:`.cam` - Grad-CAM / Grad-CAM++ via pytorch-grad-cam (reference path);
* :mod:`.fastcam` - the same maps batched on the device (the default engine);
* :mod:`.saliency` - input gradients and SmoothGrad;
* :mod:`.localize` - thresholded regions, contours/boxes, involved lung fraction;
* :mod:`.scores` - pointing game, energy/IoU inside masks, random baselines;
* :mod:`.overlay` - overlays and contact sheets; :mod:`.progression` - over time.

:func:`explain_batch` is the one entry point the experiments use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cxr.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "saliency", "smoothgrad")
ENGINES: tuple[str, ...] = ("fast", "library")


def explain_batch(
    model: nn.Module,
    images: torch.Tensor,
    target: torch.Tensor,
    *,
    method: str = "gradcam",
    engine: str = "fast",
    smooth_samples: int = 16,
    smooth_sigma: float = 0.15,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Maps ``(B, H, W)`` float32 in ``[0, 1]`` and logits ``(B, K)`` for a network-range batch.

    ``target`` holds the explained class index per image. ``engine`` picks the
    batched device path (``fast``) or pytorch-grad-cam (``library``) for the
    CAM methods; saliency methods have one implementation.
    """
    import torch

    from cxr.classifier.explain import cam, fastcam, saliency

    if method not in METHODS:
        raise ConfigError(f"unknown explanation method {method!r} (valid: {', '.join(METHODS)})")
    if engine not in ENGINES:
        raise ConfigError(f"unknown explanation engine {engine!r} (valid: {', '.join(ENGINES)})")
    if method in cam.CAM_METHODS and engine == "library":
        maps = cam.library_cam(model, images, target.tolist(), method=method)
        with torch.no_grad():
            logits = model(images).reshape(len(images), -1)
        return maps, logits.float().cpu().numpy()
    if method in cam.CAM_METHODS:
        m, logits = fastcam.fast_cam(model, images, target, method=method)
    elif method == "saliency":
        m, logits = saliency.saliency(model, images, target)
    else:
        m, logits = saliency.smoothgrad(
            model, images, target, samples=smooth_samples, sigma=smooth_sigma, seed=seed
        )
    return m.float().cpu().numpy(), logits.float().cpu().numpy()
