"""Square resizing of decoded radiographs (the geometry half of preprocessing).

Chest radiographs come in many aspect ratios (portrait PA films, landscape
portable AP films, cropped DICOM). Networks want a fixed square input, so every
image is resized keeping its aspect ratio and then either

* ``pad`` (default): letterboxed (centred) on a black (0 = air) square, so no
  anatomy is lost; or
* ``crop``: centre-cropped to the square after scaling the short side to
  ``size``, which drops borders (often text labels and collimation) - the
  order torchxrayvision uses (``XRayCenterCrop`` then ``XRayResizer``).

Downsampling uses OpenCV's ``INTER_AREA`` (pixel-area averaging; alias-free for
integer and non-integer shrink factors, the resampling OpenCV recommends for
decimation); upsampling uses ``INTER_CUBIC``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from cxr.runtime.errors import ConfigError

ResizeMode = Literal["pad", "crop"]
RESIZE_MODES: tuple[str, ...] = ("pad", "crop")


def check_resize(size: int, mode: str) -> None:
    """Raise :class:`ConfigError` for a bad target size or resize mode."""
    if mode not in RESIZE_MODES:
        raise ConfigError(f"resize_mode {mode!r} is not one of {', '.join(RESIZE_MODES)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"image_size must be a positive integer, got {size!r}")


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    h, w = img.shape
    if (w, h) == (width, height):
        return img.copy()
    shrinking = width * height < w * h
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(img, (width, height), interpolation=interp)
    return np.asarray(out, dtype=np.uint8)


def square_resize(img_u8: np.ndarray, size: int, mode: str = "pad") -> np.ndarray:
    """Aspect-preserving resize of a uint8 ``(H, W)`` image to uint8 ``(size, size)``.

    ``mode="pad"`` fits the long side to ``size`` and pads the short side with
    0 (centred; an odd remainder goes to the bottom/right). ``mode="crop"``
    fits the short side to ``size`` and takes the centred square.
    """
    check_resize(size, mode)
    arr = np.asarray(img_u8)
    if arr.dtype != np.uint8 or arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"square_resize expects a uint8 (H, W) image, got {arr.dtype} {arr.shape}")
    h, w = arr.shape
    if mode == "pad":
        scale = size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        nh, nw = min(nh, size), min(nw, size)
        small = _resize(arr, nw, nh)
        out = np.zeros((size, size), dtype=np.uint8)
        top, left = (size - nh) // 2, (size - nw) // 2
        out[top : top + nh, left : left + nw] = small
        return out
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    big = _resize(arr, nw, nh)
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(big[top : top + size, left : left + size])


def load_preprocessed(path: str | Path, size: int, mode: str = "pad") -> np.ndarray:
    """Decode ``path`` (any format :mod:`cxr.data.images.imageio` reads) and square-resize it.

    Raises :class:`cxr.runtime.errors.ImageReadError` naming the file when it cannot be decoded.
    """
    from cxr.data.images.imageio import read_image_u8

    check_resize(size, mode)
    return square_resize(read_image_u8(path), size, mode)
