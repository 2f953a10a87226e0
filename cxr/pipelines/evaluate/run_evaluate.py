"""`cxr evaluate`: a trained classifier on any manifest, without retraining.

The checkpoint (``best.ckpt`` of a `cxr classify` run) carries everything the
evaluation needs: classes and task, input size and resize mode, the
validation-chosen threshold (used as is, never re-tuned on the evaluated set),
and how the run evaluated its own test split (inference batch size, bootstrap
resamples and seed). So ``cxr evaluate --checkpoint RUN/best.ckpt --manifest
M --split test`` on the run's manifest reproduces ``RUN/metrics.json``
exactly (same code path: :mod:`cxr.pipelines.classify.score`).

Leakage: when the checkpoint lies in its run directory (``config.yaml``
beside it) and that run's manifest is still there with the same training
rows (``manifest_key``), :func:`cxr.data.leakage.crossleak.check_disjoint` refuses an
evaluated set sharing a patient or a duplicate image with the run's training
or validation data; otherwise ``metrics.json`` says the check could not run.

Output directory::

    metrics.json   headline (patient-bootstrap CIs), per class, by_dataset, within_source
    predictions.csv  one row per evaluated image      plots/   ROC, PR, confusion, calibration
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxr.pipelines.classify.run_folder import ClassifyRunFolder
from cxr.runtime.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from cxr.classifier import ClassifierInfo
    from cxr.config import EvaluateConfig

SPLITS = ("train", "val", "test", "all")


@dataclasses.dataclass
class EvaluateResult:
    out: Path
    metrics: dict[str, Any]


def development_rows(checkpoint: Path, info: ClassifierInfo) -> tuple[pd.DataFrame | None, str]:
    """The run's train+val rows (for the leakage check), or ``None`` and why not."""
    from cxr.config import ClassifyConfig, load_saved_config
    from cxr.data.manifest import manifest_key
    from cxr.pipelines.classify.loaders import merge_manifests
    from cxr.runtime.errors import CxrError

    run_dir = checkpoint.parent
    if not ClassifyRunFolder(run_dir).config.is_file():
        return None, f"not checked: no config.yaml beside {checkpoint.name} names its training data"
    try:
        cfg = load_saved_config(ClassifyConfig, run_dir)
        merged = merge_manifests(cfg)
    except CxrError as exc:
        return None, f"not checked: the run's training manifest cannot be read ({exc})"
    train = merged[merged["split"] == "train"]
    # the checkpoint's key covers the task's train rows; compare on the same rows
    from cxr.classifier.tasks import task_targets

    train = train[task_targets(train["label"].to_numpy(), info.task) >= 0]
    if info.manifest_key and manifest_key(train) != info.manifest_key:
        return None, (f"not checked: {cfg.manifest} no longer holds the training rows this "
                      "checkpoint was trained on")
    return merged[merged["split"].isin(["train", "val"])], ""


def _settings(cfg: EvaluateConfig, info: ClassifierInfo) -> ClassifierInfo:
    """The checkpoint's evaluation settings, with the ones the user overrode."""
    over: dict[str, Any] = {}
    if cfg.batch_size > 0:
        over["eval_batch_size"] = cfg.batch_size
    if cfg.bootstrap >= 0:
        over["bootstrap"] = cfg.bootstrap
    if cfg.seed >= 0:
        over["seed"] = cfg.seed
    return dataclasses.replace(info, **over)


def run_evaluate(cfg: EvaluateConfig, *, progress: bool = True) -> EvaluateResult:
    """Score the checkpoint on the ``cfg.split`` rows of ``cfg.manifest`` (module docstring)."""
    from rich.console import Console

    from cxr.classifier import load_classifier
    from cxr.data.leakage.crossleak import check_disjoint
    from cxr.data.leakage.lineage import check_gan_rows
    from cxr.data.manifest import load_manifest
    from cxr.pipelines.classify.score import (
        score,
        set_metrics,
        task_rows,
        write_set,
    )
    from cxr.pipelines.classify.tables import evaluate_table
    from cxr.runtime.device import resolve_device

    if not cfg.checkpoint or not cfg.manifest:
        raise ConfigError("cxr evaluate needs --checkpoint and --manifest")
    if cfg.split not in SPLITS:
        raise ConfigError(f"--split {cfg.split!r} is not one of: {', '.join(SPLITS)}")
    console = Console(stderr=True, quiet=not progress)
    checkpoint, out = Path(cfg.checkpoint), Path(cfg.out)
    device = resolve_device(cfg.device)
    model, info = load_classifier(checkpoint, map_location=device)
    info = _settings(cfg, info)
    df = load_manifest(cfg.manifest)
    if cfg.split != "all":
        df = df[df["split"].astype(str) == cfg.split]
        if df.empty:
            raise ConfigError(f"{cfg.manifest}: no row in split {cfg.split!r} (use --split all)")
    rows, y = task_rows(df, info, what=f"{cfg.manifest} ({cfg.split})")
    dev, why_not = development_rows(checkpoint, info)
    if dev is not None:
        leak = check_disjoint(dev, rows, name=f"{cfg.manifest} ({cfg.split})",
                              dev_name="training/validation").summary()
        lineage = check_gan_rows(dev[dev["origin"] == "gan"],
                                 {f"{cfg.manifest} ({cfg.split})": rows},
                                 trust=cfg.trust_gan_lineage)
        if lineage is not None:
            leak += f"; {lineage.summary()}"
            if lineage.trusted:
                console.print(f"[yellow]{lineage.summary()}[/yellow]")
    else:
        leak = why_not
        console.print(f"[yellow]leakage check {why_not}[/yellow]")
    scored = score(model, info, rows, y, cache_dir=cfg.cache_dir, workers=cfg.workers,
                   device=device, progress=progress, label=cfg.split)
    metrics = set_metrics(scored, info) | {
        "checkpoint": str(checkpoint), "manifest": str(cfg.manifest), "split": cfg.split,
        "leakage_check": leak,
    }
    write_set(out, scored, info, metrics_name=ClassifyRunFolder.METRICS, metrics=metrics)
    console.print(evaluate_table(metrics, f"cxr evaluate: {info.backbone} {info.task} on "
                                          f"{Path(cfg.manifest).name} ({cfg.split}) -> {out}"))
    return EvaluateResult(out, metrics)
