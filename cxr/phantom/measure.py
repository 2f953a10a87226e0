"""Where a lesion mask lies within the lungs: laterality, periphery, zone.

Used to check that phantom lesions follow their published distribution
(COVID-19: bilateral, peripheral, lower zone - Wong et al., Radiology 2020;
lobar bacterial pneumonia: unilateral) and reusable for any lung/lesion mask
pair (e.g. to summarise Grad-CAM hits). Coordinates are measured per lung from
the masks alone: ``q`` runs from the mediastinal (0) to the lateral (1) lung
border along each row, ``t`` from the apex (0) to the base (1) of that lung.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LesionDistribution:
    lung_fraction: float  # lesion area / lung area
    bilateral: float  # smaller side's share of the lesion area / larger side's (0 = unilateral)
    peripheral: float  # share of lesion area in the lateral half of each lung (q > 0.5)
    lower: float  # share of lesion area in the lower half of each lung (t > 0.5)
    perihilar: float  # share in the medial half and the middle third vertically


def lung_coordinates(lung: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel side (-1 image left, +1 image right, 0 outside), ``q`` and ``t``."""
    lung = np.asarray(lung, bool)
    h, w = lung.shape
    cols = np.nonzero(lung.any(axis=0))[0]
    if cols.size == 0:
        zeros = np.zeros(lung.shape, np.float32)
        return np.zeros(lung.shape, np.int8), zeros, zeros
    # midline: the middle of the widest lung-free run between the outermost lung columns
    inner = np.logical_not(lung.any(axis=0))[cols[0] : cols[-1] + 1]
    mid = cols[0] + _middle_of_longest_run(inner) if inner.any() else (cols[0] + cols[-1]) / 2
    xx = np.broadcast_to(np.arange(w, dtype=np.float32), lung.shape)
    side = np.where(xx < mid, -1, 1).astype(np.int8) * lung
    q = np.zeros(lung.shape, np.float32)
    t = np.zeros(lung.shape, np.float32)
    dist = np.abs(xx - mid)
    for s in (-1, 1):
        m = side == s
        if not m.any():
            continue
        dmin = np.where(m, dist, np.inf).min(axis=1, keepdims=True)
        dmax = np.where(m, dist, -np.inf).max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):
            q = np.where(m, (dist - dmin) / np.maximum(dmax - dmin, 1.0), q)
        rows = np.nonzero(m.any(axis=1))[0]
        yy = np.arange(h, dtype=np.float32)[:, None]
        t = np.where(m, (yy - rows[0]) / max(rows[-1] - rows[0], 1), t)
    return side, np.nan_to_num(q), t


def _middle_of_longest_run(flags: np.ndarray) -> float:
    best, best_start, start = 0, 0, None
    for i, f in enumerate(np.append(flags, False)):
        if f and start is None:
            start = i
        elif not f and start is not None:
            if i - start > best:
                best, best_start = i - start, start
            start = None
    return best_start + (best - 1) / 2


def lesion_distribution(lung: np.ndarray, lesion: np.ndarray) -> LesionDistribution:
    """Summarise where ``lesion`` lies inside ``lung`` (both boolean/0-255 masks)."""
    lung = np.asarray(lung) > 0
    lesion = (np.asarray(lesion) > 0) & lung
    area = float(lesion.sum())
    if area == 0:
        return LesionDistribution(0.0, 0.0, 0.0, 0.0, 0.0)
    side, q, t = lung_coordinates(lung)
    left, right = float((lesion & (side < 0)).sum()), float((lesion & (side > 0)).sum())
    return LesionDistribution(
        lung_fraction=area / float(lung.sum()),
        bilateral=min(left, right) / max(left, right),
        peripheral=float((lesion & (q > 0.5)).sum()) / area,
        lower=float((lesion & (t > 0.5)).sum()) / area,
        perihilar=float((lesion & (q < 0.5) & (t > 0.25) & (t < 0.7)).sum()) / area,
    )
