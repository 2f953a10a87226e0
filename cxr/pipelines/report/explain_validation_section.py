"""Report sections for the measured explanation claims: severity and lesion localization.

Built from files only: ``severity.json`` and its scatter plots of `cxr explain
severity` (model-derived severity against expert extent and opacity scores,
with the anchor of Cohen et al. 2020), and ``localize.json`` and its contact
sheet of `cxr explain localize` (Grad-CAM against lesion masks beside random
and lung-prior maps).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from cxr.pipelines.report.sections import Section, html_figure, html_table
from cxr.runtime.fmt import fmt_ci, fmt_num

if TYPE_CHECKING:
    from cxr.pipelines.report.discover import Found

SEVERITY_TITLE = "Severity: model vs expert scores"
LOCALIZE_TITLE = "Localization against lesion masks"
_LOCALIZE_COLUMNS = {"map": "map", "random": "random map", "lung_prior": "lung prior",
                     "map_minus_random": "map - random", "map_minus_lung_prior": "map - lung prior"}


def _ci(d: dict[str, Any] | None, key: str = "mean") -> str:
    if not d or d.get(key) is None:
        return "–"
    return fmt_ci(d[key], d.get("ci_low"), d.get("ci_high"))


def _severity_html(d: Path, doc: dict[str, Any], origin: str) -> str:
    import pandas as pd

    rows = [{
        "method": r["method"], "score": r["score"], "n (patients)": f"{r['n']} ({r['n_patients']})",
        "Pearson r [95% CI]": fmt_ci(r["pearson"], r["pearson_ci_low"], r["pearson_ci_high"]),
        "Spearman rho [95% CI]": fmt_ci(r["spearman"], r["spearman_ci_low"],
                                        r["spearman_ci_high"]),
        "anchor r": fmt_num(r["anchor_pearson"]), "gap": fmt_num(r["gap_to_anchor"]),
    } for r in doc.get("table", [])]
    a = doc.get("anchor", {})
    lung = ", ".join(f"{k}: {v}" for k, v in (doc.get("lung_field") or {}).items())
    parts = [
        f"<h3>{escape(str(doc.get('backbone', '')))} on {doc.get('images')} scored images of "
        f"{doc.get('patients')} patients ({escape(str(d))})</h3>",
        f"<p>from {escape(origin)}; model {escape(str(doc.get('checkpoint', '')))}; lung field "
        f"per image: {escape(lung)}.</p>",
        f"<p><b>Anchor</b>: Pearson r = {a.get('extent')} (extent) and {a.get('opacity')} "
        f"(opacity), {escape(str(a.get('source', '')))}. The gap column is anchor - r.</p>",
    ]
    methods = doc.get("methods") or {}
    if methods:
        parts.append("<ul>" + "".join(f"<li><code>{escape(k)}</code>: {escape(v)}</li>"
                                      for k, v in methods.items()) + "</ul>")
    parts.append(html_table(pd.DataFrame(rows)) if rows else
                 '<p class="note">no method had 3 scored images</p>')
    figs = [d / f for f in doc.get("figures", [])]
    figs = [f for f in figs if f.is_file()]
    if figs:
        parts.append('<div class="grid">' + "".join(html_figure(f, f.stem, 300) for f in figs)
                     + "</div>")
    return "".join(parts)


def _outputs_section(found: Found, dirs: list[Path], name: str, title: str, anchor: str,
                     render: Callable[[Path, dict[str, Any], str], str]) -> Section | None:
    """One section over the ``name`` JSON of each output folder (None when there is none:
    an optional analysis has nothing to list as missing when it was not run)."""
    if not dirs:
        return None
    parts, notes = [], []
    for d in dirs:
        doc = json.loads((d / name).read_text())
        parts.append(render(d, doc, found.origin(d)))
        notes += [str(n) for n in doc.get("notes", [])]
    return Section(title, anchor, Markup("".join(parts)), notes,
                   [found.origin(d / name) for d in dirs])


def severity_section(found: Found) -> Section | None:
    return _outputs_section(found, found.severity_dirs, "severity.json", SEVERITY_TITLE,
                            "severity", _severity_html)


def _localize_html(d: Path, doc: dict[str, Any], origin: str) -> str:
    import pandas as pd

    rows = []
    for t in doc.get("table", []):
        row = {"score": t["score"], "n": (t.get("map") or {}).get("n")}
        row |= {label: _ci(t.get(key)) for key, label in _LOCALIZE_COLUMNS.items()}
        rows.append(row)
    unit = doc["table"][0]["bootstrap_unit"] if doc.get("table") else "?"
    parts = [
        f"<h3>{escape(str(doc.get('method')))} of {escape(str(doc.get('label')))} on "
        f"{doc.get('images')} images with lesion masks ({escape(str(d))})</h3>",
        f"<p>from {escape(origin)}; model {escape(str(doc.get('checkpoint', '')))} "
        f"({escape(str(doc.get('backbone')))} at {doc.get('image_size')} px); 95 % intervals "
        f"from a {escape(unit)} bootstrap; training data: "
        f"{escape(str(doc.get('leakage_check', '')))}"
        + (f"; {doc['excluded_shared']} shared images excluded" if doc.get("excluded_shared")
           else "") + ".</p>",
        html_table(pd.DataFrame(rows)),
    ]
    sheet = d / str(doc.get("sheet", "sheet.png"))
    if sheet.is_file():
        parts.append(html_figure(sheet, "Grad-CAM with the lesion (red) and lung (cyan)", 900))
    return "".join(parts)


def localize_section(found: Found) -> Section | None:
    return _outputs_section(found, found.localize_dirs, "localize.json", LOCALIZE_TITLE,
                            "localize", _localize_html)
