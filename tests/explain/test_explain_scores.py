"""Localization scores, thresholds and regions on hand-made maps and masks."""

from __future__ import annotations

import numpy as np
import pytest

from cxr.explain import localize, scores
from cxr.runtime.errors import ConfigError


def _square(shape=(32, 32), y0=8, y1=16, x0=4, x1=12) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def test_pointing_game_hit_miss_and_tolerance() -> None:
    mask = _square()
    heat = np.zeros((32, 32), np.float32)
    heat[10, 6] = 1.0
    assert scores.pointing_game(heat, mask)
    heat = np.zeros((32, 32), np.float32)
    heat[10, 14] = 1.0  # two pixels right of the mask (last column x=11)
    assert not scores.pointing_game(heat, mask)
    assert not scores.pointing_game(heat, mask, tolerance=2)
    assert scores.pointing_game(heat, mask, tolerance=3)
    plateau = np.zeros((32, 32), np.float32)
    plateau[0, 0] = plateau[10, 6] = plateau[12, 8] = plateau[30, 30] = 1.0  # 2 of 4 maxima hit
    assert scores.pointing_game(plateau, mask) == pytest.approx(0.5)


def test_baselines_are_area_fractions() -> None:
    mask = _square()
    assert scores.pointing_baseline(mask) == pytest.approx(64 / 1024)
    assert scores.pointing_baseline(mask, tolerance=1) > 64 / 1024
    uniform = np.ones((32, 32), np.float32)
    # a uniform map's energy share is exactly the area fraction (the analytic baseline)
    assert scores.energy_share(uniform, mask) == pytest.approx(mask.mean())


def test_energy_share_and_iou_values() -> None:
    mask = _square()
    heat = np.zeros((32, 32), np.float32)
    heat[mask] = 1.0
    heat[0, 0] = 1.0  # one unit of energy outside
    assert scores.energy_share(heat, mask) == pytest.approx(64 / 65)
    assert np.isnan(scores.energy_share(np.zeros((32, 32)), mask))
    half = _square(x0=4, x1=8)  # 32 px inside the 64-px mask
    assert scores.mask_iou(half, mask) == pytest.approx(0.5)
    assert scores.mask_iou(np.zeros_like(mask), np.zeros_like(mask)) == 0.0
    with pytest.raises(ValueError, match="shape"):
        scores.energy_share(heat, np.zeros((16, 16), bool))


def test_iou_baseline_is_seeded_and_below_a_perfect_map() -> None:
    mask = _square(y0=4, y1=20, x0=4, x1=20)  # 25 % of the image
    a = scores.iou_baseline(mask, seed=1)
    b = scores.iou_baseline(mask, seed=1)
    assert a == b
    assert 0.02 < a < 0.4
    perfect = scores.score_map(mask.astype(np.float32), lesion=mask, top_fraction=0.25)
    iou, base = perfect["lesion_iou"], perfect["lesion_iou_baseline"]
    assert iou is not None and base is not None
    assert iou == pytest.approx(1.0) and iou > base


def test_score_map_missing_masks_and_summary() -> None:
    mask = _square()
    lung = _square(y0=0, y1=32, x0=0, x1=16)
    heat = np.zeros((32, 32), np.float32)
    heat[12, 8] = 1.0
    rec = scores.score_map(heat, lesion=mask, lung=lung)
    assert rec["pointing"] == 1.0 and rec["lung_energy"] == 1.0
    assert rec["lung_energy_baseline"] == pytest.approx(0.5)
    empty = scores.score_map(heat, lesion=np.zeros_like(mask), lung=None)
    assert all(v is None for k, v in empty.items() if k != "empty_map")
    miss = dict(rec, pointing=0.0)
    summary = scores.summarize([rec, rec, miss, empty])
    assert summary["pointing"]["n"] == 3
    assert summary["pointing"]["mean"] == pytest.approx(2 / 3)
    lo, hi = summary["pointing"]["ci95"]
    assert 0.0 <= lo <= 2 / 3 <= hi <= 1.0
    assert summary["pointing"]["baseline"] == pytest.approx(64 / 1024)


def test_threshold_rules_and_regions() -> None:
    yy, xx = np.mgrid[0:40, 0:40]
    heat = np.exp(-((yy - 10) ** 2 + (xx - 10) ** 2) / 20.0) + np.exp(
        -((yy - 30) ** 2 + (xx - 28) ** 2) / 20.0
    )
    heat = (heat / heat.max()).astype(np.float32)
    top = localize.threshold_map(heat, rule="top", top_fraction=0.1)
    assert abs(int(top.sum()) - 160) <= 4
    otsu = localize.threshold_map(heat, rule="otsu")
    assert otsu[10, 10] and otsu[30, 28] and not otsu[0, 39]
    regions = localize.find_regions(top)
    assert len(regions) == 2
    assert sum(r.area for r in regions) == int(top.sum())
    r0 = regions[0]
    assert r0.x <= 10 < r0.x + r0.w or r0.x <= 28 < r0.x + r0.w
    assert not localize.threshold_map(np.zeros((8, 8))).any()
    with pytest.raises(ConfigError, match="threshold rule"):
        localize.threshold_map(heat, rule="median")


