"""A sweep keeps weights only for the cell later stages use (best validation AUROC)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from support.sweepfakes import fake_cell, resolve

from cxr.config import AblateConfig
from cxr.pipelines.ablate.executors import LocalExecutor
from cxr.pipelines.ablate.grid import CellTask
from cxr.pipelines.ablate.kept_weights import best_cell, prune_cell_weights
from cxr.pipelines.ablate.run_ablate import SplitInputs, run_ablate

QUIET = Console(quiet=True)


def _sweep(tmp_path: Path, keep: bool, val: dict[int, float]) -> tuple[Path, list[Path]]:
    """A fake 4-cell sweep whose cells write weights and a validation AUROC."""

    def cell_with_weights(task: CellTask) -> None:
        fake_cell(task)
        run = Path(task.run_dir)
        (run / "best.ckpt").write_bytes(b"w" * 100)
        index = len(list(run.parent.iterdir())) - 1
        (run / "run.json").write_text(json.dumps({"best_val_auroc": val[index % len(val)]}))

    cfg = AblateConfig(out=str(tmp_path / "sweep"), manifest="m.csv", backbones=("tiny",),
                      synthetic=(0.0, 0.3), seeds=2, bootstrap=20, keep_checkpoints=keep)
    run_ablate(cfg, cell_fn=cell_with_weights, resolve=resolve,
              inputs={None: SplitInputs(manifest="m.csv")}, executor=LocalExecutor(),
              console=QUIET)
    return Path(cfg.out), sorted((Path(cfg.out) / "cells").iterdir())


def test_sweep_keeps_only_the_best_validation_cells_weights(tmp_path: Path) -> None:
    sweep, cells = _sweep(tmp_path / "a", keep=False, val={0: 0.7, 1: 0.9, 2: 0.8, 3: 0.6})
    with_weights = [c for c in cells if (c / "best.ckpt").is_file()]
    assert len(cells) == 4 and len(with_weights) == 1
    kept = json.loads((sweep / "kept_weights.json").read_text())["kept"]
    assert Path(kept["run_dir"]).resolve() == with_weights[0].resolve()
    assert json.loads((with_weights[0] / "run.json").read_text())["best_val_auroc"] == 0.9
    # the cell the demo explains is the kept one, also on a rerun
    assert best_cell(sweep)["key"] == kept["key"]
    tasks = [CellTask(None, c.name, str(c), {}) for c in cells]  # type: ignore[arg-type]
    assert prune_cell_weights(sweep, tasks)["key"] == kept["key"]


def test_keep_checkpoints_keeps_every_cells_weights(tmp_path: Path) -> None:
    _, cells = _sweep(tmp_path / "b", keep=True, val={0: 0.7, 1: 0.9})
    assert all((c / "best.ckpt").is_file() for c in cells)


def test_cells_print_epoch_lines_in_a_log_not_under_a_live_view(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a terminal (``make demo > log``) each local cell prints `cxr classify`'s
    line per epoch; on a terminal the sweep's live bar is the view."""
    import io

    import cxr.pipelines.ablate.cells as cells

    seen: list[bool] = []

    def record(task: CellTask, keep_checkpoints: bool = False, epoch_lines: bool = False) -> None:
        seen.append(epoch_lines)
        fake_cell(task)

    monkeypatch.setattr(cells, "classify_cell", record)
    for name, console in (("log", Console(file=io.StringIO(), force_terminal=False)),
                          ("tty", Console(file=io.StringIO(), force_terminal=True))):
        cfg = AblateConfig(out=str(tmp_path / name), manifest="m.csv", backbones=("tiny",),
                          synthetic=(0.0,), seeds=1, bootstrap=20)
        run_ablate(cfg, resolve=resolve, inputs={None: SplitInputs(manifest="m.csv")},
                  executor=LocalExecutor(), console=console)
    assert seen == [True, False]
