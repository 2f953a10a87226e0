"""Quality measures of synthetic images from features and masks.

* **FID** (Heusel et al., NeurIPS 2017): Fréchet distance between Gaussians
  fitted to real and synthetic features; **KID** (Bińkowski et al., ICLR
  2018): unbiased MMD^2 with a cubic polynomial kernel, mean and std over
  random subsets. Both computed by torchmetrics from *precomputed* features
  (:class:`PrecomputedFeatures` is the identity ``feature`` module), so one
  pass of the extractor serves every comparison.
* **Lesion-region intensity change**: COVID-19 opacities are typically
  bilateral, peripheral and lower-zone (Wong et al., Radiology 2020). Given a
  source image's lung mask, :func:`expected_lesion_region` marks the lower
  half of each lung's vertical extent and its outer (lateral) half;
  :func:`region_change` reports the mean intensity change synthetic - source
  inside that region and in the rest of the lungs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["PrecomputedFeatures", "expected_lesion_region", "fid_kid", "region_change"]


class PrecomputedFeatures(nn.Module):
    """Identity ``feature`` module for torchmetrics: inputs already are ``(N, D)`` features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def fid_kid(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """FID and KID (mean, std) between two ``(N, D)`` feature sets (float64 accumulation)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature shapes do not match: {tuple(real.shape)} vs {tuple(fake.shape)}")
    if min(len(real), len(fake)) < 2:
        raise ValueError("FID needs at least 2 images per set")
    d = real.shape[1]
    fid = FrechetInceptionDistance(feature=PrecomputedFeatures(d), reset_real_features=True)
    fid.update(real.double(), real=True)
    fid.update(fake.double(), real=False)
    size = min(kid_subset_size, len(real), len(fake))
    kid = KernelInceptionDistance(
        feature=PrecomputedFeatures(d), subsets=kid_subsets, subset_size=size
    )
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    state = torch.get_rng_state()
    torch.manual_seed(seed)  # KID draws its subsets from the global RNG
    try:
        kid_mean, kid_std = kid.compute()
    finally:
        torch.set_rng_state(state)
    return {
        "fid": float(fid.compute()),
        "kid_mean": float(kid_mean),
        "kid_std": float(kid_std),
        "kid_subset_size": size,
        "n_real": len(real),
        "n_fake": len(fake),
    }


def expected_lesion_region(lung: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(inside, outside)`` boolean masks within the lungs: lower + peripheral vs the rest.

    Each lung is taken as the mask on its side of the image midline; "lower" is
    below the middle of that lung's rows, "peripheral" lateral of the middle of its
    columns.
    """
    lung = np.asarray(lung).astype(bool)
    inside = np.zeros_like(lung)
    h, w = lung.shape
    for side in (slice(0, w // 2), slice(w // 2, w)):
        part = np.zeros_like(lung)
        part[:, side] = lung[:, side]
        ys, xs = np.nonzero(part)
        if ys.size == 0:
            continue
        y_mid = (ys.min() + ys.max()) / 2
        x_mid = (xs.min() + xs.max()) / 2
        yy, xx = np.mgrid[0:h, 0:w]
        lateral = xx < x_mid if side.start == 0 else xx > x_mid
        inside |= part & (yy > y_mid) & lateral
    return inside, lung & ~inside


def region_change(
    source_u8: np.ndarray, synthetic_u8: np.ndarray, lung: np.ndarray
) -> tuple[float, float] | None:
    """Mean intensity change (synthetic - source, in [0, 1] units) inside / outside the
    expected lesion region; ``None`` when the mask has no lung pixels."""
    inside, outside = expected_lesion_region(lung)
    if not inside.any() or not outside.any():
        return None
    diff = synthetic_u8.astype(np.float64) / 255.0 - source_u8.astype(np.float64) / 255.0
    return float(diff[inside].mean()), float(diff[outside].mean())
