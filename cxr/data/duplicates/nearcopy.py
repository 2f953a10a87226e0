"""Image signatures for finding copies of one radiograph across collections.

Public COVID-19 collections copy each other with small changes: resized,
re-encoded (JPEG), re-windowed (contrast, gamma), converted between 8 and 16
bits, and borders trimmed by a few percent. :func:`signature` records, per
image, what :mod:`cxr.data.split` needs to find such copies without decoding
any file again:

* ``phash``: the 64-bit DCT perceptual hash of the whole image (Zauner 2010,
  ``imagehash.phash``) - the candidate key, robust to resizing, re-encoding
  and windowing (0-4 bits), but not to cropping (a 3 % border trim moves it
  about 9 bits).
* ``phash_crops``: the same hash of the centred 97 % and 94 % of the image
  (3 % and 6 % trimmed per side), so a copy with trimmed borders lands near
  one of them: candidates compare every hash of one image with the whole-image
  hash of the other.
* ``thumb``: a 32 x 32 uint8 thumbnail (pixel-area average of the whole image,
  base64 in the manifest) for the confirmation.

**Confirmation** (:func:`aligned_correlation`): the correlation of the two
thumbnails after contrast normalisation (zero mean, unit norm, which makes it
invariant to any affine change of intensity and nearly so to gamma), averaged
with the same correlation of their high-pass detail (layout alone makes
different patients' radiographs look alike at 32 px; the detail does not),
taken as the maximum over a grid of alignments of either thumbnail (centre
crops of 0-6 % per side in 1 % steps x shifts of -1..1 thumbnail pixel), which
absorbs trimmed borders. Measured on the real samples in ``../shared/data`` (see
``benchmarks/dedup_recall.py`` and ``docs/benchmarks.md``): copies put through
those transforms score >= 0.95, while pairs of different patients' radiographs
rarely do; the whole-image 64-bit hash alone, or a 256-bit hash, cannot
separate trimmed copies from other patients.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

THUMB = 32
CROP_FRACTIONS: tuple[float, ...] = (0.03, 0.06)  # per side, for phash_crops
_VIEW_CROPS = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06)  # per side, for the aligned confirmation
_VIEW_SHIFTS = (-1.0, -0.5, 0.0, 0.5, 1.0)  # thumbnail pixels
_ASYM_CROPS = (0.0, 0.025, 0.05, 0.075, 0.1)  # per side, independently, for re-crops
DEFAULT_MIN_CORR = 0.96
_BATCH = 8  # thumbnails whose views are computed at once (8 x 798 x 2048 floats)
_HIGHPASS_SIGMA = 3.0  # thumbnail pixels


def _phash(img_u8: np.ndarray) -> str:
    from cxr.data.duplicates.hashing import phash_u8

    return phash_u8(img_u8)


def thumbnail(img_u8: np.ndarray) -> np.ndarray:
    """The ``THUMB x THUMB`` uint8 thumbnail (pixel-area average, aspect not kept), its
    range stretched to 0-255 after averaging.

    The stretch keeps the detail of dark images: a 12-bit radiograph in a 16-bit PNG
    decodes to 16 grey levels, whose area averages still hold the detail that rounding
    each thumbnail pixel to those levels would lose. The comparison ignores intensity
    changes (:func:`cxr.data.duplicates.cropfit.equalise`), so the stretch costs nothing.
    """
    import cv2

    small = cv2.resize(np.asarray(img_u8, np.float32), (THUMB, THUMB),
                       interpolation=cv2.INTER_AREA)
    lo, hi = float(small.min()), float(small.max())
    if hi - lo > 1e-3:
        small = (small - lo) * (255.0 / (hi - lo))
    return np.asarray(np.clip(np.round(small), 0, 255), np.uint8)


def encode_thumb(thumb: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(thumb, dtype=np.uint8).tobytes()).decode("ascii")


def decode_thumb(text: str) -> np.ndarray | None:
    """The thumbnail stored in a manifest cell, ``None`` when empty or malformed."""
    if not text:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    if len(raw) != THUMB * THUMB:
        return None
    return np.frombuffer(raw, dtype=np.uint8).reshape(THUMB, THUMB)


def centre_crop(img: np.ndarray, frac: float) -> np.ndarray:
    h, w = img.shape
    dy, dx = int(round(h * frac)), int(round(w * frac))
    return img[dy : h - dy, dx : w - dx] if h - 2 * dy > 7 and w - 2 * dx > 7 else img


def signature(img_u8: np.ndarray) -> dict[str, str]:
    """``phash``, ``phash_crops`` (space-separated) and ``thumb`` of a decoded uint8 image."""
    return {
        "phash": _phash(img_u8),
        "phash_crops": " ".join(_phash(centre_crop(img_u8, f)) for f in CROP_FRACTIONS),
        "thumb": encode_thumb(thumbnail(img_u8)),
    }


def _highpass(t: np.ndarray) -> np.ndarray:
    """``(K, THUMB, THUMB)`` minus its Gaussian blur (the detail)."""
    from scipy.ndimage import gaussian_filter

    return t - gaussian_filter(t, sigma=(0, _HIGHPASS_SIGMA, _HIGHPASS_SIGMA), mode="mirror")


def _unit_pair(t: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Contrast-normalised intensity and detail halves, joined into unit vectors."""
    k = len(t)
    flat = np.concatenate([_zscore(t.reshape(k, -1)), _zscore(high.reshape(k, -1))], 1)
    return flat / np.sqrt(2.0)


