"""The one intensity convention of cxr (documented in the README).

* **Decoded image**: 2-D ``float32`` array in ``[0, 1]``, display convention of a
  radiograph: air dark (0), bone bright (1). DICOM MONOCHROME1 is inverted and
  its VOI LUT / window applied before this point (``cxr.data.images.imageio``).
* **Stored image** (cache, PNG outputs): ``uint8`` = ``round(255 * decoded)``.
* **Network input**: ``float32`` tensor in ``[-1, 1]`` = ``uint8 / 127.5 - 1``;
  one channel. The CycleGAN's tanh output lives in the same range, so a
  generated image maps back with :func:`from_network`.

Every stage converts with these functions only; they raise on out-of-range
input instead of silently clipping (cf. torchxrayvision's ``normalize``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


def float_to_uint8(img: np.ndarray) -> np.ndarray:
    """``[0, 1]`` float image -> ``uint8``. Raises if values leave ``[0, 1]``."""
    arr = np.asarray(img, dtype=np.float32)
    if arr.size and (not np.isfinite(arr).all() or arr.min() < -1e-6 or arr.max() > 1 + 1e-6):
        raise ValueError(
            f"expected a decoded image in [0, 1], got range [{arr.min():.4g}, {arr.max():.4g}]"
        )
    return np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


def uint8_to_float(img: np.ndarray) -> np.ndarray:
    """``uint8`` -> ``[0, 1]`` float32."""
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 image, got {arr.dtype}")
    return arr.astype(np.float32) / 255.0


def to_network(img: Any) -> torch.Tensor:
    """``uint8`` array/tensor (..., H, W) -> float32 tensor in ``[-1, 1]`` (same shape)."""
    import torch

    t = torch.as_tensor(img)
    if t.dtype != torch.uint8:
        raise ValueError(f"to_network expects uint8 input, got {t.dtype}")
    return t.to(torch.float32).div_(127.5).sub_(1.0)


def from_network(t: torch.Tensor) -> torch.Tensor:
    """Network-range tensor ``[-1, 1]`` -> ``uint8`` tensor (clamped: generator output)."""
    import torch

    return ((t.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
