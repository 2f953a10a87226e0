"""`cxr explain progression`: one patient's studies over time.

Studies of a patient (``--patient ID``, or every patient with several studies
via ``--all``) are ordered by ``offset_days``; each is explained for the
positive class (COVID), so the strip shows where the model sees COVID on
each day. Per patient: ``strip.png`` (overlays with day, P(COVID), involved
lung fraction), ``plot.png`` (P(COVID) and involved fraction over time) and
``progression.json``; an index ``progression.json`` in ``cfg.out``.

The involved lung fraction uses the lung mask when the manifest (or
``--lung-masks``) has one; otherwise, with ``lung_estimate`` on, the coarse
heuristic of :func:`cxr.classifier.explain.localize.estimate_lung_mask`
(dark regions inside the body), labelled "coarse lung estimate" in the plot
and ``lung_source: estimate`` in the JSON; with it off the fraction is omitted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cxr.config import ExplainConfig, config_to_dict, save_config
from cxr.errors import ConfigError, ManifestError


def select_patients(df: Any, cfg: ExplainConfig) -> dict[str, Any]:
    """``{patient_id: rows}`` for ``--patient`` (id, or the part after ``dataset:``), ``--all``."""
    df = df[df["origin"] == "real"]
    if cfg.all_patients:
        counts = df.groupby("patient_id").size()
        ids = sorted(counts[counts >= 2].index)
        if not ids:
            raise ManifestError(f"{cfg.manifest}: no patient has more than one study")
    elif cfg.patient:
        ids = sorted(
            {p for p in df["patient_id"] if p == cfg.patient or p.split(":", 1)[-1] == cfg.patient}
        )
        if not ids:
            raise ManifestError(f"{cfg.manifest}: no real image of patient '{cfg.patient}'")
    else:
        raise ConfigError("give --patient ID or --all")
    return {p: df[df["patient_id"] == p] for p in ids}


def run_progression(cfg: ExplainConfig, *, console: Any = None) -> dict[str, Any]:
    """Strips, plots and JSON for the selected patients; returns the index written."""
    from rich.console import Console

    from cxr.classifier.explain.inputs import items_from_manifest, with_mask_dirs
    from cxr.classifier.explain.localize import estimate_lung_mask
    from cxr.data.manifest import load_manifest
    from cxr.experiments.explain import check_config, load_model, progress_bar

    console = console or Console()
    check_config(cfg)
    if not cfg.manifest:
        raise ConfigError("--manifest is required for progression")
    groups = select_patients(load_manifest(cfg.manifest), cfg)
    model, info, device = load_model(cfg)
    positive = info.positive if info.positive in info.classes else info.classes[-1]
    out = Path(cfg.out)
    save_config(cfg, out)
    fallback = estimate_lung_mask if cfg.lung_estimate else None
    index: dict[str, Any] = {
        "patients": {},
        "positive": positive,
        "method": cfg.method,
        "config": config_to_dict(cfg),
    }
    with progress_bar(console) as bar:
        task = bar.add_task(
            f"progression ({cfg.method} on {device})", total=sum(len(g) for g in groups.values())
        )
        for pid, rows in groups.items():
            items = with_mask_dirs(
                items_from_manifest(rows, split="all"),
                lung_dir=cfg.lung_masks,
                lesion_dir=cfg.lesion_masks,
            )
            index["patients"][pid] = _patient(
                model,
                info,
                items,
                cfg,
                positive,
                fallback,
                out / "progression" / _safe(pid),
                pid,
                lambda n: bar.advance(task, n),
            )
    from cxr.fsutil import atomic_write_text

    atomic_write_text(out / "progression.json", json.dumps(index, indent=2, default=str) + "\n")
    _print(console, index, out)
    return index


def _safe(pid: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", pid).strip("_") or "patient"


def _patient(
    model: Any,
    info: Any,
    items: Sequence[Any],
    cfg: ExplainConfig,
    positive: str,
    fallback: Any,
    folder: Path,
    pid: str,
    advance: Any,
) -> dict[str, Any]:
    import numpy as np

    from cxr.classifier.explain.localize import involved_fraction
    from cxr.classifier.explain.overlay import save_rgb
    from cxr.classifier.explain.progression import (
        StudyView,
        order_studies,
        plot_progression,
        progression_strip,
    )
    from cxr.classifier.explain.runner import explain_items
    from cxr.experiments.explain import render_overlay, thumbnail

    views, sources = [], set()
    for ex in explain_items(
        model,
        info,
        items,
        method=cfg.method,
        target=positive,
        engine=cfg.engine,
        batch_size=cfg.batch_size,
        rule=cfg.threshold,
        top_fraction=cfg.top_fraction,
        smooth_samples=cfg.smooth_samples,
        smooth_sigma=cfg.smooth_sigma,
        seed=cfg.seed,
        lung_fallback=fallback,
        on_batch=advance,
    ):
        has_mask = bool(ex.item.lung_mask_path)
        lung = ex.lung if (has_mask or fallback is not None) else None
        inv = involved_fraction(ex.region, lung)
        sources.add("mask" if has_mask else ("estimate" if inv is not None else "none"))
        p = float(ex.probs[list(info.classes).index(positive)])
        views.append(
            StudyView(
                ex.item.key, ex.item.offset_days, p, inv, thumbnail(render_overlay(ex, cfg), 192)
            )
        )
    source = "estimate" if "estimate" in sources else ("mask" if sources == {"mask"} else "none")
    views = order_studies(views)
    title = f"{pid}: {len(views)} studies, {cfg.method} for '{positive}'"
    save_rgb(folder / "strip.png", progression_strip(views, positive=positive, title=title))
    plot_progression(views, folder / "plot.png", title=title, positive=positive, lung_source=source)
    record = {
        "studies": [
            {
                "key": v.key,
                "offset_days": None if np.isnan(v.offset_days) else float(v.offset_days),
                "p_positive": v.p_positive,
                "involved": v.involved,
            }
            for v in views
        ],
        "lung_source": source,
        "strip": str((folder / "strip.png").relative_to(folder.parent.parent)),
        "plot": str((folder / "plot.png").relative_to(folder.parent.parent)),
    }
    from cxr.fsutil import atomic_write_text

    atomic_write_text(folder / "progression.json", json.dumps(record, indent=2) + "\n")
    return record


def _print(console: Any, index: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"progression ({index['method']}, P({index['positive']}))")
    for col in (
        "patient",
        "studies",
        "days",
        f"P({index['positive']}) first->last",
        "involved first->last",
        "lung",
    ):
        table.add_column(col)
    for pid, rec in index["patients"].items():
        st = rec["studies"]
        days = [s["offset_days"] for s in st if s["offset_days"] is not None]
        span = f"{min(days):g}..{max(days):g}" if days else "?"
        inv = [s["involved"] for s in st if s["involved"] is not None]
        inv_s = f"{inv[0]:.2f}->{inv[-1]:.2f}" if inv else "n/a"
        table.add_row(
            pid,
            str(len(st)),
            span,
            f"{st[0]['p_positive']:.2f}->{st[-1]['p_positive']:.2f}",
            inv_s,
            rec["lung_source"],
        )
    console.print(table)
    console.print(f"strips and plots in {out / 'progression'}")
