"""What `cxr explain severity` leaves for people: scatter plots, the table as JSON and CSV.

One scatter plot per method x score (expert score on x, the model-derived
severity on y, Pearson's r and Spearman's rho with their intervals in the
title), ``severity.csv`` (the correlation table), ``severity_rows.csv`` (one
row per image), ``severity.json`` (everything, with the anchor of Cohen et al.
2020), and the console table. All files are written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.runtime.files import atomic_open, atomic_save, atomic_write_text
from cxr.runtime.fmt import fmt_ci, fmt_num

if TYPE_CHECKING:
    import pandas as pd

#: score key -> (manifest column, label, range maximum)
SCORES: dict[str, tuple[str, str, float]] = {
    "extent": ("severity_extent", "geographic extent (0-8)", 8.0),
    "opacity": ("severity_opacity", "opacity (0-6)", 6.0),
}
METHODS: dict[str, str] = {
    "gradcam_involved": "Grad-CAM involved-lung fraction (per-image map, top fraction)",
    "gradcam_involved_common": "Grad-CAM involved-lung fraction (common scale over the images)",
    "p_covid": "classifier P(positive class)",
    "ridge": "ridge on penultimate features (patient-grouped CV, out-of-fold)",
}
ANCHOR: dict[str, Any] = {
    "extent": 0.80,
    "opacity": 0.78,
    "statistic": "pearson",
    "source": "Cohen et al. 2020, Predicting COVID-19 Pneumonia Severity on Chest X-Ray with "
    "Deep Learning (Cureus; arXiv:2005.11856): linear regression on features of a DenseNet "
    "pretrained on eight public chest X-ray collections",
}

#: severity.csv columns, in order
TABLE_COLUMNS: tuple[str, ...] = (
    "method", "score", "n", "n_patients", "bootstrap_unit", "pearson", "pearson_ci_low",
    "pearson_ci_high", "spearman", "spearman_ci_low", "spearman_ci_high", "anchor_pearson",
    "gap_to_anchor",
)
Y_LABELS: dict[str, str] = {
    "gradcam_involved": "Grad-CAM involved lung fraction (per image)",
    "gradcam_involved_common": "Grad-CAM involved lung fraction (common scale)",
    "p_covid": "P(COVID-19)",
    "ridge": "ridge prediction (out-of-fold)",
}


def scatter_png(path: Path, x: np.ndarray, y: np.ndarray, *, xlabel: str, ylabel: str,
                title: str) -> Path:
    """One scatter plot (expert score vs model value), written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 3.8), dpi=110)
    try:
        ax.scatter(x, y, s=14, alpha=0.7, color="#1f5fa8", edgecolors="none")
        if len(x) >= 2 and np.ptp(x) > 0:
            slope, icpt = np.polyfit(x, y, 1)
            xs = np.linspace(float(np.min(x)), float(np.max(x)), 20)
            ax.plot(xs, slope * xs + icpt, color="#b00020", lw=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(title, fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        atomic_save(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return path


def _title(row: dict[str, Any]) -> str:
    return (f"r = {fmt_ci(row['pearson'], row['pearson_ci_low'], row['pearson_ci_high'])}\n"
            f"rho = {fmt_ci(row['spearman'], row['spearman_ci_low'], row['spearman_ci_high'])}"
            f"  (n={row['n']}, {row['n_patients']} patients)")


def write_outputs(out: Path, summary: dict[str, Any], rows: pd.DataFrame,
                  values: dict[str, dict[str, np.ndarray]], df: pd.DataFrame) -> None:
    """Scatter plots, severity.csv, severity_rows.csv and severity.json (figures listed in it)."""
    import pandas as pd

    figures = []
    for row in summary["table"]:
        col, label, _ = SCORES[row["score"]]
        x = df[col].to_numpy(dtype=np.float64)
        y = values[row["method"]][row["score"]]
        ok = np.isfinite(x) & np.isfinite(y)
        name = f"scatter/{row['method']}_{row['score']}.png"
        scatter_png(out / name, x[ok], y[ok], xlabel=f"expert {label}",
                    ylabel=Y_LABELS[row["method"]], title=_title(row))
        row["figure"] = name
        figures.append(name)
    summary["figures"] = figures
    table = pd.DataFrame(summary["table"], columns=[*TABLE_COLUMNS, "figure"])
    with atomic_open(out / "severity.csv", "w", encoding="utf-8", newline="") as fh:
        table.to_csv(fh, index=False, float_format="%.6g", lineterminator="\n")
    with atomic_open(out / "severity_rows.csv", "w", encoding="utf-8", newline="") as fh:
        rows.to_csv(fh, index=False, float_format="%.6g", lineterminator="\n")
    atomic_write_text(out / "severity.json",
                      json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n")


def anchor_line(anchor: dict[str, Any]) -> str:
    """The anchor in one sentence, for tables, reports and docs."""
    return (f"anchor: Pearson r = {anchor['extent']:.2f} (extent) and {anchor['opacity']:.2f} "
            f"(opacity), {anchor['source']}")


def print_table(console: Any, summary: dict[str, Any], out: Path) -> None:
    """The correlation table, the anchor and the notes, on the console."""
    from rich.table import Table

    table = Table(title=f"severity: {summary['images']} images of {summary['patients']} "
                        f"patients, {summary['backbone']} at {summary['image_size']} px")
    for col in ("method", "score", "n", "Pearson r [95% CI]", "Spearman rho [95% CI]",
                "anchor r", "gap"):
        table.add_column(col, justify="left" if col in ("method", "score") else "right")
    for r in summary["table"]:
        table.add_row(r["method"], r["score"], str(r["n"]),
                      fmt_ci(r["pearson"], r["pearson_ci_low"], r["pearson_ci_high"]),
                      fmt_ci(r["spearman"], r["spearman_ci_low"], r["spearman_ci_high"]),
                      fmt_num(r["anchor_pearson"]), fmt_num(r["gap_to_anchor"]))
    console.print(table)
    console.print(anchor_line(summary["anchor"]))
    lung = ", ".join(f"{k} {v}" for k, v in summary["lung_field"].items())
    console.print(f"lung field per image: {lung}")
    for note in summary["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"severity.json, severity.csv, severity_rows.csv and scatter/ in {out}")
