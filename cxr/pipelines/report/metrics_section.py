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

from cxr.pipelines.classify.run_folder import ClassifyRunFolder, RunRecord
from cxr.pipelines.report.sections import Section
from cxr.runtime.fmt import fmt_ci, fmt_num

if TYPE_CHECKING:
    from cxr.pipelines.report.discover import Found

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


def decision_text(metrics: dict[str, Any], run: RunRecord) -> str:
    """``P(covid) >= 0.0300, chosen on validation for sensitivity 0.9`` or ``argmax``."""
    thr = metrics.get("threshold", run.threshold)
    if thr is None:
        return "argmax (highest class probability)"
    positive = metrics.get("positive", "covid")
    target = run.target
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
    folder = ClassifyRunFolder(run_dir)
    metrics = folder.read_metrics(tolerant=True)
    if not metrics:
        return None
    run = folder.read_run(tolerant=True)
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
    if run.backbone:
        facts.insert(0, ("model", f"{run.backbone} ({run.task or '?'})"))
    if run.best_val_auroc is not None:
        epochs = "?" if run.epochs_run is None else run.epochs_run
        facts.append(("epochs run / best validation AUROC",
                      f"{epochs} / {fmt_num(run.best_val_auroc)}"))
    if run.gan_per_epoch is not None:
        facts.append(("GAN images per epoch", str(run.gan_per_epoch)))
    rows += [f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in facts]
    ci = metrics.get("ci", "95% patient-level bootstrap")
    return (
        f"<h3>{escape(run_dir.name)} <span class=\"meta\">({escape(str(run_dir))})</span></h3>"
        f"<table class=\"metrics\"><thead><tr><th>test metric</th>"
        f"<th>value [{escape(str(ci))} CI]</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _gan_summary(found: Found) -> str:
    """FID/KID of each chosen evaluation beside its baseline (the full table is further down)."""
    from cxr.pipelines.report.gan_explain_sections import gan_eval_rows

    out = []
    for path in found.gan_evals:
        doc = _read(Path(path))
        rows = [r for r in gan_eval_rows(doc) if r[0] in ("FID", "KID", "label preservation")]
        if not rows:
            continue
        body = "".join(f"<tr><td>{escape(m)}</td><td class=\"num\">{escape(v)}</td>"
                       f"<td class=\"num\">{escape(b)}</td></tr>" for m, v, b, _ in rows)
        out.append(
            f"<h3>GAN: {escape(str(Path(path).parent))}</h3><table><thead><tr><th>measure</th>"
            f"<th>synthetic vs real {escape(str(doc.get('target', 'target')))}</th>"
            f"<th>baseline (real source vs real target)</th></tr></thead><tbody>{body}</tbody>"
            "</table><p class=\"meta\">lower FID/KID = closer to real target images; "
            "<a href=\"#gan-quality\">details and what each measure means</a></p>"
        )
    return "".join(out)


def first_sheet(sheets: list[Path]) -> Path:
    """The contact sheet to show first: true COVID-19 images called COVID-19 (what the model
    found), else any true COVID-19 sheet, else the last one."""
    for want in ("true-covid__pred-covid", "true-covid__"):
        hits = [p for p in sheets if p.stem.startswith(want)]
        if hits:
            return hits[0]
    return sheets[-1]


def _cam_summary(found: Found) -> str:
    """One contact sheet of the explanation with the fewest empty maps."""
    from cxr.pipelines.report.gan_explain_sections import explain_dirs_by_empty
    from cxr.pipelines.report.sections import html_figure

    for d in explain_dirs_by_empty(found.explain_dirs):
        doc = _read(d / "explain.json")
        sheets = [d / s for s in doc.get("sheets", []) if (d / s).is_file()]
        if not sheets:
            continue
        empty = doc.get("empty_maps", 0)
        ckpt = (doc.get("inputs") or {}).get("checkpoint") or "?"
        sheet = first_sheet(sheets)
        caption = (f"{doc.get('method', 'map')} of {ckpt}: {sheet.stem} "
                   f"({empty} of {doc.get('images', '?')} maps empty)")
        return (f"<h3>Explanations: {escape(str(d))}</h3>" + html_figure(sheet, caption, 600)
                + "<p class=\"meta\"><a href=\"#gradcam\">all sheets and localization "
                "scores</a></p>")
    return ""


def metrics_section(found: Found) -> Section | str | None:
    """The first screen: test metrics with CIs and the decision rule, the GAN's FID/KID beside
    their baselines, and one contact sheet of explanations.

    For a sweep (or a demo) the metrics are those of the cell whose weights were kept, the
    one that was explained (best validation AUROC); the sweep section compares all cells.
    """
    runs, notes, lead = list(found.runs[:MAX_RUNS]), [], ""
    if found.sweep_dir is not None:
        from cxr.pipelines.ablate.kept_weights import best_cell

        best = best_cell(found.sweep_dir)
        runs = [Path(best["run_dir"])] if best else []
        if best:
            lead = (f"<p>Cell {escape(best['key'])}: best validation AUROC "
                    f"({escape(fmt_num(best['val_auroc']))}) among the sweep's cells, the one "
                    "whose weights were kept and explained. All cells: "
                    "<a href=\"#sweep\">ablation sweep</a>.</p>")
    elif len(found.runs) > MAX_RUNS:
        notes.append(f"{len(found.runs)} runs found; the first {MAX_RUNS} are shown")
    parts = [html for d in runs if (html := run_metrics_html(d))]
    if not parts and not found.gan_evals and not found.explain_dirs:
        return "no classify run with metrics.json"
    html = lead + "".join(parts) + _gan_summary(found) + _cam_summary(found)
    return Section("Overview: test metrics, GAN, explanations", "metrics", Markup(html), notes,
                   [str(d / "metrics.json") for d in runs])


def model_card_section(found: Found) -> Section | str | None:
    """The model card of each classify run shown (``model_card.json`` beside ``best.ckpt``):
    its warnings, decision rule, data counts and metrics table, as the run wrote them."""
    from cxr.pipelines.classify.model_card import card_html

    runs = list(found.runs[:MAX_RUNS])
    if found.sweep_dir is not None:
        from cxr.pipelines.ablate.kept_weights import best_cell

        best = best_cell(found.sweep_dir)
        runs = [Path(best["run_dir"])] if best else []
    if not runs:
        return None
    parts, sources = [], []
    for d in runs:
        folder = ClassifyRunFolder(d)
        card = folder.read_model_card(tolerant=True)
        if card.get("cxr"):
            parts.append(f"<h3>{escape(d.name)} <span class=\"meta\">"
                         f"({escape(str(folder.model_card_md))})</span></h3>" + card_html(card))
            sources.append(str(folder.model_card_json))
    if not parts:
        return "no model_card.json beside the run's best.ckpt (made by an older cxr classify)"
    return Section("Model card", "model-card", Markup("".join(parts)), [], sources)
