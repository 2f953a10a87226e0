"""What a `cxr classify` run leaves for people: predictions, run facts, the summary table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from cxr.runtime.files import atomic_open, atomic_write_text
from cxr.runtime.runguard import safe_point

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table
    from torch import nn


@torch.no_grad()
def predict_probs(
    model: nn.Module, loader: DataLoader, device: torch.device, *, progress: bool, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities ``(N, K)`` and manifest rows ``(N,)`` over ``loader`` (eval mode)."""
    from cxr.runtime.progress import make_progress

    model.eval().to(device)
    probs, rows = [], []
    with make_progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"predicting {label}", total=len(loader))
        for batch in loader:
            logits = model(batch["image"].to(device))
            probs.append(logits.float().softmax(1).cpu().numpy())
            rows.append(batch["index"].numpy())
            bar.advance(task)
            safe_point()  # SIGTERM/SIGINT: stop here, between batches
    return np.concatenate(probs), np.concatenate(rows)


def write_predictions(
    path: Path,
    rows: pd.DataFrame,
    y: np.ndarray,
    probs: np.ndarray,
    pred: np.ndarray,
    classes: tuple[str, ...],
) -> Path:
    """``predictions.csv``: one row per image (``label``/``prediction`` are class names)."""
    import pandas as pd

    out = pd.DataFrame({
        "image_path": rows["image_path"].to_numpy(),
        "patient_id": rows["patient_id"].to_numpy(),
        "dataset": rows["dataset"].to_numpy(),
        "label": [classes[i] for i in y],
        "manifest_label": rows["label"].to_numpy(),
        **{f"p_{c}": np.round(probs[:, k], 6) for k, c in enumerate(classes)},
        "prediction": [classes[i] for i in pred],
    })
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        out.to_csv(fh, index=False, lineterminator="\n")
    return path


def write_json(path: Path, obj: dict[str, Any]) -> Path:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")
    return path


def summary_table(metrics: dict[str, Any], run: dict[str, Any]) -> Table:
    """Headline test metrics with 95% CIs, per source and external, and the facts of the run."""
    from rich.table import Table

    from cxr.pipelines.classify.tables import external_rows, headline_rows, source_rows
    from cxr.runtime.fmt import fmt_num

    t = Table(title=f"cxr classify: {run['backbone']} {run['task']} -> {run['out']}")
    t.add_column("test metric (95% CI by patient)")
    t.add_column("value")
    headline_rows(t, metrics)
    source_rows(t, metrics)
    external_rows(t, metrics.get("external") or {})
    thr = run.get("threshold")
    decision = ("argmax" if thr is None
                else f"P(covid) >= {fmt_num(thr)} (chosen on validation for sensitivity "
                f"{fmt_num(run['target'])})")
    t.add_row("decision", decision)
    t.add_row("test images / patients", f"{metrics['n_images']} / {metrics['n_patients']}")
    per = run["draws_per_epoch"]
    t.add_row("train draws per epoch", ", ".join(f"{c}: {per[c]}" for c in per))
    t.add_row("GAN images per epoch (draws)",
              f"{run['gan_per_epoch']} ({run.get('gan_draws_per_epoch', run['gan_per_epoch'])})")
    if run["left_out"]:
        t.add_row("left out by task", ", ".join(f"{k} {v}" for k, v in run["left_out"].items()))
    t.add_row("epochs run / best val AUROC",
              f"{run['epochs_run']} / {fmt_num(run['best_val_auroc'])}"
              if run.get("best_val_auroc") is not None else str(run["epochs_run"]))
    lineage = run.get("gan_lineage")
    if lineage:
        style = "bold yellow" if lineage.get("trusted_without_record") else ""
        t.add_row("GAN lineage", f"[{style}]{lineage['summary']}[/]" if style
                  else lineage["summary"])
    t.add_row("status", "reused (already finished)" if run.get("reused") else "trained")
    return t
