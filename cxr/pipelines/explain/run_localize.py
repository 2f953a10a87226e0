"""`cxr explain localize`: does Grad-CAM point at the lesions, better than maps that know nothing?

The seed claims coarse localization; lesion masks drawn by people (COVID-QU-Ex
infection masks, Tahir et al., Comput. Biol. Med. 2021; the built-in phantoms'
lesion masks in tests) measure it. For a classifier trained on *other* images,
on the images of ``label`` (COVID-19 by default) that have a non-empty lesion
mask, the map of the positive class is scored (:mod:`cxr.explain.scores`):

* the **pointing game** (Zhang et al., ECCV 2016): is the map's maximum in the lesion?
* the **energy inside the lesion**: ``sum(map * lesion) / sum(map)``;
* the **IoU** of the attended region (the ``threshold`` rule, as `cxr explain`)
  with the lesion mask;

each beside two baselines on the same images: a **random map** (a uniformly
random point, a uniform map, seeded random smooth maps for the IoU) and the
**lung prior**, a map that is 1 on the lung field and 0 elsewhere
(:func:`~cxr.explain.scores.lung_prior_scores`: it knows that lesions lie in
lungs and nothing more). Means come with 95 % intervals from a bootstrap over
patients, and the paired differences (map minus baseline, same images) too;
where every image has its own patient id (COVID-QU-Ex has no patient ids) the
bootstrap is over images and the output says so: images of one patient may
then be correlated and the interval too narrow.

**Trained elsewhere, checked.** When the checkpoint lies in its run folder and
that run's manifest still holds its training rows (as for `cxr evaluate`),
the evaluated images must share no patient and no radiograph (identical file
or confirmed near copy) with the run's train and validation rows
(:func:`cxr.data.leakage.crossleak.check_disjoint`): otherwise the command
stops with a one-line error naming the count and one example. Public COVID
collections copy each other, so ``--exclude-shared`` instead drops the shared
images and scores the rest (the count is recorded). Where the run's manifest
cannot be read, the output says the check did not run.

Outputs in ``cfg.out``: ``localize.json``, ``localize.csv`` (the table),
``localize_rows.csv`` (one row per image), ``sheet.png`` (overlays with the
lesion outlined), ``config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.config import LocalizeConfig, save_config
from cxr.pipelines.explain.localize_outputs import SCORE_NAMES, print_table, write_outputs
from cxr.runtime.errors import ConfigError, ManifestError

if TYPE_CHECKING:
    import pandas as pd

CAM_ONLY = ("gradcam", "gradcam++")


@dataclass(frozen=True)
class LocalizeResult:
    out: Path
    n_images: int
    summary: dict[str, Any]


def check_config(cfg: LocalizeConfig) -> None:
    """One-line errors for bad options before any heavy work."""
    from cxr.explain.localize import THRESHOLD_RULES

    if not cfg.checkpoint or not cfg.manifest:
        raise ConfigError("cxr explain localize needs --checkpoint and --manifest")
    if cfg.method not in CAM_ONLY:
        raise ConfigError(f"--method {cfg.method!r} (valid: {', '.join(CAM_ONLY)})")
    if cfg.threshold not in THRESHOLD_RULES:
        raise ConfigError(f"--threshold {cfg.threshold!r} (valid: {', '.join(THRESHOLD_RULES)})")
    if not 0.0 < cfg.top_fraction < 1.0:
        raise ConfigError(f"--top-fraction must be in (0, 1), got {cfg.top_fraction}")
    if not 0.0 <= cfg.region_min_area < 1.0:
        raise ConfigError(f"--region-min-area must be in [0, 1), got {cfg.region_min_area}")
    for name, v, low in (("--batch-size", cfg.batch_size, 1), ("--bootstrap", cfg.bootstrap, 0),
                         ("--random-maps", cfg.random_maps, 1),
                         ("--pointing-tolerance", cfg.pointing_tolerance, 0)):
        if v < low:
            raise ConfigError(f"{name} must be >= {low}, got {v}")


def lesion_rows(df: pd.DataFrame, cfg: LocalizeConfig) -> pd.DataFrame:
    """Rows of ``cfg.split`` and ``cfg.label`` that name a lesion mask."""
    if "lesion_mask_path" not in df.columns:
        raise ManifestError(f"{cfg.manifest}: no lesion_mask_path column (a manifest of images "
                            "with lesion masks, e.g. COVID-QU-Ex infection masks, is needed)")
    if cfg.split != "all":
        df = df[df["split"].astype(str) == cfg.split]
    df = df[df["label"].astype(str) == cfg.label]
    paths = df["lesion_mask_path"].fillna("").astype(str)
    df = df[(paths != "") & (paths != "nan")].reset_index(drop=True)
    if df.empty:
        raise ManifestError(f"{cfg.manifest}: no {cfg.label!r} row with a lesion mask in split "
                            f"{cfg.split!r}")
    return df


def guard_training_overlap(cfg: LocalizeConfig, info: Any, df: pd.DataFrame
                           ) -> tuple[pd.DataFrame, str, int]:
    """``(rows kept, what the check found, rows dropped)``; raises when they share images."""
    from cxr.data.leakage.crossleak import check_disjoint, duplicate_pairs
    from cxr.pipelines.evaluate.run_evaluate import development_rows

    dev, why_not = development_rows(Path(cfg.checkpoint), info)
    if dev is None:
        return df, f"leakage check {why_not}", 0
    name = f"{cfg.manifest} ({cfg.label} images with lesion masks)"
    dropped = 0
    if cfg.exclude_shared:
        shared = set(df["patient_id"].astype(str)) & set(dev["patient_id"].astype(str))
        real = dev[dev["origin"].astype(str) == "real"].reset_index(drop=True)
        dup = {j for _, j in duplicate_pairs(real, df)}
        keep = ~df["patient_id"].astype(str).isin(shared).to_numpy()
        keep[list(dup)] = False
        dropped = int((~keep).sum())
        df = df[keep].reset_index(drop=True)
        if df.empty:
            raise ManifestError(f"{name}: every image is shared with the classifier's training "
                                "data; nothing left to evaluate")
    report = check_disjoint(dev, df, name=name, dev_name="classifier's training/validation")
    return df, report.summary(), dropped


def score_images(model: Any, info: Any, items: list[Any], cfg: LocalizeConfig,
                 on_batch: Any = None) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """Per image: the map's scores, the random baselines, the lung prior; and sheet tiles."""
    from cxr.explain.localize import min_area_pixels
    from cxr.explain.runner import explain_items
    from cxr.explain.scores import lung_prior_scores, score_map
    from cxr.pipelines.explain.localize_outputs import tile

    pos = list(info.classes).index(info.positive)
    records: list[dict[str, Any]] = []
    tiles: list[np.ndarray] = []
    for ex in explain_items(model, info, items, method=cfg.method, target=info.positive,
                            batch_size=cfg.batch_size, rule=cfg.threshold,
                            top_fraction=cfg.top_fraction, region_min_area=cfg.region_min_area,
                            seed=cfg.seed, on_batch=on_batch):
        min_area = min_area_pixels(ex.heat.shape, cfg.region_min_area)
        rec = score_map(ex.heat, lesion=ex.lesion, lung=ex.lung, rule=cfg.threshold,
                        top_fraction=cfg.top_fraction, min_area=min_area,
                        tolerance=cfg.pointing_tolerance, random_maps=cfg.random_maps,
                        seed=cfg.seed)
        lesion = ex.lesion if ex.lesion is not None else np.zeros(ex.heat.shape, dtype=bool)
        prior: dict[str, float | None] = dict.fromkeys(SCORE_NAMES)
        if ex.lung is not None:
            prior = lung_prior_scores(ex.lung, lesion, rule=cfg.threshold,
                                      top_fraction=cfg.top_fraction, min_area=min_area,
                                      tolerance=cfg.pointing_tolerance)
        records.append({
            "image_path": ex.item.image_path, "patient_id": ex.item.patient_id,
            "p_positive": float(ex.probs[pos]), "predicted": info.classes[ex.pred],
            "lesion_area": float(lesion.mean()),
            "lung_area": None if ex.lung is None else float(ex.lung.mean()),
            "empty_map": rec["empty_map"],
            **{f"{k}_map": rec[k] for k in SCORE_NAMES},
            **{f"{k}_random": rec[f"{k}_baseline"] for k in SCORE_NAMES},
            **{f"{k}_lung_prior": prior[k] for k in SCORE_NAMES},
        })
        if len(tiles) < 24:
            tiles.append(tile(ex, records[-1]))
    return records, tiles


