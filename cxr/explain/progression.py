"""Progression views: one patient's studies over time.

A strip of heatmap overlays ordered by ``offset_days`` and a plot of
P(COVID) and the involved lung fraction (see :mod:`.localize`) against days,
in the spirit of the longitudinal Grad-CAM figures of the COVID-19 imaging
literature. The involved fraction is measured on a scale common to the
patient's studies (:func:`.localize.common_scale`, threshold 0.5 by default),
so that it can change over time; the tiles keep a per-image colour map for
readability and say so in the strip's title. The plot uses matplotlib's Agg
backend (no display needed) and is written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cxr.explain.overlay import caption, contact_sheet
from cxr.runtime.files import atomic_save


@dataclass(frozen=True)
class StudyView:
    """One study of a patient: its day, scores and overlay tile (RGB uint8).

    ``involved`` is the common-scale involved lung fraction, ``peak`` the
    study's map peak on the patient's common scale (1 for the strongest study),
    ``predicted`` whether the classifier decides for the positive class.
    """

    key: str
    offset_days: float
    p_positive: float
    involved: float | None
    tile: np.ndarray
    peak: float | None = None
    predicted: bool | None = None


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
    studies: Sequence[StudyView],
    *,
    positive: str = "covid",
    columns: int = 7,
    title: str = "",
    threshold: float = 0.5,
) -> np.ndarray:
    """Overlays in time order, captioned with day, P(positive), involvement and map peak.

    The title band says what the colours and outlines mean: colour is each
    study's own (per-image) scale, the green outline the common-scale region
    ``>= threshold`` of the patient's peak inside the lung, which the
    involvement counts (the whole region where no lung is known).
    """
    tiles = []
    for s in order_studies(studies):
        inv = "n/a" if s.involved is None else f"{100 * s.involved:.0f}%"
        lines = [_day(s.offset_days), f"P({positive})={s.p_positive:.2f}", f"lung inv. {inv}"]
        if s.peak is not None:
            lines.append(f"peak {s.peak:.2f}")
        tiles.append(caption(s.tile, lines))
    head = [
        title,
        "colour: per-image scale",
        f"green: common scale >= {threshold:g} of patient peak, in lung",
    ]
    return contact_sheet(tiles, columns=columns, title=head if title else "")


def plot_progression(
    studies: Sequence[StudyView],
    path: str | Path,
    *,
    title: str,
    positive: str = "covid",
    lung_source: str = "mask",
    threshold: float = 0.5,
    method: str = "gradcam",
) -> Path:
    """P(positive), the involved lung fraction and the map peak against days; PNG, atomic.

    ``lung_source`` (``mask``, ``estimate`` or ``none``) is stated in the legend so
    that a heuristic lung field is never mistaken for a segmentation, and so is
    the common-scale ``threshold`` that defines involvement. Studies the
    classifier predicts negative get hollow P(positive) markers.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = order_studies(studies)
    known = [s for s in ordered if not math.isnan(s.offset_days)]
    use = known if known else ordered
    x = [s.offset_days for s in use] if known else [float(i) for i in range(len(use))]
    fig, ax = plt.subplots(figsize=(7.0, 4.2), dpi=110)
    try:
        _draw_series(ax, x, use, positive=positive, lung_source=lung_source, threshold=threshold)
        peaks = [(xi, s.peak) for xi, s in zip(x, use, strict=True) if s.peak is not None]
        if peaks:
            ax.plot(
                [a for a, _ in peaks],
                [b for _, b in peaks],
                ":",
                color="0.45",
                marker=".",
                label=f"{method} peak / patient's largest peak",
            )
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("days (offset)" if known else "study order (no offsets)")
        ax.set_ylabel("probability / fraction")
        ax.grid(alpha=0.3)
        # below the axes: the legend never hides a curve
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8)
        ax.set_title(title, fontsize=10)
        fig.tight_layout()
        atomic_save(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return Path(path)


def _draw_series(
    ax: Any,
    x: list[float],
    use: list[StudyView],
    *,
    positive: str,
    lung_source: str,
    threshold: float,
) -> None:
    """P(positive) (hollow markers: predicted negative) and the involved lung fraction."""
    inv = [(xi, s.involved) for xi, s in zip(x, use, strict=True) if s.involved is not None]
    if inv and lung_source != "none":
        what = ("coarse lung estimate" if lung_source == "estimate"
                else "lung mask" if lung_source == "mask" else f"lung field: {lung_source}")
        ax.plot(
            [a for a, _ in inv],
            [b for _, b in inv],
            "s--",
            color="tab:blue",
            label=f"involved lung fraction ({what};\ncommon-scale threshold {threshold:g})",
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
    p = [s.p_positive for s in use]
    ax.plot(x, p, "-", color="tab:red", zorder=3)
    neg = [s.predicted is False for s in use]
    ax.plot(
        [xi for xi, n in zip(x, neg, strict=True) if not n],
        [pi for pi, n in zip(p, neg, strict=True) if not n],
        "o",
        color="tab:red",
        zorder=4,
        label=f"P({positive}), predicted {positive}",
    )
    if any(neg):
        ax.plot(
            [xi for xi, n in zip(x, neg, strict=True) if n],
            [pi for pi, n in zip(p, neg, strict=True) if n],
            "o",
            color="tab:red",
            markerfacecolor="white",
            zorder=4,
            label=f"P({positive}), predicted not {positive}",
        )
