"""What a folder holds that the report can show: a classify run, a sweep, or a folder of them.

:func:`discover` collects the manifests, GAN runs and evaluations, explanation
folders and the runs whose ROC curves are drawn into a :class:`Found`, which every
section builder (:mod:`.sections`, :mod:`.gan_explain`, :mod:`.metrics`) reads.
Outputs of other commands are found three ways, and :attr:`Found.origins` says
which one found each file (the report prints it under the section):

* links the stages recorded: a classify run's ``config.yaml`` names its manifests,
  and the folder of its synthetic manifest holds ``cxr gan eval``'s ``eval.json``;
  ``eval.json`` and ``explain.json`` record the inputs they were computed from, so an
  explanation found beside a run is used only when its checkpoint is that run's;
* a walk of the folder itself (skipping image, checkpoint and cache folders);
* the explicit ``--gan-eval`` / ``--explain`` paths of ``cxr report``.

Where several evaluations of the same synthetic images exist, the most complete
one (with FID/KID, then the most measures, then the newest) is shown and the
others are named in a note.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cxr.pipelines.classify.run_folder import ClassifyRunFolder
from cxr.runtime.errors import CxrError

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
    severity_dirs: list[Path] = field(default_factory=list)  # `cxr explain severity` outputs
    localize_dirs: list[Path] = field(default_factory=list)  # `cxr explain localize` outputs
    roc_runs: list[tuple[str, Path]] = field(default_factory=list)
    roc_note: str = ""
    leakage_notes: list[str] = field(default_factory=list)
    positive: str = "covid"
    runs: list[Path] = field(default_factory=list)  # classify runs with metrics.json
    origins: dict[str, str] = field(default_factory=dict)  # file -> how it was found
    eval_notes: list[str] = field(default_factory=list)

    def origin(self, path: str | Path) -> str:
        """``path (how it was found)`` for a section's "from" line."""
        how = self.origins.get(str(path)) or self.origins.get(str(Path(path).parent))
        return f"{path} ({how})" if how else str(path)


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
    from cxr.pipelines.ablate.results import read_table

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


def _is_run(d: Path) -> bool:
    return ClassifyRunFolder(d).has_results()


def _from_run(found: Found, run: Path) -> None:
    """A classify run: its manifests (config.yaml) and the GAN evaluation of its GAN images."""
    _add(found.runs, run)
    cfg_path = ClassifyRunFolder(run).config
    if not cfg_path.is_file():
        return
    cfg = yaml.safe_load(cfg_path.read_text()) or {}
    _add(found.manifests, cfg.get("manifest"))
    syn = cfg.get("synthetic_manifest")
    if syn and float(cfg.get("synthetic_ratio", 0) or 0) > 0:
        _add(found.synthetic_manifests, syn)
        found.synthetic_for.setdefault(str(cfg.get("manifest")), []).append(syn)
        syn_dir = Path(str(syn)).parent
        if syn_dir.is_dir():
            for d in _walk(syn_dir, "eval.json", depth=2):
                _link(found.gan_evals, found, d / "eval.json",
                      f"evaluation of {syn}, the synthetic manifest in {cfg_path}")


def _link(items: list[Any], found: Found, path: Path, how: str) -> None:
    if path not in items:
        items.append(path)
        found.origins.setdefault(str(path), how)


def _resolve(p: Any, base: Path) -> Path | None:
    if not p:
        return None
    q = Path(str(p))
    return (q if q.is_absolute() else base / q).resolve()


def _explain_checkpoint(d: Path) -> Path | None:
    """The checkpoint an explanation folder was computed from (explain.json or config.yaml)."""
    doc = json.loads((d / "explain.json").read_text())
    ckpt = doc.get("checkpoint") or (doc.get("inputs") or {}).get("checkpoint")
    if not ckpt and (d / "config.yaml").is_file():
        ckpt = (yaml.safe_load((d / "config.yaml").read_text()) or {}).get("checkpoint")
    if not ckpt:
        return None
    p = Path(str(ckpt))
    return p.resolve() if p.is_absolute() else (Path.cwd() / p).resolve()


#: explanation validations: the JSON each writes -> the Found list it joins
VALIDATIONS: dict[str, str] = {"severity.json": "severity_dirs", "localize.json": "localize_dirs"}


def _validations(found: Found, root: Path, run: Path | None = None) -> None:
    """`cxr explain severity` / `localize` folders under ``root`` (for ``run``: its checkpoint)."""
    mine = ClassifyRunFolder(run).weights.resolve() if run is not None else None
    for name, attr in VALIDATIONS.items():
        for d in _walk(root, name, depth=3):
            how = f"found in {root}"
            if mine is not None:
                try:
                    ckpt = json.loads((d / name).read_text()).get("checkpoint")
                except (OSError, ValueError):
                    continue
                if not ckpt or _resolve(ckpt, Path.cwd()) != mine:
                    continue
                how = f"evaluates {mine}, found beside the run"
            _link(getattr(found, attr), found, d, how)


