"""The report's shortcut-audit section, built from an ``audit.json`` of `cxr audit shortcuts`.

It is the page's first section: the verdict (``high | medium | low`` risk that
the numbers below it measure the source collection rather than the disease),
the findings that triggered it, the rule, the AUROCs behind it, and the
confounding tables per split. `cxr audit shortcuts` writes the same section on
its own page (``audit.html``).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from cxr.pipelines.report.sections import Section, html_figure

if TYPE_CHECKING:
    from cxr.pipelines.report.discover import Found

TITLE = "Shortcut audit"
_COLOURS = {"high": "#b00020", "medium": "#b26a00", "low": "#2e7d32"}


def _fmt(d: dict[str, Any] | None, key: str = "auroc") -> str:
    if not d or d.get(key) is None:
        return "–"
    lo, hi = d.get("ci_low"), d.get("ci_high")
    ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
    return f"{d[key]:.3f}{ci}"


def _rows(audit: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(measure, value, what it means)`` rows."""
    rows = []
    sp = audit.get("source_probe") or {}
    if sp.get("applicable"):
        rows.append(("source probe AUROC", _fmt(sp),
                     f"{sp['backbone']} told {len(sp['datasets'])} collections apart on "
                     f"{sp['n_eval']} held-out images ({sp['split']})"))
    else:
        rows.append(("source probe", "not applicable", sp.get("reason", "")))
    conf = (audit.get("confounding") or {}).get("all") or {}
    if conf.get("cramers_v") is not None:
        rows.append(("Cramér's V (dataset x label)", f"{conf['cramers_v']:.2f}",
                     "0 = label independent of the collection, 1 = determined by it"))
    m = audit.get("masking") or {}
    if m.get("applicable"):
        field = m.get("lung_field", {})
        kinds = field.get("by_kind") or {"mask": field.get("mask", 0)}
        masks = ", ".join(f"{n} {k}" for k, n in kinds.items() if k != "box")
        where = (f"lung field: lung masks ({masks or 'none'}), {field.get('box', 0)} central "
                 f"box (margin {m.get('box_margin')})")
        rows += [("AUROC, full image", _fmt(m["full"]), m.get("classifier", "")),
                 ("AUROC, lungs hidden", _fmt(m["lungs_hidden"]), where),
                 ("AUROC, border only", _fmt(m["border_only"]),
                  f"outer {m.get('border_width')} of each side kept")]
        if m.get("note"):
            rows.append(("masking probes", "uninformative", m["note"]))
    else:
        rows.append(("masking probes", "not applicable", m.get("reason", "")))
    gap = audit.get("source_gap") or {}
    if gap.get("applicable"):
        rows += [("AUROC pooled", _fmt(gap["pooled"]), "checkpoint, evaluated rows"),
                 ("AUROC within-source", _fmt(gap["within_source"]),
                  "only pairs from one collection: " + ", ".join(gap["sources_with_both_classes"])),
                 ("pooled - within-source", _fmt(gap["gap"], "gap"), "")]
    elif gap:
        rows.append(("within-source AUROC", "not applicable", gap.get("reason", "")))
    for ds, kinds in ((audit.get("lung_field") or {}).get("by_dataset") or {}).items():
        rows.append((f"lung field, {ds}", ", ".join(f"{n} {k}" for k, n in kinds.items()),
                     "images per kind: the mask's source (manual, dataset-model, predicted, "
                     "phantom, unknown) or the central box"))
    cam = audit.get("gradcam") or {}
    for ds, g in (cam.get("by_dataset") or {}).items():
        if g.get("median_energy_share") is None:
            rows.append((f"Grad-CAM energy on lungs, {ds}", "–",
                         f"no usable map ({cam.get('zero_maps', 0)} of {cam.get('n')} all zero)"))
            continue
        rows.append((f"Grad-CAM energy on lungs, {ds}",
                     f"{g['median_energy_share']} (area {g['mean_area_share']})",
                     f"median over {g['n']} images; a uniform map gives the area share"
                     + (f"; lung field: {_kinds(g['lung_field'])}" if g.get("lung_field") else "")))
    if cam.get("note"):
        rows.append(("Grad-CAM", "note", cam["note"]))
    return rows


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in kinds.items())


def _confounding_table(audit: dict[str, Any]) -> str:
    conf = audit.get("confounding") or {}
    parts = []
    for scope, rep in conf.items():
        labels = rep.get("labels", [])
        head = "".join(f"<th>{escape(lb)}</th>" for lb in labels)
        body = "".join(
            f"<tr><td>{escape(ds)}</td>"
            + "".join(f"<td>{rep['counts'][ds].get(lb, 0)}</td>" for lb in labels) + "</tr>"
            for ds in rep.get("datasets", [])
        )
        v = rep.get("cramers_v")
        parts.append(f"<h4>{escape(scope)} (Cramér's V {'–' if v is None else f'{v:.2f}'})</h4>"
                     f"<table><tr><th>dataset</th>{head}</tr>{body}</table>")
    return "".join(parts)


def audit_section(audit_json: str | Path) -> Section:
    """The section for one ``audit.json`` (figures read from beside it)."""
    path = Path(audit_json)
    audit = json.loads(path.read_text())
    v = audit["verdict"]
    colour = _COLOURS.get(v["verdict"], "#333")
    findings = "".join(f"<li>{escape(x)}</li>" for x in v["strong"] + v["some"]) or \
        "<li>none of the measured routes shows a shortcut</li>"
    table = "".join(f"<tr><td>{escape(a)}</td><td>{escape(b)}</td><td>{escape(c)}</td></tr>"
                    for a, b, c in _rows(audit))
    figs = "".join(html_figure(path.parent / f, Path(f).stem.replace("_", " "))
                   for f in audit.get("figures", []) if (path.parent / f).is_file())
    html = (
        f'<p style="font-size:1.3em;border-left:6px solid {colour};padding-left:0.5em">'
        f"Shortcut risk: <strong style=\"color:{colour}\">{escape(v['verdict'].upper())}</strong>"
        f" &middot; {audit['n_images']} real images, {len(audit['datasets'])} collection(s) "
        f"({escape(', '.join(audit['datasets']))})</p>"
        f"<ul>{findings}</ul>"
        f"<table><tr><th>measure</th><th>value [95% CI]</th><th>how</th></tr>{table}</table>"
        + (f"<details><summary>figures</summary>{figs}</details>" if figs else "")
        + "<details><summary>confounding tables per split</summary>"
        f"{_confounding_table(audit)}</details>"
        f"<details><summary>verdict rule</summary><p>{escape(v['rule'])}</p></details>"
    )
    return Section(TITLE, "shortcut-audit", Markup(html), notes=[f"from {path}"])


def shortcut_section(found: Found) -> Section | str:
    """The first ``audit.json`` below the report's folder."""
    from cxr.pipelines.report.discover import _walk

    hits = _walk(found.root, "audit.json", depth=4)
    if not hits:
        return "no audit.json (run `cxr audit shortcuts --manifest M --out DIR`)"
    return audit_section(hits[0] / "audit.json")
