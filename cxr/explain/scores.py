"""Measured localization of a heatmap against ground-truth masks, each with a random baseline.

* **Pointing game** (Zhang et al., ECCV 2016 / IJCV 2018): a hit when the
  map's maximum lies inside the lesion mask (optionally within ``tolerance``
  pixels of it); ties count as the share of maximal pixels that hit.
  Baseline: a uniformly random point hits with probability equal to the
  (dilated) mask's area fraction - analytic.
* **Energy inside a mask**: ``sum(map * mask) / sum(map)`` (the "energy-based
  pointing game" of Score-CAM, Wang et al. 2020), for the lesion mask and for
  the lungs. A low lung share means the model looks outside the lungs (text
  markers, borders: the known shortcut of COVID classifiers; DeGrave et al.
  2021). Baseline: a uniform map puts exactly the mask's area fraction inside
  - analytic.
* **IoU** of the attended region
  (:func:`~cxr.explain.localize.attended_region`: the thresholded
  map without components under ``min_area`` pixels) with the lesion mask. No
  closed form for spatially coherent maps, so the baseline is empirical: the
  mean IoU of seeded random smooth maps (Gaussian filtered white noise) whose
  regions are extracted by the same rule and area filter.

:func:`summarize` gives the mean, a seeded percentile-bootstrap 95 % CI over
images, and the mean baseline for each score.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from cxr.explain.localize import attended_region

SCORES: tuple[str, ...] = ("pointing", "lesion_energy", "lesion_iou", "lung_energy")


def _as_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(mask, dtype=bool)
    if m.shape != shape:
        raise ValueError(f"mask shape {m.shape} differs from heatmap shape {shape}")
    return m


def _dilate(mask: np.ndarray, tolerance: int) -> np.ndarray:
    if tolerance <= 0:
        return mask
    from scipy.ndimage import binary_dilation

    yy, xx = np.mgrid[-tolerance : tolerance + 1, -tolerance : tolerance + 1]
    return binary_dilation(mask, structure=(yy**2 + xx**2) <= tolerance**2)


def pointing_game(heat: np.ndarray, mask: np.ndarray, *, tolerance: int = 0) -> float:
    """Hit (1.0) when the map's maximum lies in ``mask`` dilated by ``tolerance`` pixels.

    Ties (plateaus from upsampling or percentile clipping) are broken uniformly
    at random *in expectation*: the result is the share of maximal pixels that
    hit, so a flat top is never decided by scan order.
    """
    heat = np.asarray(heat, dtype=np.float64)
    m = _dilate(_as_mask(mask, heat.shape), tolerance)
    top = heat >= heat.max() - 1e-6
    return float(m[top].mean())


def pointing_baseline(mask: np.ndarray, *, tolerance: int = 0) -> float:
    """Hit probability of a uniformly random point: the (dilated) mask's area fraction."""
    m = np.asarray(mask, dtype=bool)
    return float(_dilate(m, tolerance).mean())


def energy_share(heat: np.ndarray, mask: np.ndarray) -> float:
    """``sum(map inside mask) / sum(map)``; NaN for an all-zero map."""
    heat = np.clip(np.asarray(heat, dtype=np.float64), 0.0, None)
    m = _as_mask(mask, heat.shape)
    total = heat.sum()
    return float(heat[m].sum() / total) if total > 0 else float("nan")


def mask_iou(region: np.ndarray, mask: np.ndarray) -> float:
    """Intersection over union of two binary masks (0 when both are empty)."""
    a = np.asarray(region, dtype=bool)
    b = _as_mask(mask, a.shape)
    union = int((a | b).sum())
    return float((a & b).sum() / union) if union else 0.0