def _explanations_beside(found: Found, run: Path) -> None:
    """Explanations in the run's parent folder whose checkpoint is this run's best.ckpt."""
    mine = ClassifyRunFolder(run).weights.resolve()
    for d in _walk(run.resolve().parent, "explain.json", depth=3):
        if d.resolve().is_relative_to(run.resolve()):
            continue  # inside the run: found by the walk of the run itself
        try:
            ckpt = _explain_checkpoint(d)
        except (OSError, ValueError):
            continue
        if ckpt == mine:
            _link(found.explain_dirs, found, d,
                  f"explains {run / 'best.ckpt'}, found beside the run")


def _completeness(path: Path) -> tuple[int, int, float]:
    """Sort key of an eval.json: has FID/KID, number of measures, modification time."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return (-1, 0, 0.0)
    has_fid = isinstance(doc.get("synthetic_vs_real_target"), dict)
    return (int(has_fid), len(doc), path.stat().st_mtime)


def _eval_group(path: Path) -> str:
    """Evaluations of the same synthetic images share a group (recorded input, else folder)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = {}
    syn = (doc.get("inputs") or {}).get("synthetic_manifest")
    return str(Path(syn).resolve().parent) if syn else str(path.parent.parent.resolve())


def _pick_evals(found: Found) -> None:
    groups: dict[str, list[Path]] = {}
    for p in found.gan_evals:
        groups.setdefault(_eval_group(Path(p)), []).append(Path(p))
    chosen = []
    for paths in groups.values():
        ranked = sorted(paths, key=_completeness, reverse=True)
        chosen.append(ranked[0])
        if len(ranked) > 1:
            why = "has FID/KID" if _completeness(ranked[0])[0] else "most measures, newest"
            found.eval_notes.append(
                f"{len(ranked)} evaluations of the same synthetic images: showing {ranked[0]} "
                f"({why}); not shown: {', '.join(str(p) for p in ranked[1:])}"
            )
    found.gan_evals = chosen


def discover(
    root: str | Path,
    *,
    gan_evals: Sequence[str | Path] = (),
    explains: Sequence[str | Path] = (),
) -> Found:
    """Classify run dir, sweep dir, or a folder holding them (a demo, ``runs/``).

    ``gan_evals`` (eval.json files or their folders) and ``explains`` (folders with
    explain.json) are added to what is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise CxrError(f"report: {root} is not a directory")
    if _is_run(root):
        found = Found(root, "run")
        found.roc_runs = [(root.name, root)]
        _from_run(found, root)
        _explanations_beside(found, root)
        _validations(found, root.resolve().parent, root)
    else:
        sweeps = [root] if (root / "sweep.yaml").is_file() else _walk(root, "sweep.yaml", 2)
        found = Found(root, "sweep" if sweeps and sweeps[0] == root else "folder")
        if sweeps:
            _from_sweep(found, sweeps[0])
        else:  # a folder of classify runs (e.g. runs/ of the README's typical run)
            for d in _walk(root, "predictions.csv", depth=3):
                if _is_run(d):
                    _from_run(found, d)
            found.roc_runs = [(d.name, d) for d in found.runs]
            if len(found.runs) > 1:
                found.roc_note = "one curve per classify run found in the folder"
    for d in _walk(root, "explain.json"):
        _link(found.explain_dirs, found, d, f"found in {root}")
    _validations(found, root)
    for d in _walk(root, "eval.json", depth=5):
        _link(found.gan_evals, found, d / "eval.json", f"found in {root}")
    for d in _walk(root, "losses.csv"):
        if (d / "samples").is_dir():
            _add(found.gan_dirs, str(d))
    for p in gan_evals:
        path = Path(p) / "eval.json" if Path(p).is_dir() else Path(p)
        if not path.is_file():
            raise CxrError(f"report: --gan-eval {p}: no eval.json there")
        _link(found.gan_evals, found, path, "given with --gan-eval")
    for p in explains:
        d = Path(p).parent if Path(p).name == "explain.json" else Path(p)
        if not (d / "explain.json").is_file():
            raise CxrError(f"report: --explain {p}: no explain.json there")
        _link(found.explain_dirs, found, d, "given with --explain")
    _pick_evals(found)
    found.manifests = [m for m in found.manifests if Path(m).is_file()] or found.manifests
    return found
