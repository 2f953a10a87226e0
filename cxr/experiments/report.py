"""`cxr report DIR`: one self-contained HTML page for a classify run, a sweep, or a demo.

The page follows the reporting items that reviews of COVID-19 imaging models
found missing (Roberts et al., Nature Machine Intelligence 3, 2021; the CLAIM
checklist, Mongan et al., Radiology: AI 2, 2020): the data and its patient-level
split with the leakage check, what the GAN produces and how close it is to real
images (FID, Heusel et al. 2017; KID, Bińkowski et al. 2018), the ablation
with intervals and paired tests, ROC curves, and where the classifier looks
(Grad-CAM, Selvaraju et al. 2017) scored against lesion masks.

Everything is read from files the stages wrote; a section whose inputs are
absent is listed as "not in this input", never filled with placeholders. The
page has no external assets (figures are base64 PNGs, CSS is inline) and is
written atomically.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from cxr.errors import CxrError
from cxr.fsutil import atomic_write_text

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
    from cxr.experiments.sweep_results import read_table

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
            found.roc_runs = [(r["arm"], Path(r["run_dir"])) for _, r in first.iterrows()]
            r0 = first.iloc[0]
            found.roc_note = (
                f"{r0['backbone']} ({r0['loss']}), seed {r0['seed']}: one curve "
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


def render_html(
    title: str, source: str, sections: list[Any], omitted: list[tuple[str, str]]
) -> str:
    import jinja2

    from cxr import __version__

    pkg = resources.files("cxr") / "report"
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string((pkg / "report.html").read_text(encoding="utf-8"))
    return template.render(
        title=title,
        source=source,
        sections=sections,
        omitted=omitted,
        css=(pkg / "report.css").read_text(encoding="utf-8"),
        generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        version=__version__,
    )


def build_report(path: str | Path, out: str | Path | None = None, *, console: Any = None) -> Path:
    """Write ``report.html`` (or ``out``) for a run, sweep or demo folder; return its path."""
    from rich.console import Console
    from rich.table import Table

    from cxr.experiments import report_gan_explain as rg
    from cxr.experiments import report_sections as rs

    console = console or Console()
    found = discover(path)
    builders: list[tuple[str, Callable[[Found], Any]]] = [
        ("Dataset", rs.dataset_section),
        ("Split and leakage checks", rs.leakage_section),
        ("GAN samples", rg.gan_samples_section),
        ("GAN quality (FID / KID)", rg.gan_quality_section),
        ("Ablation sweep", rs.sweep_section),
        ("ROC curves", lambda f: rs.roc_section(f, f.positive)),
        ("Grad-CAM examples and localization", rg.gradcam_section),
    ]
    sections, omitted = [], []
    for title, build in builders:
        result = build(found)
        if isinstance(result, str):
            omitted.append((title, result))
        else:
            sections.append(result)
    kind = {"run": "classify run", "sweep": "ablation sweep", "folder": "results"}[found.kind]
    html = render_html(
        f"cxr report: {kind} {found.root.resolve().name}", str(found.root), sections, omitted
    )
    target = Path(out) if out else found.root / "report.html"
    atomic_write_text(target, html)
    table = Table(title=f"report: {target}")
    table.add_column("section")
    table.add_column("status")
    for s in sections:
        table.add_row(s.title, "[green]shown")
    for title, why in omitted:
        table.add_row(title, f"[yellow]omitted[/]: {why}")
    console.print(table)
    console.print(f"report written: {target} ({target.stat().st_size / 1024:.0f} KiB)")
    return target
