"""Where does the CycleGAN change the images? Difference figures from arrays.

Synthetic images made without reuse augmentation (``aug_seed == -1``) are
pixel-aligned with their source, so the signed difference synthetic - source
(in [0, 1] intensity units, air dark: positive = added density) shows what the
generator changed. Two figures:

* :func:`difference_figure`: rows of [source | synthetic | difference] for a few
  images, one symmetric colour range for all rows;
* :func:`mean_difference_figure`: the mean difference over all aligned pairs,
  with the mean lung-mask outline and, dashed, the expected COVID-19 region
  (lower, peripheral lungs; Wong et al., Radiology 2020, as in
  :func:`cxr.cyclegan.fid_kid.expected_lesion_region`) when masks exist.

A CycleGAN that learned "add COVID-like opacity" should be positive (red) in
the dashed region; change spread evenly or outside the lungs points to a
global intensity/texture shift instead.

Plotting only (matplotlib Agg); files written atomically.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cxr.runtime.files import atomic_save

__all__ = [
    "CMAP",
    "DifferenceStats",
    "accumulate_differences",
    "difference_figure",
    "mean_difference_figure",
    "signed_difference",
]

CMAP = "RdBu_r"  # diverging: blue = darker (less dense), red = brighter (denser)
_LABEL = "synthetic - source (intensity, [0, 1])"


def signed_difference(source_u8: np.ndarray, synthetic_u8: np.ndarray) -> np.ndarray:
    """float32 ``synthetic - source`` in [0, 1] intensity units (range [-1, 1])."""
    return (synthetic_u8.astype(np.float32) - source_u8.astype(np.float32)) / 255.0


@dataclass
class DifferenceStats:
    """Running sums over aligned (source, synthetic, lung mask or None) triples."""

    diff_sum: np.ndarray | None = None
    lung_sum: np.ndarray | None = None
    n: int = 0
    n_lung: int = 0
    n_skipped: int = 0  # pairs whose shape differs from the first pair's
    examples: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    @property
    def mean_difference(self) -> np.ndarray | None:
        return None if self.diff_sum is None else (self.diff_sum / self.n).astype(np.float32)

    @property
    def mean_lung(self) -> np.ndarray | None:
        return None if self.lung_sum is None else (self.lung_sum / self.n_lung).astype(np.float32)


def accumulate_differences(
    triples: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]], n_examples: int = 8
) -> DifferenceStats:
    """Sum differences (float64) and lung masks without holding every image in memory."""
    st = DifferenceStats()
    for src, syn, lung in triples:
        if st.diff_sum is None:
            st.diff_sum = np.zeros(src.shape, np.float64)
        if src.shape != st.diff_sum.shape or syn.shape != src.shape:
            st.n_skipped += 1
            continue
        st.diff_sum += signed_difference(src, syn)
        st.n += 1
        if lung is not None and lung.shape == src.shape:
            if st.lung_sum is None:
                st.lung_sum = np.zeros(src.shape, np.float64)
            st.lung_sum += lung.astype(bool)
            st.n_lung += 1
        if len(st.examples) < n_examples:
            st.examples.append((src, syn))
    return st


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    plt = _pyplot()
    try:
        atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    finally:
        plt.close(fig)


def _vmax(arrays: Sequence[np.ndarray], q: float = 100.0) -> float:
    """Symmetric colour limit: the ``q``-th percentile of |difference| over all arrays
    (a few edge pixels would otherwise wash out the rest), at least one grey level."""
    return max(1 / 255, float(np.percentile(np.abs(np.stack(arrays)), q)))


def difference_figure(pairs: Sequence[tuple[np.ndarray, np.ndarray]], path: str | Path) -> float:
    """Rows of [source | synthetic | signed difference]; returns the shared colour limit
    (99.5th percentile of |difference| over the shown rows; beyond it colours saturate)."""
    if not pairs:
        raise ValueError("difference_figure needs at least one (source, synthetic) pair")
    plt = _pyplot()
    diffs = [signed_difference(s, y) for s, y in pairs]
    vmax = _vmax(diffs, 99.5)
    n = len(pairs)
    fig, axes = plt.subplots(
        n, 3, figsize=(6.6, 2.0 * n + 0.5), squeeze=False, layout="constrained"
    )
    im = None
    for i, ((src, syn), d) in enumerate(zip(pairs, diffs, strict=True)):
        axes[i, 0].imshow(src, cmap="gray", vmin=0, vmax=255)
        axes[i, 1].imshow(syn, cmap="gray", vmin=0, vmax=255)
        im = axes[i, 2].imshow(d, cmap=CMAP, vmin=-vmax, vmax=vmax)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    for ax, title in zip(axes[0], ("source (real)", "CycleGAN", "synthetic - source"), strict=True):
        ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=axes[:, 2].tolist(), shrink=min(1.0, 0.25 * n), extend="both", label=_LABEL)
    _save(fig, Path(path))
    return vmax


def mean_difference_figure(
    mean_diff: np.ndarray,
    path: str | Path,
    *,
    n_images: int,
    mean_lung: np.ndarray | None = None,
) -> np.ndarray:
    """The mean signed difference, lung outline (mean mask at 0.5) and expected lesion
    region on top; returns the array actually drawn (for checks)."""
    from cxr.cyclegan.fid_kid import expected_lesion_region

    plt = _pyplot()
    vmax = _vmax([mean_diff])
    fig, ax = plt.subplots(figsize=(5.4, 4.6))
    im = ax.imshow(mean_diff, cmap=CMAP, vmin=-vmax, vmax=vmax)
    note = "no lung masks"
    if mean_lung is not None and (mean_lung >= 0.5).any():
        ax.contour(mean_lung, levels=[0.5], colors="black", linewidths=1.2)
        region, _ = expected_lesion_region(mean_lung >= 0.5)
        if region.any():
            ax.contour(region.astype(float), levels=[0.5], colors="black", linestyles="--")
        note = "solid: mean lung mask, dashed: expected lesion region"
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"mean synthetic - source over {n_images} images\n({note})", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=_LABEL)
    drawn = np.asarray(im.get_array())
    _save(fig, Path(path))
    return drawn
