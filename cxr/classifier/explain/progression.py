"""Progression views: one patient's studies over time.

A strip of heatmap overlays ordered by ``offset_days`` and a plot of
P(COVID) and the involved lung fraction (see :mod:`.localize`) against days,
in the spirit of the longitudinal Grad-CAM figures of the COVID-19 imaging
literature. The plot uses matplotlib's Agg backend (no display needed) and is
written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxr.classifier.explain.overlay import caption, contact_sheet
from cxr.fsutil import atomic_save


@dataclass(frozen=True)
class StudyView:
    """One study of a patient: its day, scores and overlay tile (RGB uint8)."""

    key: str
    offset_days: float
    p_positive: float
    involved: float | None
    tile: np.ndarray


def order_studies(studies: Sequence[StudyView]) -> list[StudyView]:
    """By ``offset_days`` (unknown days last), then by key for a stable order."""
    return sorted(
        studies,
        key=lambda s: (
            math.isnan(s.offset_days),
            s.offset_days if s.offset_days == s.offset_days else 0.0,
            s.key,
        ),
    )


def _day(d: float) -> str:
    return "day ?" if math.isnan(d) else f"day {d:+g}"


def progression_strip(
    studies: Sequence[StudyView], *, positive: str = "covid", columns: int = 7, title: str = ""
) -> np.ndarray:
    """Overlays in time order, each captioned with its day, P(positive) and involvement."""
    tiles = []
    for s in order_studies(studies):
        inv = "n/a" if s.involved is None else f"{100 * s.involved:.0f}%"
        tiles.append(
            caption(
                s.tile,
                [_day(s.offset_days), f"P({positive})={s.p_positive:.2f}", f"lung inv. {inv}"],
            )
        )
    return contact_sheet(tiles, columns=columns, title=title)


def plot_progression(
    studies: Sequence[StudyView],
    path: str | Path,
    *,
    title: str,
    positive: str = "covid",
    lung_source: str = "mask",
) -> Path:
    """P(positive) and the involved lung fraction against days; PNG written atomically.

    ``lung_source`` (``mask``, ``estimate`` or ``none``) is stated in the legend so
    that a heuristic lung field is never mistaken for a segmentation.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = order_studies(studies)
    known = [s for s in ordered if not math.isnan(s.offset_days)]
    use = known if known else ordered
    x = [s.offset_days for s in use] if known else list(range(len(use)))
    fig, ax = plt.subplots(figsize=(7.0, 3.6), dpi=110)
    try:
        ax.plot(x, [s.p_positive for s in use], "o-", color="tab:red", label=f"P({positive})")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("days (offset)" if known else "study order (no offsets)")
        ax.set_ylabel("probability / fraction")
        inv = [(xi, s.involved) for xi, s in zip(x, use, strict=True) if s.involved is not None]
        if inv and lung_source != "none":
            what = "lung mask" if lung_source == "mask" else "coarse lung estimate"
            ax.plot(
                [a for a, _ in inv],
                [b for _, b in inv],
                "s--",
                color="tab:blue",
                label=f"involved lung fraction ({what})",
            )
        else:
            ax.text(
                0.01,
                0.02,
                "involved lung fraction omitted: no lung mask",
                transform=ax.transAxes,
                fontsize=8,
                color="0.4",
            )
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
        ax.set_title(title, fontsize=10)
        fig.tight_layout()
        atomic_save(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return Path(path)
