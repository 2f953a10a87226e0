"""The report's opening section for classify runs: test metrics with CIs and the threshold.

Read from ``metrics.json`` and ``run.json`` of each run (never recomputed): the
headline measures with their patient-level bootstrap intervals, the decision rule
(a binary model's threshold, chosen on validation for a target sensitivity), the
test set's size and the training facts a reader needs to judge the numbers.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from cxr.experiments.report.sections import Section
from cxr.fmt import fmt_ci, fmt_num

if TYPE_CHECKING:
    from cxr.experiments.report.discover import Found

HEADLINE = (
    ("auroc", "AUROC"),
    ("auroc_macro", "AUROC (macro)"),
    ("sensitivity", "sensitivity"),
    ("specificity", "specificity"),
    ("balanced_accuracy", "balanced accuracy"),
    ("f1", "F1"),
    ("average_precision", "average precision"),
    ("ece", "ECE (calibration error)"),
)
MAX_RUNS = 12


def decision_text(metrics: dict[str, Any], run: dict[str, Any]) -> str:
    """``P(covid) >= 0.0300, chosen on validation for sensitivity 0.9`` or ``argmax``."""
    thr = metrics.get("threshold", run.get("threshold"))
    if thr is None:
        return "argmax (highest class probability)"
    positive = metrics.get("positive", "covid")
    target = run.get("target")
    on_val = f", chosen on validation for sensitivity {fmt_num(target)}" if target else ""
    return f"P({positive}) >= {fmt_num(thr)}{on_val}"


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def run_metrics_html(run_dir: Path) -> str | None:
    """One run's metrics table (HTML), or None without metrics.json."""
    metrics = _read(run_dir / "metrics.json")
    if not metrics:
        return None
    run = _read(run_dir / "run.json")
    head = metrics.get("headline", {})
    rows = []
    for key, label in HEADLINE:
        entry = head.get(key)
        if not isinstance(entry, dict) or entry.get("value") is None:
            continue
        value = fmt_ci(entry["value"], entry.get("ci_low"), entry.get("ci_high"))
        rows.append(f"<tr><td>{escape(label)}</td><td class=\"num\">{escape(value)}</td></tr>")
    facts = [
        ("decision rule", decision_text(metrics, run)),
        ("test images / patients", f"{metrics.get('n_images', '?')} / "
                                   f"{metrics.get('n_patients', '?')}"),
    ]
    if run.get("backbone"):
        facts.insert(0, ("model", f"{run['backbone']} ({run.get('task', '?')})"))
    if run.get("best_val_auroc") is not None:
        facts.append(("epochs run / best validation AUROC",
                      f"{run.get('epochs_run', '?')} / {fmt_num(run['best_val_auroc'])}"))
    if run.get("gan_per_epoch") is not None:
        facts.append(("GAN images per epoch", str(run["gan_per_epoch"])))
    rows += [f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in facts]
    ci = metrics.get("ci", "95% patient-level bootstrap")
    return (
        f"<h3>{escape(run_dir.name)} <span class=\"meta\">({escape(str(run_dir))})</span></h3>"
        f"<table class=\"metrics\"><thead><tr><th>test metric</th>"
        f"<th>value [{escape(str(ci))} CI]</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def metrics_section(found: Found) -> Section | str | None:
    """Test metrics of the classify run(s) the report is about (a sweep has its own table)."""
    if found.sweep_dir is not None:
        return None  # the sweep section shows every cell's metrics
    if not found.runs:
        return "no classify run with metrics.json"
    parts = [html for d in found.runs[:MAX_RUNS] if (html := run_metrics_html(d))]
    if not parts:
        return "no metrics.json in the classify run(s)"
    notes = []
    if len(found.runs) > MAX_RUNS:
        notes.append(f"{len(found.runs)} runs found; the first {MAX_RUNS} are shown")
    return Section("Test metrics", "metrics", Markup("".join(parts)), notes,
                   [str(d / "metrics.json") for d in found.runs[:MAX_RUNS]])
