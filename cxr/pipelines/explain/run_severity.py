"""`cxr explain severity`: does the classifier's evidence follow the experts' severity scores?

The seed's paper says Grad-CAM shows COVID-19 progression; expert severity scores
measure it. On the manifest rows that carry ``severity_extent`` (geographic
extent, 0-8) or ``severity_opacity`` (opacity, 0-6) - the mean of three raters
on the covid-chestxray collection (Cohen et al., "Predicting COVID-19 Pneumonia
Severity on Chest X-Ray with Deep Learning", Cureus 2020, arXiv:2005.11856) -
four model-derived severities are correlated with each score:

* ``gradcam_involved``: the Grad-CAM (COVID class) involved-lung fraction of
  `cxr explain`: the per-image map's hottest ``top_fraction`` inside the lung
  field over the lung field. Each map is normalised per image, so the region
  has about the same area on every image: this says where the evidence lies
  relative to the lungs, hardly how much there is.
* ``gradcam_involved_common``: the same fraction with the maps on one common
  scale (each raw map divided by the largest peak over the scored images; the
  region is where that reaches ``involved_threshold``), as `cxr explain
  progression` does within a patient: a weak map gives a small region.
* ``p_covid``: the classifier's probability of the positive class.
* ``ridge``: ridge regression from the classifier's penultimate features to
  the score, out-of-fold under patient-grouped cross-validation
  (:mod:`cxr.stats.grouped_ridge`), the method of Cohen et al.

Pearson's r and Spearman's rho come with patient-bootstrap 95 % intervals
(:mod:`cxr.stats.correlation`). **Anchor**: Cohen et al. reached r = 0.80
(extent) and r = 0.78 (opacity) with a linear regression on features of a
DenseNet pretrained on eight public chest X-ray collections; the table states
the gap of every row to it.

Lung field: the manifest's ``lung_mask_path`` (its ``lung_mask_source`` is
counted), else a heuristic estimate (``--lung-estimate``; counted as
``estimate``), else the row has no Grad-CAM fraction. Outputs in ``cfg.out``:
``severity.json``, ``severity.csv`` (the table), ``severity_rows.csv`` (one row
per image), ``scatter/<method>_<score>.png``, ``config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.config import SeverityConfig, save_config
from cxr.pipelines.explain.severity_outputs import ANCHOR, METHODS, SCORES
from cxr.runtime.errors import ConfigError, ManifestError

if TYPE_CHECKING:
    import pandas as pd



@dataclass(frozen=True)
class SeverityResult:
    out: Path
    n_images: int
    summary: dict[str, Any]


def check_config(cfg: SeverityConfig) -> None:
    """One-line errors for bad options before any heavy work."""
    if not cfg.checkpoint or not cfg.manifest:
        raise ConfigError("cxr explain severity needs --checkpoint and --manifest")
    if cfg.folds < 2:
        raise ConfigError(f"--folds must be >= 2, got {cfg.folds}")
    if cfg.bootstrap < 0:
        raise ConfigError(f"--bootstrap must be >= 0, got {cfg.bootstrap}")
    if not 0.0 < cfg.top_fraction < 1.0:
        raise ConfigError(f"--top-fraction must be in (0, 1), got {cfg.top_fraction}")
    if not 0.0 < cfg.involved_threshold <= 1.0:
        raise ConfigError(f"--involved-threshold must be in (0, 1], got {cfg.involved_threshold}")
    if cfg.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {cfg.batch_size}")


def scored_rows(df: pd.DataFrame, cfg: SeverityConfig) -> pd.DataFrame:
    """The rows of ``cfg.split`` with at least one expert score (numeric columns added)."""
    import pandas as pd

    cols = [c for c, _, _ in SCORES.values()
            if c in df.columns and pd.to_numeric(df[c], errors="coerce").notna().any()]
    if not cols:  # an index without scores still carries the (empty) columns
        raise ManifestError(
            f"{cfg.manifest}: no severity_extent / severity_opacity scores (index a collection "
            "with expert severity scores, e.g. ieee8023 with annotations/covid-severity-scores.csv)"
        )
    if cfg.split != "all":
        df = df[df["split"].astype(str) == cfg.split]
    df = df.copy()
    for c, _, top in SCORES.values():
        v = pd.to_numeric(df[c], errors="coerce") if c in df.columns else np.nan
        df[c] = v
        bad = df[c].notna() & ((df[c] < 0) | (df[c] > top))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ManifestError(f"{cfg.manifest}: {c} = {df[c].iat[i]} outside [0, {top:g}] "
                                f"({df['image_path'].iat[i]})")
    df = df[df[[c for c, _, _ in SCORES.values()]].notna().any(axis=1)].reset_index(drop=True)
    n_pat = df["patient_id"].nunique()
    if n_pat < 3:
        raise ManifestError(
            f"{cfg.manifest}: {len(df)} rows of {n_pat} patients have a severity score in split "
            f"{cfg.split!r}; the grouped cross-validation needs at least 3 patients"
        )
    return df


def _lung_source(row: Any, has_path: bool, lung: np.ndarray | None) -> str:
    if has_path:
        src = str(row.get("lung_mask_source", "") or "")
        return src if src and src != "nan" else "manifest"
    return "estimate" if lung is not None else "none"


def gradcam_measures(model: Any, info: Any, items: list[Any], df: pd.DataFrame,
                     cfg: SeverityConfig, on_batch: Any = None) -> dict[str, list[Any]]:
    """Per image: P(positive), both involved-lung fractions and where the lung field came from."""
    from cxr.explain.localize import (
        common_region,
        common_scale,
        estimate_lung_mask,
        involved_fraction,
    )
    from cxr.explain.runner import explain_items

    pos = info.positive
    fallback = estimate_lung_mask if cfg.lung_estimate else None
    p: list[float] = []
    per_image: list[float | None] = []
    raws: list[np.ndarray] = []
    peaks: list[float] = []
    lungs: list[np.ndarray | None] = []
    source: list[str] = []
    for ex, (_, row) in zip(
        explain_items(model, info, items, method="gradcam", target=pos,
                      batch_size=cfg.batch_size, top_fraction=cfg.top_fraction,
                      lung_fallback=fallback, keep_raw=True, on_batch=on_batch),
        df.iterrows(), strict=True,
    ):
        lung = ex.lung if ex.lung is not None and ex.lung.any() else None
        p.append(float(ex.probs[list(info.classes).index(pos)]))
        per_image.append(involved_fraction(ex.region, lung))
        if ex.raw is None or ex.peak is None:  # keep_raw=True always gives both
            raise RuntimeError("explain_items returned no raw map")
        raws.append(ex.raw)
        peaks.append(ex.peak)
        lungs.append(lung)
        source.append(_lung_source(row, bool(ex.item.lung_mask_path), lung))
    common, scale = common_scale(raws, peaks)
    fractions = [involved_fraction(common_region(c, threshold=cfg.involved_threshold), lung)
                 for c, lung in zip(common, lungs, strict=True)]
    return {"p_covid": p, "gradcam_involved": per_image, "gradcam_involved_common": fractions,
            "lung_field": source, "common_scale": [scale]}


def ridge_predictions(features: np.ndarray, df: pd.DataFrame, folds: int
                      ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Out-of-fold ridge predictions per score (NaN where the row has no such score)."""
    from cxr.stats.grouped_ridge import grouped_ridge_predictions

    preds: dict[str, np.ndarray] = {}
    facts: dict[str, Any] = {}
    for key, (col, _, _) in SCORES.items():
        y = df[col].to_numpy(dtype=np.float64)
        ok = np.isfinite(y)
        out = np.full(len(df), np.nan)
        groups = df["patient_id"].astype(str).to_numpy()
        if len(np.unique(groups[ok])) >= 3:
            fit = grouped_ridge_predictions(features[ok], y[ok], groups[ok], folds=folds)
            out[ok] = fit.predictions
            facts[key] = {"folds": fit.folds, "alpha_per_fold": list(fit.alphas),
                          "n_features": int(features.shape[1])}
        preds[key] = out
    return preds, facts


