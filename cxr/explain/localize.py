"""Coarse localization from a heatmap, as in the Grad-CAM COVID-19 literature.

The continuous map is thresholded into a binary "attended" region, either

* ``top``: the ``top_fraction`` of pixels with the highest values (20 % by
  default, the convention of Grad-CAM localization studies), or
* ``otsu``: Otsu's (1979) threshold on the 8-bit map;

connected components smaller than ``min_area`` pixels are dropped
(:func:`drop_small`: an island of a few pixels is speckle, not a finding); the
remaining regions are traced as contours and bounding boxes (OpenCV), and
the **involved lung fraction** is the share of the lung mask covered by the
region, ``|R & L| / |L|`` - a coarse analogue of the radiologist's "percent of
lung involved". It needs a lung mask; without one the figure is not reported.

Both rules see a map normalised per image, so they say *where* an image's
evidence is, never *how much* there is: every map, even that of a clear film,
yields a region of about the same size. To follow one patient over time,
:func:`common_scale` puts the raw maps of all studies on one scale (each
divided by the largest peak among them) and :func:`common_region` keeps the
pixels at or above a fixed level of that scale (0.5 by default), so a study
with weak evidence gets a small region or none.

**Smoothing gradient maps first.** Input-gradient maps (saliency, SmoothGrad)
are speckled at the pixel scale; thresholded directly they give hundreds of
tiny islands, and region scores (IoU, involved fraction) then measure speckle
rather than where the evidence lies. :func:`smooth_map` therefore blurs them
with a Gaussian whose sigma is a fraction of the image side (so the result
does not depend on the input resolution) before thresholding. Grad-CAM maps
are already smooth (upsampled from a coarse grid) and are never blurred.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cxr.runtime.errors import ConfigError

THRESHOLD_RULES: tuple[str, ...] = ("top", "otsu")


@dataclass(frozen=True)
class Region:
    """One connected attended region: bounding box (x, y, w, h), area in pixels, contour (N, 2)."""

    x: int
    y: int
    w: int
    h: int
    area: int
    contour: np.ndarray


def threshold_map(heat: np.ndarray, *, rule: str = "top", top_fraction: float = 0.2) -> np.ndarray:
    """Binary attended region ``(H, W) bool`` of a map in ``[0, 1]``; empty for an all-zero map."""
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"expected a 2-D heatmap, got shape {heat.shape}")
    if rule not in THRESHOLD_RULES:
        raise ConfigError(f"unknown threshold rule {rule!r} (valid: {', '.join(THRESHOLD_RULES)})")
    if not 0.0 < top_fraction < 1.0:
        raise ConfigError(f"top_fraction must be in (0, 1), got {top_fraction}")
    if not np.isfinite(heat).all() or float(heat.max()) <= 0.0:
        return np.zeros(heat.shape, dtype=bool)
    if rule == "top":
        k = max(1, round(top_fraction * heat.size))
        # the k-th largest value; ties at the cut are kept (never more than a few pixels)
        cut = np.partition(heat.ravel(), heat.size - k)[heat.size - k]
        return (heat >= cut) & (heat > 0)
    import cv2

    u8 = np.rint(np.clip(heat, 0.0, 1.0) * 255).astype(np.uint8)
    level, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return u8 > level


def smooth_map(heat: np.ndarray, sigma: float) -> np.ndarray:
    """A ``[0, 1]`` map blurred by a Gaussian of ``sigma`` x the image side, rescaled to peak 1.

    ``sigma == 0`` returns the map unchanged (the very same values). The blur
    lowers the peak; dividing by the new maximum keeps the map in the
    per-image ``[0, 1]`` view, which changes neither the ``top`` region, nor
    the pointing game, nor energy shares (all scale-free).
    """
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"expected a 2-D heatmap, got shape {heat.shape}")
    if not 0.0 <= sigma < 0.5:
        raise ConfigError(f"region sigma must be in [0, 0.5) (fraction of the side), got {sigma}")
    if sigma == 0.0:
        return heat
    from scipy.ndimage import gaussian_filter

    out = gaussian_filter(heat, sigma=sigma * min(heat.shape), mode="nearest")
    peak = float(out.max())
    return (out / peak).astype(np.float32) if peak > 0 else np.zeros_like(heat)


def drop_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    """``mask`` without its 8-connected components of fewer than ``min_area`` pixels."""
    mask = np.asarray(mask, dtype=bool)
    if min_area <= 1 or not mask.any():
        return mask
    from scipy.ndimage import label

    labels, n = label(mask, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_area
    keep[0] = False
    return np.asarray(keep[labels], dtype=bool)


def min_area_pixels(shape: tuple[int, ...], fraction: float) -> int:
    """``fraction`` of the image area in whole pixels (0 disables the filter)."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(
            f"region min area must be in [0, 1) (fraction of the image), got {fraction}"
        )
    return int(np.ceil(fraction * int(np.prod(shape))))


