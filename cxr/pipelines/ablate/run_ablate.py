"""`cxr ablate`: a resumable grid of classify runs with paired statistics.

The grid is backbone x synthetic ratio (plus classical baselines: oversampling
only; albumentations on the minority class only) x loss x training seed x split seed, as in the
ablations of GAN-augmented COVID-19 detection papers (e.g. Waheed et al.,
"CovidGAN", IEEE Access 8, 2020; Motamed et al., "Data augmentation using
generative adversarial networks (GANs) for GAN-based detection of pneumonia and
COVID-19 in chest X-ray images", Informatics in Medicine Unlocked 27, 2021), but
with what those papers lacked: every arm paired by seed with the ratio-0
reference on the same patient-level test split, and the difference tested
(:mod:`cxr.pipelines.ablate.results`). With ``--leave-dataset-out`` the grid
is repeated per fold (one held-out collection each, :mod:`.folds`), and the
paired gain is also pooled over folds by seed.

Layout of a sweep directory::

    sweep.yaml            the resolved AblateConfig
    inputs.json           per split (or fold): manifest, GAN run, synthetic manifest, notes
    splits/ folds/ gan/   re-split and fold manifests, GAN runs (when the sweep makes them)
    cells/<key>/          one classify run dir per cell (+ cell.json, done | error.txt)
    results.csv summary.csv comparisons.csv gains.csv summary.json

Resuming is by directory: cells whose ``done`` marker exists are skipped, so a
killed sweep re-run with the same options runs only the missing cells.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cxr.config import AblateConfig, save_config
from cxr.pipelines.ablate.executors import Executor, make_executor
from cxr.pipelines.ablate.grid import (
    Cell,
    CellOutcome,
    CellTask,
    InputKey,
    SplitInputs,
    cell_key,
    execute_cell,
    expand_grid,
    is_done,
)
from cxr.runtime.errors import ConfigError
from cxr.runtime.files import atomic_write_text
from cxr.runtime.fmt import fmt_num
from cxr.runtime.progress import is_live, make_progress
from cxr.runtime.runguard import safe_point
from cxr.runtime.tracking import check_logger

Resolver = Callable[[Cell, SplitInputs], dict[str, Any]]


@dataclass
class SweepResult:
    sweep_dir: Path
    results_csv: Path
    counts: dict[str, int] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def plan_cells(
    cells: Sequence[Cell],
    inputs: Mapping[InputKey, SplitInputs],
    sweep_dir: str | Path,
    resolve: Resolver,
) -> list[CellTask]:
    """Attach each cell's resolved config, key and run dir."""
    tasks = []
    seen: dict[str, Cell] = {}
    for cell in cells:
        resolved = resolve(cell, inputs[cell.input_key])
        key = cell_key(cell, resolved)
        if key in seen:
            raise ConfigError(f"cells {seen[key].prefix()} and {cell.prefix()} resolve identically")
        seen[key] = cell
        tasks.append(CellTask(cell, key, str(Path(sweep_dir) / "cells" / key), resolved))
    return tasks


def _live(console: Console) -> Progress:
    return make_progress(
        TextColumn("[bold]sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "[green]{task.fields[done]} done[/] · [yellow]{task.fields[running]} running[/] · "
            "[red]{task.fields[failed]} failed[/] · {task.fields[skipped]} already done"
        ),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}"),
        console=console,
        transient=False,
    )


def run_cells(
    tasks: Sequence[CellTask],
    cell_fn: Callable[[CellTask], Any],
    *,
    executor: Executor,
    results_csv: str | Path,
    console: Console | None = None,
) -> tuple[list[CellOutcome], dict[str, str]]:
    """Run the unfinished cells; rewrite results.csv after each one finishes.

    Returns the outcomes of the cells run now and the error message per failed key.
    ``KeyboardInterrupt`` propagates after results.csv is brought up to date.
    """
    from cxr.pipelines.ablate.results import collect_results

    console = console or Console()
    todo = [t for t in tasks if not is_done(t.run_dir)]
    skipped = len(tasks) - len(todo)
    outcomes: list[CellOutcome] = []
    errors: dict[str, str] = {}
    running: set[int] = set()

    def write_results() -> None:
        df = collect_results(tasks, errors)
        text = df.to_csv(index=False, float_format="%.6g", lineterminator="\n")
        atomic_write_text(results_csv, text)

    fn = functools.partial(execute_cell, cell_fn=cell_fn)
    counts = {"done": 0, "failed": 0}
    with _live(console) as progress:
        bar = progress.add_task(
            "sweep", total=len(todo), done=0, running=0, failed=0, skipped=skipped, current=""
        )
        try:
            for ev in executor.run(fn, todo):
                task = todo[ev.index]
                if ev.kind == "start":
                    running.add(ev.index)
                    progress.update(bar, running=len(running), current=task.key)
                    continue
                running.discard(ev.index)
                if ev.error is not None:  # escaped the worker (e.g. a crashed Ray worker)
                    outcome = CellOutcome(
                        task.key, "failed", 0.0, f"{type(ev.error).__name__}: {ev.error}"
                    )
                    Path(task.run_dir).mkdir(parents=True, exist_ok=True)
                    atomic_write_text(Path(task.run_dir) / "error.txt", f"{outcome.error}\n")
                else:
                    outcome = ev.result
                outcomes.append(outcome)
                counts[outcome.status] += 1
                if outcome.status == "failed":
                    errors[task.key] = outcome.error
                    console.print(f"[red]cell failed[/] {task.key}: {outcome.error}")
                progress.update(
                    bar,
                    advance=1,
                    running=len(running),
                    done=counts["done"],
                    failed=counts["failed"],
                )
                write_results()
                safe_point()  # SIGTERM/SIGINT: stop between cells; finished cells are kept
        finally:
            write_results()
    return outcomes, errors


