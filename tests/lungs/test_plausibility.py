"""Plausibility flags of lung masks: area, two large components, balance, sides, position."""

from __future__ import annotations

import numpy as np

from cxr.lungs.plausibility import PlausibilityRules, check_mask, clean_mask


def _lungs(size: int = 64, *, left: bool = True, right: bool = True) -> np.ndarray:
    m = np.zeros((size, size), dtype=bool)
    if right:  # the patient's right lung is on the image's left
        m[12:52, 10:28] = True
    if left:
        m[12:52, 36:54] = True
    return m


def test_two_lungs_pass() -> None:
    res = check_mask(_lungs())
    assert res.ok and res.flag == "" and res.n_large == 2
    assert abs(res.area - 2 * 40 * 18 / 64**2) < 1e-9


def test_one_lung_is_flagged() -> None:
    res = check_mask(_lungs(left=False))
    assert not res.ok and "1 large components" in res.flag


def test_merged_blob_and_tiny_area_are_flagged() -> None:
    blob = np.zeros((64, 64), bool)
    blob[12:52, 10:54] = True
    assert "1 large components" in check_mask(blob).flag
    tiny = np.zeros((64, 64), bool)
    tiny[30:33, 10:13] = tiny[30:33, 50:53] = True
    flag = check_mask(tiny).flag
    assert "area" in flag and "0 large components" in flag


def test_both_lungs_on_one_side_and_near_the_edge_are_flagged() -> None:
    m = np.zeros((64, 64), bool)
    m[0:12, 0:10] = True
    m[0:12, 12:24] = True
    flag = check_mask(m, PlausibilityRules(min_area=0.05)).flag
    assert "one side of the midline" in flag and "near the image edge" in flag


def test_unbalanced_lungs_are_flagged() -> None:
    m = _lungs()
    m[12:52, 36:54] = False
    m[30:40, 40:50] = True  # 100 px against 720
    assert "of the other's area" in check_mask(m).flag


def test_clean_mask_fills_holes_and_drops_specks() -> None:
    prob = _lungs().astype(np.float32)
    prob[30, 15] = 0.0  # a hole inside the right lung
    prob[2, 2] = 1.0  # a speck in the corner
    out = clean_mask(prob, 0.5)
    assert out[30, 15] and not out[2, 2]
    assert check_mask(out).ok


def test_phantom_lung_masks_are_plausible(tmp_path) -> None:
    """The built-in phantoms' exact lung masks pass (so the rules do not flag real anatomy)."""
    from cxr.config import PhantomConfig
    from cxr.data.images.imageio import read_image_u8
    from cxr.phantom import generate_phantoms

    ds = generate_phantoms(tmp_path / "ph", PhantomConfig(patients=6, seed=0, image_size=64),
                           workers=1, progress=False)
    masks = sorted((ds / "masks" / "lung").glob("*.png"))
    assert masks
    for p in masks:
        res = check_mask(read_image_u8(p) > 127)
        assert res.ok, (p.name, res.flag)