def attended_region(
    heat: np.ndarray, *, rule: str = "top", top_fraction: float = 0.2, min_area: int = 0
) -> np.ndarray:
    """:func:`threshold_map`, then :func:`drop_small` - the region drawn and scored."""
    return drop_small(threshold_map(heat, rule=rule, top_fraction=top_fraction), min_area)


def common_scale(
    raw_maps: Sequence[np.ndarray], peaks: Sequence[float] | None = None
) -> tuple[list[np.ndarray], float]:
    """Raw (un-normalised, ``>= 0``) maps on one scale, and that scale.

    Each map is divided by ``max(peaks)`` (default: the largest map value
    among all maps) and clipped to ``[0, 1]``; with a zero or non-finite scale
    every map comes back all-zero. ``peaks`` lets a method pick a robust peak
    per map (the 99th percentile for saliency, see
    :func:`cxr.explain.map_peaks`).
    """
    maps = [np.asarray(m, dtype=np.float32) for m in raw_maps]
    if not maps:
        return [], 0.0
    if peaks is None:
        peaks = [float(m.max()) if m.size else 0.0 for m in maps]
    if len(peaks) != len(maps):
        raise ValueError(f"{len(peaks)} peaks for {len(maps)} maps")
    scale = float(max(peaks))
    if not np.isfinite(scale) or scale <= 0.0:
        return [np.zeros(m.shape, dtype=np.float32) for m in maps], 0.0
    return [np.clip(np.nan_to_num(m / scale), 0.0, 1.0) for m in maps], scale


def common_region(common: np.ndarray, *, threshold: float = 0.5) -> np.ndarray:
    """``(H, W) bool``: pixels whose common-scale value is ``>= threshold`` (and above 0)."""
    common = np.asarray(common, dtype=np.float32)
    if common.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {common.shape}")
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"involved threshold must be in (0, 1], got {threshold}")
    return (common >= threshold) & (common > 0)


def find_regions(mask: np.ndarray, *, min_area: int = 1) -> list[Region]:
    """Connected regions of a binary mask, largest first (external contours only)."""
    import cv2

    u8 = np.asarray(mask, dtype=bool).astype(np.uint8)
    contours, _ = cv2.findContours(u8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(u8, connectivity=8)
    regions = []
    for c in contours:
        x, y, w, h = (int(v) for v in cv2.boundingRect(c))
        px, py = int(c[0, 0, 0]), int(c[0, 0, 1])
        area = int(stats[labels[py, px], cv2.CC_STAT_AREA]) if n > 1 else 0
        if area >= min_area:
            regions.append(Region(x, y, w, h, area, c.reshape(-1, 2)))
    return sorted(regions, key=lambda r: -r.area)


def involved_fraction(region: np.ndarray, lung: np.ndarray | None) -> float | None:
    """``|region & lung| / |lung|``, or ``None`` when there is no (or an empty) lung mask."""
    if lung is None:
        return None
    lung = np.asarray(lung, dtype=bool)
    if region.shape != lung.shape:
        raise ValueError(f"region {region.shape} and lung mask {lung.shape} differ in shape")
    n = int(lung.sum())
    if n == 0:
        return None
    return float((np.asarray(region, dtype=bool) & lung).sum() / n)


def estimate_lung_mask(img_u8: np.ndarray) -> np.ndarray:
    """A coarse lung-field estimate for radiographs without a lung mask (a heuristic).

    The lungs are the large dark regions *inside* the body: Otsu's threshold
    over the non-padding pixels separates dark from bright; dark components
    touching the image border (air around the patient, padding) are dropped;
    the two largest remaining components (each at least 2 % of the image) are
    kept, holes filled and the outline closed. It is meant for the *involved
    lung fraction* of progression plots only, and it is labelled as an
    estimate wherever it is used; it fails on rotated, heavily opacified
    (white-out) or cropped films - an empty mask is returned then, and the
    fraction is omitted.
    """
    import cv2
    from scipy.ndimage import binary_fill_holes

    img = np.asarray(img_u8)
    if img.dtype != np.uint8 or img.ndim != 2:
        raise ValueError(f"expected a grey uint8 (H, W) image, got {img.dtype} {img.shape}")
    h, w = img.shape
    k = max(3, (min(h, w) // 64) | 1)
    smooth = cv2.GaussianBlur(img, (k, k), 0)
    body = smooth[smooth > 0]
    if body.size < 0.1 * img.size:
        return np.zeros(img.shape, dtype=bool)
    level, _ = cv2.threshold(body.reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = (smooth <= level).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=4)
    keep: list[tuple[int, int]] = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        touches = x == 0 or y == 0 or x + bw >= w or y + bh >= h
        if not touches and area >= 0.02 * img.size:
            keep.append((area, i))
    mask = np.isin(labels, [i for _, i in sorted(keep, reverse=True)[:2]])
    close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, close).astype(bool)
    return np.asarray(binary_fill_holes(mask), dtype=bool)
