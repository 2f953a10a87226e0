"""Duplicate groups of a manifest: exact copies plus confirmed near copies.

1. Rows without a ``phash`` are decoded once to get their signature
   (:func:`cxr.data.duplicates.nearcopy.signature`) and ``content_hash``.
2. **Candidates**: the ``k`` nearest crop views of each image's thumbnail in a
   nearest-neighbour index (:func:`cxr.data.duplicates.neighbours.neighbour_pairs`,
   near-linear; finds copies re-cropped on one or two sides), plus the pairs whose
   whole-image or centre-crop perceptual hashes lie within ``near_duplicate_bits // 2``
   (:func:`cxr.data.duplicates.hashing.candidate_pairs`, multi-index hashing). The
   wider hash bands of earlier versions (``near_duplicate_bits`` on whole-image and
   centre-crop hashes) matched hundreds of thousands of look-alike pairs on real
   radiographs and missed asymmetric re-crops (issue 23, item 7).
3. **Confirmation** (:func:`cxr.data.duplicates.cropfit.crop_correlation`): the crop
   that maps one thumbnail onto the other is estimated from their row and column
   profiles, and the contrast-normalised 32 x 32 thumbnail correlation at that crop must
   reach ``duplicate_min_corr``. Thumbnails come from the manifest's ``thumb`` column;
   rows of older manifests that lack it are decoded.
4. Identical ``content_hash`` and confirmed pairs are joined with union-find.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from cxr.data.duplicates.cropfit import crop_correlation
from cxr.data.duplicates.hashing import candidate_pairs, duplicate_components
from cxr.data.duplicates.nearcopy import decode_thumb, signature
from cxr.data.duplicates.neighbours import neighbour_pairs
from cxr.runtime.errors import ImageReadError

if TYPE_CHECKING:
    import pandas as pd

SIGNATURE_COLUMNS = ("phash", "phash_crops", "thumb")


@dataclass
class DuplicateResult:
    groups: list[list[int]]  # manifest row positions, groups of >= 2, sorted by first row
    decoded: int  # rows decoded to fill in missing hashes / thumbnails
    candidates: int  # candidate pairs from the hashes
    rejected: int  # candidates the thumbnail correlation rejected
    without_crop_hashes: int  # rows lacking phash_crops (trimmed copies may be missed)
    seconds: dict[str, float] = field(default_factory=dict)  # wall, per phase: candidates, ...
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # process CPU, per phase


def _sha256(path: str) -> str:
    from cxr.runtime.files import sha256_file

    try:
        return sha256_file(path)
    except OSError as exc:
        raise ImageReadError(path, f"cannot read file ({exc.strerror or exc})") from None


def fill_signatures(df: pd.DataFrame, rows: list[int], progress: bool, *, need: str) -> int:
    """Fill empty ``content_hash`` (sha256 only) and, by decoding, empty signature columns.

    ``need`` is the signature column whose absence makes a row worth decoding
    (``phash`` for every row, ``thumb`` for duplicate candidates); only empty
    cells are filled. Returns the number of rows decoded. Works in place.
    """
    from rich.progress import track

    from cxr.data.images.imageio import read_image_u8

    values = {c: df[c].to_numpy(dtype=object).copy() for c in (*SIGNATURE_COLUMNS, "content_hash")}
    for i in rows:
        if not values["content_hash"][i]:
            values["content_hash"][i] = _sha256(str(df["image_path"].iat[i]))
    todo = [i for i in rows if not values[need][i]]
    desc = "hashing images" if need == "phash" else "thumbnails of duplicate candidates"
    for i in track(todo, description=desc, disable=not progress or not todo):
        sig = signature(read_image_u8(str(df["image_path"].iat[i])))
        for c in SIGNATURE_COLUMNS:
            if not values[c][i]:
                values[c][i] = sig[c]
    for c, v in values.items():
        df[c] = v.astype(str)
    return len(todo)


def candidates(
    phashes: list[str], crops: list[str], thumbs: list[np.ndarray | None], max_bits: int
) -> list[tuple[int, int]]:
    """Near-copy candidate pairs ``(i, j)``, ``i < j`` (step 2 of the module docstring).

    Rows of older manifests without a thumbnail keep the earlier hash candidates
    (whole-image and centre-crop hashes within ``max_bits``), so that only their
    candidates need decoding.
    """
    near = set(neighbour_pairs(thumbs))
    near.update(candidate_pairs(phashes, crops, max_bits // 2))
    if any(t is None for t in thumbs):
        near.update(p for p in candidate_pairs(phashes, crops, max_bits)
                    if thumbs[p[0]] is None or thumbs[p[1]] is None)
    return sorted(near)


def confirm(pairs: list[tuple[int, int]], thumbs: list[np.ndarray | None]) -> np.ndarray:
    """Confirmation score of each candidate pair (step 3 of the module docstring)."""
    return crop_correlation(pairs, thumbs)


def find_duplicates(
    df: pd.DataFrame, rows: np.ndarray, *, max_bits: int, min_corr: float, progress: bool = False
) -> DuplicateResult:
    """Duplicate groups among manifest row positions ``rows`` (fills signature columns in place)."""
    for c in SIGNATURE_COLUMNS:
        if c not in df.columns:
            df[c] = ""
        df[c] = df[c].fillna("").astype(str)
    pos = [int(r) for r in rows]
    clock = (time.perf_counter(), time.process_time())
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = (time.perf_counter(), time.process_time())
        seconds[name] = seconds.get(name, 0.0) + now[0] - clock[0]
        cpu[name] = cpu.get(name, 0.0) + now[1] - clock[1]
        clock = now

    decoded = fill_signatures(df, pos, progress, need="phash")
    ph = df["phash"].iloc[pos].tolist()
    crops = df["phash_crops"].iloc[pos].tolist()
    thumbs = [decode_thumb(t) for t in df["thumb"].iloc[pos]]
    lap("signatures")
    pairs = candidates(ph, crops, thumbs, max_bits)
    lap("candidates")
    involved = sorted({pos[k] for p in pairs for k in p})
    if any(thumbs[k] is None for p in pairs for k in p):
        decoded += fill_signatures(df, involved, progress, need="thumb")
        thumbs = [decode_thumb(t) for t in df["thumb"].iloc[pos]]
    lap("signatures")
    scores = confirm(pairs, thumbs)
    accepted = [p for p, s in zip(pairs, scores, strict=True) if s >= min_corr]
    lap("confirmation")
    comp = duplicate_components(list(df["content_hash"].iloc[pos]), accepted)
    members: dict[int, list[int]] = {}
    for k, root in enumerate(comp):
        members.setdefault(root, []).append(pos[k])
    groups = sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])
    return DuplicateResult(
        groups=groups,
        decoded=decoded,
        candidates=len(pairs),
        rejected=len(pairs) - len(accepted),
        without_crop_hashes=sum(1 for c in crops if not c),
        seconds=seconds,
        cpu_seconds=cpu,
    )
