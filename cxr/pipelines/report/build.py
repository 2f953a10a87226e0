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
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from cxr.pipelines.report.discover import Found, discover
from cxr.runtime.files import atomic_write_text


def render_html(
    title: str, source: str, sections: list[Any], omitted: list[tuple[str, str]]
) -> str:
    import jinja2

    from cxr import __version__

    pkg = resources.files("cxr.pipelines.report") / "templates"
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


_KINDS = {"run": "classify run", "sweep": "ablation sweep", "folder": "results folder"}


def report_title(found: Found) -> str:
    """``cxr report: <folder> (<kind>)``, e.g. ``cxr report: sweep (ablation sweep)``."""
    kind = "demo on phantoms" if (found.root / "demo.json").is_file() else _KINDS[found.kind]
    return f"cxr report: {found.root.resolve().name} ({kind})"


def build_report(
    path: str | Path,
    out: str | Path | None = None,
    *,
    console: Any = None,
    gan_evals: Sequence[str | Path] = (),
    explains: Sequence[str | Path] = (),
) -> Path:
    """Write ``report.html`` (or ``out``) for a run, sweep or demo folder; return its path.

    ``gan_evals`` / ``explains`` add `cxr gan eval` / `cxr explain` outputs to the ones
    found from the folder's recorded links (:func:`discover`).
    """
    from rich.console import Console
    from rich.table import Table

    from cxr.pipelines.report import gan_explain_sections as rg
    from cxr.pipelines.report import sections as rs
    from cxr.pipelines.report import validation as rv
    from cxr.pipelines.report.explain_validation_section import (
        LOCALIZE_TITLE,
        SEVERITY_TITLE,
        localize_section,
        severity_section,
    )
    from cxr.pipelines.report.metrics_section import metrics_section, model_card_section
    from cxr.pipelines.report.shortcuts_section import TITLE as AUDIT_TITLE
    from cxr.pipelines.report.shortcuts_section import shortcut_section
    from cxr.pipelines.report.synthetic_checks_section import TITLE as GAN_AUDIT_TITLE
    from cxr.pipelines.report.synthetic_checks_section import gan_audit_section

    console = console or Console()
    found = discover(path, gan_evals=gan_evals, explains=explains)
    # page order; a new section is one more (title, builder) pair: builder(found) returns a
    # Section, or a string saying why this input has nothing for it
    builders: list[tuple[str, Callable[[Found], Any]]] = [
        ("What this demo shows", rs.demo_section),  # a demo: phantoms, not a real result
        (AUDIT_TITLE, shortcut_section),  # first screen: is the headline number a shortcut?
        ("Test metrics", metrics_section),  # first screen: the numbers, CIs, threshold
        ("Model card", model_card_section),  # what goes with the weights (MODEL_CARD.md)
        ("Dataset", rs.dataset_section),
        ("Split and leakage checks", rs.leakage_section),
        ("Per-source, within-source and external validation", rv.sources_section),
        ("GAN samples", rg.gan_samples_section),
        ("GAN quality (FID / KID)", rg.gan_quality_section),
        (GAN_AUDIT_TITLE, gan_audit_section),
        ("Ablation sweep", lambda f: rv.with_lodo(rs.sweep_section(f), f)),
        ("ROC curves", lambda f: rs.roc_section(f, f.positive)),
        ("Grad-CAM examples and localization", rg.gradcam_section),
        (LOCALIZE_TITLE, localize_section),
        (SEVERITY_TITLE, severity_section),
    ]
    sections, omitted = [], []
    for title, build in builders:
        result = build(found)
        if result is None:  # not applicable to this kind of folder
            continue
        if isinstance(result, str):
            omitted.append((title, result))
        else:
            sections.append(result)
    html = render_html(report_title(found), str(found.root), sections, omitted)
    target = Path(out) if out else found.root / "report.html"
    atomic_write_text(target, html)
    table = Table(title=f"report: {target}")
    table.add_column("section")
    table.add_column("status")
    table.add_column("from")
    for s in sections:
        table.add_row(s.title, "[green]shown", "; ".join(getattr(s, "sources", [])))
    for title, why in omitted:
        table.add_row(title, f"[yellow]omitted[/]: {why}", "")
    console.print(table)
    console.print(f"report written: {target} ({target.stat().st_size / 1024:.0f} KiB)")
    return target
