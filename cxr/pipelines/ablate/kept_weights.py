"""Which sweep cell keeps its weights, and removing the others' (disk).

Every cell's ``best.ckpt`` is a full network (45 MB for resnet18, ~500 MB for
VGG16); a sweep of dozens of cells would otherwise keep gigabytes that no later
stage reads. After the cells (and the GAN evaluation, which reads a ratio-0
cell's weights) the sweep keeps the ``best.ckpt`` of one cell: the finished cell
with the best *validation* AUROC, the one ``cxr demo`` explains (chosen on
validation, never on test). ``--keep-checkpoints`` keeps every cell's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cxr.pipelines.ablate.grid import CellTask, is_done
from cxr.pipelines.classify.run_folder import ClassifyRunFolder

WEIGHTS = ClassifyRunFolder.WEIGHTS


def _val_auroc(run_dir: Path) -> float:
    value = ClassifyRunFolder(run_dir).read_run().best_val_auroc
    return float(value) if value is not None else float("-inf")


def best_cell(sweep_dir: str | Path) -> dict[str, Any] | None:
    """The finished cell with the best validation AUROC among those that still have weights.

    ``{"key", "run_dir", "val_auroc", "auroc"}``; ``None`` when no finished cell has weights.
    Cells whose weights were removed earlier (a sweep extended later) are not candidates.
    """
    from cxr.pipelines.ablate.results import read_table

    results = Path(sweep_dir) / "results.csv"
    if not results.is_file():
        return None
    res = read_table(results)
    done = res[(res["status"] == "done")]
    best: dict[str, Any] | None = None
    for _, row in done.iterrows():
        run_dir = Path(str(row["run_dir"]))
        if not (run_dir / WEIGHTS).is_file():
            continue
        score = _val_auroc(run_dir)
        if best is None or score > best["val_auroc"]:
            auroc = row.get("auroc")
            best = {
                "key": str(row["key"]),
                "run_dir": str(run_dir),
                "val_auroc": score,
                "auroc": None if auroc is None or auroc != auroc else float(auroc),
            }
    return best


def prune_cell_weights(sweep_dir: str | Path, tasks: Sequence[CellTask]) -> dict[str, Any] | None:
    """Delete ``best.ckpt`` of every finished cell except :func:`best_cell`'s; return that cell.

    Records the choice in ``<sweep>/kept_weights.json``. Unfinished cells are left alone
    (a rerun completes them).
    """
    from cxr.runtime.files import atomic_write_text

    keep = best_cell(sweep_dir)
    if keep is None:
        return None
    removed = []
    for task in tasks:
        run_dir = Path(task.run_dir)
        weights = run_dir / WEIGHTS
        if run_dir.resolve() == Path(keep["run_dir"]).resolve() or not weights.is_file():
            continue
        if is_done(run_dir):
            weights.unlink()
            removed.append(task.key)
    record = {"kept": keep, "removed_now": removed,
              "why": "best validation AUROC among finished cells with weights"}
    atomic_write_text(Path(sweep_dir) / "kept_weights.json", json.dumps(record, indent=2) + "\n")
    return keep
