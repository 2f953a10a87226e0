"""`cxr explain`: heatmaps, coarse localization and measured localization for a test set.

For each image of a manifest split (or the given files): the chosen map
(Grad-CAM, Grad-CAM++, saliency, SmoothGrad; :mod:`cxr.explain`),
an overlay PNG with the thresholded regions outlined, the involved lung
fraction where a lung mask exists (gated by the decision, see below), and -
wherever lesion / lung masks exist -
the pointing game, energy and IoU scores beside their random baselines.
Contact sheets group the overlays by true x predicted class. Outputs in
``cfg.out``: ``overlays/*.png``, ``sheets/*.png``, ``explanations.csv``,
``explain.json``, ``config.yaml``.

**Involved lung fraction, gated.** Each map is normalised per image and the
region keeps its hottest ``top_fraction`` (or Otsu), so every image - a
clear film too - gets a region of about the same size: the region says
*where* the evidence for the explained class lies, not that there is any.
The ``involved_lung_fraction`` (CSV, and its mean in ``explain.json``) is
therefore reported only for images the classifier predicts *as* the
explained class; for the others it is 0 (the model does not decide for that
class, so no lung is counted as involved by it). With ``--target predicted``
the two always agree and nothing is gated; with ``--target covid`` the
images predicted not-COVID read 0. The overlays still draw the per-image
region for every image. Progression views, which compare one patient's
studies on a common scale instead, live in
:mod:`cxr.pipelines.explain.run_progression`.

**Gradient maps are smoothed before anything is scored.** Saliency and
SmoothGrad maps are pixel-level speckle; cut into regions directly they give
hundreds of islands, and the IoU and involved fraction then measure speckle.
For these two methods the per-image map is blurred with a Gaussian
(``region_sigma`` x the image side, 0.02 by default; 0 turns the blur
off) and connected components under ``region_min_area`` of the image
are dropped (all methods). *All* scores - pointing game and energy shares
too, not just the region-based ones - use the smoothed map, i.e. the map as
displayed in the overlays: one map per image, so the overlay, its contours
and its numbers never disagree. The price is that pointing and energy are no
longer about the raw gradient itself: the blur spreads energy by a few
pixels (slightly towards the mask area fraction for small lesions) and moves
the maximum to where gradients are *dense* rather than to one extreme pixel,
which is the more meaningful "where does the model look" for a map this
noisy. Grad-CAM / Grad-CAM++ are never blurred (they are already smooth).
``explain.json`` records the choice under ``region_smoothing``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cxr.config import ExplainConfig, save_config
from cxr.pipelines.explain.explain_outputs import (
    decision_rule,
    print_summary,
    summarise,
    write_sheets,
    write_tables,
)
from cxr.runtime.errors import ConfigError
from cxr.runtime.fmt import fmt_num
from cxr.runtime.runguard import safe_point


@dataclass(frozen=True)
class ExplainResult:
    out: Path
    n_images: int
    summary: dict[str, Any]


def check_config(cfg: ExplainConfig) -> None:
    """One-line errors for bad options before any heavy work."""
    from cxr.explain import ENGINES, METHODS
    from cxr.explain.localize import THRESHOLD_RULES

    for name, value, valid in (
        ("--method", cfg.method, METHODS),
        ("--engine", cfg.engine, ENGINES),
        ("--threshold", cfg.threshold, THRESHOLD_RULES),
        ("--regions", cfg.regions, ("contour", "box")),
    ):
        if value not in valid:
            raise ConfigError(f"{name} {value!r} is not one of {', '.join(valid)}")
    if not cfg.checkpoint:
        raise ConfigError("--checkpoint is required (the best.ckpt of a `cxr classify` run)")
    if not 0.0 < cfg.top_fraction < 1.0:
        raise ConfigError(f"--top-fraction must be in (0, 1), got {cfg.top_fraction}")
    if cfg.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {cfg.batch_size}")
    if not 0.0 <= cfg.region_sigma < 0.5:
        raise ConfigError(
            f"--region-sigma must be in [0, 0.5) (fraction of the side), got {cfg.region_sigma}"
        )
    if not 0.0 <= cfg.region_min_area < 1.0:
        raise ConfigError(
            "--region-min-area must be in [0, 1) (fraction of the image), "
            f"got {cfg.region_min_area}"
        )


def load_model(cfg: ExplainConfig) -> tuple[Any, Any, Any]:
    """``(model on its device, ClassifierInfo, device)``."""
    from cxr.classifier import load_classifier
    from cxr.runtime.device import resolve_device

    device = resolve_device(cfg.device)
    model, info = load_classifier(cfg.checkpoint, map_location=device)
    return model, info, device


def true_class(label: str, classes: tuple[str, ...], positive: str) -> str:
    """The manifest label in the classifier's class names (binary heads: positive vs the rest)."""
    if label in classes:
        return label
    if not label:
        return "unknown"
    if len(classes) == 2 and positive in classes:
        return classes[1 - classes.index(positive)]
    return label


