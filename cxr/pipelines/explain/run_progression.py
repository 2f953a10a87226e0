"""`cxr explain progression`: one patient's studies over time.

Studies of a patient (``--patient ID``, or every patient with several studies
via ``--all``) are ordered by ``offset_days``; each is explained for the
positive class (COVID), so the strip shows where the model sees COVID on
each day. Per patient: ``strip.png`` (overlays with day, P(COVID), involved
lung fraction), ``plot.png`` (P(COVID) and involved fraction over time) and
``progression.json``; an index ``progression.json`` in ``cfg.out``.

**Involved lung fraction on a common scale.** The maps of one patient's
studies are compared on one scale: the raw map (Grad-CAM after its ReLU,
before any normalisation; ``|gradient|`` for saliency) of every study is
divided by the largest peak over all of that patient's studies (the maximum;
the 99th percentile for saliency), and the involved region is the set of
pixels at or above ``involved_threshold`` (``--involved-threshold``, 0.5)
of that scale, intersected with the lung. A study whose evidence for COVID
is weak next to the patient's strongest study gets a small region or none.
(The per-image rules of ``cxr explain`` - the hottest 20 %, or Otsu - keep
a region of nearly constant size on every map, so a day without disease
looked as "involved" as a day with it; ``--threshold`` and
``--top-fraction`` do not apply here.) The scale is per patient: fractions
compare a patient's days, not patients. With a single study the study is
its own scale. The overlays keep the per-image colour map (readable); the
green outline is the common-scale region inside the lung (what is counted),
and each tile gives the study's ``peak`` on the patient's scale. No gate on
the prediction is applied here (unlike ``cxr explain``): the common scale
already shrinks the region with the evidence, P(COVID) is plotted beside it,
and ``predicted_positive`` is in the JSON (hollow markers in the plot for
studies predicted negative). Needs the raw maps, so CAM methods run on the
``fast`` engine.

The lung is the lung mask when the manifest (or ``--lung-masks``) has one;
otherwise, with ``lung_estimate`` on, the coarse heuristic of
:func:`cxr.explain.localize.estimate_lung_mask` (dark regions
inside the body), labelled "coarse lung estimate" in the plot and
``lung_source: estimate`` in the JSON; with it off the fraction is omitted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cxr.config import ExplainConfig, config_to_dict, save_config
from cxr.runtime.errors import ConfigError, ManifestError
from cxr.runtime.runguard import safe_point


def select_patients(df: Any, cfg: ExplainConfig) -> dict[str, Any]:
    """``{patient_id: rows}`` for ``--patient`` (id, or the part after ``dataset:``), ``--all``."""
    df = df[df["origin"] == "real"]
    if cfg.all_patients:
        # a progression needs dates: studies without offset_days cannot be placed in time
        dated = df[dated_mask(df)]
        counts = dated.groupby("patient_id").size()
        ids = sorted(counts[counts >= 2].index)
        if not ids:
            raise ManifestError(
                f"{cfg.manifest}: no patient has two or more dated studies (offset_days)"
            )
        return {p: dated[dated["patient_id"] == p] for p in ids}
    elif cfg.patient:
        ids = sorted(
            {p for p in df["patient_id"] if p == cfg.patient or p.split(":", 1)[-1] == cfg.patient}
        )
        if not ids:
            raise ManifestError(f"{cfg.manifest}: no real image of patient '{cfg.patient}'")
    else:
        raise ConfigError("give --patient ID or --all")
    return {p: df[df["patient_id"] == p] for p in ids}


def dated_mask(df: Any) -> Any:
    """Rows whose ``offset_days`` is a number."""
    import pandas as pd

    return pd.to_numeric(df["offset_days"], errors="coerce").notna().to_numpy()


def undated_note(df: Any) -> str | None:
    """How many multi-study patients ``--all`` leaves out for lack of dates."""
    df = df[df["origin"] == "real"]
    multi = df.groupby("patient_id").size()
    dated = df[dated_mask(df)].groupby("patient_id").size()
    left = [p for p in multi[multi >= 2].index if dated.get(p, 0) < 2]
    if not left:
        return None
    return (f"{len(left)} patient(s) with several studies left out: fewer than two studies "
            "have offset_days, so they cannot be ordered in time")


def run_progression(cfg: ExplainConfig, *, console: Any = None) -> dict[str, Any]:
    """Strips, plots and JSON for the selected patients; returns the index written."""
    from rich.console import Console

    from cxr.data.manifest import load_manifest
    from cxr.explain.cam import CAM_METHODS, choose_cam_stage
    from cxr.explain.inputs import items_from_manifest, safe_name, with_mask_dirs
    from cxr.explain.localize import estimate_lung_mask
    from cxr.pipelines.explain.run_explain import check_config, load_model, progress_bar

    console = console or Console()
    check_config(cfg)
    if not cfg.manifest:
        raise ConfigError("--manifest is required for progression")
    if not 0.0 < cfg.involved_threshold <= 1.0:
        raise ConfigError(f"--involved-threshold must be in (0, 1], got {cfg.involved_threshold}")
    if cfg.method in CAM_METHODS and cfg.engine != "fast":
        raise ConfigError(
            "progression compares raw (un-normalised) CAM maps across studies: use --engine fast "
            "(pytorch-grad-cam returns per-image normalised maps)"
        )
    manifest_df = load_manifest(cfg.manifest)
    groups = select_patients(manifest_df, cfg)
    note = undated_note(manifest_df) if cfg.all_patients else None
    if note:
        console.print(f"[yellow]note:[/] {note}")
    model, info, device = load_model(cfg)
    stage_note = None
    if cfg.method in CAM_METHODS:
        _, _, stage_note = choose_cam_stage(model, cfg.cam_layer, info.image_size, info.in_chans)
    positive = info.positive if info.positive in info.classes else info.classes[-1]
    out = Path(cfg.out)
    save_config(cfg, out)
    fallback = estimate_lung_mask if cfg.lung_estimate else None
    index: dict[str, Any] = {
        "patients": {},
        "positive": positive,
        "method": cfg.method,
        "involved": {
            "scale": "per patient: raw map / largest peak over the patient's studies",
            "threshold": cfg.involved_threshold,
        },
        "config": config_to_dict(cfg),
        "notes": [n for n in (note, stage_note) if n],
    }
    with progress_bar(console) as bar:
        task = bar.add_task(
            f"progression ({cfg.method} on {device})", total=sum(len(g) for g in groups.values())
        )
        for pid, rows in groups.items():
            safe_point()  # SIGTERM/SIGINT: stop between patients
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
                out / "progression" / safe_name(pid, "patient"),
                pid,
                lambda n: bar.advance(task, n),
            )
    from cxr.runtime.files import atomic_write_text

    atomic_write_text(out / "progression.json", json.dumps(index, indent=2, default=str) + "\n")
    _print(console, index, out)
    return index


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

    from cxr.explain.overlay import save_rgb
    from cxr.explain.progression import (
        order_studies,
        plot_progression,
        progression_strip,
    )
    from cxr.explain.runner import explain_items

    explained = list(
        explain_items(
            model,
            info,
            items,
            method=cfg.method,
            target=positive,
            engine=cfg.engine,
            batch_size=cfg.batch_size,
            smooth_samples=cfg.smooth_samples,
            smooth_sigma=cfg.smooth_sigma,
            seed=cfg.seed,
            lung_fallback=fallback,
            on_batch=advance,
            keep_raw=True,
        )
    )
    views, source, extra = _common_scale_views(explained, info, positive, cfg, fallback)
    views = order_studies(views)
    title = f"{pid}: {len(views)} studies, {cfg.method} for '{positive}'"
    thr = cfg.involved_threshold
    save_rgb(
        folder / "strip.png",
        progression_strip(views, positive=positive, title=title, threshold=thr),
    )
    plot_progression(
        views,
        folder / "plot.png",
        title=title,
        positive=positive,
        lung_source=source,
        threshold=thr,
        method=cfg.method,
    )
    record = {
        "studies": [
            {
                "key": v.key,
                "offset_days": None if np.isnan(v.offset_days) else float(v.offset_days),
                "p_positive": v.p_positive,
                "predicted_positive": v.predicted,
                "involved": v.involved,
                "map_peak": v.peak,
                **extra[v.key],
            }
            for v in views
        ],
        "lung_source": source,
        "involved_definition": (
            f"share of the lung ({source}) where the raw {cfg.method} map, divided by the "
            f"largest peak over this patient's studies (common scale), is >= {thr:g}"
        ),
        "involved_threshold": thr,
        "common_scale": max((e["raw_peak"] for e in extra.values()), default=0.0),
        "strip": str((folder / "strip.png").relative_to(folder.parent.parent)),
        "plot": str((folder / "plot.png").relative_to(folder.parent.parent)),
    }
    from cxr.runtime.files import atomic_write_text

    atomic_write_text(folder / "progression.json", json.dumps(record, indent=2) + "\n")
    return record


def _common_scale_views(
    explained: Sequence[Any], info: Any, positive: str, cfg: ExplainConfig, fallback: Any
) -> tuple[list[Any], str, dict[str, dict[str, Any]]]:
    """One view per study, involvement on the patient's common scale; lung source; JSON extras."""
    import numpy as np

    from cxr.explain.localize import (
        common_region,
        common_scale,
        find_regions,
        involved_fraction,
    )
    from cxr.explain.overlay import draw_regions, overlay_heatmap
    from cxr.explain.progression import StudyView
    from cxr.pipelines.explain.run_explain import thumbnail

    # one scale for all of the patient's studies: raw maps / the largest peak among them
    raws, peaks = [], []
    for ex in explained:
        if ex.raw is None or ex.peak is None:  # keep_raw=True fills both
            raise RuntimeError("explain_items(keep_raw=True) gave no raw map")
        raws.append(ex.raw)
        peaks.append(ex.peak)
    commons, scale = common_scale(raws, peaks)
    pos = list(info.classes).index(positive)
    views, sources, extra = [], set(), {}
    for ex, common, raw_peak in zip(explained, commons, peaks, strict=True):
        has_mask = bool(ex.item.lung_mask_path)
        lung = ex.lung if (has_mask or fallback is not None) else None
        region = common_region(common, threshold=cfg.involved_threshold)
        inv = involved_fraction(region, lung)
        sources.add(f"{ex.item.lung_field} mask" if has_mask
                    else ("estimate" if inv is not None else "none"))
        # colour: the per-image view (readable); outline: what the fraction counts, the
        # common-scale region inside the lung (comparable across the studies)
        counted = region if inv is None else region & np.asarray(lung, dtype=bool)
        regions = find_regions(counted, min_area=max(1, region.size // 1000))
        tile = draw_regions(overlay_heatmap(ex.image, ex.heat), regions, style=cfg.regions)
        peak = raw_peak / scale if scale > 0 else 0.0
        views.append(
            StudyView(
                ex.item.key,
                ex.item.offset_days,
                float(ex.probs[pos]),
                inv,
                thumbnail(tile, 192),
                peak=peak,
                predicted=ex.pred == pos,
            )
        )
        extra[ex.item.key] = {"raw_peak": raw_peak, "involved_px": int(counted.sum())}
    # "<source> mask" (manual, predicted, ...) when every study has a mask of one source,
    # "mask (a, b)" for mixed sources; the estimate or none when any study lacks a mask
    masks = sorted(s for s in sources if s.endswith(" mask"))
    source = ("estimate" if "estimate" in sources else "none" if "none" in sources or not masks
              else masks[0] if len(masks) == 1
              else "mask (" + ", ".join(m[: -len(" mask")] for m in masks) + ")")
    return views, source, extra


def _print(console: Any, index: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"progression ({index['method']}, P({index['positive']}))")
    for col in (
        "patient",
        "studies",
        "days",
        f"P({index['positive']}) first->last",
        f"involved (>= {index['involved']['threshold']:g}) first->last",
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
