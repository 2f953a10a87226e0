"""What gets explained: images from a manifest split or from paths, with their masks.

Masks come from the manifest columns ``lung_mask_path`` / ``lesion_mask_path``
(written for the built-in phantoms, attached by the index, or predicted by ``cxr lungs
predict``; ``lung_mask_source`` says which, and a mask flagged in ``lung_mask_flag`` is not
used) or from folders holding ``<image stem>.png``
(``--lung-masks`` / ``--lesion-masks``; a folder wins over the manifest).
Images and masks are resized exactly as the classifier was trained
(``cxr.data.images.preprocess``); a mask is foreground where the resized value is
at least half of its maximum.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.runtime.errors import ConfigError, ManifestError

if TYPE_CHECKING:
    import pandas as pd

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".tif", ".tiff", ".bmp")


@dataclasses.dataclass(frozen=True)
class Item:
    """One image to explain; ``key`` is unique and safe as a file name."""

    key: str
    image_path: str
    label: str = ""
    patient_id: str = ""
    offset_days: float = math.nan
    lung_mask_path: str = ""
    lesion_mask_path: str = ""
    # where the lung mask came from (manual, phantom, dataset-model, predicted, unknown); ""
    # when there is none (a mask flagged implausible by `cxr lungs predict` counts as none)
    lung_mask_source: str = ""

    @property
    def lung_field(self) -> str:
        """The lung field this item is scored with: its mask's source, or ``none``."""
        return (self.lung_mask_source or "unknown") if self.lung_mask_path else "none"


def safe_name(name: str, fallback: str = "image") -> str:
    """``name`` reduced to a portable file name (letters, digits, ``._-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or fallback


def _unique_keys(stems: Iterable[str]) -> list[str]:
    seen: dict[str, int] = {}
    keys = []
    for s in stems:
        s = safe_name(s)
        n = seen.get(s, 0)
        seen[s] = n + 1
        keys.append(s if n == 0 else f"{s}-{n}")
    return keys


def items_from_manifest(
    df: pd.DataFrame, *, split: str = "test", source: str = "manifest"
) -> list[Item]:
    """Rows of ``split`` (``all`` for every row) as items, in manifest order."""
    if split != "all":
        df = df[df["split"] == split]
        if df.empty:
            raise ManifestError(
                f"{source}: no rows with split '{split}' (use --split all or run `cxr data split`)"
            )
    from cxr.data.regions import lung_mask_sources

    cols = set(df.columns)
    keys = _unique_keys(Path(p).stem for p in df["image_path"])
    sources = lung_mask_sources(df)
    items = []
    for key, source, (_, row) in zip(keys, sources, df.iterrows(), strict=True):
        off = row["offset_days"]
        items.append(
            Item(
                key=key,
                image_path=str(row["image_path"]),
                label=str(row["label"]),
                patient_id=str(row["patient_id"]),
                offset_days=float(off) if off == off else math.nan,
                lung_mask_path=str(row["lung_mask_path"]) if source else "",
                lung_mask_source=source,
                lesion_mask_path=str(row["lesion_mask_path"]) if "lesion_mask_path" in cols else "",
            )
        )
    return items


def items_from_paths(paths: Sequence[str | Path]) -> list[Item]:
    """Image files (folders are searched for image suffixes), labels unknown."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise ConfigError(f"--images: {p} does not exist")
    if not files:
        raise ConfigError(f"--images: no image files found in {', '.join(map(str, paths))}")
    keys = _unique_keys(f.stem for f in files)
    return [Item(key=k, image_path=str(f.resolve())) for k, f in zip(keys, files, strict=True)]


def with_mask_dirs(
    items: Sequence[Item], *, lung_dir: str = "", lesion_dir: str = ""
) -> list[Item]:
    """Fill mask paths from folders of ``<image stem>.png`` (where such a file exists)."""
    for name, d in (("--lung-masks", lung_dir), ("--lesion-masks", lesion_dir)):
        if d and not Path(d).is_dir():
            raise ConfigError(f"{name}: {d} is not a folder")
    out = []
    for it in items:
        stem = Path(it.image_path).stem
        upd: dict[str, Any] = {}
        if lung_dir and (Path(lung_dir) / f"{stem}.png").is_file():
            upd["lung_mask_path"] = str(Path(lung_dir) / f"{stem}.png")
            upd["lung_mask_source"] = "unknown"  # a folder of masks says nothing of its origin
        if lesion_dir and (Path(lesion_dir) / f"{stem}.png").is_file():
            upd["lesion_mask_path"] = str(Path(lesion_dir) / f"{stem}.png")
        out.append(dataclasses.replace(it, **upd))
    return out


def load_mask(path: str, size: int, mode: str) -> np.ndarray | None:
    """A mask resized like its image, as bool; ``None`` when there is no path."""
    from cxr.data.images.preprocess import load_preprocessed

    if not path:
        return None
    m = load_preprocessed(path, size, mode)
    top = int(m.max())
    return m >= max(1, (top + 1) // 2)


def load_item(
    item: Item, size: int, mode: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(image uint8 (S, S), lung mask or None, lesion mask or None)``."""
    from cxr.data.images.preprocess import load_preprocessed

    img = load_preprocessed(item.image_path, size, mode)
    return (
        img,
        load_mask(item.lung_mask_path, size, mode),
        load_mask(item.lesion_mask_path, size, mode),
    )