def gated_involvement(fraction: float | None, pred: int, target: int) -> float | None:
    """The involved lung fraction if the image is predicted as the explained class, else 0.

    ``None`` (no lung mask) stays ``None``. See the module docstring for why.
    """
    if fraction is None:
        return None
    return fraction if pred == target else 0.0


def render_overlay(ex: Any, cfg: ExplainConfig) -> np.ndarray:
    from cxr.explain.overlay import draw_regions, overlay_heatmap

    return draw_regions(overlay_heatmap(ex.image, ex.heat), ex.regions, style=cfg.regions)


def thumbnail(rgb: np.ndarray, side: int = 160) -> np.ndarray:
    """Resize a tile to ``side`` px (down: area averaging; up: linear, so captions stay legible)."""
    import cv2

    if rgb.shape[0] == side:
        return rgb
    interp = cv2.INTER_AREA if rgb.shape[0] > side else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(rgb, (side, side), interpolation=interp), dtype=np.uint8)


@dataclass
class ExplainedClassifier:
    """A classifier loaded for map-based analyses, with the Grad-CAM stage chosen for it."""

    model: Any
    info: Any
    device: Any
    stage: Any
    grid: Any
    stage_note: str | None


def explained_classifier(checkpoint: str, device_spec: str, cam_layer: str) -> ExplainedClassifier:
    """Load ``checkpoint`` on ``device_spec``, check it has its positive class, and choose the
    Grad-CAM stage as ``cxr explain --cam-layer`` does (used by severity and localize)."""
    from cxr.classifier import load_classifier
    from cxr.explain.cam import choose_cam_stage
    from cxr.runtime.device import resolve_device

    device = resolve_device(device_spec)
    model, info = load_classifier(checkpoint, map_location=device)
    if info.positive not in info.classes:
        raise ConfigError(f"{checkpoint}: the classifier has no {info.positive!r} class "
                          f"(classes: {', '.join(info.classes)})")
    stage, grid, note = choose_cam_stage(model, cam_layer, info.image_size, info.in_chans)
    return ExplainedClassifier(model, info, device, stage, grid, note)


def progress_bar(console: Any) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from cxr.runtime.progress import make_progress

    return make_progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _items(cfg: ExplainConfig) -> list[Any]:
    from cxr.explain import inputs

    if cfg.images:
        items = inputs.items_from_paths(cfg.images)
    elif cfg.manifest:
        from cxr.data.manifest import load_manifest

        items = inputs.items_from_manifest(
            load_manifest(cfg.manifest), split=cfg.split, source=cfg.manifest
        )
    else:
        raise ConfigError("give --manifest (with --split) or --images")
    return inputs.with_mask_dirs(items, lung_dir=cfg.lung_masks, lesion_dir=cfg.lesion_masks)


