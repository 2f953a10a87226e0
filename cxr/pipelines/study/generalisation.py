"""Does it generalise, and is it the disease? Leave-one-collection-out and within-source.

(a) Leave-one-collection-out over the COVID-19 sources: the ablation engine's
``leave_dataset_out`` sweep (:mod:`cxr.pipelines.ablate.fold_inputs`: one fold per
collection holding COVID-19; trained and validated on the others, tested on every image of
the held-out one at the validation-chosen threshold). Hannover holds only COVID-19 images,
so its fold measures sensitivity (AUROC needs both classes and is left empty there).
(b) Within-source: COVID-19 against the other pneumonias inside one collection (ieee8023,
the seed paper's COVID source), trained and tested on that collection's split only, the
one comparison where the collection does not give the answer away.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from cxr.config import StudyConfig
from cxr.pipelines.study.protocol_grid import run_sweep, sweep_config
from cxr.runtime.errors import ConfigError


def lodo_sweep(cfg: StudyConfig, split: Path, out: Path, console: Console) -> dict[str, Any]:
    sweep = sweep_config(cfg, manifest=split, out=out, task=cfg.lodo_task,
                         backbones=cfg.lodo_backbones, leave_dataset_out=True)
    return run_sweep(sweep, console)


def within_manifest(cfg: StudyConfig, split: Path, out: Path) -> dict[str, Any]:
    from cxr.data.manifest import load_manifest, save_manifest

    df = load_manifest(split, check_files=False)
    part = df[(df["dataset"].astype(str) == cfg.within_source_dataset)
              & df["label"].astype(str).isin(["covid", "pneumonia"])]
    counts = part.groupby(["split", "label"]).size()
    for s in ("train", "val", "test"):
        for label in ("covid", "pneumonia"):
            if int(counts.get((s, label), 0)) == 0:
                raise ConfigError(f"within-source ({cfg.within_source_dataset}): no {label} "
                                  f"image in its {s} split")
    save_manifest(part, out)
    return {str(k): int(v) for k, v in counts.items()}


def within_source_sweep(cfg: StudyConfig, split: Path, out: Path,
                        console: Console) -> dict[str, Any]:
    counts = within_manifest(cfg, split, out / "manifest.csv")
    sweep = sweep_config(cfg, manifest=out / "manifest.csv", out=out / "sweep", task="binary",
                         backbones=cfg.within_source_backbones)
    return {"counts": counts, **run_sweep(sweep, console)}
