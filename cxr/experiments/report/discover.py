"""What a folder holds that the report can show: a classify run, a sweep, or a folder of them.

:func:`discover` walks the folder (skipping image, checkpoint and cache folders)
and collects the manifests, GAN runs and evaluations, explanation folders and
the runs whose ROC curves are drawn into a :class:`Found`, which every section
builder (:mod:`.sections`, :mod:`.gan_explain`) reads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cxr.errors import CxrError

_SKIP_DIRS = {
    "cells",
    "overlays",
    "sheets",
    "checkpoints",
    "samples",
    "images",
    "masks",
    ".cxr-cache",
    "lightning_logs",
    "__pycache__",
}


@dataclass
class Found:
    """What a directory holds that the report can show."""

    root: Path
    kind: str  # run | sweep | folder
    sweep_dir: Path | None = None
    manifests: list[str] = field(default_factory=list)
    synthetic_manifests: list[str] = field(default_factory=list)
    synthetic_for: dict[str, list[str]] = field(default_factory=dict)
    gan_dirs: list[str] = field(default_factory=list)
    gan_evals: list[Path] = field(default_factory=list)
    explain_dirs: list[Path] = field(default_factory=list)
    roc_runs: list[tuple[str, Path]] = field(default_factory=list)
    roc_note: str = ""
    leakage_notes: list[str] = field(default_factory=list)
    positive: str = "covid"


def _walk(root: Path, name: str, depth: int = 3) -> list[Path]:
    """Folders (not below ``_SKIP_DIRS``) up to ``depth`` levels down holding a file ``name``."""
    hits = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        if len(rel.parts) >= depth:
            dirnames[:] = []
        if name in filenames:
            hits.append(Path(dirpath))
    return hits


def _add(items: list[Any], value: Any) -> None:
    if value and value not in items:
        items.append(value)


def _from_sweep(found: Found, sweep: Path) -> None:
    from cxr.experiments.sweep.results import read_table

    found.sweep_dir = sweep
    inputs = (
        json.loads((sweep / "inputs.json").read_text()) if (sweep / "inputs.json").is_file() else {}
    )
    for split in inputs.values():
        _add(found.manifests, split.get("manifest"))
        syn = split.get("synthetic_manifest")
        _add(found.synthetic_manifests, syn)
        if syn:
            found.synthetic_for.setdefault(str(split.get("manifest")), []).append(syn)
        _add(found.gan_dirs, split.get("gan_dir"))
        for note in split.get("notes", []):
            _add(found.leakage_notes, note)
    cfg = yaml.safe_load((sweep / "sweep.yaml").read_text()) or {}
    found.positive = cfg.get("positive", found.positive)
    if (sweep / "results.csv").is_file():
        res = read_table(sweep / "results.csv")
        done = res[res["status"] == "done"]
        first = done[done["seed"] == done["seed"].min()] if len(done) else done
        if len(first):
            first = first[
                (first["backbone"] == first["backbone"].iat[0])
                & (first["loss"] == first["loss"].iat[0])
                & (first["split_seed"].astype(str) == str(first["split_seed"].iat[0]))
            ]
            if "fold" in first.columns:  # one held-out collection: curves on one test set
                first = first[first["fold"] == first["fold"].iat[0]]
            found.roc_runs = [(r["arm"], Path(r["run_dir"])) for _, r in first.iterrows()]
            r0 = first.iloc[0]
            fold = f", held-out {r0['fold']}" if str(r0.get("fold", "")) else ""
            found.roc_note = (
                f"{r0['backbone']} ({r0['loss']}), seed {r0['seed']}{fold}: one curve "
                "per arm on the same test images"
            )


def discover(root: str | Path) -> Found:
    """Classify run dir, sweep dir, or a folder holding them (e.g. a demo)."""
    root = Path(root)
    if not root.is_dir():
        raise CxrError(f"report: {root} is not a directory")
    if (root / "metrics.json").is_file() or (root / "predictions.csv").is_file():
        found = Found(root, "run")
        found.roc_runs = [(root.name, root)]
        cfg_path = root / "config.yaml"
        if cfg_path.is_file():
            cfg = yaml.safe_load(cfg_path.read_text()) or {}
            _add(found.manifests, cfg.get("manifest"))
            syn = cfg.get("synthetic_manifest")
            if syn and float(cfg.get("synthetic_ratio", 0) or 0) > 0:
                _add(found.synthetic_manifests, syn)
                found.synthetic_for.setdefault(str(cfg.get("manifest")), []).append(syn)
    else:
        sweeps = [root] if (root / "sweep.yaml").is_file() else _walk(root, "sweep.yaml", 2)
        found = Found(root, "sweep" if sweeps and sweeps[0] == root else "folder")
        if sweeps:
            _from_sweep(found, sweeps[0])
    for d in _walk(root, "explain.json"):
        _add(found.explain_dirs, d)
    for d in _walk(root, "eval.json", depth=5):
        _add(found.gan_evals, d / "eval.json")
    for d in _walk(root, "losses.csv"):
        if (d / "samples").is_dir():
            _add(found.gan_dirs, str(d))
    found.manifests = [m for m in found.manifests if Path(m).is_file()] or found.manifests
    return found