def run_explain(cfg: ExplainConfig, *, console: Any = None) -> ExplainResult:
    """Explain every selected image; write overlays, sheets, CSV and explain.json."""
    from rich.console import Console

    from cxr.explain.cam import CAM_METHODS, choose_cam_stage, coarse_grid_note
    from cxr.explain.localize import involved_fraction, min_area_pixels
    from cxr.explain.overlay import caption, save_rgb
    from cxr.explain.runner import explain_items
    from cxr.explain.scores import score_map

    console = console or Console()
    check_config(cfg)
    items = _items(cfg)
    model, info, device = load_model(cfg)
    if cfg.method in CAM_METHODS:  # before anything is written: a bad stage name stops here
        stage, grid, stage_note = choose_cam_stage(model, cfg.cam_layer, info.image_size,
                                                   info.in_chans)
    classes, positive = tuple(info.classes), info.positive
    out = Path(cfg.out)
    save_config(cfg, out)
    rows: list[dict[str, Any]] = []
    tiles: dict[tuple[str, str], list[np.ndarray]] = {}
    decision = decision_rule(info)
    # on every tile, so that "p=0.04" under "predicted covid" explains itself
    tile_rule = "argmax" if info.threshold is None else f"t={fmt_num(info.threshold)}"
    t0 = time.perf_counter()
    with progress_bar(console) as bar:
        task = bar.add_task(f"{cfg.method} on {device}", total=len(items))
        for ex in explain_items(
            model,
            info,
            items,
            method=cfg.method,
            target=cfg.target,
            engine=cfg.engine,
            batch_size=cfg.batch_size,
            rule=cfg.threshold,
            top_fraction=cfg.top_fraction,
            region_sigma=cfg.region_sigma,
            region_min_area=cfg.region_min_area,
            smooth_samples=cfg.smooth_samples,
            smooth_sigma=cfg.smooth_sigma,
            seed=cfg.seed,
            on_batch=lambda n: bar.advance(task, n),
        ):
            safe_point()  # SIGTERM/SIGINT: stop between explained images
            truth, pred = true_class(ex.item.label, classes, positive), classes[ex.pred]
            rgb = render_overlay(ex, cfg)
            path = save_rgb(out / "overlays" / f"{ex.item.key}.png", rgb)
            inv = gated_involvement(involved_fraction(ex.region, ex.lung), ex.pred, ex.target)
            p_pos = (
                float(ex.probs[classes.index(positive)]) if positive in classes else float("nan")
            )
            rec = score_map(
                ex.heat,
                lesion=ex.lesion,
                lung=ex.lung,
                rule=cfg.threshold,
                top_fraction=cfg.top_fraction,
                min_area=min_area_pixels(ex.heat.shape, cfg.region_min_area),
                tolerance=cfg.pointing_tolerance,
                random_maps=cfg.random_maps,
                seed=cfg.seed,
            )
            rows.append(
                {
                    "key": ex.item.key,
                    "image_path": ex.item.image_path,
                    "true": truth,
                    "pred": pred,
                    "target": classes[ex.target],
                    f"p_{positive}": p_pos,
                    "involved_lung_fraction": inv,
                    "lung_field": ex.item.lung_field if ex.lung is not None else "none",
                    "regions": len(ex.regions),
                    "overlay": str(path.relative_to(out)),
                    **rec,
                }
            )
            cell = tiles.setdefault((truth, pred), [])
            if len(cell) < cfg.max_per_sheet:
                lines = [ex.item.key[:22], f"{truth}->{pred}", f"p={fmt_num(p_pos)} {tile_rule}"]
                if rec.get("empty_map"):
                    lines.append("EMPTY MAP (all zero)")
                cell.append(caption(thumbnail(rgb), lines))
    elapsed = time.perf_counter() - t0
    sheets = write_sheets(out, tiles, cfg, decision)
    summary = summarise(rows, cfg, info, device, elapsed, sheets)
    if cfg.method in CAM_METHODS:
        summary["cam_layer"] = stage or "cam_layer"
        summary["cam_grid"] = list(grid)
        for note in (stage_note, coarse_grid_note(grid, info.image_size)):
            if note:
                summary["notes"].append(note)
    write_tables(out, rows, summary)
    print_summary(console, summary, out)
    return ExplainResult(out, len(rows), summary)