def score_table(records: list[dict[str, Any]], cfg: LocalizeConfig) -> list[dict[str, Any]]:
    """Per score: the map, both baselines and the paired differences, with intervals."""
    from cxr.stats.correlation import bootstrap_unit, mean_ci, paired_difference_ci

    pids = [str(r["patient_id"]) or str(r["image_path"]) for r in records]
    unit = bootstrap_unit(pids)

    def col(name: str) -> np.ndarray:
        return np.array([np.nan if r[name] is None else r[name] for r in records], dtype=float)

    kw = {"n_boot": cfg.bootstrap, "seed": cfg.seed}
    table = []
    for k in SCORE_NAMES:
        m, rnd, prior = col(f"{k}_map"), col(f"{k}_random"), col(f"{k}_lung_prior")
        table.append({
            "score": k, "bootstrap_unit": unit, "map": mean_ci(m, pids, **kw),
            "random": mean_ci(rnd, pids, **kw), "lung_prior": mean_ci(prior, pids, **kw),
            "map_minus_random": paired_difference_ci(m, rnd, pids, **kw),
            "map_minus_lung_prior": paired_difference_ci(m, prior, pids, **kw),
        })
    return table


def run_localize(cfg: LocalizeConfig, *, console: Any = None) -> LocalizeResult:
    """Score the maps against the lesion masks beside both baselines; write table, JSON, sheet."""
    from rich.console import Console

    from cxr.data.manifest import load_manifest
    from cxr.explain.cam import coarse_grid_note
    from cxr.explain.inputs import items_from_manifest
    from cxr.pipelines.explain.run_explain import explained_classifier, progress_bar

    console = console or Console()
    check_config(cfg)
    df = lesion_rows(load_manifest(cfg.manifest), cfg)
    ec = explained_classifier(cfg.checkpoint, cfg.device, cfg.cam_layer)
    model, info, device = ec.model, ec.info, ec.device
    stage, grid, stage_note = ec.stage, ec.grid, ec.stage_note
    df, leakage, dropped = guard_training_overlap(cfg, info, df)
    items = items_from_manifest(df, split="all", source=cfg.manifest)
    out = Path(cfg.out)
    save_config(cfg, out)
    with progress_bar(console) as bar:
        task = bar.add_task(f"{cfg.method} on {device}", total=len(items))
        records, tiles = score_images(model, info, items, cfg,
                                      on_batch=lambda n: bar.advance(task, n))
    table = score_table(records, cfg)
    notes = [n for n in (stage_note, coarse_grid_note(grid, info.image_size)) if n]
    if table[0]["bootstrap_unit"] == "image":
        notes.append("every image has its own patient id: intervals resample images; where a "
                     "collection has no patient ids (COVID-QU-Ex) images of one patient may be "
                     "correlated and the intervals too narrow")
    no_lung = sum(r["lung_area"] is None for r in records)
    if no_lung:
        notes.append(f"{no_lung} of {len(records)} images have no lung mask: no lung prior there")
    summary = {
        "command": "cxr explain localize", "checkpoint": str(cfg.checkpoint),
        "manifest": str(cfg.manifest), "split": cfg.split, "label": cfg.label,
        "method": cfg.method, "images": len(records),
        "patients": len({r["patient_id"] for r in records}), "excluded_shared": dropped,
        "leakage_check": leakage, "table": table, "threshold": cfg.threshold,
        "top_fraction": cfg.top_fraction, "pointing_tolerance": cfg.pointing_tolerance,
        "random_maps": cfg.random_maps, "bootstrap": cfg.bootstrap, "seed": cfg.seed,
        "cam_layer": stage or "cam_layer", "cam_grid": list(grid), "device": str(device),
        "backbone": info.backbone, "image_size": info.image_size,
        "predicted_positive": sum(r["predicted"] == info.positive for r in records),
        "empty_maps": int(sum(r["empty_map"] for r in records)), "notes": notes,
    }
    write_outputs(out, summary, records, tiles)
    print_table(console, summary, out)
    return LocalizeResult(out, len(records), summary)
