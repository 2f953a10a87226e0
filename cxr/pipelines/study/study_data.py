"""The study's data: the shared collections indexed, frontal views, capped, split by patient.

Chains the existing stages: :func:`cxr.data.index.indexer.build_index` (``cxr data index``;
views, shipped lung masks and severity columns attached by the adapters, docs/data.md),
:func:`cxr.data.views.select_views` (frontal views, the rule every stage applies) and
:func:`cxr.pipelines.data.data_steps.split_and_report` (``cxr data split``: patient-level,
label-stratified, exact and near-duplicate copies kept together across collections, label
conflicts reported). The cap draws whole patients per (collection, label) with the study's
seed, so a smaller profile is a patient subsample, never an image subsample.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from cxr.config import SplitConfig, StudyConfig
from cxr.runtime.errors import ConfigError


def file_key(path: str | Path) -> str:
    """SHA-256 of a file's bytes: the content key of a manifest that later stages hash."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def collection_roots(cfg: StudyConfig) -> tuple[list[Path], list[str]]:
    if not cfg.collections:
        raise ConfigError("study config: 'collections' names no collection")
    roots = [Path(cfg.data_root) / folder for folder in cfg.collections.values()]
    for name, root in zip(cfg.collections, roots, strict=True):
        if not root.is_dir():
            raise ConfigError(f"collection {name!r}: {root} is not a folder (see --data-root)")
    return roots, list(cfg.collections)


def index_collections(cfg: StudyConfig, out: Path, console: Console) -> dict[str, Any]:
    """``cxr data index`` of the collections into ``out`` (an index given reuses its hashes)."""
    from cxr.data.index.indexer import build_index

    roots, names = collection_roots(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    if cfg.index and not out.is_file():
        shutil.copyfile(cfg.index, out)
    res = build_index(roots, out, names=names, workers=2, progress=False, console=console)
    return {"images": int(len(res.manifest_df)), "skipped": int(len(res.skipped_df)),
            "key": file_key(out)}


def cap_patients(df: Any, caps: dict[str, int], seed: int) -> Any:
    """At most ``caps[dataset]`` patients per (dataset, label), drawn with ``seed``."""
    keep = np.ones(len(df), bool)
    rng = np.random.default_rng(seed)
    for (dataset, _label), grp in df.groupby(["dataset", "label"], sort=True):
        cap = int(caps.get(str(dataset), 0) or 0)
        pids = np.array(sorted(grp["patient_id"].astype(str).unique()))
        if cap <= 0 or len(pids) <= cap:
            continue
        chosen = set(rng.choice(pids, size=cap, replace=False))
        drop = grp.index[~grp["patient_id"].astype(str).isin(chosen)]
        keep[df.index.get_indexer(drop)] = False
    return df[keep]


def select_rows(cfg: StudyConfig, index: Path, out: Path) -> dict[str, Any]:
    """Frontal views of the task labels, capped per collection and label."""
    from cxr.data.manifest import load_manifest, save_manifest
    from cxr.data.views import select_views

    df = load_manifest(index, check_files=False)
    df = df[df["label"].astype(str).isin(["covid", "pneumonia", "normal"])]
    df, left_out = select_views(df.reset_index(drop=True), cfg.views)
    df = cap_patients(df.reset_index(drop=True), cfg.max_patients, cfg.seed)
    if "split" in df.columns:
        df = df.assign(split="")
    save_manifest(df, out)
    return {"images": int(len(df)), "views_left_out": left_out, "key": file_key(out)}


def split_rows(cfg: StudyConfig, selected: Path, out: Path, console: Console) -> dict[str, Any]:
    """``cxr data split`` with the study's seed and fractions."""
    from cxr.pipelines.data.data_steps import split_and_report

    split_cfg = SplitConfig(seed=cfg.seed, val=cfg.val_fraction, test=cfg.test_fraction)
    dest, report = split_and_report(selected, split_cfg, out, console=console)
    return {"manifest": str(dest), "warnings": list(report.warnings),
            "leakage": report.leakage.summary(), "key": file_key(dest)}


def data_counts(split: Path) -> list[dict[str, Any]]:
    """Images and patients per collection x label x split (the docs' data table)."""
    from cxr.data.manifest import load_manifest

    df = load_manifest(split, check_files=False)
    rows = []
    for (dataset, label, part), grp in df.groupby(["dataset", "label", "split"], sort=True):
        rows.append({"dataset": dataset, "label": label, "split": part,
                     "images": int(len(grp)), "patients": int(grp["patient_id"].nunique())})
    return rows
