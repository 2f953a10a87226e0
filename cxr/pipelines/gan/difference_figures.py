"""Difference figures for `cxr gan eval`: where the CycleGAN changes the images.

Loads the synthetic rows made without reuse augmentation (``aug_seed == -1``),
which are pixel-aligned with their ``source_image`` once the source is
preprocessed like the generator input (:func:`cxr.data.images.preprocess.load_preprocessed`
at the synthetic image's size, ``pad``), and hands the arrays to
:mod:`cxr.cyclegan.gan_figures`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DIFFERENCE_PNG", "MEAN_DIFFERENCE_PNG", "unaugmented", "write_gan_figures"]

DIFFERENCE_PNG = "difference.png"
MEAN_DIFFERENCE_PNG = "mean_difference.png"


def unaugmented(syn: Any) -> Any:
    """Boolean mask of rows without reuse augmentation (missing ``aug_seed`` counts as -1)."""
    import pandas as pd

    if "aug_seed" not in syn:
        return pd.Series(True, index=syn.index)
    return pd.to_numeric(syn["aug_seed"], errors="coerce").fillna(-1) < 0


def _triples(rows: Any) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    from cxr.data.images.preprocess import load_preprocessed

    has_mask = "lung_mask_path" in rows
    for _, r in rows.iterrows():
        size = int(r["width"])
        lung = None
        if has_mask and isinstance(r["lung_mask_path"], str) and r["lung_mask_path"]:
            lung = load_preprocessed(r["lung_mask_path"], size, "pad") > 127
        src = load_preprocessed(str(r["source_image"]), size, "pad")
        yield src, load_preprocessed(str(r["image_path"]), size, "pad"), lung


def write_gan_figures(
    syn: Any, out_dir: Path, n_examples: int = 8
) -> tuple[dict[str, Any] | None, str | None]:
    """Write ``difference.png`` and ``mean_difference.png`` into ``out_dir``.

    Returns ``(figures, note)``: ``figures`` maps figure name to file name (relative
    to ``out_dir``) plus counts, or is ``None`` with ``note`` saying why nothing was drawn.
    """
    from cxr.cyclegan.gan_figures import (
        accumulate_differences,
        difference_figure,
        mean_difference_figure,
    )

    if "source_image" not in syn:
        return None, "difference figures skipped: synthetic manifest has no source_image column"
    rows = syn[unaugmented(syn) & syn["source_image"].astype(str).str.len().gt(0)]
    if rows.empty:
        return None, (
            "difference figures skipped: every synthetic image uses reuse augmentation "
            "(aug_seed >= 0), so none is pixel-aligned with its source"
        )
    st = accumulate_differences(_triples(rows), n_examples=n_examples)
    mean = st.mean_difference
    if mean is None or st.n == 0:
        return None, "difference figures skipped: no readable aligned pair"
    vmax = difference_figure(st.examples, out_dir / DIFFERENCE_PNG)
    mean_difference_figure(
        mean, out_dir / MEAN_DIFFERENCE_PNG, n_images=st.n, mean_lung=st.mean_lung
    )
    return {
        "difference": DIFFERENCE_PNG,
        "mean_difference": MEAN_DIFFERENCE_PNG,
        "n_examples": len(st.examples),
        "n_images": st.n,
        "n_lung_masks": st.n_lung,
        "n_skipped_size_mismatch": st.n_skipped,
        "difference_range": vmax,
    }, None