@lru_cache(maxsize=8)
def random_smooth_maps(shape: tuple[int, int], n: int = 16, seed: int = 0) -> np.ndarray:
    """``n`` seeded random smooth maps ``(n, H, W)`` in ``[0, 1]`` (read-only, cached).

    White noise blurred with a Gaussian of sigma = 1/16 of the image side,
    about the blob size of a CAM from a stride-16/32 layer.
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    sigma = max(1.0, min(shape) / 16.0)
    maps = np.empty((n, *shape), dtype=np.float32)
    for i in range(n):
        m = gaussian_filter(rng.standard_normal(shape), sigma=sigma, mode="wrap")
        m -= m.min()
        maps[i] = m / max(float(m.max()), 1e-12)
    maps.setflags(write=False)
    return maps


def iou_baseline(
    mask: np.ndarray,
    *,
    rule: str = "top",
    top_fraction: float = 0.2,
    min_area: int = 0,
    n: int = 16,
    seed: int = 0,
) -> float:
    """Mean IoU with ``mask`` of seeded random smooth maps, regions taken by the same rule."""
    m = np.asarray(mask, dtype=bool)
    maps = random_smooth_maps(tuple(m.shape), n, seed)
    return float(
        np.mean(
            [
                mask_iou(
                    attended_region(r, rule=rule, top_fraction=top_fraction, min_area=min_area), m
                )
                for r in maps
            ]
        )
    )


def score_map(
    heat: np.ndarray,
    *,
    lesion: np.ndarray | None = None,
    lung: np.ndarray | None = None,
    rule: str = "top",
    top_fraction: float = 0.2,
    min_area: int = 0,
    tolerance: int = 0,
    random_maps: int = 16,
    seed: int = 0,
) -> dict[str, float | None]:
    """All scores of one map with their baselines; ``None`` where the mask is missing or empty.

    ``heat`` is the map as scored: for gradient methods the caller passes the
    smoothed map (:func:`~cxr.explain.localize.smooth_map`), so the
    pointing game, energies and the IoU region all see the map as displayed.

    An empty map (no positive value, e.g. Grad-CAM on a coarse grid whose ReLU cut
    everything) points nowhere and puts no energy anywhere: it scores 0 on the pointing
    game and the energy shares (``empty_map`` is 1.0), so it is counted, not dropped.
    """
    out: dict[str, float | None] = {}
    for name in SCORES:
        out[name] = out[f"{name}_baseline"] = None
    h = np.asarray(heat, dtype=np.float64)
    empty = not bool(np.any(np.isfinite(h) & (h > 0)))
    out["empty_map"] = float(empty)
    if lesion is not None and np.asarray(lesion, dtype=bool).any():
        out["pointing"] = 0.0 if empty else pointing_game(heat, lesion, tolerance=tolerance)
        out["pointing_baseline"] = pointing_baseline(lesion, tolerance=tolerance)
        out["lesion_energy"] = 0.0 if empty else energy_share(heat, lesion)
        out["lesion_energy_baseline"] = float(np.asarray(lesion, dtype=bool).mean())
        region = attended_region(heat, rule=rule, top_fraction=top_fraction, min_area=min_area)
        out["lesion_iou"] = mask_iou(region, lesion)
        out["lesion_iou_baseline"] = iou_baseline(
            lesion,
            rule=rule,
            top_fraction=top_fraction,
            min_area=min_area,
            n=random_maps,
            seed=seed,
        )
    if lung is not None and np.asarray(lung, dtype=bool).any():
        out["lung_energy"] = 0.0 if empty else energy_share(heat, lung)
        out["lung_energy_baseline"] = float(np.asarray(lung, dtype=bool).mean())
    return out


def bootstrap_ci(
    values: np.ndarray, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (seeded); ``(nan, nan)`` for no values."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    a = (1.0 - level) / 2.0
    return float(np.quantile(means, a)), float(np.quantile(means, 1.0 - a))


def summarize(records: Iterable[Mapping[str, Any]], *, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per score: ``n``, ``mean``, ``ci95``, ``baseline`` (mean over the same images)."""
    rows = list(records)
    out: dict[str, dict[str, Any]] = {}
    for name in SCORES:
        pairs = [
            (r[name], r[f"{name}_baseline"])
            for r in rows
            if r.get(name) is not None and np.isfinite(r[name])
        ]
        if not pairs:
            out[name] = {"n": 0, "mean": None, "ci95": None, "baseline": None}
            continue
        vals = np.array([p[0] for p in pairs], dtype=np.float64)
        base = np.array([p[1] for p in pairs], dtype=np.float64)
        lo, hi = bootstrap_ci(vals, seed=seed)
        out[name] = {
            "n": int(vals.size),
            "mean": float(vals.mean()),
            "ci95": [lo, hi],
            "baseline": float(base.mean()),
        }
    return out


def lung_prior_scores(
    lung: np.ndarray,
    lesion: np.ndarray,
    *,
    rule: str = "top",
    top_fraction: float = 0.2,
    min_area: int = 0,
    tolerance: int = 0,
) -> dict[str, float | None]:
    """Pointing game, lesion energy and IoU of the *lung-prior* map: 1 on the lung field, else 0.

    The baseline a map must beat to show it knows *where in the lungs* the lesion is, not only
    that lesions lie in lungs: its maximum is the whole lung field (the pointing game is the
    share of lung pixels inside the lesion), its energy is spread evenly over the lungs, and
    its attended region, taken by the same rule as the model's, is the lung field (the
    ``top`` rule keeps all ties at the cut). ``None`` for all three where either mask is empty.
    """
    lung_b, lesion_b = np.asarray(lung, dtype=bool), np.asarray(lesion, dtype=bool)
    if lung_b.shape != lesion_b.shape:
        raise ValueError(f"lung mask {lung_b.shape} and lesion mask {lesion_b.shape} differ")
    if not lung_b.any() or not lesion_b.any():
        return {"pointing": None, "lesion_energy": None, "lesion_iou": None}
    prior = lung_b.astype(np.float64)
    region = attended_region(prior, rule=rule, top_fraction=top_fraction, min_area=min_area)
    return {
        "pointing": pointing_game(prior, lesion_b, tolerance=tolerance),
        "lesion_energy": energy_share(prior, lesion_b),
        "lesion_iou": mask_iou(region, lesion_b),
    }
