"""What `cxr explain` leaves for people: contact sheets, the summary, tables and the console table.

``explain.json`` (the summary: scores with CIs beside their random baselines, the
region smoothing and minimum area used), ``explanations.csv`` (one row per image),
``sheets/*.png`` and the one-screen rich table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cxr.config import ExplainConfig, config_to_dict
from cxr.runtime.fmt import fmt_ci, fmt_num

SCORE_LABELS = {
    "pointing": "pointing game (hit rate)",
    "lesion_energy": "energy inside lesion",
    "lesion_iou": "IoU(region, lesion)",
    "lung_energy": "energy inside lungs",
}


def decision_rule(info: Any) -> str:
    """The classifier's decision as a short text: ``P(covid)>=0.0300`` or ``argmax``."""
    if getattr(info, "threshold", None) is None:
        return "decision: argmax"
    return f"P({info.positive})>={fmt_num(info.threshold)}"


def write_sheets(
    out: Path, tiles: dict[tuple[str, str], list[np.ndarray]], cfg: ExplainConfig, decision: str
) -> list[str]:
    from cxr.explain.overlay import contact_sheet, save_rgb

    names = []
    for (truth, pred), cell in sorted(tiles.items()):
        name = f"sheets/true-{truth}__pred-{pred}.png"
        title = f"{cfg.method}: true {truth}, pred. {pred} ({len(cell)}; {decision})"
        save_rgb(out / name, contact_sheet(cell, columns=6, title=title))
        names.append(name)
    return names


def summarise(
    rows: list[dict[str, Any]],
    cfg: ExplainConfig,
    info: Any,
    device: Any,
    elapsed: float,
    sheets: list[str],
) -> dict[str, Any]:
    from cxr.explain.scores import summarize

    groups: dict[str, list[dict[str, Any]]] = {"all": rows}
    for r in rows:
        groups.setdefault(f"true={r['true']}", []).append(r)
    inv = [r["involved_lung_fraction"] for r in rows if r["involved_lung_fraction"] is not None]
    return {
        "images": len(rows),
        "method": cfg.method,
        "engine": cfg.engine if cfg.method in ("gradcam", "gradcam++") else "autograd",
        "device": str(device),
        "seconds": round(elapsed, 3),
        "maps_per_second": round(len(rows) / elapsed, 2) if elapsed > 0 else None,
        "classifier": info.to_dict(),
        "threshold": {"rule": cfg.threshold, "top_fraction": cfg.top_fraction},
        "region_smoothing": _smoothing_record(cfg, info),
        "region_min_area": {
            "fraction": cfg.region_min_area,
            "pixels": _min_area_px(cfg, info),
            "applies_to": "regions drawn and scored (IoU, involved fraction), all methods",
        },
        "inputs": {
            "checkpoint": str(Path(cfg.checkpoint).resolve()) if cfg.checkpoint else None,
            "manifest": str(Path(cfg.manifest).resolve()) if cfg.manifest else None,
        },
        "decision": decision_rule(info),
        "empty_maps": int(sum(bool(r.get("empty_map")) for r in rows)),
        "empty_maps_rule": "maps with no positive value: scored 0 (pointing, energies), "
        "counted in every mean; shown as EMPTY MAP on the sheets",
        "with_lesion_mask": sum(r["pointing"] is not None for r in rows),
        "with_lung_mask": len(inv),
        "lung_field": _field_counts(rows),
        "involved_lung_fraction_mean": float(np.mean(inv)) if inv else None,
        "involved_lung_fraction_rule": (
            f"per-image region ({cfg.threshold}"
            + (f" {cfg.top_fraction:g}" if cfg.threshold == "top" else "")
            + ") & lung / lung; 0 for images not predicted as the explained class"
        ),
        "notes": [] if inv else ["no lung masks: involved lung fraction and lung energy skipped"],
        "baselines": {
            "pointing": "analytic: mask area fraction (uniform random point)",
            "lesion_energy": "analytic: mask area fraction (uniform map)",
            "lung_energy": "analytic: lung area fraction (uniform map)",
            "lesion_iou": f"empirical: {cfg.random_maps} seeded random smooth maps, same threshold",
        },
        "scores": {g: summarize(rs, seed=cfg.seed) for g, rs in groups.items()},
        "sheets": sheets,
        "config": config_to_dict(cfg),
    }


def _min_area_px(cfg: ExplainConfig, info: Any) -> int:
    from cxr.explain.localize import min_area_pixels

    return min_area_pixels((info.image_size, info.image_size), cfg.region_min_area)


def _smoothing_record(cfg: ExplainConfig, info: Any) -> dict[str, Any]:
    """What ``explain.json`` says about the Gaussian blur of gradient maps (module docstring)."""
    from cxr.explain import GRADIENT_METHODS

    applied = cfg.method in GRADIENT_METHODS and cfg.region_sigma > 0
    return {
        "applied": applied,
        "sigma": cfg.region_sigma,
        "sigma_px": round(cfg.region_sigma * info.image_size, 3) if applied else 0.0,
        "methods": list(GRADIENT_METHODS),
        "scores_on": (
            "smoothed map as displayed (pointing, energies, IoU, involved fraction)"
            if applied
            else "map as computed (no smoothing)"
        ),
    }


def write_tables(out: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    import pandas as pd

    from cxr.runtime.files import atomic_open, atomic_write_text

    with atomic_open(out / "explanations.csv", "w", encoding="utf-8", newline="") as fh:
        pd.DataFrame(rows).to_csv(fh, index=False, float_format="%.6g", lineterminator="\n")
    atomic_write_text(
        out / "explain.json", json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n"
    )


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else fmt_num(v)


def print_summary(console: Any, summary: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    table = Table(
        title=f"{summary['method']} localization ({summary['images']} images, "
        f"{summary['maps_per_second']} maps/s on {summary['device']})"
    )
    for col in ("images", "score", "n", "mean", "95% CI", "random baseline"):
        table.add_column(col, justify="left" if col in ("images", "score") else "right")
    for group, scores in summary["scores"].items():
        for name, s in scores.items():
            if s["n"]:
                ci = fmt_ci(s["mean"], s["ci95"][0], s["ci95"][1]).partition(" ")[2]
                table.add_row(
                    group, SCORE_LABELS[name], str(s["n"]), _fmt(s["mean"]), ci, _fmt(s["baseline"])
                )
    if not table.rows:
        table.add_row("all", "no lesion or lung masks: nothing to score", "0", "-", "-", "-")
    console.print(table)
    if summary.get("empty_maps"):
        console.print(f"[yellow]note:[/] {summary['empty_maps']} of {summary['images']} maps are "
                      "empty (all zero): scored 0 and counted in every mean")
    for note in summary["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"overlays, sheets, explanations.csv and explain.json in {out}")


def _field_counts(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Images per lung field (the mask's source, or ``none``), overall and per true class."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        for group in ("all", f"true={r['true']}"):
            g = out.setdefault(group, {})
            kind = str(r.get("lung_field", "none"))
            g[kind] = g.get(kind, 0) + 1
    return out
