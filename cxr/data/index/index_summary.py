"""Counts and the rich summary table printed at the end of ``cxr data index``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxr.data.manifest import LABELS
from cxr.data.views import views_left_out

#: the training stages' default ``views`` setting (cxr.config.resources.views_setting)
DEFAULT_VIEWS = "frontal"

if TYPE_CHECKING:
    import pandas as pd

    from cxr.data.leakage.confounding import ConfoundingReport


@dataclass
class IndexSummary:
    """What the index found, for the summary table and for tests."""

    formats: dict[str, str] = field(default_factory=dict)  # dataset -> adapter name
    images: dict[tuple[str, str], int] = field(default_factory=dict)  # (dataset, label) -> n
    patients: dict[tuple[str, str], int] = field(default_factory=dict)  # (dataset, label) -> n
    skipped: dict[str, int] = field(default_factory=dict)  # short reason -> n
    notices: list[tuple[str, str]] = field(default_factory=list)  # (dataset, message)
    views: dict[tuple[str, str], int] = field(default_factory=dict)  # (dataset, view) -> n
    #: (dataset, "lung"/"lesion", source) -> rows with such a mask
    masks: dict[tuple[str, str, str], int] = field(default_factory=dict)
    severity: dict[str, int] = field(default_factory=dict)  # dataset -> rows with scores
    #: reason -> rows kept in the manifest that the training stages leave out by default
    default_left_out: dict[str, int] = field(default_factory=dict)
    reused: int = 0  # images whose hashes came from the previous manifest
    confounding: ConfoundingReport | None = None  # label x dataset confounding of the index

    @property
    def total_images(self) -> int:
        return sum(self.images.values())

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())


def short_reason(reason: str) -> str:
    """A reason without its per-file detail, for counting."""
    if reason.startswith("not an image"):
        return reason if "text file" in reason else "not an image"
    return reason.split(" (")[0]


def count_into(summary: IndexSummary, df: pd.DataFrame, skipped: pd.DataFrame) -> None:
    from cxr.data.leakage.confounding import source_confounding

    for (ds, label), grp in df.groupby(["dataset", "label"], sort=True):
        summary.images[(str(ds), str(label))] = len(grp)
        summary.patients[(str(ds), str(label))] = int(grp["patient_id"].nunique())
    _count_extras(summary, df)
    for reason in skipped["reason"]:
        short = short_reason(str(reason))
        summary.skipped[short] = summary.skipped.get(short, 0) + 1
    if len(df):
        summary.confounding = source_confounding(df)
        n_labels = df.groupby(["dataset", "patient_id"])["label"].nunique()
        two: dict[str, list[str]] = {}
        for key, n in n_labels.items():
            if n > 1:
                ds, patient = (str(k) for k in key)  # type: ignore[attr-defined]  # (ds, patient)
                two.setdefault(ds, []).append(patient)
        for ds, patients in two.items():
            summary.notices.append(
                (ds, f"{len(patients)} patient(s) carry two labels (e.g. "
                     f"{', '.join(patients[:3])}); check the labels or the patient ids (each "
                     "image keeps its own study's label; the patient-level split keeps a "
                     "patient's images in one split: docs/data.md)")
            )


def _count_extras(summary: IndexSummary, df: pd.DataFrame) -> None:
    """Views, shipped masks by provenance, severity scores; rows left out by default."""
    if not len(df):
        return
    for key, n in df.groupby(["dataset", "view"], sort=True).size().items():
        ds, view = (str(k) for k in key)  # type: ignore[attr-defined]  # (dataset, view)
        summary.views[(ds, view or "not recorded")] = int(n)
    for kind in ("lung", "lesion"):
        col, src = f"{kind}_mask_path", f"{kind}_mask_source"
        if col not in df.columns:
            continue
        has = df[df[col].astype(str) != ""]
        sources = has[src].astype(str) if src in has.columns else has[col].map(lambda _: "")
        for key, n in has.groupby([has["dataset"], sources], sort=True).size().items():
            ds, source = (str(k) for k in key)  # type: ignore[attr-defined]  # (dataset, source)
            summary.masks[(ds, kind, source or "unknown")] = int(n)
    if "severity_extent" in df.columns:
        scored = df[df["severity_extent"].notna()]
        for name, n in scored.groupby("dataset", sort=True).size().items():
            summary.severity[str(name)] = int(n)
    summary.default_left_out = views_left_out(df, DEFAULT_VIEWS)


def print_summary(
    summary: IndexSummary, console: Any, *, out: Path | None = None, report: Path | None = None
) -> None:
    """Images and patients per dataset x label, files left out by reason, caveats."""
    from rich.table import Table

    labels = [lb for lb in LABELS if any(k[1] == lb for k in summary.images)]
    table = Table(title="cxr data index: images (patients)", show_footer=True)
    table.add_column("dataset", footer="total", overflow="fold")
    table.add_column("format")
    for lb in labels:
        n = sum(v for (_, k), v in summary.images.items() if k == lb)
        p = sum(v for (_, k), v in summary.patients.items() if k == lb)
        table.add_column(lb, justify="right", footer=f"{n} ({p})")
    table.add_column("images", justify="right", footer=str(summary.total_images))
    for ds, fmt in summary.formats.items():
        cells = [
            f"{summary.images.get((ds, lb), 0)} ({summary.patients.get((ds, lb), 0)})"
            for lb in labels
        ]
        total = sum(v for (d, _), v in summary.images.items() if d == ds)
        table.add_row(ds, fmt, *cells, str(total))
    console.print(table)
    if summary.confounding is not None:
        from cxr.data.leakage.confounding import print_confounding

        print_confounding(summary.confounding, console)
    _print_extras(summary, console)
    if summary.skipped:
        left = Table(title=f"left out: {summary.total_skipped}")
        left.add_column("reason")
        left.add_column("count", justify="right")
        for reason, n in sorted(summary.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
            left.add_row(reason, str(n))
        console.print(left)
    for ds, msg in summary.notices:
        console.print(f"[yellow]note[/yellow] {ds}: {msg}")
    if summary.reused:
        console.print(f"reused hashes of {summary.reused} unchanged image(s) from the previous run")
    if out is not None:
        console.print(f"manifest: {out}" + (f"   left out: {report}" if report else ""))


def _print_extras(summary: IndexSummary, console: Any) -> None:
    from rich.table import Table

    if summary.views:
        t = Table(title="views, shipped masks (provenance) and expert severity scores")
        t.add_column("dataset", overflow="fold")
        t.add_column("views")
        t.add_column("masks")
        t.add_column("severity", justify="right")
        for ds in summary.formats:
            views = ", ".join(f"{v} {n}" for (d, v), n in summary.views.items() if d == ds)
            masks = ", ".join(f"{k} {src} {n}" for (d, k, src), n in summary.masks.items()
                              if d == ds)
            t.add_row(ds, views, masks or "-", str(summary.severity.get(ds, 0)))
        console.print(t)
    if summary.default_left_out:
        t = Table(title="in the manifest, left out of classify / gan / audit by default "
                        f"(views: {DEFAULT_VIEWS}; --views all keeps them)")
        t.add_column("reason")
        t.add_column("count", justify="right")
        for reason, n in sorted(summary.default_left_out.items()):
            t.add_row(reason, str(n))
        console.print(t)
