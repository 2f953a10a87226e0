"""Sweep cells as MLflow runs (``logger=mlflow``): one run per finished cell.

The driver logs the cells after they finish, from the files each cell wrote,
so cells run by Ray workers are logged the same way and a resumed sweep logs
only the cells not yet in the store (the run's tag ``cxr.cell_key``). Each run
carries the cell's coordinates and its resolved classify config as params, its
test metrics (``test/<name>`` with the CI bounds) and its training curves
(``logs/metrics.csv``: train/val loss, val AUROC per step).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cxr.config import AblateConfig
from cxr.pipelines.ablate.grid import CellTask, is_done
from cxr.pipelines.classify.run_folder import ClassifyRunFolder
from cxr.runtime.tracking import headline_metrics, log_run, mlflow_uri

CELL_TAG = "cxr.cell_key"


def experiment_name(sweep_dir: Path) -> str:
    return f"cxr-sweep-{sweep_dir.resolve().name}"


def curves(metrics_csv: Path) -> dict[str, list[tuple[int, float]]]:
    """Lightning's CSV log as ``{metric: [(step, value), ...]}`` (blank cells skipped)."""
    out: dict[str, list[tuple[int, float]]] = {}
    if not metrics_csv.is_file():
        return out
    with metrics_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            step = int(float(row.get("step") or 0))
            for key, val in row.items():
                if key in ("step", "epoch") or not val:
                    continue
                v = float(val)
                if math.isfinite(v):
                    out.setdefault(key, []).append((step, v))
    return out


def cell_params(task: CellTask) -> dict[str, Any]:
    cell = task.cell
    params: dict[str, Any] = {
        "cell.arm": cell.arm, "cell.split_seed": "" if cell.split_seed is None else cell.split_seed,
    }
    for key, val in task.config.items():
        if key.startswith("_"):
            continue
        params[key] = ",".join(map(str, val)) if isinstance(val, (list, tuple)) else val
    return params


def log_cells(cfg: AblateConfig, tasks: Sequence[CellTask], sweep_dir: Path) -> int:
    """Log every finished cell not yet in the store; return how many were logged now."""
    uri = mlflow_uri(sweep_dir, cfg.mlflow_uri)
    name = experiment_name(sweep_dir)
    logged = 0
    for task in tasks:
        run_dir = Path(task.run_dir)
        folder = ClassifyRunFolder(run_dir)
        if not is_done(run_dir) or not folder.metrics.is_file():
            continue
        metrics = headline_metrics(folder.read_metrics())
        rid = log_run(
            uri, name, task.key,
            params=cell_params(task), metrics=metrics,
            history=curves(run_dir / "logs" / "metrics.csv"),
            tags={CELL_TAG: task.key, "cxr.arm": task.cell.arm, "cxr.run_dir": str(run_dir)},
            once_by=CELL_TAG,
        )
        logged += rid is not None
    return logged
