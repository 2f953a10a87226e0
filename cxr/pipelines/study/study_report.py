"""The study's one HTML page: what confounds the answer first, then the answer, with plots.

Order (the confounding findings are the first screen, not a footnote): (1) what could make
the numbers mean something else: the shortcut audit's verdict, the within-source and
leave-one-collection-out figures, what the GAN translations change, cells that did not
learn; (2) data; (3) the seed protocol per backbone x arm beside the seed paper's published
accuracies, and the paired gains as a plot; (4) the scarcity curve; (5) the GAN arms with
their 16-pair figures; (6) severity; (7) provenance (the stage ledger's config hashes).
Figures are PNGs (matplotlib) in ``figures/`` and embedded in the page, so the page is
self-contained.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from cxr.runtime.files import atomic_write_text

#: Zebin & Rezvy 2020, reported test accuracy with CycleGAN augmentation (ImageNet weights)
SEED_PAPER_ACCURACY = {"vgg16": "90.0-91.2 %", "resnet50": "94.3-95.3 %",
                       "efficientnet_b0": "96.7-96.8 %"}
SCARCITY_PNG = "scarcity_curve.png"
GAINS_PNG = "arm_gains.png"


def _fmt(v: Any, lo: Any = None, hi: Any = None, digits: int = 3) -> str:
    def num(x: Any) -> str:
        try:
            f = float(x)
        except (TypeError, ValueError):
            return "–"
        return "–" if math.isnan(f) else f"{f:.{digits}f}"

    if lo is None and hi is None:
        return num(v)
    return f"{num(v)} [{num(lo)}, {num(hi)}]"


def _table(rows: list[list[Any]], head: list[str]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: str | Path, alt: str) -> str:
    p = Path(path)
    if not p.is_file():
        return f"<p class='note'>figure missing: {html.escape(str(p))}</p>"
    data = base64.b64encode(p.read_bytes()).decode()
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def gains_plot(gains: pd.DataFrame, comparisons: pd.DataFrame, out: Path) -> Path:
    """Forest plot of the paired AUROC gain over real-only, per task x backbone x arm.

    Small grey marks: each seed's paired difference with its patient-bootstrap CI
    (comparisons.csv); large marks: the mean over seeds with its t-interval (gains.csv, two
    seeds or more). A red x: a cell of the pair did not learn (not a comparison).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def part(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["section"] == "protocol"] if not df.empty else df

    g, c = part(gains), part(comparisons)
    labels = [f"{r['task']} {r['backbone']} {r['arm']}" for _, r in g.iterrows()]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * max(len(labels), 3) + 1.4))
    for i, (_, r) in enumerate(g.iterrows()):
        mine = c[(c["task"] == r["task"]) & (c["backbone"] == r["backbone"])
                 & (c["arm"] == r["arm"])] if not c.empty else c
        for j, (_, s) in enumerate(mine.iterrows()):
            v, lo, hi = (float(s[k]) for k in ("auroc_diff", "auroc_diff_lo", "auroc_diff_hi"))
            y = i - 0.25 + 0.5 * (j + 1) / (len(mine) + 1)
            bad = not int(s.get("comparable", 1) or 0)
            ax.errorbar([v], [y], xerr=[[max(v - lo, 0)], [max(hi - v, 0)]],
                        fmt="x" if bad else ".", color="C3" if bad else "0.6", capsize=2, lw=0.8)
        v, lo, hi = (float(r[k]) for k in ("auroc_diff", "auroc_diff_lo", "auroc_diff_hi"))
        if lo == lo and hi == hi:
            ax.errorbar([v], [i], xerr=[[max(v - lo, 0)], [max(hi - v, 0)]], fmt="o",
                        color="C0", capsize=4)
        else:
            ax.plot([v], [i], "o", color="C0", mfc="none")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("paired test AUROC gain over real-only (95% CI)")
    ax.set_title("Per-arm gains: seeds (grey, bootstrap CI), mean over seeds (blue, t-interval)",
                 fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def scarcity_plot(summary: pd.DataFrame, cells: pd.DataFrame, out: Path) -> Path:
    """AUROC (mean over seeds, t-interval) against the share of COVID-19 train patients.

    With one seed there is no t-interval: the cell's own patient-bootstrap CI is drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = summary[summary["section"] == "scarcity"] if not summary.empty else summary
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for j, ((backbone, arm), grp) in enumerate(df.groupby(["backbone", "arm"], sort=True)):
        grp = grp.assign(x=grp["level"].astype(float) * 100).sort_values("x")
        for col in ("auroc_lo", "auroc_hi") if not cells.empty else ():
            one = cells[(cells["section"] == "scarcity") & (cells["backbone"] == backbone)
                        & (cells["arm"] == arm)].groupby("level")[col].mean()
            grp[col] = grp[col].fillna(grp["level"].map(one))
        x = grp["x"].to_numpy() * (1 + 0.01 * j)  # a small offset keeps the bars apart
        y, lo, hi = (grp[k].astype(float).to_numpy() for k in ("auroc", "auroc_lo", "auroc_hi"))
        ax.errorbar(x, y, yerr=[y - lo, hi - y], marker="o", capsize=3,
                    label=f"{backbone} {arm}")
    ax.set_xscale("log")
    ax.set_xticks([10, 25, 50, 100], ["10 %", "25 %", "50 %", "100 %"])
    ax.axhline(0.5, color="k", lw=0.6, ls=":")
    ax.set_xlabel("COVID-19 training patients kept")
    ax.set_ylabel("test AUROC (mean over seeds, 95% CI)")
    ax.set_title("Scarcity curve")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _confounding_first(doc: dict[str, Any], tables: dict[str, pd.DataFrame]) -> str:
    items = []
    audit = doc.get("audit") or {}
    if audit.get("verdict"):
        v = audit["verdict"]
        items.append(f"<li><b>Shortcut audit: {html.escape(str(v.get('verdict', '?')).upper())}"
                     f"</b><ul>" + "".join(f"<li>{html.escape(s)}</li>"
                                           for s in v.get("strong", []) + v.get("some", []))
                     + "</ul></li>")
    ws = tables.get("within_source_protocol", pd.DataFrame())
    if not ws.empty:
        ref = ws[ws["arm"] == "real-only"]
        for _, r in ref.iterrows():
            items.append(f"<li>Within-source ({html.escape(str(r['datasets']))}) AUROC of "
                         f"{r['task']} {r['backbone']} real-only seed {r['seed']}: "
                         f"{_fmt(r['auroc'], r['auroc_lo'], r['auroc_hi'])}, specificity "
                         f"{_fmt(r['specificity'], r['specificity_lo'], r['specificity_hi'])}"
                         "</li>")
    for _, r in tables.get("lodo_heldout", pd.DataFrame()).iterrows():
        items.append(f"<li>Held-out collection {html.escape(str(r['fold']))} (never seen in "
                     f"training; {r['n_positive']} COVID-19 / {r['n_negative']} other images), "
                     f"{r['backbone']} {r['arm']} seed {r['seed']}: COVID-19 sensitivity at the "
                     "validation threshold "
                     + _fmt(r["sensitivity"], r["sensitivity_lo"], r["sensitivity_hi"])
                     + ", specificity "
                     + _fmt(r["specificity"], r["specificity_lo"], r["specificity_hi"])
                     + ", AUROC " + _fmt(r["auroc"], r["auroc_lo"], r["auroc_hi"]) + "</li>")
    for name, label in (("within_source", "Within-source sweep"),):
        df = tables.get(name, pd.DataFrame())
        for _, r in df.iterrows():
            where = "one collection only"
            items.append(f"<li>{label} ({where}) {r['backbone']} seed {r['seed']}: AUROC "
                         f"{_fmt(r.get('auroc'), r.get('auroc_lo'), r.get('auroc_hi'))}, "
                         "sensitivity " + _fmt(r.get("sensitivity"), r.get("sensitivity_lo"),
                                               r.get("sensitivity_hi")) +
                         f"{' — ' + str(r['did_not_learn']) if r.get('did_not_learn') else ''}"
                         "</li>")
    for arm, g in (doc.get("gan_arms") or {}).items():
        items.append(f"<li>GAN arm {html.escape(arm)}: {html.escape(g.get('verdict', ''))}</li>")
    for line in doc.get("did_not_learn", []):
        items.append(f"<li class='bad'>{html.escape(line)}</li>")
    if doc.get("profile") == "smoke":
        items.insert(0, "<li class='bad'><b>SMOKE PROFILE</b>: a run of the machinery on a "
                        "small sample; these numbers are not the study's result.</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _summary_rows(summary: pd.DataFrame, section: str) -> list[list[Any]]:
    df = summary[summary["section"] == section] if not summary.empty else summary
    rows = []
    for _, r in df.iterrows():
        learned = f"{int(r.get('n_learned', 0))}/{int(r.get('n_seeds', 0))}"
        rows.append([r.get("task", ""), r.get("level", ""), r.get("fold", ""), r["backbone"],
                     r["arm"], learned,
                     _fmt(r.get("accuracy"), r.get("accuracy_lo"), r.get("accuracy_hi")),
                     _fmt(r.get("auroc"), r.get("auroc_lo"), r.get("auroc_hi")),
                     _fmt(r.get("sensitivity"), r.get("sensitivity_lo"), r.get("sensitivity_hi")),
                     _fmt(r.get("specificity"), r.get("specificity_lo"), r.get("specificity_hi")),
                     SEED_PAPER_ACCURACY.get(str(r["backbone"]), "") if section == "protocol"
                     else ""])
    return rows


SEVERITY_HEAD = ["method", "score", "images", "patients", "Pearson r [95% CI]",
                 "Spearman rho [95% CI]"]


def severity_rows(sev: dict[str, Any]) -> list[list[Any]]:
    """Rows of `cxr explain severity`'s table (patient-bootstrap CIs), when it ran."""
    res = sev.get("result")
    if not isinstance(res, dict):
        return []
    return [[r.get("method"), r.get("score"), r.get("n"), r.get("n_patients"),
             _fmt(r.get("pearson"), r.get("pearson_ci_low"), r.get("pearson_ci_high")),
             _fmt(r.get("spearman"), r.get("spearman_ci_low"), r.get("spearman_ci_high"))]
            for r in res.get("table", []) if isinstance(r, dict)]


SUMMARY_HEAD = ["task", "level", "fold", "backbone", "arm", "seeds learned",
                "accuracy", "AUROC", "sensitivity", "specificity", "seed paper accuracy"]
CSS = """body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}td,th{border:1px solid #ccc;
padding:2px 6px}.bad{color:#a00}.note{color:#555}img{max-width:100%}
section.first{border:2px solid #a00;padding:.5em 1em;background:#fff8f8}"""


def build_study_report(out: Path, doc: dict[str, Any], tables: dict[str, pd.DataFrame]) -> Path:
    figs = out / "figures"
    summary, gains = tables.get("summary", pd.DataFrame()), tables.get("gains", pd.DataFrame())
    gp = gains_plot(gains, tables.get("comparisons", pd.DataFrame()), figs / GAINS_PNG)
    sp = scarcity_plot(summary, tables.get("cells", pd.DataFrame()), figs / SCARCITY_PNG)
    parts = [f"<h1>cxr study: {html.escape(str(doc.get('title', '')))}</h1>",
             f"<p class='note'>profile <b>{html.escape(str(doc.get('profile')))}</b>; "
             f"config hash {html.escape(str(doc.get('config_hash', ''))[:16])}</p>",
             "<section class='first' id='confounding'><h2>1. Read this first: what could make "
             "these numbers mean something else</h2>", _confounding_first(doc, tables),
             "</section>",
             "<h2 id='data'>2. Data (images / patients per collection, label, split)</h2>",
             _table([[r["dataset"], r["label"], r["split"], r["images"], r["patients"]]
                     for r in doc.get("data_counts", [])],
                    ["collection", "label", "split", "images", "patients"]),
             "<h2 id='protocol'>3. The seed protocol (mean over seeds, 95% t-interval; per-seed "
             "patient-bootstrap CIs in tables/cells.csv)</h2>",
             "<p class='note'>Seed paper: ImageNet weights, 224 px, image-level splits; here: "
             "random init, patient-level splits.</p>",
             _table(_summary_rows(summary, "protocol"), SUMMARY_HEAD),
             "<h3 id='gains'>Paired gains over real-only</h3>", _img(gp, "per-arm gains"),
             "<h2 id='scarcity'>4. Scarcity curve</h2>", _img(sp, "scarcity curve"),
             _table(_summary_rows(summary, "scarcity"), SUMMARY_HEAD),
             "<h2 id='generalisation'>5. Generalisation</h2>",
             _table(_summary_rows(summary, "lodo"), SUMMARY_HEAD),
             _table(_summary_rows(summary, "within_source"), SUMMARY_HEAD),
             "<h2 id='gan'>6. GAN arms</h2>"]
    for arm, g in (doc.get("gan_arms") or {}).items():
        m = g.get("metrics", {})
        parts += [f"<h3>{html.escape(arm)}</h3><p>{html.escape(g.get('verdict', ''))}</p>",
                  _table([[k, _fmt((m.get(k) or {}).get("fid")),
                           _fmt((m.get(k) or {}).get("kid"), digits=4)]
                          for k in ("synthetic_vs_real_target", "real_source_vs_real_target")],
                         ["pair", "FID", "KID"]),
                  _img(g.get("pairs_figure", ""), f"{arm} source/translation pairs")]
    sev = doc.get("severity") or {}
    parts += ["<h2 id='severity'>7. Expert severity</h2>",
              (_table(severity_rows(sev), SEVERITY_HEAD) if severity_rows(sev) else
               f"<p>{html.escape(str(sev.get('skipped') or sev.get('result')))}</p>"),
              "<h2 id='provenance'>8. Provenance</h2>",
              _table([[k, v.get("key", "")[:16], v.get("seconds", "")]
                      for k, v in (doc.get("stages") or {}).items()],
                     ["stage", "config hash", "seconds"])]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>cxr study</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
    path = out / "report.html"
    atomic_write_text(path, page)
    return path


def _md(rows: list[list[Any]], head: list[str]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def build_study_markdown(out: Path, doc: dict[str, Any], tables: dict[str, pd.DataFrame]) -> Path:
    """``report.md``: the report's tables in Markdown, for docs/study.md (copied, not typed)."""
    summary = tables.get("summary", pd.DataFrame())
    parts = [f"Profile **{doc.get('profile')}**, config hash `{str(doc.get('config_hash'))[:16]}`"
             + (" (SMOKE: the machinery on a small sample, not the study's result)"
                if doc.get("profile") == "smoke" else ""), "",
             "Data (images / patients):", "",
             _md([[r["dataset"], r["label"], r["split"], r["images"], r["patients"]]
                  for r in doc.get("data_counts", [])],
                 ["collection", "label", "split", "images", "patients"]), ""]
    for section, title in (("protocol", "Protocol"), ("scarcity", "Scarcity"),
                           ("lodo", "Leave-one-collection-out (pooled test)"),
                           ("within_source", "Within-source")):
        parts += [f"{title}:", "", _md(_summary_rows(summary, section), SUMMARY_HEAD), ""]
    gains = tables.get("gains", pd.DataFrame())
    if not gains.empty:
        parts += ["Paired AUROC gain over real-only:", "",
                  _md([[r["section"], r["task"], r.get("level", ""), r["backbone"], r["arm"],
                        r["n_seeds"], _fmt(r["auroc_diff"], r["auroc_diff_lo"],
                                           r["auroc_diff_hi"])]
                       for _, r in gains.iterrows()],
                      ["section", "task", "level", "backbone", "arm", "seeds",
                       "AUROC gain [95% CI]"]), ""]
    ws = tables.get("within_source_protocol", pd.DataFrame())
    if not ws.empty:
        parts += ["Within-source figure of the protocol's cells (collections holding both "
                  "classes; AUROC over same-collection pairs only):", "",
                  _md([[r["task"], r["backbone"], r["arm"], r["seed"], r["datasets"],
                        _fmt(r["auroc"], r["auroc_lo"], r["auroc_hi"]),
                        _fmt(r["sensitivity"], r["sensitivity_lo"], r["sensitivity_hi"]),
                        _fmt(r["specificity"], r["specificity_lo"], r["specificity_hi"])]
                       for _, r in ws.iterrows()],
                      ["task", "backbone", "arm", "seed", "collections", "AUROC",
                       "sensitivity", "specificity"]), ""]
    held = tables.get("lodo_heldout", pd.DataFrame())
    if not held.empty:
        parts += ["Held-out collection alone (validation threshold):", "",
                  _md([[r["fold"], r["backbone"], r["seed"], f"{r['n_positive']}/{r['n_negative']}",
                        _fmt(r["sensitivity"], r["sensitivity_lo"], r["sensitivity_hi"]),
                        _fmt(r["specificity"], r["specificity_lo"], r["specificity_hi"]),
                        _fmt(r["auroc"], r["auroc_lo"], r["auroc_hi"])]
                       for _, r in held.iterrows()],
                      ["held out", "backbone", "seed", "COVID/other", "sensitivity",
                       "specificity", "AUROC"]), ""]
    audit = (doc.get("audit") or {}).get("verdict") or {}
    parts += [f"Shortcut audit verdict: **{str(audit.get('verdict', '?')).upper()}**", ""]
    parts += [f"- {s}" for s in audit.get("strong", []) + audit.get("some", [])] + [""]
    for arm, g in (doc.get("gan_arms") or {}).items():
        parts += [f"GAN arm {arm}: {g.get('verdict', '')}", ""]
    sev = doc.get("severity") or {}
    if severity_rows(sev):
        parts += ["Expert severity (held-out test images, reference checkpoint):", "",
                  _md(severity_rows(sev), SEVERITY_HEAD), ""]
    else:
        parts += [f"Severity: {sev.get('skipped') or sev.get('result')}", ""]
    parts += [f"- {line}" for line in doc.get("did_not_learn", [])]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