def correlation_table(df: pd.DataFrame, values: dict[str, dict[str, np.ndarray]],
                      cfg: SeverityConfig) -> list[dict[str, Any]]:
    """One row per method x score: Pearson and Spearman with intervals, the anchor and the gap."""
    from cxr.stats.correlation import correlation_ci

    rows = []
    for method, per_score in values.items():
        for key, (col, label, _) in SCORES.items():
            x = per_score[key]
            y = df[col].to_numpy(dtype=np.float64)
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() < 3:
                continue
            c = correlation_ci(x[ok], y[ok], df["patient_id"].astype(str).to_numpy()[ok],
                               n_boot=cfg.bootstrap, seed=cfg.seed)
            r = c["pearson"]["r"]
            rows.append({
                "method": method, "score": key, "score_label": label, "n": c["n"],
                "n_patients": c["n_patients"], "bootstrap_unit": c["unit"],
                "pearson": r, "pearson_ci_low": c["pearson"]["ci_low"],
                "pearson_ci_high": c["pearson"]["ci_high"],
                "spearman": c["spearman"]["r"], "spearman_ci_low": c["spearman"]["ci_low"],
                "spearman_ci_high": c["spearman"]["ci_high"],
                "anchor_pearson": ANCHOR[key],
                "gap_to_anchor": None if r is None else round(ANCHOR[key] - r, 6),
            })
    return rows


