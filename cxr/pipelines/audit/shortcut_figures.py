"""Figures of the shortcut audit (PNG files under ``figures/``, written atomically).

* ``auroc.png``: every AUROC of the audit with its patient-bootstrap
  interval on one axis, chance (0.5) marked: the source probe, the classifier
  on full images, lungs hidden, border only, and (with a checkpoint) pooled vs
  within-source.
* ``masked_examples.png``: what the masking probes show the classifier, two
  evaluated images per collection (full | lungs hidden | border only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cxr.runtime.files import atomic_save


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str:
    plt = _plt()
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return f"{path.parent.name}/{path.name}"


def auroc_rows(audit: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(label, {auroc, ci_low, ci_high})`` of every AUROC the audit measured."""
    rows: list[tuple[str, dict[str, Any]]] = []
    sp = audit.get("source_probe") or {}
    if sp.get("applicable"):
        rows.append(("source probe (dataset)", sp))
    m = audit.get("masking") or {}
    if m.get("applicable"):
        rows += [("classifier, full image", m["full"]), ("lungs hidden", m["lungs_hidden"]),
                 ("border only", m["border_only"])]
    gap = audit.get("source_gap") or {}
    if gap.get("applicable"):
        rows += [("pooled (checkpoint)", gap["pooled"]), ("within-source", gap["within_source"])]
    return [(k, v) for k, v in rows if v.get("auroc") is not None]


def write_all(audit: dict[str, Any], fig_dir: Path) -> list[str]:
    rows = auroc_rows(audit)
    if not rows:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 0.45 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    for yi, (_, d) in zip(y, rows, strict=True):
        a, lo, hi = d["auroc"], d.get("ci_low"), d.get("ci_high")
        if lo is not None and hi is not None:
            ax.errorbar(a, yi, xerr=[[a - lo], [hi - a]], fmt="o", color="C0", capsize=3)
        else:
            ax.plot(a, yi, "o", color="C0")
        ax.annotate(f"{a:.3f}", (a, yi), textcoords="offset points", xytext=(-12, 7), fontsize=8)
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(y, [k for k, _ in rows])
    ax.set_xlim(0.0, 1.04)
    ax.set_xlabel("AUROC (95% patient-bootstrap CI); 0.5 = chance")
    ax.set_title(f"shortcut audit: {audit['verdict']['verdict']} risk")
    return [_save(fig, fig_dir / "auroc.png")]


def masked_examples(data: Any, rows: np.ndarray, cfg: Any, fig_dir: Path) -> str:
    from cxr.pipelines.audit.probes import masked_variants

    ds = data.df["dataset"].astype(str).to_numpy()
    picks: list[int] = []
    for name in sorted(set(ds[rows])):
        picks += np.flatnonzero(rows & (ds == name))[:2].tolist()
    sel = np.zeros(len(rows), dtype=bool)
    sel[picks] = True
    views = masked_variants(data, sel, cfg)
    order = np.flatnonzero(sel)
    plt = _plt()
    fig, axes = plt.subplots(len(order), 3, figsize=(6.0, 2.0 * len(order)), squeeze=False)
    for r, i in enumerate(order):
        for c, name in enumerate(("full", "lungs_hidden", "border_only")):
            ax = axes[r, c]
            ax.imshow(views[name][r], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name.replace("_", " "), fontsize=9)
            if c == 0:
                kind = data.lung_kind[i]
                ax.set_ylabel(f"{ds[i]}\n{data.df['label'].iat[i]} ({kind})", fontsize=7)
    return _save(fig, fig_dir / "masked_examples.png")
