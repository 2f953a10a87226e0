"""Is a predicted lung mask anatomically plausible? Cleaning and the checks that flag it.

A segmenter fails quietly: on a lateral view, a white-out lung, a screenshot or a cropped
image it still outputs *some* mask. Every predicted mask therefore passes these checks
before it may stand for "the lungs"; one that fails is flagged and not used (the consumers
fall back to the central box, and say so).

:func:`clean_mask` thresholds the probability map, fills holes and drops specks (components
under ``speck`` of the image). :func:`check_mask` then checks, on a frontal radiograph's mask
in the image's own frame (no padding):

* ``area``: the lung fraction of the image lies in ``[min_area, max_area]``;
* ``components``: exactly two large components (each at least ``min_component`` of the image):
  a right and a left lung (one blob = merged lungs or one lung missing; three = debris);
* ``balance``: the smaller lung has at least ``min_balance`` of the larger one's area;
* ``left-right``: the two centroids lie on either side of the vertical midline;
* ``position``: both centroids lie inside the central ``[margin, 1 - margin]`` of each axis.

The thresholds are deliberately loose (adult PA/AP and paediatric radiographs, diseased
lungs whose opacities the mask still covers); they catch failures, not poor edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["MaskCheck", "PlausibilityRules", "check_mask", "clean_mask"]


@dataclass(frozen=True)
class PlausibilityRules:
    """Thresholds of :func:`check_mask` (fractions of the image area or side)."""

    min_area: float = 0.08
    max_area: float = 0.65
    min_component: float = 0.015
    min_balance: float = 0.25
    margin: float = 0.1


@dataclass(frozen=True)
class MaskCheck:
    """The outcome of :func:`check_mask`; ``flag`` is ``""`` for a plausible mask."""

    area: float
    n_large: int
    reasons: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def flag(self) -> str:
        return ";".join(self.reasons)


def clean_mask(prob: np.ndarray, threshold: float = 0.5, speck: float = 0.002) -> np.ndarray:
    """Boolean mask: ``prob >= threshold``, holes filled, components under ``speck`` dropped."""
    from scipy import ndimage

    m = ndimage.binary_fill_holes(np.asarray(prob) >= threshold)
    labels, n = ndimage.label(m)
    if n == 0:
        return np.zeros(m.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= speck * m.size) + 1
    return np.isin(labels, keep)


def check_mask(mask: np.ndarray, rules: PlausibilityRules | None = None) -> MaskCheck:
    """Check a boolean ``(H, W)`` lung mask of a frontal radiograph against ``rules``."""
    from scipy import ndimage

    r = rules or PlausibilityRules()
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"check_mask needs a 2-D mask, got shape {m.shape}")
    h, w = m.shape
    area = float(m.mean())
    reasons: list[str] = []
    if not r.min_area <= area <= r.max_area:
        reasons.append(f"area {area:.3f} outside [{r.min_area:g}, {r.max_area:g}]")
    labels, n = ndimage.label(m)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    large = np.flatnonzero(sizes >= r.min_component * m.size) + 1
    if large.size != 2:
        reasons.append(f"{large.size} large components, not 2")
        return MaskCheck(area, int(large.size), tuple(reasons))
    a, b = sizes[large - 1]
    if min(a, b) < r.min_balance * max(a, b):
        reasons.append(f"one lung is {min(a, b) / max(a, b):.2f} of the other's area")
    (ya, xa), (yb, xb) = ndimage.center_of_mass(m, labels, large)
    if not min(xa, xb) < w / 2 < max(xa, xb):
        reasons.append("both components on one side of the midline")
    lo, hi = r.margin, 1 - r.margin
    if not all(lo <= y / h <= hi and lo <= x / w <= hi for y, x in ((ya, xa), (yb, xb))):
        reasons.append("a lung centroid lies near the image edge")
    return MaskCheck(area, 2, tuple(reasons))
