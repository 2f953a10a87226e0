"""Summary-table rows for evaluated sets: headline, within-source, per collection, external."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cxr.runtime.fmt import fmt_num

if TYPE_CHECKING:
    from rich.table import Table

HEADLINE_KEYS = ("auroc", "auroc_macro", "sensitivity", "specificity", "balanced_accuracy",
                 "f1", "average_precision", "ece")


def ci_text(entry: dict[str, Any] | None) -> str:
    """``value [lo, hi]`` (or ``n/a``) of a metric entry."""
    if not entry or entry.get("value") is None:
        return "n/a"
    from cxr.runtime.fmt import fmt_ci

    return fmt_ci(entry["value"], entry.get("ci_low"), entry.get("ci_high"))


def headline_rows(t: Table, metrics: dict[str, Any]) -> None:
    for key in HEADLINE_KEYS:
        if key in metrics.get("headline", {}):
            t.add_row(key, ci_text(metrics["headline"][key]))


def source_rows(t: Table, metrics: dict[str, Any], label: str = "") -> None:
    """Within-source AUROC (the least confounded figure) and AUROC/sens/spec per collection."""
    w = metrics.get("within_source")
    by = metrics.get("by_dataset") or {}
    if w:
        t.add_row(f"{label}within-source AUROC",
                  f"{ci_text(w['auroc'])}  ({', '.join(w['datasets'])}: "
                  f"{w['n_positive']} pos / {w['n_negative']} neg, {w['n_patients']} patients)")
    elif len(by) > 0:
        t.add_row(f"{label}within-source AUROC",
                  "n/a: no collection holds both classes (AUROC may measure the source)")
    if len(by) > 1:
        for name, d in by.items():
            h = d["headline"]
            t.add_row(f"{label}  {name} ({d['n_positive']}+/{d['n_negative']}-)",
                      f"AUROC {ci_text(h['auroc'])}; sens {ci_text(h['sensitivity'])}; "
                      f"spec {ci_text(h['specificity'])}")


def external_rows(t: Table, external: dict[str, dict[str, Any]]) -> None:
    for name, m in external.items():
        h = m["headline"]
        t.add_row(f"external {name} AUROC", ci_text(h["auroc"]))
        t.add_row(f"external {name} sens / spec",
                  f"{ci_text(h['sensitivity'])} / {ci_text(h['specificity'])}  "
                  f"({m['n_images']} images, {m['n_patients']} patients)")
        source_rows(t, m, label=f"external {name} ")


def evaluate_table(metrics: dict[str, Any], title: str) -> Table:
    """The one-screen summary of `cxr evaluate`."""
    from rich.table import Table

    t = Table(title=title)
    t.add_column("metric (95% CI by patient)")
    t.add_column("value")
    headline_rows(t, metrics)
    thr = metrics.get("threshold")
    rule = f"P({metrics['positive']}) >= {fmt_num(thr)} (the run's validation threshold)"
    t.add_row("decision", "argmax" if thr is None else rule)
    t.add_row("images / patients", f"{metrics['n_images']} / {metrics['n_patients']}")
    source_rows(t, metrics)
    t.add_row("leakage check", str(metrics.get("leakage_check", "not run")))
    return t
