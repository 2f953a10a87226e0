"""Dice / IoU of hand-made masks against numbers worked out by hand; the patient bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from cxr.lungs.seg_metrics import bootstrap_scores, dice_iou


def _mask(rows: slice, cols: slice, size: int = 8) -> np.ndarray:
    m = np.zeros((size, size), dtype=bool)
    m[rows, cols] = True
    return m


def test_dice_iou_of_known_overlaps() -> None:
    ref = _mask(slice(0, 4), slice(0, 4))  # 16 px
    half = _mask(slice(0, 4), slice(0, 2))  # 8 px inside ref
    shifted = _mask(slice(0, 4), slice(2, 6))  # 16 px, 8 shared
    disjoint = _mask(slice(4, 8), slice(4, 8))
    pred = np.stack([ref, half, shifted, disjoint, np.zeros_like(ref)])
    target = np.stack([ref, ref, ref, ref, np.zeros_like(ref)])
    dice, iou = dice_iou(pred, target)
    # Dice 2|A&B|/(|A|+|B|); IoU |A&B|/|A|B|; both empty counts as a perfect 1
    np.testing.assert_allclose(dice, [1.0, 2 * 8 / 24, 2 * 8 / 32, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(iou, [1.0, 8 / 16, 8 / 24, 0.0, 1.0], atol=1e-6)
    # the identity IoU = Dice / (2 - Dice) holds image by image
    np.testing.assert_allclose(iou, dice / (2 - dice), atol=1e-6)


def test_dice_iou_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="one shape"):
        dice_iou(np.zeros((2, 4, 4), bool), np.zeros((2, 4, 5), bool))


def test_bootstrap_resamples_patients_not_images() -> None:
    # patient a: four perfect images; patient b: one image at 0. The image mean is 0.8, and
    # every resample's mean is either 0, 0.8 or 1 (whole patients drawn), never in between
    scores = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    res = bootstrap_scores({"dice": scores}, ["a"] * 4 + ["b"], n_boot=400, seed=1)["dice"]
    assert res["mean"] == pytest.approx(0.8)
    assert (res["n_images"], res["n_patients"]) == (5, 2)
    assert res["ci_low"] == pytest.approx(0.0) and res["ci_high"] == pytest.approx(1.0)
    same = bootstrap_scores({"dice": scores}, ["a"] * 4 + ["b"], n_boot=400, seed=1)
    assert same["dice"] == res  # seeded


def test_bootstrap_without_resamples_has_no_interval() -> None:
    res = bootstrap_scores({"iou": np.array([0.5, 0.7])}, ["a", "b"], n_boot=0)["iou"]
    assert res["mean"] == pytest.approx(0.6) and res["ci_low"] is None