def run_severity(cfg: SeverityConfig, *, console: Any = None) -> SeverityResult:
    """Correlate model-derived severity with the expert scores; write tables, plots, JSON."""
    from rich.console import Console

    from cxr.data.manifest import load_manifest
    from cxr.explain.cam import coarse_grid_note
    from cxr.explain.embeddings import penultimate_features
    from cxr.explain.inputs import items_from_manifest
    from cxr.pipelines.explain.run_explain import explained_classifier, progress_bar
    from cxr.pipelines.explain.severity_outputs import print_table, write_outputs

    console = console or Console()
    check_config(cfg)
    df = scored_rows(load_manifest(cfg.manifest), cfg)
    ec = explained_classifier(cfg.checkpoint, cfg.device, cfg.cam_layer)
    model, info, device = ec.model, ec.info, ec.device
    stage, grid, stage_note = ec.stage, ec.grid, ec.stage_note
    items = items_from_manifest(df, split="all", source=cfg.manifest)
    out = Path(cfg.out)
    save_config(cfg, out)
    with progress_bar(console) as bar:
        task = bar.add_task(f"Grad-CAM on {device}", total=len(items))
        cam = gradcam_measures(model, info, items, df, cfg,
                               on_batch=lambda n: bar.advance(task, n))
        task = bar.add_task("penultimate features", total=len(items))
        feats = penultimate_features(model, info, items, batch_size=cfg.batch_size,
                                     on_batch=lambda n: bar.advance(task, n))
    ridge, ridge_facts = ridge_predictions(feats, df, cfg.folds)
    as_arr = {m: np.array([np.nan if v is None else v for v in cam[m]], dtype=np.float64)
              for m in ("gradcam_involved", "gradcam_involved_common", "p_covid")}
    values = {m: {k: as_arr[m] for k in SCORES} for m in as_arr} | {"ridge": ridge}
    table = correlation_table(df, values, cfg)
    notes = [n for n in (stage_note, coarse_grid_note(grid, info.image_size)) if n]
    splits = df["split"].astype(str).replace("", "(none)").value_counts().to_dict()
    if any(s in splits for s in ("train", "val")):
        notes.append(
            f"{sum(splits.get(s, 0) for s in ('train', 'val'))} of the {len(df)} scored images "
            "are in the train/val split of this manifest: if it trained the classifier, its "
            "features have seen them (their labels, never their scores)")
    summary = {
        "command": "cxr explain severity", "checkpoint": str(cfg.checkpoint),
        "manifest": str(cfg.manifest), "split": cfg.split, "images": len(df),
        "patients": int(df["patient_id"].nunique()), "splits": splits,
        "scored": {k: int(df[c].notna().sum()) for k, (c, _, _) in SCORES.items()},
        "lung_field": dict(sorted(_counts(cam["lung_field"]).items())),
        "methods": METHODS, "anchor": ANCHOR, "table": table, "ridge": ridge_facts,
        "cam_layer": stage or "cam_layer", "cam_grid": list(grid),
        "common_scale": cam["common_scale"][0], "involved_threshold": cfg.involved_threshold,
        "top_fraction": cfg.top_fraction, "bootstrap": cfg.bootstrap, "seed": cfg.seed,
        "device": str(device), "backbone": info.backbone, "image_size": info.image_size,
        "notes": notes + [
            "ridge intervals resample patients of the out-of-fold predictions without refitting, "
            "so they leave out the variance of the fit itself"],
    }
    rows = df[["image_path", "patient_id", "split", "severity_extent", "severity_opacity"]].copy()
    for m in as_arr:
        rows[m] = as_arr[m]
    for k in SCORES:
        rows[f"ridge_{k}"] = ridge[k]
    rows["lung_field"] = cam["lung_field"]
    write_outputs(out, summary, rows, values, df)
    print_table(console, summary, out)
    return SeverityResult(out, len(df), summary)


def _counts(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out
