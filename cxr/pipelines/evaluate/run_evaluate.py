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
evaluated set sharing a patient with the run's training or validation data; otherwise
``metrics.json`` says the check could not run. Images that are *copies* of development
images (one radiograph re-published by another collection, under another patient id) are
listed in ``copies.csv`` (a pair whose labels differ is called a label conflict), left out,
and the evaluation goes on (``--on-copies refuse`` refuses instead); ``metrics.json``
records how many were left out.

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


ON_COPIES = ("exclude", "refuse")


def _leave_out_copies(cfg: EvaluateConfig, dev: pd.DataFrame, rows: pd.DataFrame, y: Any,
                      out: Path, console: Any) -> tuple[pd.DataFrame, Any, str]:
    """List evaluated images that copy development images; leave them out (or refuse)."""
    from cxr.data.leakage.crossleak import check_patients_disjoint, copy_pairs_table
    from cxr.runtime.errors import LeakageError
    from cxr.runtime.files import atomic_write_text

    if cfg.on_copies not in ON_COPIES:
        raise ConfigError(f"--on-copies must be one of {', '.join(ON_COPIES)}, "
                          f"got {cfg.on_copies!r}")
    rows = rows.reset_index(drop=True)
    # a shared patient is refused outright (it is not a copy to leave out)
    check_patients_disjoint(dev, rows, name=f"{cfg.manifest} ({cfg.split})",
                            dev_name="training/validation")
    pairs = copy_pairs_table(dev, rows)
    if pairs.empty:
        return rows, y, ""
    conflicts = int(pairs["label_conflict"].sum())
    first = pairs.iloc[0]
    what = (f"{cfg.manifest} ({cfg.split}): {len(pairs)} image(s) are copies of "
            f"training/validation images ({conflicts} with another label there: label "
            f"conflict), e.g. {first['image_path']} = {first['dev_image_path']}")
    if cfg.on_copies == "refuse":
        raise LeakageError(f"{what} (--on-copies refuse)")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "copies.csv", pairs.to_csv(index=False, lineterminator="\n"))
    for _, p in pairs.iterrows():
        tag = " LABEL CONFLICT" if p["label_conflict"] else ""
        console.print(f"[yellow]copy left out{tag}:[/yellow] {p['image_path']} ({p['label']}) "
                      f"= {p['dev_image_path']} ({p['dev_label']}, {p['dev_dataset']})",
                      highlight=False, soft_wrap=True)
    keep = ~rows.index.isin(pairs["row"].to_numpy())
    note = f"{what}; left out, listed in copies.csv"
    console.print(f"[yellow]{note}[/yellow]", highlight=False, soft_wrap=True)
    return rows[keep].reset_index(drop=True), y[keep], note


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
    copies_note = ""
    if dev is not None:
        rows, y, copies_note = _leave_out_copies(cfg, dev, rows, y, out, console)
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
    if copies_note:
        metrics["copies_left_out"] = copies_note
    write_set(out, scored, info, metrics_name=ClassifyRunFolder.METRICS, metrics=metrics)
    console.print(evaluate_table(metrics, f"cxr evaluate: {info.backbone} {info.task} on "
                                          f"{Path(cfg.manifest).name} ({cfg.split}) -> {out}"))
    return EvaluateResult(out, metrics)
