"""Near-copy confirmation by crop estimation (issue 23, item 7): the estimated crop of
known re-crops, one- and two-sided re-crops confirmed, intensity changes ignored, and
different radiographs kept apart."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cxr.config import PhantomConfig
from cxr.data.duplicates import cropfit
from cxr.data.duplicates.cropfit import DEFAULT_MIN_CORR, crop_correlation, equalise
from cxr.data.duplicates.nearcopy import thumbnail
from cxr.data.images.imageio import decode_bytes
from cxr.data.images.intensity import float_to_uint8

SIZE = 192


@pytest.fixture(scope="module")
def phantoms() -> list[np.ndarray]:
    """Five phantom patients, 192 px uint8 (radiograph-like, and alike each other)."""
    from cxr.phantom import plan_patient, render_study

    cfg = PhantomConfig(patients=5, seed=11, image_size=SIZE, longitudinal_fraction=0.0)
    out = []
    for i in range(5):
        plan = plan_patient(cfg, i)
        out.append(np.asarray(render_study(plan, plan.studies[0], SIZE).image, np.uint8))
    return out


def _jpeg(u8: np.ndarray, size: tuple[int, int], q: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(u8).resize(size, Image.Resampling.BILINEAR).save(buf, "JPEG", quality=q)
    return float_to_uint8(decode_bytes(buf.getvalue()))


def _cut(u8: np.ndarray, top: float, bottom: float, left: float,
         right: float) -> tuple[np.ndarray, np.ndarray]:
    """The re-crop and its true ``(s_y, o_y, s_x, o_x)``."""
    h, w = u8.shape
    t, b, lft, r = int(h * top), int(h * bottom), int(w * left), int(w * right)
    crop = np.array([(h - t - b) / h, t / h, (w - lft - r) / w, lft / w])
    return u8[t : h - b, lft : w - r], crop


CUTS = {
    "one side (left 8 %)": (0.0, 0.0, 0.08, 0.0),
    "two sides (top 6 %, right 9 %)": (0.06, 0.0, 0.0, 0.09),
    "two sides of one axis (top 10 %, bottom 8 %)": (0.10, 0.08, 0.0, 0.0),
    "four sides (3 % each)": (0.03, 0.03, 0.03, 0.03),
}


@pytest.mark.parametrize("name", sorted(CUTS))
def test_estimated_crop_matches_the_cut(phantoms: list[np.ndarray], name: str) -> None:
    u8 = phantoms[0]
    copy, truth = _cut(u8, *CUTS[name])
    copy = _jpeg(copy, (130, 150))
    big, small = (equalise(np.stack([thumbnail(u8)])), equalise(np.stack([thumbnail(copy)])))
    coarse, _ = cropfit.estimate_crops(big, small)
    crop = cropfit.refine_crops(big, small, coarse)[0]
    np.testing.assert_allclose(crop, truth, atol=0.04)  # about a thumbnail pixel
    score = crop_correlation([(0, 1)], [thumbnail(u8), thumbnail(copy)])[0]
    assert score >= DEFAULT_MIN_CORR, (name, score)


def test_recrop_shifted_with_a_moved_letter_is_confirmed(phantoms: list[np.ndarray]) -> None:
    """The issue's copy: one side trimmed, the burnt-in letter moved, a black shift band."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default(size=16)
    src = Image.fromarray(phantoms[1])
    ImageDraw.Draw(src).text((10, 10), "R", fill=255, font=font)
    orig = np.asarray(src)
    copy = phantoms[1][:, int(0.07 * SIZE):].copy()
    copy = np.pad(copy, ((3, 0), (0, 0)))[:-3]  # content moved down, black band on top
    img = Image.fromarray(copy)
    ImageDraw.Draw(img).text((copy.shape[1] - 26, copy.shape[0] - 26), "R", fill=255, font=font)
    copy = _jpeg(np.asarray(img), (120, 140), 70)
    score = crop_correlation([(0, 1), (1, 0)], [thumbnail(orig), thumbnail(copy)])
    assert score[0] >= DEFAULT_MIN_CORR and abs(score[0] - score[1]) < 1e-6


def test_intensity_changes_are_ignored(phantoms: list[np.ndarray]) -> None:
    u8 = phantoms[2]
    gamma = (255 * (u8 / 255.0) ** 1.6).astype(np.uint8)
    dark = (u8.astype(np.uint16) >> 4).astype(np.uint8)  # 12 bits in 16, decoded: 16 levels
    thumbs = [thumbnail(u8), thumbnail(gamma), thumbnail(dark)]
    ranks = equalise(np.stack(thumbs)).reshape(3, -1)
    assert np.corrcoef(ranks)[0, 1:].min() > 0.99  # gamma and 16 grey levels: same ranks
    scores = crop_correlation([(0, 1), (0, 2)], thumbs)
    assert (scores >= DEFAULT_MIN_CORR).all(), scores


def test_different_radiographs_are_not_confirmed(phantoms: list[np.ndarray]) -> None:
    """Phantom patients share one anatomy model: the hardest negatives there are."""
    thumbs = [thumbnail(u) for u in phantoms]
    pairs = [(i, j) for i in range(len(thumbs)) for j in range(i + 1, len(thumbs))]
    scores = crop_correlation(pairs, thumbs)
    assert (scores < DEFAULT_MIN_CORR).all(), dict(zip(pairs, scores.round(3), strict=True))
    # and not once one of them is re-cropped either
    copy, _ = _cut(phantoms[0], 0.0, 0.0, 0.08, 0.0)
    scores = crop_correlation([(0, 1), (0, 2), (0, 3)], [thumbnail(copy), *thumbs[1:4]])
    assert (scores < DEFAULT_MIN_CORR).all(), scores


def test_missing_thumbnails_and_no_pairs(phantoms: list[np.ndarray]) -> None:
    t = thumbnail(phantoms[0])
    out = crop_correlation([(0, 1), (0, 2)], [t, None, t.copy()])
    assert np.isnan(out[0]) and out[1] > 0.99
    assert crop_correlation([], [t]).shape == (0,)
    flat = np.full((32, 32), 7, np.uint8)  # a constant thumbnail has no correlation
    assert crop_correlation([(0, 1)], [t, flat])[0] < DEFAULT_MIN_CORR


def test_many_pairs_in_chunks_equal_one_by_one(phantoms: list[np.ndarray]) -> None:
    thumbs = [thumbnail(u) for u in phantoms]
    pairs = [(i, j) for i in range(5) for j in range(5) if i != j] * 27  # > one chunk
    together = crop_correlation(pairs, thumbs)
    alone = np.array([crop_correlation([p], thumbs)[0] for p in pairs[:20]])
    np.testing.assert_allclose(together[:20], alone, atol=1e-5)
    np.testing.assert_allclose(together[520:540], alone, atol=1e-5)  # the second chunk
    assert len(pairs) > cropfit._CHUNK
