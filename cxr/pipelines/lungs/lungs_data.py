"""Which manifest rows a lung segmenter trains and is scored on, and their image/mask pairs.

Sources come from :func:`cxr.data.regions.lung_mask_sources` (``lung_mask_source``; a
manifest without that column counts as ``unknown``; flagged masks are no masks). Training
takes the rows whose source is in ``train_sources`` (never ``predicted``). Scoring uses
*ground truth* only: where any row of the scored set has a ``manual`` or ``phantom`` mask,
only those rows are scored; a model's mask (``dataset-model``, ``predicted``) is never a
reference; ``unknown`` masks are scored only when no ground-truth source is present, and the
result says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cxr.data.regions import GROUND_TRUTH_SOURCES, lung_mask_sources
from cxr.runtime.errors import ConfigError, ManifestError

if TYPE_CHECKING:
    import pandas as pd

    from cxr.config import LungsConfig

NEVER_TRAIN = ("predicted",)


def with_sources(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (real-origin rows) with a ``_mask_source`` column (``""`` = no usable mask)."""
    df = df[df["origin"].astype(str) == "real"].reset_index(drop=True)
    return df.assign(_mask_source=lung_mask_sources(df))


def training_rows(df: pd.DataFrame, sources: tuple[str, ...], manifest: str) -> pd.DataFrame:
    bad = [s for s in sources if s in NEVER_TRAIN or s not in
           ("manual", "phantom", "dataset-model", "unknown")]
    if bad:
        raise ConfigError(f"--train-sources: {', '.join(bad)} cannot train (valid: manual, "
                          "phantom, dataset-model, unknown)")
    rows = df[df["_mask_source"].isin(sources)].reset_index(drop=True)
    if rows.empty:
        have = sorted(set(df["_mask_source"]) - {""})
        raise ManifestError(f"{manifest}: no lung masks of source {', '.join(sources)} "
                            f"(the manifest has: {', '.join(have) or 'no lung masks'})")
    split = rows["split"].astype(str)
    for need in ("train", "val"):
        if not (split == need).any():
            raise ManifestError(f"{manifest}: no masked rows in split '{need}' (run `cxr data "
                                "split` first; the split must be patient-level)")
    return rows


def reference_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Rows whose mask may serve as the reference, and which sources those are."""
    src = df["_mask_source"]
    truth = src.isin(GROUND_TRUTH_SOURCES)
    if truth.any():
        kept = df[truth].reset_index(drop=True)
        return kept, ", ".join(sorted(set(kept["_mask_source"])))
    unknown = src == "unknown"
    return df[unknown].reset_index(drop=True), "unknown (no lung_mask_source column)"


def load_pairs(df: pd.DataFrame, cfg: LungsConfig, *, progress: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(N, S, S)`` (the image cache) and boolean masks resized alike."""
    from cxr.data.images.cache import build_cache
    from cxr.data.images.preprocess import load_preprocessed

    size, mode = cfg.image_size, cfg.resize_mode
    if df.empty:
        return np.zeros((0, size, size), np.uint8), np.zeros((0, size, size), bool)
    cache = build_cache(df, image_size=size, resize_mode=mode, cache_dir=cfg.cache_dir,
                        workers=cfg.workers, progress=progress)
    images = np.asarray(cache.images)
    masks = np.zeros(images.shape, dtype=bool)
    for i, path in enumerate(df["lung_mask_path"].astype(str)):
        m = load_preprocessed(path, size, mode)
        masks[i] = m >= max(1, (int(m.max()) + 1) // 2)
    return images, masks