def _features(thumbs: np.ndarray) -> np.ndarray:
    """``(K, THUMB, THUMB)`` -> ``(K, 2 * THUMB**2)`` unit vectors: intensity and detail.

    Each half is contrast-normalised (zero mean, unit norm): the thumbnail, and
    its high-pass (minus a Gaussian blur) which carries the detail that tells
    two patients' radiographs apart when their overall layout is alike.
    """
    t = np.asarray(thumbs, dtype=np.float32).reshape(-1, THUMB, THUMB)
    return _unit_pair(t, _highpass(t))


def _zscore(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (..., D) to zero mean and unit norm (constant rows stay zero)."""
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-6)


def _views() -> list[tuple[float, float, float, float, float, float]]:
    """Every alignment tried: ``(top, bottom, left, right, dy, dx)``.

    Crops are fractions trimmed from each side, shifts are in thumbnail pixels.
    The symmetric views (centred crops 0-6 % per side x shifts of -1..1 pixel)
    are the original grid; the asymmetric ones (each side trimmed 0-10 % in
    2.5 % steps, independently along each axis) absorb a copy re-cropped on one
    or two sides, which also moves its content (issue 23, item 7).
    """
    out = [(c, c, c, c, dy, dx) for c in _VIEW_CROPS for dx in _VIEW_SHIFTS for dy in _VIEW_SHIFTS]
    seen = set(out)
    axis = [(a, b) for a in _ASYM_CROPS for b in _ASYM_CROPS]
    for (top, bottom), (left, right) in ((y, x) for y in axis for x in axis):
        v = (top, bottom, left, right, 0.0, 0.0)
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


@lru_cache(maxsize=1)
def _warp_matrix() -> Any:
    """Sparse ``(V * THUMB**2, THUMB**2)`` bilinear resampling: thumbnail -> all its views.

    View ``(t, b, l, r, dy, dx)`` samples the thumbnail along y at
    ``t * THUMB + dy + (1 - t - b) * p`` for output pixel ``p`` (and likewise
    along x), borders replicated: for ``t == b == c`` that is the centred crop
    trimming ``c`` per side, shifted by ``dy``. One sparse product then yields
    every view of a batch of thumbnails.
    """
    from scipy.sparse import csr_matrix

    n = THUMB
    p = np.arange(n, dtype=np.float64)
    rows, cols, vals = [], [], []
    views = _views()
    for v, (top, bottom, left, right, dy, dx) in enumerate(views):
        ys = np.clip(top * n + dy + (1.0 - top - bottom) * p, 0, n - 1)
        xs = np.clip(left * n + dx + (1.0 - left - right) * p, 0, n - 1)
        y0 = np.minimum(np.floor(ys).astype(int), n - 2)
        x0 = np.minimum(np.floor(xs).astype(int), n - 2)
        fy, fx = ys - y0, xs - x0
        out = v * n * n + (np.arange(n)[:, None] * n + np.arange(n)[None, :])
        for oy, wy in ((0, 1 - fy), (1, fy)):
            for ox, wx in ((0, 1 - fx), (1, fx)):
                rows.append(out.ravel())
                cols.append(((y0 + oy)[:, None] * n + (x0 + ox)[None, :]).ravel())
                vals.append((wy[:, None] * wx[None, :]).ravel())
    shape = (len(views) * n * n, n * n)
    return csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=shape, dtype=np.float32)


def n_views() -> int:
    return len(_views())


def thumb_views(thumbs: np.ndarray) -> np.ndarray:
    """``(B, V, 2 * THUMB**2)`` features of every alignment of each thumbnail.

    The detail half of a view is the view of the thumbnail's detail (blurring
    and these near-unit-scale resamplings commute closely), so the blur runs
    once per thumbnail instead of once per view.
    """
    t = np.asarray(thumbs, dtype=np.float32).reshape(-1, THUMB, THUMB)
    b, v, w = len(t), n_views(), _warp_matrix()
    both = np.concatenate([t, _highpass(t)]).reshape(2 * b, -1)
    views = np.asarray(w @ both.T).reshape(v, THUMB * THUMB, 2 * b)  # (V, pixels, 2B)
    views = np.ascontiguousarray(views.transpose(2, 0, 1))  # (2B, V, pixels)
    flat = _unit_pair(views[:b].reshape(b * v, -1), views[b:].reshape(b * v, -1))
    return flat.reshape(b, v, -1)


def aligned_correlation(
    pairs: Sequence[tuple[int, int]], thumbs: Sequence[np.ndarray | None]
) -> np.ndarray:
    """Best aligned thumbnail correlation of each pair (``nan`` where a thumbnail is missing).

    Views are computed once per image and direction (pairs are processed grouped
    by their first, then by their second member), so the cost is linear in the
    number of images that occur in pairs.
    """
    out = np.full(len(pairs), -np.inf, dtype=np.float64)
    if not len(pairs):
        return out
    missing = np.array([thumbs[i] is None or thumbs[j] is None for i, j in pairs])
    flat = {k: _features(t)[0] for k in {i for p in pairs for i in p}
            if (t := thumbs[k]) is not None}
    arr = np.asarray(pairs, dtype=np.int64)
    for side in (0, 1):
        order = np.argsort(arr[:, side], kind="stable")
        keys = arr[order, side]
        chunks = [c for c in np.split(order, np.flatnonzero(np.diff(keys)) + 1)
                  if thumbs[int(arr[c[0], side])] is not None]
        for start in range(0, len(chunks), _BATCH):
            batch = chunks[start : start + _BATCH]
            views = thumb_views(np.stack([np.asarray(thumbs[int(arr[c[0], side])])
                                          for c in batch]))
            for chunk, vw in zip(batch, views, strict=True):
                others = [int(o) for o in arr[chunk, 1 - side]]
                if any(o not in flat for o in others):
                    continue
                scores = (vw @ np.stack([flat[o] for o in others]).T).max(axis=0)
                out[chunk] = np.maximum(out[chunk], scores)
    out[missing] = np.nan
    return out
