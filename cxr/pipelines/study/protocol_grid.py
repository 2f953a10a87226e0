"""The seed's protocol as ablation sweeps, and the sweeps every other section runs.

Per task (3-class normal / pneumonia / COVID-19, and binary COVID-19 vs rest) one
:func:`cxr.pipelines.ablate.run_ablate.run_ablate` sweep per GAN arm: the mission's three
backbones x {real-only, GAN ratio 0.3 and 0.5} x paired training seeds, plus the classical
baselines (oversampling; albumentations on COVID-19 only) in the first arm's sweep. The
ablation engine does the rest: cells keyed by the hash of their resolved config (a finished
cell is reused, a changed one rerun), patient-bootstrap CIs per cell, the paired comparison
of every arm with its seed-paired real-only cell (AUROC difference with CI and DeLong test,
McNemar on accuracy) and the gain over seeds with a t-interval, cells that did not learn
marked (:func:`cxr.pipelines.ablate.learning.learning_verdict`).

The later arms' real-only cells are the same runs as the first arm's (same resolved
config, same key): :func:`reuse_reference_cells` copies the finished ones (without weights)
instead of training them again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rich.console import Console

from cxr.config import AblateConfig, StudyConfig
from cxr.pipelines.ablate.grid import DONE, is_done


def classify_fields(cfg: StudyConfig, task: str) -> dict[str, Any]:
    """Base `cxr classify` fields of every study cell."""
    return {"image_size": cfg.image_size, "pretrained": "none", "task": task, "workers": 0,
            "bootstrap": cfg.bootstrap, "accelerator": cfg.accelerator, "devices": "1",
            "views": cfg.views, "augment": "standard", **cfg.classify}


def sweep_config(cfg: StudyConfig, *, manifest: str | Path, out: Path, task: str,
                 backbones: tuple[str, ...], synthetic: tuple[float, ...] = (0.0,),
                 baselines: tuple[str, ...] = (), synthetic_manifest: str = "",
                 leave_dataset_out: bool = False, keep_checkpoints: bool = False) -> AblateConfig:
    per_backbone = {b: dict(o) for b, o in cfg.classify_by_backbone.items() if b in backbones}
    return AblateConfig(
        manifest=str(manifest), out=str(out), backbones=backbones, synthetic=synthetic,
        seeds=cfg.seeds, losses=("ce",), baselines=baselines,
        synthetic_manifest=synthetic_manifest, leave_dataset_out=leave_dataset_out,
        classify=classify_fields(cfg, task), classify_by_backbone=per_backbone,
        gan={"image_size": cfg.image_size, "accelerator": cfg.accelerator, "workers": 0,
             **cfg.gan},
        bootstrap=cfg.bootstrap, keep_checkpoints=keep_checkpoints,
    )


def reuse_reference_cells(src: Path, dst: Path, *, only_reference: bool = True) -> int:
    """Copy finished cells (real-only ones by default) of sweep ``src`` into sweep ``dst``.

    A cell's directory name ends in the hash of its resolved config and input manifests'
    content keys, so ``dst`` runs a copied cell's key only if it plans the very same run;
    a copy it does not plan is never read. Weights are not copied.
    """
    n = 0
    cells = src / "cells"
    if not cells.is_dir():
        return 0
    for cell in sorted(cells.iterdir()):
        if (only_reference and "-syn0-" not in cell.name) or not is_done(cell):
            continue
        target = dst / "cells" / cell.name
        if is_done(target):
            continue
        tmp = target.with_name(target.name + ".copying")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(cell, tmp, ignore=shutil.ignore_patterns("*.ckpt", DONE))
        shutil.copyfile(cell / DONE, tmp / DONE)  # last: a half copy is never done
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        n += 1
    return n


def run_sweep(sweep: AblateConfig, console: Console) -> dict[str, Any]:
    from cxr.pipelines.ablate.run_ablate import run_ablate

    res = run_ablate(sweep, console=console)
    return {"dir": str(res.sweep_dir), "counts": res.counts, "failed": res.failed}


def protocol_sweeps(cfg: StudyConfig, split: Path, arms: dict[str, Any], out: Path,
                    console: Console) -> dict[str, Any]:
    """Run (or resume) the protocol's sweeps; returns {task: {arm: sweep info}}."""
    done: dict[str, Any] = {}
    for task in cfg.tasks:
        first: Path | None = None
        done[task] = {}
        for i, (arm, info) in enumerate(arms.items()):
            d = out / task / arm
            if first is not None:
                reused = reuse_reference_cells(first, d)
                if reused:
                    console.print(f"{d}: {reused} real-only cell(s) reused from {first}",
                                  highlight=False)
            sweep = sweep_config(cfg, manifest=split, out=d, task=task, backbones=cfg.backbones,
                                 synthetic=(0.0, *cfg.ratios),
                                 baselines=cfg.baselines if i == 0 else (),
                                 synthetic_manifest=info["synthetic_manifest"])
            done[task][arm] = run_sweep(sweep, console)
            first = first or d
    return done
