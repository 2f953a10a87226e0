"""What `cxr explain localize` leaves for people: the table, per-image rows, a contact sheet.

``localize.csv`` holds one row per score (pointing game, lesion energy, lesion
IoU) with the map's mean, the random-map and lung-prior baselines and the
paired differences, each with its 95 % interval; ``localize_rows.csv`` one row
per image; ``sheet.png`` the first overlays with the lesion outlined in red and
the lung field in cyan; ``localize.json`` everything. Written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cxr.runtime.files import atomic_open, atomic_write_text
from cxr.runtime.fmt import fmt_ci

SCORE_NAMES: tuple[str, ...] = ("pointing", "lesion_energy", "lesion_iou")
SCORE_LABELS: dict[str, str] = {
    "pointing": "pointing game (hit rate)",
    "lesion_energy": "energy inside the lesion",
    "lesion_iou": "IoU of the attended region with the lesion",
}
COLUMNS: tuple[str, ...] = ("map", "random", "lung_prior", "map_minus_random",
                            "map_minus_lung_prior")
_RED, _CYAN = (255, 40, 40), (0, 220, 255)


def ci_text(d: dict[str, Any]) -> str:
    """``mean [low, high]`` of a :func:`cxr.stats.correlation.mean_ci` dict, ``-`` when empty."""
    if not d or d.get("mean") is None:
        return "-"
    return fmt_ci(d["mean"], d.get("ci_low"), d.get("ci_high"))


def _outline(rgb: np.ndarray, mask: np.ndarray | None, colour: tuple[int, int, int]) -> None:
    import cv2

    if mask is None or not mask.any():
        return
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(rgb, contours, -1, colour, max(1, rgb.shape[0] // 160))


def tile(ex: Any, rec: dict[str, Any]) -> np.ndarray:
    """The overlay of one explained image with lung (cyan) and lesion (red) outlines, captioned."""
    from cxr.explain.overlay import caption, overlay_heatmap
    from cxr.pipelines.explain.run_explain import thumbnail

    rgb = np.ascontiguousarray(overlay_heatmap(ex.image, ex.heat))
    _outline(rgb, ex.lung, _CYAN)
    _outline(rgb, ex.lesion, _RED)
    hit = rec["pointing_map"]
    hit_text = "-" if hit is None else f"{hit:.2f}"
    lines = [ex.item.key[:22], f"p={rec['p_positive']:.2f} hit={hit_text}",
             f"E={rec['lesion_energy_map'] or 0:.2f} IoU={rec['lesion_iou_map'] or 0:.2f}"]
    return caption(thumbnail(rgb), lines)


def table_frame(table: list[dict[str, Any]]) -> Any:
    """The table as a flat DataFrame: per score and column, mean, ci_low, ci_high, n."""
    import pandas as pd

    rows = []
    for t in table:
        row: dict[str, Any] = {"score": t["score"], "bootstrap_unit": t["bootstrap_unit"]}
        for c in COLUMNS:
            for k in ("mean", "ci_low", "ci_high", "n"):
                row[f"{c}_{k}"] = t[c].get(k)
        rows.append(row)
    return pd.DataFrame(rows)


def write_outputs(out: Path, summary: dict[str, Any], records: list[dict[str, Any]],
                  tiles: list[np.ndarray]) -> None:
    import pandas as pd

    from cxr.explain.overlay import contact_sheet, save_rgb

    if tiles:
        save_rgb(out / "sheet.png", contact_sheet(tiles, columns=6, title=[
            f"{summary['method']} of {summary['label']} on {summary['images']} images "
            "(lesion red, lung cyan)"]))
        summary["sheet"] = "sheet.png"
    with atomic_open(out / "localize.csv", "w", encoding="utf-8", newline="") as fh:
        table_frame(summary["table"]).to_csv(fh, index=False, float_format="%.6g",
                                             lineterminator="\n")
    with atomic_open(out / "localize_rows.csv", "w", encoding="utf-8", newline="") as fh:
        pd.DataFrame(records).to_csv(fh, index=False, float_format="%.6g", lineterminator="\n")
    atomic_write_text(out / "localize.json",
                      json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n")


def print_table(console: Any, summary: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"localization of {summary['label']} lesions: {summary['method']}, "
                        f"{summary['images']} images, {summary['backbone']} at "
                        f"{summary['image_size']} px ({summary['table'][0]['bootstrap_unit']} "
                        "bootstrap)")
    for c in ("score", "map", "random map", "lung prior", "map - random", "map - lung prior"):
        table.add_column(c, justify="left" if c == "score" else "right")
    for t in summary["table"]:
        table.add_row(SCORE_LABELS[t["score"]], *(ci_text(t[c]) for c in COLUMNS))
    console.print(table)
    console.print(f"training data: {summary['leakage_check']}")
    for note in summary["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"localize.json, localize.csv, localize_rows.csv and sheet.png in {out}")
