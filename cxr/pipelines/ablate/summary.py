"""Write a sweep's results, summary and paired comparisons; print them as rich tables.

What the numbers mean is stated in ``summary.json`` (``notes``) so the report
can repeat it: intervals over seeds are Student-t intervals over training seeds;
the paired AUROC gain interval is a patient-level bootstrap on the shared test
set; p-values are DeLong (AUROC) and exact McNemar (accuracy), per seed, not
corrected for multiple comparisons.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from cxr.config import AblateConfig
from cxr.pipelines.ablate.grid import CellTask, InputKey, SplitInputs
from cxr.pipelines.ablate.results import (
    POOLED_FOLD,
    collect_results,
    compare_to_reference,
    display_table,
    gains,
    metric_columns,
    pooled_over_folds,
    summarise,
)
from cxr.runtime.errors import CxrError
from cxr.runtime.files import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd


HEAD_METRICS = ("auroc", "accuracy", "sensitivity", "specificity")


def df_table(title: str, df: pd.DataFrame) -> Table:
    """A rich table of a (text) DataFrame."""
    table = Table(title=title)
    for c in df.columns:
        table.add_column(str(c), justify="left" if df[c].dtype.kind not in "fi" else "right")
    for row in df.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


def _csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))


def _plain(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        return _plain(v.item())
    return v


def write_summary(
    cfg: AblateConfig,
    tasks: Sequence[CellTask],
    errors: Mapping[str, str],
    sweep_dir: Path,
    *,
    inputs: Mapping[InputKey, SplitInputs] | None = None,
    console: Console | None = None,
) -> dict[str, int]:
    """results.csv, summary.csv, comparisons.csv, gains.csv, summary.json; returns status counts."""
    import pandas as pd

    console = console or Console()
    results = collect_results(tasks, dict(errors))
    _csv(results, sweep_dir / "results.csv")
    counts = {s: int((results["status"] == s).sum()) for s in ("done", "failed", "pending")}
    summary = summarise(results, cfg.confidence)
    _csv(summary, sweep_dir / "summary.csv")
    comp_error = ""
    try:
        comparisons = compare_to_reference(
            results, positive=cfg.positive, n_boot=cfg.bootstrap, confidence=cfg.confidence
        )
    except (CxrError, ValueError) as exc:  # e.g. a test split with one class
        comp_error = str(exc)
        console.print(f"[red]paired comparisons skipped:[/] {exc}")
        comparisons = compare_to_reference(results.iloc[0:0], positive=cfg.positive)
    _csv(comparisons, sweep_dir / "comparisons.csv")
    gain = gains(comparisons, cfg.confidence)
    lodo = bool((results["fold"].astype(str) != "").any())
    if lodo:
        pooled = pooled_over_folds(comparisons, cfg.confidence)
        gain = pd.concat([gain.assign(n_folds=1), pooled], ignore_index=True)
    _csv(gain, sweep_dir / "gains.csv")

    notes = [
        f"Intervals over seeds are {cfg.confidence:.0%} Student-t intervals over training seeds "
        "(and split seeds, if several): they measure training variability, not test sampling.",
        f"AUROC is for '{cfg.positive}' vs rest (score p_{cfg.positive}). The paired gain over "
        "ratio 0 compares cells with the same backbone, loss, seed and split on the same test "
        f"images: {cfg.confidence:.0%} paired bootstrap CI ({cfg.bootstrap} resamples of "
        "patients, stratified by class), DeLong's test (AUROC) and McNemar's exact test "
        "(accuracy); p-values are per seed and not corrected for multiple comparisons.",
    ]
    if lodo:
        notes.append(
            "Leave-one-dataset-out: each fold trains the classifier and its GAN on the other "
            "collections and tests on the held-out one; rows with fold "
            f"'{POOLED_FOLD}' average each seed's paired gain over the folds, then give a "
            "t-interval over seeds (the gain of synthetic data on sources never seen)."
        )
    for split_inputs in (inputs or {}).values():
        notes.extend(n for n in split_inputs.notes if n not in notes)
    if comp_error:
        notes.append(f"Paired comparisons could not be computed: {comp_error}")
    doc = {
        "counts": counts,
        "metrics": metric_columns(results[results["status"] == "done"]),
        "notes": notes,
        "grid": {
            "backbones": list(cfg.backbones),
            "synthetic": list(cfg.synthetic),
            "seeds": cfg.seeds,
            "losses": list(cfg.losses),
            "baselines": list(cfg.baselines),
            "split_seeds": list(cfg.split_seeds),
            "shared_gan": cfg.shared_gan,
            "leave_dataset_out": cfg.leave_dataset_out,
            "folds": sorted(set(results["fold"].astype(str)) - {""}),
        },
        "summary": [{k: _plain(v) for k, v in r.items()} for r in summary.to_dict("records")],
        "gains": [{k: _plain(v) for k, v in r.items()} for r in gain.to_dict("records")],
    }
    atomic_write_text(sweep_dir / "summary.json", json.dumps(doc, indent=2) + "\n")

    head = [m for m in HEAD_METRICS if m in summary.columns] or metric_columns(summary)[:3]
    keys = ["backbone", "loss", "arm", *(["fold"] if lodo else []), "n_seeds"]
    console.print(df_table("mean over seeds [t-interval]", display_table(summary, keys, head)))
    if len(gain):
        shown = display_table(
            gain,
            keys,
            ["auroc_diff", "acc_diff"],
            extra=["delong_significant", "mcnemar_significant"],
        )
        console.print(df_table("paired gain over ratio 0 [t-interval over seeds]", shown))
    console.print(
        f"cells: {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending "
        f"-> {sweep_dir / 'results.csv'}"
    )
    return counts
