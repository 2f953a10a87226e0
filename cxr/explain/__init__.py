"""Explanations of classifier decisions and their measured localization.

* :mod:`.cam` - Grad-CAM / Grad-CAM++ via pytorch-grad-cam (reference path);
* :mod:`.fastcam` - the same maps batched on the device (the default engine);
* :mod:`.saliency` - input gradients and SmoothGrad;
* :mod:`.localize` - thresholded regions, contours/boxes, involved lung fraction;
* :mod:`.scores` - pointing game, energy/IoU inside masks, random baselines;
* :mod:`.overlay` - overlays and contact sheets; :mod:`.progression` - over time.

:func:`explain_batch` is the one entry point the experiments use. By default
it returns maps normalised per image to ``[0, 1]`` (what an overlay shows:
*where* the evidence is, not how strong it is); ``normalise=False`` returns
the raw maps, and :func:`normalise_maps` / :func:`map_peaks` give the
per-image view and the value it divides by, so that several images can also
be put on one common scale (progression, :mod:`.localize`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cxr.runtime.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "saliency", "smoothgrad")
# pixel-level input-gradient maps: speckled, so smoothed before regions are taken (localize)
GRADIENT_METHODS: tuple[str, ...] = ("saliency", "smoothgrad")
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
    normalise: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Maps ``(B, H, W)`` float32 in ``[0, 1]`` and logits ``(B, K)`` for a network-range batch.

    ``target`` holds the explained class index per image. ``engine`` picks the
    batched device path (``fast``) or pytorch-grad-cam (``library``) for the
    CAM methods; saliency methods have one implementation. ``normalise=False``
    returns the raw maps (``>= 0``): the ReLU'd Grad-CAM / Grad-CAM++ map
    upsampled to the input size, or the (mean) absolute input gradient; only
    the ``fast`` engine can give them.
    """
    import torch

    from cxr.explain import cam, fastcam, saliency

    if method not in METHODS:
        raise ConfigError(f"unknown explanation method {method!r} (valid: {', '.join(METHODS)})")
    if engine not in ENGINES:
        raise ConfigError(f"unknown explanation engine {engine!r} (valid: {', '.join(ENGINES)})")
    if method in cam.CAM_METHODS and engine == "library":
        if not normalise:
            raise ConfigError(
                "raw (un-normalised) maps need --engine fast: pytorch-grad-cam normalises per image"
            )
        maps = cam.library_cam(model, images, target.tolist(), method=method)
        with torch.no_grad():
            logits = model(images).reshape(len(images), -1)
        return maps, logits.float().cpu().numpy()
    if method in cam.CAM_METHODS:
        m, logits = fastcam.fast_cam(model, images, target, method=method, normalise=normalise)
    elif method == "saliency":
        m, logits = saliency.saliency(model, images, target, normalise=normalise)
    else:
        m, logits = saliency.smoothgrad(
            model,
            images,
            target,
            samples=smooth_samples,
            sigma=smooth_sigma,
            seed=seed,
            normalise=normalise,
        )
    return m.float().cpu().numpy(), logits.float().cpu().numpy()


def normalise_maps(raw: np.ndarray, method: str) -> np.ndarray:
    """Raw maps ``(B, H, W)`` -> the per-image ``[0, 1]`` view :func:`explain_batch` gives.

    CAM methods: min-max per image (the library's two min-max steps around the
    bilinear resize collapse into one, since the resize is affine-equivariant;
    they agree up to the ``1e-7`` guard); saliency methods: divided by the
    99th percentile and clipped.
    """
    import torch

    from cxr.explain import cam, fastcam, saliency

    if method not in METHODS:
        raise ConfigError(f"unknown explanation method {method!r} (valid: {', '.join(METHODS)})")
    t = torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float32))
    out = fastcam._minmax(t) if method in cam.CAM_METHODS else saliency._normalise(t)
    return out.numpy()


def map_peaks(raw: np.ndarray, method: str) -> np.ndarray:
    """Per-image reference value ``(B,)`` of raw maps: what the per-image view scales to 1.

    The maximum for CAM methods, the 99th percentile for saliency methods (a
    few extreme input gradients would otherwise set the scale).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown explanation method {method!r} (valid: {', '.join(METHODS)})")
    flat = np.asarray(raw, dtype=np.float32).reshape(len(raw), -1)
    if method in ("gradcam", "gradcam++"):
        return flat.max(axis=1)
    return np.quantile(flat, 0.99, axis=1).astype(np.float32)
