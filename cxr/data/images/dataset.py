"""``XrayDataset``: manifest rows + the uint8 cache -> tensors for a DataLoader.

A map-style :class:`torch.utils.data.Dataset` in the torchxrayvision manner
(Cohen et al., "TorchXRayVision: A library of chest X-ray datasets and models",
MIDL 2022): the DataFrame stays aligned row-for-row with the images, and each
sample is a dict with fixed keys

``image``      float32 tensor ``(1, S, S)`` in ``[-1, 1]``
               (:func:`cxr.data.images.intensity.to_network`)
``label``      int: ``targets[i]`` when given, else the index of the row's label in ``LABELS``
``patient_id`` str
``origin``     str (``real`` / ``gan``)
``index``      int: the manifest row, i.e. the cache row

``df`` may be the cached manifest itself or a subset of it that keeps the
manifest's index (``df[df.split == "train"]``, no ``reset_index``); rows are
matched to the cache by per-row fingerprints, so a misaligned frame fails
loudly instead of training on the wrong images. No image file is read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from torch.utils.data import Dataset

from cxr.data.images.cache import ImageCache, row_fingerprints
from cxr.data.images.intensity import to_network
from cxr.data.manifest import LABELS
from cxr.runtime.errors import ManifestError

if TYPE_CHECKING:
    import pandas as pd

def _cache_rows(df: pd.DataFrame, cache: ImageCache) -> np.ndarray:
    fp = row_fingerprints(df)
    if len(df) == len(cache) and np.array_equal(fp, cache.row_ids):
        return np.arange(len(df), dtype=np.int64)
    index = df.index.to_numpy()
    if not np.issubdtype(index.dtype, np.integer):
        raise ManifestError("XrayDataset: the manifest rows do not match the cache")
    rows = index.astype(np.int64)
    outside = (rows < 0) | (rows >= len(cache))
    mismatch = outside.copy()
    mismatch[~outside] = fp[~outside] != cache.row_ids[rows[~outside]]
    if mismatch.any():
        i = int(np.flatnonzero(mismatch)[0])
        raise ManifestError(
            f"XrayDataset: row {df['image_path'].iat[i]} (index {rows[i]}) is not row {rows[i]} "
            f"of cache {cache.path.name}; build the cache from this manifest, and keep the "
            "manifest's index when selecting a subset (no reset_index)"
        )
    return rows


class XrayDataset(Dataset[dict[str, Any]]):
    """Samples from the cache; ``transform`` maps uint8 ``(S, S)`` -> uint8 ``(S, S)``."""

    def __init__(
        self,
        df: pd.DataFrame,
        cache: ImageCache,
        *,
        targets: Sequence[int] | np.ndarray | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.rows = _cache_rows(df, cache)
        self.cache = cache
        self.transform = transform
        self.patient_ids = df["patient_id"].astype(str).tolist()
        self.origins = df["origin"].astype(str).tolist()
        if targets is not None:
            self.targets = [int(t) for t in np.asarray(targets).reshape(-1)]
            if len(self.targets) != len(df):
                raise ValueError(f"targets has {len(self.targets)} entries for {len(df)} rows")
        else:
            labels = df["label"].astype(str).tolist()
            bad = [lab for lab in labels if lab not in LABELS]
            if bad:
                raise ManifestError(f"unknown label {bad[0]!r} (valid: {', '.join(LABELS)})")
            self.targets = [LABELS.index(lab) for lab in labels]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = int(self.rows[i])
        img = np.array(self.cache.images[row])  # copy out of the read-only memmap
        if self.transform is not None:
            img = self.transform(img)
            if img.dtype != np.uint8 or img.shape != (self.cache.image_size,) * 2:
                raise ValueError(
                    f"transform must return uint8 {(self.cache.image_size,) * 2}, "
                    f"got {img.dtype} {img.shape}"
                )
        return {
            "image": to_network(np.ascontiguousarray(img)).unsqueeze(0),
            "label": self.targets[i],
            "patient_id": self.patient_ids[i],
            "origin": self.origins[i],
            "index": row,
        }
