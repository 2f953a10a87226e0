"""The report's synthetic-data audit block: every audit figure of an ``eval.json`` beside
its real baseline (rows from :mod:`cxr.pipelines.gan.synthetic_checks_summary`), and the
memorisation examples."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from cxr.pipelines.report.sections import Section, html_figure

if TYPE_CHECKING:
    from cxr.pipelines.report.discover import Found

TITLE = "Synthetic-data audit"


def gan_audit_section(found: Found) -> Section | str:
    from cxr.pipelines.gan.synthetic_checks_summary import audit_rows

    parts = []
    for path in found.gan_evals:
        doc = json.loads(Path(path).read_text())
        audit = doc.get("audit") if isinstance(doc, dict) else None
        if not isinstance(audit, dict):
            continue
        body = "".join(
            f"<tr><td>{escape(m)}</td><td>{escape(s)}</td><td>{escape(b)}</td>"
            f"<td>{escape(how)}</td></tr>" for m, s, b, how in audit_rows(audit))
        parts.append(
            f"<h3>{escape(str(path))}</h3><p>features: {escape(str(audit.get('features')))}, "
            f"{audit.get('image_size')} px</p><table><tr><th>measure</th><th>synthetic</th>"
            f"<th>real baseline</th><th>how to read</th></tr>{body}</table>")
        note = (audit.get("diversity") or {}).get("note")
        if note:
            parts.append(f'<p class="note">{escape(note)}</p>')
        fig = (audit.get("memorisation") or {}).get("figure")
        if fig and (Path(path).parent / fig).is_file():
            parts.append(html_figure(Path(path).parent / fig,
                                     "synthetic images (top) and their nearest GAN-training "
                                     "image (bottom), flagged copies first"))
    if not parts:
        return "no synthetic-data audit in eval.json (run `cxr gan eval --audit --out DIR`)"
    return Section(TITLE, "gan-audit", Markup("".join(parts)))
