"""Sections of the HTML report, each built from files only (never recomputed models).

Every builder returns a :class:`Section`, or a string saying why the section
is not in this input; the report then lists it under "Not in this input"
instead of showing an empty or invented panel.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from cxr.pipelines.classify.run_folder import ClassifyRunFolder
from cxr.pipelines.report import report_plots as plots
from cxr.runtime.errors import CxrError

if TYPE_CHECKING:
    import pandas as pd

    from cxr.pipelines.report.discover import Found


@dataclass
class Section:
    title: str
    anchor: str
    html: Markup
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # files shown, and how they were found


def html_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as an HTML table, numbers in cxr's format (``digits`` significant digits)."""
    from cxr.runtime.fmt import fmt_num

    def fmt(v: Any) -> str:
        if isinstance(v, float) and math.isnan(v):
            return "–"
        return fmt_num(v, digits)

    return str(
        df.to_html(
            index=False, border=0, formatters={c: fmt for c in df.columns}, na_rep="–", escape=True
        )
    )


def html_figure(png: bytes | Path, caption: str, width: int | None = None) -> str:
    size = f' style="width: {width}px"' if width else ""
    return (
        f'<figure><img alt="{escape(caption)}"{size} src="{plots.data_uri(png)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def read_manifest(path: str | Path) -> pd.DataFrame:
    from cxr.data.manifest import load_manifest

    return load_manifest(path, check_files=False)


# ------------------------------------------------------------------ dataset
def dataset_section(found: Found) -> Section | str:
    import pandas as pd

    if not found.manifests:
        return "no manifest referenced by this run or sweep"
    parts, notes = [], []
    for path in found.manifests:
        try:
            df = read_manifest(path)
        except CxrError as exc:
            notes.append(f"{path}: {exc}")
            continue
        df = df.assign(split=df["split"].replace("", "(unsplit)"))
        counts = pd.crosstab([df["dataset"], df["label"]], df["split"]).reset_index()
        counts.columns = [str(c) for c in counts.columns]
        patients = df.groupby("split")["patient_id"].nunique()
        per = ", ".join(f"{s}: {n}" for s, n in patients.items())
        origin = df["origin"].value_counts().to_dict()
        parts.append(
            f"<h3>{escape(str(path))}</h3>"
            f"<p>{len(df)} images, {df['patient_id'].nunique()} patients ({escape(per)});"
            f" origin: {escape(', '.join(f'{k} {v}' for k, v in origin.items()))}</p>"
            + html_table(counts)
        )
    if not parts:
        return "; ".join(notes)
    return Section("Dataset", "dataset", Markup("".join(parts)), notes,
                   [found.origin(m) for m in found.manifests])


# ------------------------------------------------------------------ leakage
def _lineage_row(df: Any, what: str) -> str:
    """Did a validation/test patient train the GAN whose images are in ``df``?"""
    from cxr.data.leakage.lineage import check_gan_rows
    from cxr.runtime.errors import LeakageError

    split = df["split"].astype(str)
    try:
        # trust=True: a GAN without a record is reported as unverified, not as an error
        check = check_gan_rows(df[df["origin"].astype(str) == "gan"],
                               {"validation": df[split == "val"], "test": df[split == "test"]},
                               trust=True)
    except LeakageError as exc:
        return f'<li><span class="bad">FAILED</span> GAN lineage of {what}: {escape(str(exc))}</li>'
    if check is None:
        return ""
    tag = '<span class="bad">NOT VERIFIED</span>' if check.trusted else \
        '<span class="ok">passed</span>'
    return f"<li>{tag} {escape(check.summary())}</li>"


def leakage_section(found: Found) -> Section | str:
    import pandas as pd

    from cxr.data.leakage.checks import check_leakage
    from cxr.runtime.errors import LeakageError

    if not found.manifests:
        return "no manifest to check"
    rows = []
    for path in found.manifests:
        try:
            df = read_manifest(path)
        except CxrError as exc:
            rows.append(f'<li class="bad">{escape(str(path))}: {escape(str(exc))}</li>')
            continue
        extra = [s for s in found.synthetic_for.get(str(path), []) if Path(s).is_file()]
        if extra:
            df = pd.concat([df, *(read_manifest(s) for s in extra)], ignore_index=True)
        what = escape(str(path)) + (" + GAN rows of " + escape(", ".join(extra)) if extra else "")
        try:
            rep = check_leakage(df)
            rows.append(f'<li><span class="ok">passed</span> {what}: {escape(rep.summary())}</li>')
        except LeakageError as exc:
            rows.append(f'<li><span class="bad">FAILED</span> {what}: {escape(str(exc))}</li>')
        rows.append(_lineage_row(df, what))
        rows.append(f"<li>{confounding_html(df)}</li>")
    notes = list(found.leakage_notes)
    return Section(
        "Split and leakage checks", "leakage", Markup(f"<ul>{''.join(rows)}</ul>"), notes
    )


def confounding_html(df: pd.DataFrame) -> str:
    """Source confounding of a manifest: its measures, label x dataset table and warnings."""
    from cxr.data.leakage.confounding import source_confounding

    rep = source_confounding(df)
    head = rep.summary()[0]
    status = '<span class="bad">CONFOUNDED</span>' if rep.warnings else '<span class="ok">ok</span>'
    warn = "".join(f'<li class="bad">{escape(w)}</li>' for w in rep.warnings)
    return (f"{status} {escape(head)}" + html_table(rep.frame())
            + (f"<ul>{warn}</ul>" if warn else ""))


# -------------------------------------------------------------------- sweep
BASELINE_TEXT = {  # what each classical arm of cxr.pipelines.ablate.cells does
    "oversample": "oversample = oversampling only (no augmentation)",
    "augment": "augment = albumentations on the minority class only (no oversampling)",
}


def sweep_section(found: Found) -> Section | str | None:
    import pandas as pd

    if found.sweep_dir is None:
        return None  # not a sweep: nothing to list as missing
    d = found.sweep_dir
    if not (d / "summary.csv").is_file():
        return f"{d}: sweep has no summary.csv yet (run `cxr ablate` to the end)"
    from cxr.pipelines.ablate.results import display_table, read_table

    def read(name: str) -> pd.DataFrame:
        return read_table(d / name)

    summary, results = read("summary.csv"), read("results.csv")
    doc = json.loads((d / "summary.json").read_text()) if (d / "summary.json").is_file() else {}
    counts = results["status"].value_counts().to_dict()
    parts = [
        f"<p>{len(results)} cells: "
        + escape(", ".join(f"{v} {k}" for k, v in counts.items()))
        + "</p>"
    ]
    metrics = [m for m in doc.get("metrics", []) if m in summary.columns]
    head = [m for m in ("auroc", "accuracy", "sensitivity", "specificity", "f1") if m in metrics]
    head = head or metrics[:3]
    conf = float(doc.get("confidence", 0.95)) if isinstance(doc.get("confidence"), float) else 0.95
    folds = "fold" in summary.columns and bool((summary["fold"] != "").any())
    # one line per held-out collection in a leave-one-dataset-out sweep
    plotted = summary
    if folds:
        plotted = summary.assign(loss=summary["loss"] + " / out " + summary["fold"])
    figs = [
        html_figure(plots.ratio_plot(plotted, m, conf), f"{m} vs synthetic ratio")
        for m in head[:2]
        if summary[m].notna().any()
    ]
    if figs:
        parts.append('<div class="grid">' + "".join(figs) + "</div>")
    present = set(summary["baseline"].astype(str)) if "baseline" in summary.columns else set()
    arms = [text for name, text in BASELINE_TEXT.items() if name in present]
    if arms:
        parts.append("<p>Classical baselines at ratio 0: " + escape("; ".join(arms)) + ".</p>")
    keys = ["backbone", "loss", "arm", *(["fold"] if folds else []), "n_seeds"]
    parts.append(
        "<h3>Mean over seeds [t-interval, clipped to [0, 1]]</h3>"
        + html_table(display_table(summary, keys, head))
    )
    gains = read("gains.csv") if (d / "gains.csv").is_file() else pd.DataFrame()
    if len(gains):
        shown = display_table(
            gains,
            keys,
            ["auroc_diff", "acc_diff"],
            extra=["delong_significant", "mcnemar_significant"],
        )
        shown = shown.rename(
            columns={
                "delong_significant": "seeds with DeLong p<0.05",
                "mcnemar_significant": "seeds with McNemar p<0.05",
            }
        )
        parts.append(
            "<h3>Paired gain over ratio 0 (same seed, same test images) [t-interval over seeds]"
            "</h3>" + html_table(shown)
        )
    comp = read("comparisons.csv") if (d / "comparisons.csv").is_file() else pd.DataFrame()
    if len(comp):
        comp = comp.rename(columns={"auroc": "auroc_arm"})
        shown = display_table(
            comp,
            ["backbone", "loss", "arm", "seed", "split_seed", *(["fold"] if folds else [])],
            ["auroc_diff"],
            extra=["auroc_ref", "auroc_arm", "delong_p", "acc_diff", "mcnemar_p"],
        )
        shown = shown.rename(columns={"auroc_diff": "AUROC gain [paired bootstrap CI]"})
        parts.append("<h3>Per-seed paired tests</h3>" + html_table(shown))
    failed = results[results["status"] == "failed"]
    if len(failed):
        parts.append("<h3>Failed cells</h3>" + html_table(failed[["key", "error"]]))
    return Section("Ablation sweep", "sweep", Markup("".join(parts)), list(doc.get("notes", [])),
                   [str(d / "summary.csv"), str(d / "results.csv")])


# ---------------------------------------------------------------------- ROC
def _roc_curves(run_dirs: Sequence[tuple[str, Path]], positive: str) -> list[tuple[str, Any, Any]]:
    import pandas as pd

    curves = []
    for label, run in run_dirs:
        p = ClassifyRunFolder(run).predictions
        if not p.is_file():
            continue
        df = pd.read_csv(p, keep_default_na=False)
        col = f"p_{positive}"
        if col not in df.columns:
            continue
        y = (df["label"] == positive).to_numpy().astype(int)
        if 0 < y.sum() < len(y):
            curves.append((label, y, df[col].to_numpy(float)))
    return curves


def roc_section(found: Found, positive: str = "covid") -> Section | str:
    if not found.roc_runs:
        return "no classify run with predictions.csv"
    parts = []
    curves = _roc_curves(found.roc_runs, positive)
    if curves:
        title = f"ROC, {positive} vs rest (test split)"
        shown = ", ".join(label for label, _, _ in curves)
        parts.append(html_figure(plots.roc_plot(curves, title), f"{title}: {shown}"))
    for _, run in found.roc_runs[:1]:
        pngs = sorted(run.glob("*.png")) + sorted((run / "plots").glob("*.png"))
        if pngs:
            which = f"of cell {run.name}" if found.sweep_dir else f"of run {run.name}"
            parts.append(
                f"<p>Plots {escape(which)} ({escape(str(run))}):</p>"
                '<div class="grid">'
                + "".join(html_figure(p, f"{p.stem} {which}") for p in pngs[:6])
                + "</div>"
            )
    if not parts:
        return f"predictions.csv has no p_{positive} column or only one class"
    notes = [found.roc_note] if found.roc_note else []
    return Section("ROC curves", "roc", Markup("".join(parts)), notes,
                   [str(ClassifyRunFolder(run).predictions) for _, run in found.roc_runs])


def demo_section(found: Found) -> Section | None:
    """A demo's first words: what it shows, what it does not, which profile ran, and every
    cell that did not learn (its numbers are then no comparison)."""
    path = found.root / "demo.json"
    if not path.is_file():
        return None  # not a demo
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = {}
    parts = [f"<p><strong>{escape(str(doc.get('what_it_shows', '')))}</strong></p>",
             f"<p>Profile: <strong>{escape(str(doc.get('profile', '?')))}</strong>"]
    cfg = doc.get("config") or {}
    if cfg:
        parts.append(escape(f" ({cfg.get('patients')} phantom patients, {cfg.get('image_size')}"
                            f" px, {', '.join(cfg.get('backbones') or [])}, on "
                            f"{cfg.get('accelerator')})"))
    parts.append("</p>")
    results = found.sweep_dir / "results.csv" if found.sweep_dir else None
    if results is not None and results.is_file():
        import pandas as pd

        df = pd.read_csv(results, keep_default_na=False)
        done = df[df["status"] == "done"]
        if "did_not_learn" in done.columns:
            bad = done[done["did_not_learn"].astype(str) != ""]
            parts.append(f"<p>Cells that learned (test AUROC CI above 0.5): "
                         f"{len(done) - len(bad)} of {len(done)}.</p>")
            if len(bad):
                items = "".join(f"<li><strong>DID NOT LEARN</strong>: {escape(str(r['key']))} "
                                f"({escape(str(r['did_not_learn']))})</li>"
                                for _, r in bad.iterrows())
                parts.append(f"<ul>{items}</ul><p>Their numbers are not a comparison: a cell "
                             "that learned nothing says nothing about GAN augmentation.</p>")
    return Section("What this demo shows", "demo", Markup("".join(parts)), [], [str(path)])