def _default_resolver(cfg: AblateConfig) -> Resolver:
    from cxr.pipelines.ablate.cells import resolve_classify

    return functools.partial(resolve_classify, sweep=cfg)


def _default_cell_fn(cfg: AblateConfig, epoch_lines: bool = False) -> Callable[[CellTask], Any]:
    from cxr.pipelines.ablate.cells import classify_cell

    return functools.partial(classify_cell, keep_checkpoints=cfg.keep_checkpoints,
                             epoch_lines=epoch_lines)


def run_ablate(
    cfg: AblateConfig,
    *,
    cell_fn: Callable[[CellTask], Any] | None = None,
    resolve: Resolver | None = None,
    inputs: Mapping[InputKey, SplitInputs] | None = None,
    executor: Executor | None = None,
    console: Console | None = None,
) -> SweepResult:
    """Plan the grid, prepare inputs (splits, GAN), run missing cells, write the summary.

    ``cell_fn``/``resolve``/``inputs``/``executor`` default to the real classify
    stage, the GAN preparation and the executor named in ``cfg``; tests inject
    small ones.
    """
    console = console or Console()
    check_logger(cfg.logger)
    sweep_dir = Path(cfg.out)
    grid = functools.partial(
        expand_grid,
        backbones=cfg.backbones,
        synthetic=cfg.synthetic,
        seeds=cfg.seeds,
        losses=cfg.losses,
        baselines=cfg.baselines,
        split_seeds=cfg.split_seeds,
    )
    cells = grid()  # checks the options before any input is prepared
    if resolve is None:  # the real classify stage: per-backbone entries checked up front
        from cxr.pipelines.ablate.cells import check_backbone_overrides

        check_backbone_overrides(cfg)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, sweep_dir, name="sweep.yaml")
    prepared = inputs is None
    if inputs is None and cfg.leave_dataset_out:
        from cxr.pipelines.ablate.fold_inputs import prepare_fold_inputs

        inputs = prepare_fold_inputs(cfg, sweep_dir, console=console)
    elif inputs is None:
        from cxr.pipelines.ablate.split_inputs import prepare_inputs

        inputs = prepare_inputs(cfg, sweep_dir, console=console)
    atomic_write_text(
        sweep_dir / "inputs.json",
        json.dumps({str(k): v.__dict__ for k, v in inputs.items()}, indent=2, default=list) + "\n",
    )
    if cfg.leave_dataset_out:
        folds = [str(k).split(":", 1)[1] for k in inputs if isinstance(k, str) and ":" in k]
        # a fold may be impossible for one split seed only: keep the cells that have inputs
        cells = [c for c in grid(folds=tuple(dict.fromkeys(folds))) if c.input_key in inputs]
    tasks = plan_cells(cells, inputs, sweep_dir, resolve or _default_resolver(cfg))
    executor = executor or make_executor(
        cfg.executor,
        ray_address=cfg.ray_address,
        cpus_per_cell=cfg.cpus_per_cell,
        gpus_per_cell=cfg.gpus_per_cell,
    )
    results_csv = sweep_dir / "results.csv"
    console.print(
        f"sweep {sweep_dir}: {len(tasks)} cells "
        f"({sum(is_done(t.run_dir) for t in tasks)} already done), executor {executor.name}"
    )
    outcomes, errors = run_cells(
        tasks,
        # in a log (no terminal), cells run here print a line per epoch as `cxr classify` does;
        # on a terminal the sweep's live bar is the view
        cell_fn or _default_cell_fn(cfg, epoch_lines=executor.name == "local"
                                    and not is_live(console)),
        executor=executor,
        results_csv=results_csv,
        console=console,
    )
    if cfg.logger == "mlflow":
        from cxr.pipelines.ablate.mlflow_cells import experiment_name, log_cells

        n = log_cells(cfg, tasks, sweep_dir)
        console.print(f"MLflow: {n} cell run(s) logged to experiment "
                      f"{experiment_name(sweep_dir)!r}")
    if prepared:
        from cxr.pipelines.ablate.split_inputs import evaluate_gans

        evaluate_gans(dict(inputs), tasks, console=console)
    if not cfg.keep_checkpoints:  # after the GAN evaluation, which reads ratio-0 weights
        from cxr.pipelines.ablate.kept_weights import prune_cell_weights

        kept = prune_cell_weights(sweep_dir, tasks)
        if kept is not None:
            console.print(f"weights kept for {kept['key']} (best validation AUROC "
                          f"{fmt_num(kept['val_auroc'])}); other cells' best.ckpt removed "
                          "(--keep-checkpoints keeps all)", highlight=False)
    from cxr.pipelines.ablate.summary import write_summary

    counts = write_summary(cfg, tasks, errors, sweep_dir, inputs=inputs, console=console)
    return SweepResult(sweep_dir, results_csv, counts, [o.key for o in outcomes], sorted(errors))
