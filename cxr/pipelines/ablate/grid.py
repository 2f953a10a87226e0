"""The sweep grid: cells, their readable-and-hashed run-dir keys, one cell's execution.

A cell is one classify run: (backbone, synthetic ratio or classical baseline,
loss, training seed, split seed, and with ``--leave-dataset-out`` the held-out
collection). Its run directory is named
``<backbone>-<arm>-<loss>-seed<k>[-split<s>][-out-<collection>]-<hash8>``, where the hash covers the
cell's *resolved* config (every classify field but resources and file locations,
and the input manifests' content keys), so a changed setting never reuses an
old result, and an unchanged one always does.

:func:`execute_cell` runs in the worker (this process or a Ray task). It writes
``cell.json`` first and the ``done`` marker last, both atomically: a directory
without ``done`` is unfinished, whatever else it holds, and is run again. A
failing cell leaves ``error.txt`` (the traceback) and the sweep goes on;
``KeyboardInterrupt`` is not caught, so Ctrl-C stops the sweep.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cxr.runtime.errors import ConfigError
from cxr.runtime.files import atomic_write_text
from cxr.runtime.runguard import safe_point

BASELINES = ("oversample", "augment")
DONE = "done"
ERROR = "error.txt"
CELL_JSON = "cell.json"


@dataclass(frozen=True)
class SplitInputs:
    """What the cells of one split seed train on."""

    manifest: str
    synthetic_manifest: str = ""
    gan_dir: str = ""
    manifest_key: str = ""
    synthetic_key: str = ""
    notes: tuple[str, ...] = ()


#: inputs of a split seed (``int | None``), or of one leave-one-dataset-out fold of it
#: (``"<split seed>:<held-out collection>"``)
InputKey = int | str | None


def input_key(split_seed: int | None, fold: str = "") -> InputKey:
    if not fold:
        return split_seed
    return f"{'' if split_seed is None else split_seed}:{fold}"


@dataclass(frozen=True)
class Cell:
    backbone: str
    ratio: float
    loss: str
    seed: int
    baseline: str = ""  # "" (GAN arm, or the reference at ratio 0) | oversample | augment
    split_seed: int | None = None
    fold: str = ""  # leave-one-dataset-out: the held-out collection ("" = no fold)

    @property
    def input_key(self) -> InputKey:
        """Key of the :class:`SplitInputs` this cell trains on."""
        return input_key(self.split_seed, self.fold)

    @property
    def arm(self) -> str:
        return self.baseline or f"syn{self.ratio:g}"

    @property
    def is_reference(self) -> bool:
        """Ratio 0 without a baseline: what every other arm is compared with."""
        return self.ratio == 0 and not self.baseline

    def prefix(self) -> str:
        split = "" if self.split_seed is None else f"-split{self.split_seed}"
        fold = f"-out-{re.sub(r'[^A-Za-z0-9_.-]', '_', self.fold)}" if self.fold else ""
        return f"{self.backbone}-{self.arm}-{self.loss}-seed{self.seed}{split}{fold}"


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell (plain data: picklable for Ray)."""

    cell: Cell
    key: str
    run_dir: str
    config: dict[str, Any]


@dataclass(frozen=True)
class CellOutcome:
    key: str
    status: str  # done | failed
    seconds: float
    error: str = ""


def expand_grid(
    *,
    backbones: tuple[str, ...],
    synthetic: tuple[float, ...],
    seeds: int,
    losses: tuple[str, ...],
    baselines: tuple[str, ...] = (),
    split_seeds: tuple[int, ...] = (),
    folds: tuple[str, ...] = (),
) -> list[Cell]:
    """All cells, seed-major so that complete paired sets finish first."""
    if not backbones:
        raise ConfigError("--backbones: give at least one backbone")
    if not losses:
        raise ConfigError("--loss: give at least one loss")
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    bad = [r for r in synthetic if not 0.0 <= r < 1.0]
    if bad:
        raise ConfigError(f"--synthetic: ratios must be in [0, 1), got {bad[0]:g}")
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ConfigError(f"--baselines: unknown {unknown[0]!r} (valid: {', '.join(BASELINES)})")
    arms: list[tuple[float, str]] = [(float(r), "") for r in dict.fromkeys(synthetic)]
    arms += [(0.0, b) for b in dict.fromkeys(baselines)]
    if not arms:
        raise ConfigError("the sweep has no arms: give --synthetic and/or --baselines")
    cells = []
    for split_seed in split_seeds or (None,):
        for fold in folds or ("",):
            for seed in range(seeds):
                for backbone in dict.fromkeys(backbones):
                    for loss in dict.fromkeys(losses):
                        for ratio, baseline in arms:
                            cells.append(
                                Cell(backbone, ratio, loss, seed, baseline, split_seed, fold)
                            )
    return cells


# passed to the cell but not part of its identity: where it runs, where its inputs lie
# (the inputs' *content* keys are part of the resolved config instead) and extra
# evaluation sets (they change nothing that is trained)
HASH_FREE = frozenset(
    {"devices", "strategy", "accelerator", "workers", "cache_dir", "manifest", "synthetic_manifest",
     "external", "logger", "mlflow_uri"}
)


def config_hash(resolved: Mapping[str, Any]) -> str:
    ident = {k: v for k, v in resolved.items() if k not in HASH_FREE}
    text = json.dumps(ident, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def cell_key(cell: Cell, resolved: Mapping[str, Any]) -> str:
    return f"{cell.prefix()}-{config_hash(resolved)[:8]}"


def is_done(run_dir: str | Path) -> bool:
    return (Path(run_dir) / DONE).is_file()


def execute_cell(task: CellTask, cell_fn: Callable[[CellTask], Any]) -> CellOutcome:
    """Run one cell with its bookkeeping: cell.json first, ``done`` last, error.txt on failure."""
    run_dir = Path(task.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ERROR).unlink(missing_ok=True)
    info = {"key": task.key, **asdict(task.cell), "config": task.config}
    atomic_write_text(run_dir / CELL_JSON, json.dumps(info, indent=2, default=str) + "\n")
    start = time.perf_counter()
    try:
        cell_fn(task)
    except Exception as exc:
        # an error caused by the stop (a DataLoader worker killed by the same SIGTERM) is
        # the interruption, not a failed cell: the rerun runs the cell again
        safe_point()
        seconds = time.perf_counter() - start
        atomic_write_text(run_dir / ERROR, traceback.format_exc())
        return CellOutcome(task.key, "failed", seconds, f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    stamp = {"seconds": round(seconds, 3), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_text(run_dir / DONE, json.dumps(stamp) + "\n")
    return CellOutcome(task.key, "done", seconds)
