"""Image regions for shortcut probes: the lung field, a central box, the border band.

A classifier that detects disease should lose its skill when the lungs are
hidden; one that still separates the classes from what lies outside the lungs
reads non-lung cues (text markers, tubes, collimation, body size, processing):
DeGrave, Janizek & Lee, "AI for radiographic COVID-19 detection selects
shortcuts over signal", Nat. Mach. Intell. 3, 2021; Zech et al., PLOS Med 2018.

* :func:`lung_field`: the lung mask when one exists (dilated by ``dilate`` x
  side, so a lesion on the mask's edge is hidden too), otherwise the documented
  stand-in :func:`central_box`: the centre of the image without a margin of
  ``margin`` x side on every edge (default 0.12; on a padded, square-resized PA
  or AP radiograph both lungs lie inside it, and so does the heart).
* :func:`border_band`: the outer ``width`` x side of each edge (default 0.10),
  where burned-in text, side markers and collimation edges sit.
* :func:`lung_mask_sources`: per manifest row, where its usable lung mask came from
  (``manual``, ``phantom``, ``dataset-model``, ``predicted``, ``unknown`` when the manifest
  has no ``lung_mask_source`` column) or ``""`` (no mask, or one flagged implausible by
  ``cxr lungs predict`` in ``lung_mask_flag``); :func:`field_kind` names the lung field a
  row ends up with (its mask's source, or ``box``), which the audit and explain report.
* :func:`hide`: replace a region with mid-grey (128, which the network sees as
  about 0 under :func:`cxr.data.images.intensity.to_network`): a constant carries no
  information about the image it replaces.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BOX_MARGIN", "BORDER_WIDTH", "FILL", "GROUND_TRUTH_SOURCES", "MASK_SOURCES",
           "border_band", "central_box", "field_kind", "hide", "lung_field", "lung_mask_sources"]

BOX_MARGIN = 0.12
BORDER_WIDTH = 0.10
LUNG_DILATE = 0.02
FILL = 128
MASK_SOURCES: tuple[str, ...] = ("manual", "phantom", "dataset-model", "predicted", "unknown")
# masks that may serve as ground truth: drawn by people, or exact (phantoms)
GROUND_TRUTH_SOURCES: tuple[str, ...] = ("manual", "phantom")


def _column(df: Any, name: str) -> list[str]:
    if name not in df.columns:
        return [""] * len(df)
    return ["" if str(v).strip().lower() in ("", "nan", "none", "<na>") else str(v).strip()
            for v in df[name].tolist()]


def lung_mask_sources(df: Any) -> list[str]:
    """Per row of manifest ``df``: the source of its usable lung mask, or ``""`` for none."""
    paths = _column(df, "lung_mask_path")
    sources = _column(df, "lung_mask_source")
    flags = _column(df, "lung_mask_flag")
    return ["" if not p or f else (s.lower() or "unknown")
            for p, s, f in zip(paths, sources, flags, strict=True)]


def field_kind(source: str, region_kind: str) -> str:
    """The lung field a row used: its mask's source (``region_kind == "mask"``) or ``box``."""
    return (source or "unknown") if region_kind == "mask" else "box"


def central_box(size: int, margin: float = BOX_MARGIN) -> np.ndarray:
    """Boolean ``(size, size)``: True inside the box without ``margin`` x size on each edge."""
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"box margin must be in [0, 0.5), got {margin}")
    m = int(round(margin * size))
    out = np.zeros((size, size), dtype=bool)
    out[m : size - m, m : size - m] = True
    return out


def border_band(size: int, width: float = BORDER_WIDTH) -> np.ndarray:
    """Boolean ``(size, size)``: True in the outer ``width`` x size of every edge."""
    if not 0.0 < width < 0.5:
        raise ValueError(f"border width must be in (0, 0.5), got {width}")
    return ~central_box(size, width) if round(width * size) > 0 else np.zeros((size, size), bool)


def lung_field(
    mask_u8: np.ndarray | None,
    size: int,
    *,
    dilate: float = LUNG_DILATE,
    margin: float = BOX_MARGIN,
) -> tuple[np.ndarray, str]:
    """``(region, kind)``: the dilated lung mask (``kind="mask"``) or the central box
    (``kind="box"``) when there is no mask or it is empty."""
    if mask_u8 is not None:
        lung = np.asarray(mask_u8) > 127
        if lung.shape != (size, size):
            raise ValueError(f"lung mask is {lung.shape}, expected {(size, size)}")
        if lung.any():
            r = int(round(dilate * size))
            if r > 0:
                from scipy.ndimage import binary_dilation

                lung = binary_dilation(lung, iterations=r)
            return lung, "mask"
    return central_box(size, margin), "box"


def hide(image_u8: np.ndarray, region: np.ndarray, fill: int = FILL) -> np.ndarray:
    """A copy of ``image_u8`` with ``region`` set to ``fill``."""
    out = np.array(image_u8, dtype=np.uint8, copy=True)
    out[np.asarray(region, dtype=bool)] = fill
    return out
