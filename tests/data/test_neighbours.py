"""Near-copy candidates from the nearest-neighbour index over thumbnail crop views
(issue 23, item 7): asymmetric re-crops are found and confirmed, and the true
copies the hash bands and symmetric views grouped before are still grouped."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from cxr.config import PhantomConfig
from cxr.data.duplicates import neighbours
from cxr.data.duplicates.cropfit import DEFAULT_MIN_CORR
from cxr.data.duplicates.grouping import candidates, confirm
from cxr.data.duplicates.hashing import candidate_pairs, duplicate_components
from cxr.data.duplicates.nearcopy import decode_thumb, signature
from cxr.data.duplicates.neighbours import embed, neighbour_pairs, neighbour_sims
from cxr.data.images.imageio import decode_bytes
from cxr.data.images.intensity import float_to_uint8

SIZE = 160
N_PATIENTS = 6


def _letter(u8: np.ndarray, xy: tuple[int, int], text: str = "R") -> np.ndarray:
    img = Image.fromarray(u8)
    ImageDraw.Draw(img).text(xy, text, fill=255, font=ImageFont.load_default(size=14))
    return np.array(img)


def _jpeg(u8: np.ndarray, q: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=q)
    return float_to_uint8(decode_bytes(buf.getvalue()))


@pytest.fixture(scope="module")
def crafted() -> tuple[list[np.ndarray], dict[int, int]]:
    """Six phantom patients, each with a burnt-in letter, then copies: ``{copy: original}``."""
    from cxr.phantom import plan_patient, render_study

    cfg = PhantomConfig(patients=N_PATIENTS, seed=5, image_size=SIZE, longitudinal_fraction=0.0)
    images = []
    for i in range(N_PATIENTS):
        plan = plan_patient(cfg, i)
        u8 = np.asarray(render_study(plan, plan.studies[0], SIZE).image, np.uint8)
        images.append(_letter(u8, (8, 8)))
    src = images[0]
    # the case of the issue: one side trimmed, the panel letter moved, re-encoded
    recrop = _letter(src.copy(), (SIZE - 28, SIZE - 26), "R")
    recrop[4:24, 4:24] = src[30:50, 30:50]  # the old letter painted over
    recrop = _jpeg(recrop[:, int(0.08 * SIZE):])
    # two sides trimmed (top 6 %, right 9 %), a small shift, resized and re-encoded
    h = w = SIZE
    two = src[int(0.06 * h):, : w - int(0.09 * w)]
    two = np.pad(two, ((0, 0), (2, 0)), mode="edge")[:, :-2]
    two = _jpeg(np.asarray(Image.fromarray(two).resize((110, 118))), 70)
    resized = _jpeg(np.asarray(Image.fromarray(images[1]).resize((120, 120))), 80)
    trimmed = images[2][5:-5, 5:-5]
    copies = {N_PATIENTS: 0, N_PATIENTS + 1: 0, N_PATIENTS + 2: 1, N_PATIENTS + 3: 2}
    return [*images, recrop, two, resized, trimmed], copies


def _sigs(images: list[np.ndarray]) -> list[dict[str, str]]:
    return [signature(u) for u in images]


def test_embedding_shapes_and_plain_view() -> None:
    rng = np.random.default_rng(0)
    thumbs = rng.integers(0, 256, (3, 32, 32)).astype(np.uint8)
    views = embed(thumbs, views=True)
    plain = embed(thumbs)
    assert views.shape[:2] == (3, 81) and plain.shape == (3, views.shape[2])
    np.testing.assert_allclose(views[:, 0], plain, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(views, axis=2), 1.0, atol=1e-5)


def test_recrop_with_moved_letter_is_a_candidate_and_confirmed(
    crafted: tuple[list[np.ndarray], dict[int, int]],
) -> None:
    images, copies = crafted
    sigs = _sigs(images)
    thumbs = [decode_thumb(s["thumb"]) for s in sigs]
    found = set(neighbour_pairs(thumbs, k=3))
    for c, o in copies.items():
        assert (o, c) in found, (o, c)
    pairs = candidates([s["phash"] for s in sigs], [s["phash_crops"] for s in sigs], thumbs, 8)
    scores = dict(zip(pairs, confirm(pairs, thumbs), strict=True))
    for c, o in copies.items():
        assert scores[(o, c)] >= DEFAULT_MIN_CORR, (o, c, scores[(o, c)])
    accepted = [p for p, s in scores.items() if s >= DEFAULT_MIN_CORR]
    comp = duplicate_components([""] * len(images), accepted)
    truth = {i: copies.get(i, i) for i in range(len(images))}
    for i in range(len(images)):  # copies join their original, and nothing else joins
        for j in range(i + 1, len(images)):
            assert (comp[i] == comp[j]) == (truth[i] == truth[j]), (i, j)


def test_hash_bands_miss_the_recrop(crafted: tuple[list[np.ndarray], dict[int, int]]) -> None:
    """Why the index: the earlier candidates never offered the re-crop with the moved letter."""
    images, _ = crafted
    sigs = _sigs(images)
    old = candidate_pairs([s["phash"] for s in sigs], [s["phash_crops"] for s in sigs], 8)
    assert (0, N_PATIENTS) not in old


def test_the_copies_grouped_before_are_grouped_now(
    crafted: tuple[list[np.ndarray], dict[int, int]],
) -> None:
    """The earlier hash bands offered the resized and the trimmed copy (and the symmetric
    views confirmed them); the new candidates and confirmation still group them."""
    images, copies = crafted
    sigs = _sigs(images)
    ph, crops = [s["phash"] for s in sigs], [s["phash_crops"] for s in sigs]
    thumbs = [decode_thumb(s["thumb"]) for s in sigs]
    old = set(candidate_pairs(ph, crops, 8))
    before = [(1, N_PATIENTS + 2), (2, N_PATIENTS + 3)]  # resized, trimmed 5 px a side
    assert set(before) <= old
    pairs = candidates(ph, crops, thumbs, 8)
    accepted = [p for p, s in zip(pairs, confirm(pairs, thumbs), strict=True)
                if s >= DEFAULT_MIN_CORR]
    comp = duplicate_components([""] * len(images), accepted)
    assert all(comp[i] == comp[j] for i, j in before)


def test_index_beyond_the_exact_limit_finds_the_same_copies(
    crafted: tuple[list[np.ndarray], dict[int, int]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Large manifests use the inverted file with 8-bit vectors: same copies found."""
    images, copies = crafted
    thumbs = [decode_thumb(s["thumb"]) for s in _sigs(images)]
    rng = np.random.default_rng(3)
    noise = [rng.integers(0, 256, (32, 32)).astype(np.uint8) for _ in range(40)]
    monkeypatch.setattr(neighbours, "_EXACT_MAX", 100)
    found = set(neighbour_pairs([*thumbs, *noise], k=3))
    for c, o in copies.items():
        assert (o, c) in found, (o, c)


def test_empty_and_missing_thumbnails() -> None:
    assert neighbour_pairs([None, None]) == []
    rng = np.random.default_rng(1)
    t = rng.integers(0, 256, (32, 32)).astype(np.uint8)
    sims = neighbour_sims([t, None, t.copy()], k=2)
    assert set(sims) == {(0, 2)} and sims[(0, 2)] > 0.99
