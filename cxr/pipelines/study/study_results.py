"""The study's machine-readable results: one table per section, gathered from the sweeps.

Every number comes from a file a stage wrote (the sweeps' results / summary / gains CSVs,
the GAN evaluations, the audit); nothing is recomputed here except the relabelling of arms
(``syn0`` -> ``real-only``, ``syn0.3`` -> ``GAN-<arm> 0.3``) and the selection of columns.
``results.json`` holds every table; ``tables/*.csv`` one file each. A run's *results table*
(:data:`CELL_TABLE`) is what an interrupted and an uninterrupted study must agree on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cxr.pipelines.ablate.learning import DID_NOT_LEARN
from cxr.pipelines.ablate.results import read_table
from cxr.runtime.files import atomic_write_text

CELL_TABLE = "cells.csv"
#: per-cell columns of the results table (no times, no paths: those differ between runs)
CELL_COLUMNS = ("section", "task", "gan_arm", "level", "fold", "backbone", "arm", "seed",
                "accuracy", "accuracy_lo", "accuracy_hi", "auroc", "auroc_lo", "auroc_hi",
                "sensitivity", "sensitivity_lo", "sensitivity_hi", "specificity",
                "specificity_lo", "specificity_hi", "did_not_learn", "status")


def arm_name(arm: str, gan_arm: str) -> str:
    if arm in ("syn0", "syn0.0"):
        return "real-only"
    if arm.startswith("syn"):
        return f"GAN-{gan_arm} {arm[3:]}"
    return arm


def _read(path: Path) -> pd.DataFrame:
    return read_table(path) if path.is_file() else pd.DataFrame()


def _tag(df: pd.DataFrame, of_gan: str, /, **context: Any) -> pd.DataFrame:
    if df.empty:
        return df
    df = df.copy()
    if "arm" in df.columns:
        df["arm"] = [arm_name(str(a), of_gan) for a in df["arm"]]
    for k, v in reversed(list(context.items())):
        df.insert(0, k, v)
    return df


def sweep_tables(sweeps: list[tuple[str, dict[str, Any], str]]) -> dict[str, pd.DataFrame]:
    """``cells``, ``summary`` and ``gains`` of ``(section, context, sweep dir)`` sweeps."""
    out: dict[str, list[pd.DataFrame]] = {"cells": [], "summary": [], "gains": [],
                                          "comparisons": []}
    for section, ctx, d in sweeps:
        gan_arm = str(ctx.get("gan_arm", ""))
        full = {"section": section, "task": "", "gan_arm": "", "level": "", **ctx}
        for name, file in (("cells", "results.csv"), ("summary", "summary.csv"),
                           ("gains", "gains.csv"), ("comparisons", "comparisons.csv")):
            out[name].append(_tag(_read(Path(d) / file), gan_arm, **full))
    tables = {k: pd.concat([x for x in v if not x.empty], ignore_index=True)
              if any(not x.empty for x in v) else pd.DataFrame() for k, v in out.items()}
    cells = tables["cells"]
    if not cells.empty:
        # a real-only cell copied into a later arm's sweep is one cell: keep it once
        cells = cells.drop_duplicates(subset=[c for c in ("section", "task", "level", "fold",
                                                          "key") if c in cells.columns])
        tables["cells"] = cells
    summary = tables["summary"]
    if not summary.empty:  # the shared real-only row appears in every GAN arm's sweep
        summary = summary.drop_duplicates(
            subset=[c for c in ("section", "task", "level", "fold", "backbone", "arm")
                    if c in summary.columns])
        tables["summary"] = fill_single_seed(summary.reset_index(drop=True), cells)
    gains, comp = tables["gains"], tables["comparisons"]
    if not gains.empty and not comp.empty:  # one seed: that seed's paired-bootstrap CI
        keys = [c for c in ("section", "task", "gan_arm", "level", "fold", "backbone", "arm")
                if c in gains.columns and c in comp.columns]
        one = gains["n_seeds"].astype(float) == 1
        if one.any():
            merged = gains[one].merge(comp, on=keys, how="left", suffixes=("", "_seed"))
            for col in ("auroc_diff_lo", "auroc_diff_hi"):
                gains.loc[one, col] = merged[f"{col}_seed"].to_numpy()
            gains["interval"] = ["paired bootstrap (1 seed)" if o else "t over seeds"
                                 for o in one]
    return tables


def fill_single_seed(summary: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """With one seed there is no interval over seeds: show that cell's bootstrap CI."""
    if cells.empty or "n_seeds" not in summary.columns:
        return summary
    keys = [c for c in ("section", "task", "level", "fold", "backbone", "arm")
            if c in summary.columns and c in cells.columns]
    one = summary["n_seeds"].astype(float) == 1
    if not one.any():
        return summary
    merged = summary[one].merge(cells, on=keys, how="left", suffixes=("", "_cell"))
    for col in [c for c in summary.columns if c.endswith(("_lo", "_hi"))]:
        if f"{col}_cell" in merged.columns:
            summary.loc[one, col] = merged[f"{col}_cell"].to_numpy()
    summary["interval"] = ["patient bootstrap (1 seed)" if o else "t over seeds" for o in one]
    return summary


