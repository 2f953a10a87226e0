"""Scarcity: keep 10, 25, 50, 100 % of the COVID-19 training patients, the same across arms.

The kept patients are nested (a seeded permutation of the split's COVID-19 train patients,
cut at each level), so a level holds every patient of the levels below it; validation and
test are untouched, so every level is scored on the same patients. At each level one sweep
compares real-only, the GAN arm and the classical baselines with paired seeds; its gains
(with CIs) make the curve. With ``scarcity_retrain_gan`` the GAN is retrained per level on
that level's COVID-19 patients only: a GAN that saw all of them would hand the GAN arm
patients the real-only arm never saw.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from cxr.config import StudyConfig
from cxr.pipelines.study.gan_arms import train_arm
from cxr.pipelines.study.protocol_grid import reuse_reference_cells, run_sweep, sweep_config


def level_manifest(split: Path, level: float, seed: int, out: Path) -> dict[str, Any]:
    """The split with only the first ``level`` share of its COVID-19 train patients."""
    from cxr.data.manifest import load_manifest, save_manifest

    df = load_manifest(split, check_files=False)
    covid_train = (df["label"].astype(str) == "covid") & (df["split"].astype(str) == "train")
    pids = np.array(sorted(df.loc[covid_train, "patient_id"].astype(str).unique()))
    order = np.random.default_rng(seed).permutation(len(pids))
    n = max(1, math.ceil(level * len(pids)))
    kept = set(pids[order[:n]])
    drop = covid_train & ~df["patient_id"].astype(str).isin(kept)
    save_manifest(df[~drop], out)
    return {"level": level, "covid_train_patients": n, "of": int(len(pids)),
            "covid_train_images": int((covid_train & ~drop).sum())}


def scarcity_sweeps(cfg: StudyConfig, split: Path, arms: dict[str, Any], out: Path,
                    console: Console, protocol_dir: Path | None = None) -> dict[str, Any]:
    """One sweep per level; at 100 % the protocol's identical cells are reused (same keys)."""
    done: dict[str, Any] = {}
    arm = cfg.scarcity_gan_arm
    for level in cfg.scarcity_levels:
        d = out / f"level{round(100 * level):03d}"
        manifest = d / "manifest.csv"
        info = level_manifest(split, level, cfg.seed, manifest)
        if cfg.scarcity_retrain_gan and level < 1.0:
            syn = train_arm(cfg, arm, manifest, d / "gan", console)["synthetic_manifest"]
            info["gan"] = f"{arm} GAN retrained on this level's COVID-19 train patients"
        else:
            syn = arms[arm]["synthetic_manifest"]
            info["gan"] = (f"{arm} GAN of the full training split" if level >= 1.0 else
                           f"{arm} GAN of the full training split (it saw all COVID-19 train "
                           "patients, more than this level's real-only arm)")
        same = protocol_dir / cfg.scarcity_task / arm if protocol_dir else None
        if level >= 1.0 and same is not None and same.is_dir():
            reuse_reference_cells(same, d / "sweep", only_reference=False)
        sweep = sweep_config(cfg, manifest=manifest, out=d / "sweep", task=cfg.scarcity_task,
                             backbones=cfg.scarcity_backbones,
                             synthetic=(0.0, cfg.scarcity_ratio),
                             baselines=cfg.scarcity_baselines,
                             synthetic_manifest=syn)
        done[f"{level:g}"] = {**info, **run_sweep(sweep, console)}
    return done
