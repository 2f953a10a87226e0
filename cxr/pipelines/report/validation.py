"""Report sections for generalisation: per-source, within-source, external and LODO results.

* :func:`sources_section` reads ``metrics.json`` of the classify runs the report
  shows (``by_dataset``, ``within_source``, ``external``;
  :mod:`cxr.pipelines.classify.score`) and puts the pooled AUROC beside the
  within-source AUROC, the least confounded figure, so a gap between them
  (the model reading the hospital rather than the lungs; DeGrave et al., Nat.
  Mach. Intell. 2021) is visible at a glance.
* :func:`with_lodo` appends to the sweep section, for a leave-one-dataset-out
  sweep (``cxr ablate --leave-dataset-out``), per held-out collection the mean
  AUROC per arm, and the paired gain of synthetic data per fold and pooled over
  folds.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from cxr.pipelines.classify.run_folder import ClassifyRunFolder
from cxr.pipelines.report.sections import Section, html_table

if TYPE_CHECKING:
    import pandas as pd

    from cxr.pipelines.report.discover import Found


def _ci(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "–"
    v, lo, hi = entry["value"], entry.get("ci_low"), entry.get("ci_high")
    return f"{v:.3f}" if lo is None or hi is None else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def _set_rows(run: str, set_name: str, m: dict[str, Any]) -> list[dict[str, str]]:
    """One row for the whole set, then one per collection."""
    h = m.get("headline", {})
    w = m.get("within_source")
    by = m.get("by_dataset") or {}
    pos = sum(d["n_positive"] for d in by.values())
    rows = [{
        "run": run, "evaluated set": set_name, "collection": "all (pooled)",
        "images (covid / other)": f"{m.get('n_images', '–')} ({pos} / "
                                  f"{sum(d['n_negative'] for d in by.values())})",
        "AUROC": _ci(h.get("auroc")),
        "within-source AUROC": (_ci(w["auroc"]) + f" ({', '.join(w['datasets'])})") if w
        else "n/a: no collection holds both classes",
        "sensitivity": _ci(h.get("sensitivity")), "specificity": _ci(h.get("specificity")),
    }]
    for name, d in by.items():
        dh = d["headline"]
        rows.append({
            "run": run, "evaluated set": set_name, "collection": name,
            "images (covid / other)": f"{d['n_images']} ({d['n_positive']} / {d['n_negative']})",
            "AUROC": _ci(dh.get("auroc")), "within-source AUROC": "",
            "sensitivity": _ci(dh.get("sensitivity")), "specificity": _ci(dh.get("specificity")),
        })
    return rows


def _runs(found: Found) -> list[tuple[str, Path]]:
    return [(name, d) for name, d in found.roc_runs if ClassifyRunFolder(d).metrics.is_file()]


def sources_section(found: Found) -> Section | str:
    import pandas as pd

    runs = _runs(found)
    if not runs:
        return "no classify run with metrics.json"
    rows: list[dict[str, str]] = []
    gaps: list[str] = []
    confounded = False
    for name, d in runs:
        m = ClassifyRunFolder(d).read_metrics()
        if "by_dataset" not in m:
            continue
        rows += _set_rows(name, "internal test", m)
        for ext, em in (m.get("external") or {}).items():
            rows += _set_rows(name, f"external {ext}", em)
        w, pooled = m.get("within_source"), m["headline"].get("auroc", {}).get("value")
        if w is None:
            confounded = True
        elif pooled is not None and w["auroc"]["value"] is not None:
            gaps.append(f"{name}: pooled {pooled:.3f} vs within-source {w['auroc']['value']:.3f} "
                        f"({w['n_positive']} covid / {w['n_negative']} other images in "
                        f"{', '.join(w['datasets'])})")
    if not rows:
        return "metrics.json predates per-source metrics (rerun or `cxr evaluate` the checkpoint)"
    parts = ["<p>AUROC of the pooled set compares images across collections, so recognising "
             "the collection can raise it. The <b>within-source AUROC</b> compares COVID and "
             "non-COVID images of the <i>same</i> collection only: the least confounded number "
             "the data allow. Sensitivity and specificity use the run's validation threshold; "
             "95% CIs resample patients.</p>"]
    if confounded:
        parts.append('<p class="bad">In at least one evaluated set no collection holds both '
                     "classes: its AUROC cannot separate disease from source.</p>")
    if gaps:
        parts.append("<ul>" + "".join(f"<li>{escape(g)}</li>" for g in gaps) + "</ul>")
    parts.append(html_table(pd.DataFrame(rows)))
    return Section("Per-source, within-source and external validation", "sources",
                   Markup("".join(parts)))


def _lodo_tables(d: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    from cxr.pipelines.ablate.results import read_table

    summary = read_table(d / "summary.csv")
    gains = read_table(d / "gains.csv") if (d / "gains.csv").is_file() else summary.iloc[0:0]
    return summary, gains


def with_lodo(section: Section | str | None, found: Found) -> Section | str | None:
    """The sweep section, followed by the LODO tables when the sweep is leave-one-dataset-out."""
    lodo = lodo_html(found)
    if lodo is None or section is None or isinstance(section, str):
        return section
    html, notes = lodo
    return Section(section.title, section.anchor, Markup(str(section.html) + html),
                   section.notes + [n for n in notes if n not in section.notes],
                   section.sources)


def lodo_html(found: Found) -> tuple[str, list[str]] | None:
    """HTML and notes of a leave-one-dataset-out sweep; ``None`` for any other input."""
    from cxr.pipelines.ablate.results import POOLED_FOLD, display_table

    d = found.sweep_dir
    if d is None or not (d / "summary.csv").is_file():
        return None
    summary, gains = _lodo_tables(d)
    if "fold" not in summary.columns or not (summary["fold"] != "").any():
        return None
    head = [m for m in ("auroc", "within_source_auroc", "sensitivity", "specificity")
            if m in summary.columns]
    parts = ['<h3 id="lodo">Leave-one-dataset-out</h3>',
             "<p>Each fold holds one collection out: the classifier and its CycleGAN are "
             "trained on the other collections only and tested on the held-out one. Intervals "
             "are t-intervals over training seeds; <code>within_source_auroc</code> (where the "
             "test set holds both classes within a collection) compares images of one "
             "collection only.</p>",
             "<h4>Mean over seeds per held-out collection</h4>",
             html_table(display_table(summary, ["fold", "backbone", "loss", "arm", "n_seeds"],
                                      head))]
    if len(gains) and "fold" in gains.columns:
        g = gains.copy()
        g["fold"] = g["fold"].replace({POOLED_FOLD: f"{POOLED_FOLD} (paired by seed)"})
        shown = display_table(g, ["fold", "backbone", "loss", "arm", "n_seeds"],
                              ["auroc_diff", "acc_diff"],
                              extra=["n_folds", "delong_significant"])
        parts.append("<h4>Gain over ratio 0 on held-out collections</h4>" + html_table(shown))
    doc = json.loads((d / "summary.json").read_text()) if (d / "summary.json").is_file() else {}
    notes = [n for n in doc.get("notes", []) if "fold" in n.lower()]
    return "".join(parts), notes