def test_involved_fraction() -> None:
    lung = _square(y0=0, y1=32, x0=0, x1=16)  # 512 px
    region = _square(y0=0, y1=8, x0=8, x1=24)  # 128 px, 64 inside the lung
    assert localize.involved_fraction(region, lung) == pytest.approx(64 / 512)
    assert localize.involved_fraction(region, None) is None
    assert localize.involved_fraction(region, np.zeros_like(lung)) is None


def test_coarse_lung_estimate_finds_dark_fields_inside_the_body() -> None:
    yy, xx = np.mgrid[0:96, 0:96]
    body = ((yy - 50) / 44.0) ** 2 + ((xx - 48) / 40.0) ** 2 <= 1.0
    lungs = (((yy - 45) / 24.0) ** 2 + ((xx - 30) / 11.0) ** 2 <= 1.0) | (
        ((yy - 45) / 24.0) ** 2 + ((xx - 66) / 11.0) ** 2 <= 1.0
    )
    img = np.where(body, 190, 25).astype(np.float64)  # air around the patient is dark too
    img[lungs] = 70
    img += np.random.default_rng(0).normal(0, 5, img.shape)
    est = localize.estimate_lung_mask(np.clip(img, 0, 255).astype(np.uint8))
    assert scores.mask_iou(est, lungs) > 0.8
    assert not est[2, 2]  # outside air touches the border and is dropped
    assert not localize.estimate_lung_mask(np.zeros((32, 32), np.uint8)).any()


def _blob(amplitude: float, size: int = 32, sigma: float = 5.0) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return (amplitude * np.exp(-((yy - 16) ** 2 + (xx - 16) ** 2) / (2 * sigma**2))).astype(
        np.float32
    )


def test_common_scale_involvement_grows_with_the_evidence() -> None:
    """A patient's maps with growing peaks -> growing involvement (~0 for a near-zero map).

    The per-image rule (hottest 20 % of a map normalised on its own) gives the
    same region for all of them: it cannot tell weak evidence from strong.
    """
    lung = np.ones((32, 32), dtype=bool)
    raws = [_blob(a) for a in (1e-4, 0.6, 0.8, 1.0)]
    commons, scale = localize.common_scale(raws)
    assert scale == pytest.approx(1.0)
    inv = [
        localize.involved_fraction(localize.common_region(c, threshold=0.5), lung) for c in commons
    ]
    assert inv[0] == pytest.approx(0.0, abs=1e-9)
    assert inv[1] < inv[2] < inv[3]
    assert inv[1] > 0.0
    per_image = [
        localize.involved_fraction(localize.threshold_map(r / r.max(), rule="top"), lung)
        for r in raws
    ]
    assert max(per_image) - min(per_image) < 1e-9  # the old, constant-by-construction measure


def test_common_scale_edge_cases_and_peaks() -> None:
    z = np.zeros((8, 8), np.float32)
    commons, scale = localize.common_scale([z, z])
    assert scale == 0.0 and all(not c.any() for c in commons)
    assert localize.common_scale([]) == ([], 0.0)
    # a robust peak (e.g. a percentile) may sit below the maximum: values above clip to 1
    a = _blob(2.0, size=16)
    commons, scale = localize.common_scale([a], peaks=[1.0])
    assert scale == 1.0 and commons[0].max() == 1.0
    with pytest.raises(ValueError, match="peaks"):
        localize.common_scale([a], peaks=[1.0, 2.0])
    with pytest.raises(ConfigError, match="threshold"):
        localize.common_region(commons[0], threshold=0.0)
    assert not localize.common_region(np.zeros((4, 4)), threshold=1.0).any()


def test_all_zero_map_is_counted_as_a_miss_not_dropped() -> None:
    mask = _square()
    lung = _square(y0=0, y1=32, x0=0, x1=16)
    zero = scores.score_map(np.zeros((32, 32), np.float32), lesion=mask, lung=lung)
    assert zero["empty_map"] == 1.0
    assert zero["pointing"] == 0.0 and zero["lesion_energy"] == 0.0 and zero["lung_energy"] == 0.0
    heat = np.zeros((32, 32), np.float32)
    heat[12, 8] = 1.0
    hit = scores.score_map(heat, lesion=mask, lung=lung)
    assert hit["empty_map"] == 0.0
    summary = scores.summarize([hit, zero])
    assert summary["pointing"]["n"] == 2 and summary["pointing"]["mean"] == 0.5
    assert summary["lung_energy"]["n"] == 2
