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
  range stretched to 0-255, base64 in the manifest) for the confirmation.

**Confirmation** (:mod:`cxr.data.duplicates.cropfit`): the crop that maps one
thumbnail onto the other is estimated from their row and column profiles (a
copy trimmed on one, two or four sides, shifted, re-encoded), and the
rank-equalised thumbnails are correlated there. Measured on the real samples in
``../shared/data`` and on phantoms (``benchmarks/dedup_recall.py``,
``docs/benchmarks.md``); the whole-image 64-bit hash alone, or a 256-bit hash,
cannot separate trimmed copies from other patients.
"""

from __future__ import annotations

import base64

import numpy as np

THUMB = 32
CROP_FRACTIONS: tuple[float, ...] = (0.03, 0.06)  # per side, for phash_crops


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
