"""Heatmap overlays on the radiograph, region outlines, captions and contact sheets.

Everything is an RGB ``uint8`` array until :func:`save_rgb` writes a PNG
atomically. The heatmap is colour-mapped with OpenCV's JET (as
pytorch-grad-cam's ``show_cam_on_image``) and alpha-blended only where the map
is non-zero enough to matter, so that the anatomy stays readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cxr.explain.localize import Region
from cxr.runtime.files import atomic_save

_GREEN = (40, 255, 40)
_WHITE = (255, 255, 255)


def overlay_heatmap(img_u8: np.ndarray, heat: np.ndarray, *, alpha: float = 0.45) -> np.ndarray:
    """Blend a ``[0, 1]`` map over a grey uint8 image -> RGB uint8 ``(H, W, 3)``."""
    import cv2

    img = np.asarray(img_u8)
    heat = np.asarray(heat, dtype=np.float32)
    if img.dtype != np.uint8 or img.ndim != 2:
        raise ValueError(f"expected a grey uint8 (H, W) image, got {img.dtype} {img.shape}")
    if heat.shape != img.shape:
        raise ValueError(f"heatmap {heat.shape} and image {img.shape} differ in shape")
    colour = cv2.applyColorMap(
        np.rint(np.clip(heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET
    )
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB).astype(np.float32)
    grey = np.repeat(img[..., None], 3, axis=2).astype(np.float32)
    # weight grows with the map value: cold areas show the radiograph almost untouched
    w = alpha * np.clip(heat, 0, 1)[..., None] ** 0.5
    return np.rint(grey * (1 - w) + colour * w).astype(np.uint8)


def draw_regions(
    rgb: np.ndarray, regions: Sequence[Region], *, style: str = "contour"
) -> np.ndarray:
    """Outline regions (``contour`` or ``box``) in green on a copy of ``rgb``."""
    import cv2

    out = np.ascontiguousarray(rgb).copy()
    thick = max(1, out.shape[0] // 128)
    for r in regions:
        if style == "box":
            cv2.rectangle(out, (r.x, r.y), (r.x + r.w - 1, r.y + r.h - 1), _GREEN, thick)
        else:
            cv2.polylines(out, [r.contour.reshape(-1, 1, 2).astype(np.int32)], True, _GREEN, thick)
    return out


def caption(rgb: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Add a black band under the tile with one text line per entry."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(0.8, max(0.35, w / 420.0))  # legible on 160-px tiles, not huge on wide sheets
    line_h = int(30 * scale) + 4
    band = np.zeros((line_h * len(lines) + 4, w, 3), dtype=np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(
            band,
            text,
            (3, line_h * (i + 1) - 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            _WHITE,
            1,
            cv2.LINE_AA,
        )
    return np.concatenate([np.asarray(rgb, dtype=np.uint8), band], axis=0)


def contact_sheet(
    tiles: Sequence[np.ndarray],
    *,
    columns: int = 6,
    title: str | Sequence[str] = "",
    pad: int = 4,
) -> np.ndarray:
    """Grid of RGB tiles (padded to the largest tile) with an optional title band (line(s))."""
    if not tiles:
        raise ValueError("contact_sheet needs at least one tile")
    th = max(t.shape[0] for t in tiles)
    tw = max(t.shape[1] for t in tiles)
    cols = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * (th + pad) + pad, cols * (tw + pad) + pad, 3), 24, dtype=np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = pad + r * (th + pad), pad + c * (tw + pad)
        sheet[y : y + t.shape[0], x : x + t.shape[1]] = t
    lines = [title] if isinstance(title, str) else list(title)
    lines = [t for t in lines if t]
    if lines:
        head = caption(np.zeros((0, sheet.shape[1], 3), dtype=np.uint8), lines)
        sheet = np.concatenate([head, sheet], axis=0)
    return sheet


def save_rgb(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 array as PNG, atomically."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    atomic_save(path, lambda tmp: img.save(tmp, format="PNG"))
    return Path(path)
