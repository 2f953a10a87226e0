"""Figures for the HTML report, returned as PNG bytes (inlined as base64 by the report).

ROC curves (Fawcett, "An introduction to ROC analysis", Pattern Recognition
Letters 27, 2006) and metric-vs-synthetic-ratio plots with the t-interval over
seeds drawn as a band.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def _figure(w: float, h: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(w, h), dpi=100)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes | str | Path) -> str:
    """``data:image/png;base64,...`` for PNG bytes or a PNG file."""
    raw = png if isinstance(png, bytes) else Path(png).read_bytes()
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


def roc_plot(curves: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str) -> bytes:
    """``curves``: (label, y_true 0/1, score) triples on one axes, AUROC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _figure(5.2, 4.6)
    for label, y, s in curves:
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, lw=1.6, label=f"{label} (AUROC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", c="0.6", lw=1)
    ax.set(
        xlabel="1 - specificity (FPR)",
        ylabel="sensitivity (TPR)",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def ratio_plot(summary: pd.DataFrame, metric: str, confidence: float = 0.95) -> bytes:
    """Metric vs synthetic ratio, one line per backbone x loss, t-interval band over seeds.

    Baseline arms (ratio 0, oversample / augment) are drawn as dotted horizontal lines.
    """
    fig, ax = _figure(6.0, 4.2)
    values = summary[metric].to_numpy(float)
    bounded = bool(np.nanmin(values) >= 0.0 and np.nanmax(values) <= 1.0)
    colors = iter(["#1f5f99", "#c0392b", "#27ae60", "#8e44ad", "#d68910", "#17202a", "#7f8c8d"])
    for (backbone, loss), grp in summary.groupby(["backbone", "loss"], sort=False):
        color = next(colors, None)
        gan = grp[grp["baseline"] == ""].sort_values("ratio")
        x = gan["ratio"].to_numpy(float)
        y = gan[metric].to_numpy(float)
        name = f"{backbone} ({loss})"
        line = ax.plot(x, y, marker="o", lw=1.8, color=color, label=name)[0]
        lo, hi = gan[f"{metric}_lo"].to_numpy(float), gan[f"{metric}_hi"].to_numpy(float)
        if bounded:  # a t-interval can leave [0, 1] with few seeds; the metric cannot
            lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
        if np.isfinite(lo).any():
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, lw=0)
        styles = {"oversample": ":", "augment": "-."}
        for _, b in grp[grp["baseline"] != ""].iterrows():
            ax.axhline(
                b[metric],
                color=line.get_color(),
                ls=styles.get(b["baseline"], ":"),
                lw=1.2,
                label=f"{name}: {b['baseline']} only",
            )
    clip = ", clipped to [0, 1]" if bounded else ""
    if bounded:  # a probability-scale metric: the axis stops at 1.0
        low, _ = ax.get_ylim()
        ax.set_ylim(max(0.0, low), 1.0)
    ax.set(
        xlabel="synthetic ratio r (share of COVID draws that are GAN images)",
        ylabel=metric,
        title=f"{metric} vs synthetic ratio (band: {confidence:.0%} t-interval over seeds{clip})",
    )
    ax.title.set_fontsize(10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _png(fig)


def image_pairs(pairs: Sequence[tuple[np.ndarray, np.ndarray]], titles: tuple[str, str]) -> bytes:
    """Grid of (source, translated) uint8 images, two per row group."""
    n = len(pairs)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        rows, 2 * cols, figsize=(2 * cols * 1.5, rows * 1.7), dpi=100, squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for k, (src, out) in enumerate(pairs):
        r, c = divmod(k, cols)
        for j, (img, t) in enumerate(((src, titles[0]), (out, titles[1]))):
            ax = axes[r, 2 * c + j]
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_title(t, fontsize=8)
    return _png(fig)
