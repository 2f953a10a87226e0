"""Gradient-map smoothing and the minimum-area filter before regions are taken (localize)."""

from __future__ import annotations

import numpy as np
import pytest

from cxr.explain import localize, scores
from cxr.runtime.errors import ConfigError

SIZE = 96


def _speckled_blob(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A saliency-like map: sparse bright speckle, dense inside one true blob; and the blob."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    blob = (yy - 40) ** 2 + (xx - 55) ** 2 <= 14**2
    heat = rng.random((SIZE, SIZE)) * (rng.random((SIZE, SIZE)) < np.where(blob, 0.7, 0.15))
    return (heat / heat.max()).astype(np.float32), blob


def test_speckle_gives_many_regions_smoothing_gives_one() -> None:
    heat, blob = _speckled_blob()
    raw = localize.find_regions(localize.threshold_map(heat, top_fraction=0.05))
    assert len(raw) > 20
    smooth = localize.smooth_map(heat, 0.04)
    assert smooth.dtype == np.float32 and smooth.max() == pytest.approx(1.0)
    region = localize.attended_region(
        smooth, top_fraction=0.05, min_area=localize.min_area_pixels(heat.shape, 0.005)
    )
    regions = localize.find_regions(region)
    assert len(regions) == 1
    assert (region & blob).sum() / region.sum() > 0.95  # and it sits on the blob
    assert scores.mask_iou(region, blob) > 3 * scores.mask_iou(
        localize.threshold_map(heat, top_fraction=0.05), blob
    )


def test_sigma_zero_is_the_old_behaviour_exactly() -> None:
    heat, blob = _speckled_blob(1)
    assert np.array_equal(localize.smooth_map(heat, 0.0), heat)
    for rule in ("top", "otsu"):
        old = localize.threshold_map(heat, rule=rule)
        new = localize.attended_region(localize.smooth_map(heat, 0.0), rule=rule, min_area=0)
        assert np.array_equal(old, new)
    lesion = blob & (np.arange(SIZE)[None, :] < 60)
    lung = np.zeros_like(blob)
    lung[10:90, 10:90] = True
    before = scores.score_map(heat, lesion=lesion, lung=lung)
    after = scores.score_map(localize.smooth_map(heat, 0.0), lesion=lesion, lung=lung, min_area=0)
    assert before == after
    assert localize.min_area_pixels(heat.shape, 0.0) == 0


def test_min_area_drops_small_islands_only() -> None:
    mask = np.zeros((100, 100), dtype=bool)
    mask[10:30, 10:30] = True  # 400 px = 4 % of the image
    mask[60:63, 60:63] = True  # 9 px
    mask[80, 80] = mask[81, 81] = True  # 2 px, 8-connected (one component)
    assert localize.min_area_pixels(mask.shape, 0.005) == 50
    kept = localize.drop_small(mask, 50)
    assert kept.sum() == 400 and kept[10:30, 10:30].all()
    assert np.array_equal(localize.drop_small(mask, 0), mask)
    assert localize.drop_small(mask, 3).sum() == 409  # the diagonal pair is one 2-px component
    assert len(localize.find_regions(mask)) == 3
    assert len(localize.find_regions(kept)) == 1
    assert not localize.drop_small(np.zeros((4, 4), dtype=bool), 5).any()


def test_min_area_applies_to_the_iou_baseline_too() -> None:
    _, blob = _speckled_blob()
    plain = scores.iou_baseline(blob)
    assert scores.iou_baseline(blob, min_area=0) == plain
    # smooth random maps have few tiny islands: the filter barely moves the baseline
    assert scores.iou_baseline(blob, min_area=46) == pytest.approx(plain, abs=0.05)


def test_bad_sigma_and_min_area_are_config_errors() -> None:
    heat, _ = _speckled_blob()
    with pytest.raises(ConfigError, match="region sigma"):
        localize.smooth_map(heat, -0.1)
    with pytest.raises(ConfigError, match="min area"):
        localize.min_area_pixels(heat.shape, 1.5)
    assert not localize.smooth_map(np.zeros((8, 8), dtype=np.float32), 0.1).any()