def results_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The comparable results table (CELL_COLUMNS), sorted."""
    if cells.empty:
        return pd.DataFrame(columns=list(CELL_COLUMNS))
    df = cells.reindex(columns=list(CELL_COLUMNS))
    df["did_not_learn"] = df["did_not_learn"].fillna("").astype(str)
    keys = ["section", "task", "gan_arm", "level", "fold", "backbone", "arm", "seed"]
    return df.astype({k: str for k in keys}).sort_values(keys).reset_index(drop=True)


def within_source_of_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The within-source figure (metrics.json ``within_source``) of every protocol cell."""
    rows = []
    for _, r in cells.iterrows():
        metrics = Path(str(r.get("run_dir", ""))) / "metrics.json"
        if r.get("status") != "done" or not metrics.is_file():
            continue
        ws = json.loads(metrics.read_text()).get("within_source")
        if not ws:
            continue
        row = {k: r.get(k) for k in ("section", "task", "gan_arm", "backbone", "arm", "seed")}
        row["datasets"] = ",".join(ws.get("datasets", []))
        for m in ("auroc", "sensitivity", "specificity"):
            d = ws.get(m) or {}
            row[m], row[f"{m}_lo"], row[f"{m}_hi"] = (d.get("value"), d.get("ci_low"),
                                                      d.get("ci_high"))
        rows.append(row)
    return pd.DataFrame(rows)


def heldout_of_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Leave-one-collection-out: each cell's figures on its held-out collection alone.

    From the cell's metrics.json ``by_dataset[fold]``: sensitivity at the validation-chosen
    threshold (a COVID-19-only collection has no AUROC or specificity: left empty).
    """
    rows = []
    for _, r in cells.iterrows():
        metrics = Path(str(r.get("run_dir", ""))) / "metrics.json"
        if r.get("status") != "done" or not metrics.is_file():
            continue
        part = (json.loads(metrics.read_text()).get("by_dataset") or {}).get(str(r["fold"]))
        if not part:
            continue
        row = {k: r.get(k) for k in ("task", "fold", "backbone", "arm", "seed")}
        row.update({"n_images": part.get("n_images"), "n_positive": part.get("n_positive"),
                    "n_negative": part.get("n_negative")})
        for m in ("auroc", "sensitivity", "specificity", "accuracy"):
            d = (part.get("headline") or {}).get(m) or {}
            row[m], row[f"{m}_lo"], row[f"{m}_hi"] = (d.get("value"), d.get("ci_low"),
                                                      d.get("ci_high"))
        rows.append(row)
    return pd.DataFrame(rows)


def not_learned(cells: pd.DataFrame) -> list[str]:
    if cells.empty or "did_not_learn" not in cells.columns:
        return []
    bad = cells[cells["did_not_learn"].fillna("").astype(str) != ""]
    return [f"{DID_NOT_LEARN.upper()}: {r['section']} {r.get('task', '')} {r['key']} "
            f"({r['did_not_learn']})" for _, r in bad.iterrows()]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    if df.empty:
        return []
    return json.loads(df.to_json(orient="records"))


def write_results(out: Path, doc: dict[str, Any], tables: dict[str, pd.DataFrame]) -> Path:
    """``results.json`` (doc + every table) and ``tables/<name>.csv``; returns results.json."""
    tdir = out / "tables"
    tdir.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        atomic_write_text(tdir / f"{name}.csv",
                          df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    payload = {**doc, "tables": {k: _records(v) for k, v in tables.items()}}
    path = out / "results.json"
    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")
    return path
