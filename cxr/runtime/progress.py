"""Progress that reads well both on a terminal and in a log file.

On a terminal, long loops show rich's live progress bars. Without one (``make demo >
demo.log 2>&1``, a batch job, CI) a live bar prints nothing until it ends, so the same
progress objects print one plain line per step instead: what is running, ``done/total``,
the elapsed time and an ETA (at most one line per 10% or 30 s for long item loops).
Lightning training gets the same pair: a rich bar that numbers epochs from 1, or one
line per epoch with the logged metrics.

:func:`wide_output` makes rich render tables at full width when stdout is not a
terminal (rich falls back to 80 columns there and truncates cells).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import Progress, Task, TaskID, TextColumn
from rich.text import Text

from cxr.runtime.fmt import fmt_duration, fmt_num

#: Console width used when output goes to a file or pipe: wide enough that no summary
#: table is cut, and tables only take the width they need.
LOG_WIDTH = 400
_LINE_EVERY_S = 30.0
_STEP_LINES_UP_TO = 20  # totals up to this print every step (cells, stages); more: per 10%


def stream_is_terminal(stream: Any) -> bool:
    """True when ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def wide_output(environ: dict[str, str] | None = None) -> bool:
    """When stdout is not a terminal, render rich output at :data:`LOG_WIDTH` columns.

    Sets ``COLUMNS`` (which rich and typer read) unless the user set it; returns whether
    it did. Progress columns do not expand, so live bars on a terminal stderr are unaffected.
    """
    env = os.environ if environ is None else environ
    if "COLUMNS" in env or stream_is_terminal(sys.stdout):
        return False
    env["COLUMNS"] = str(LOG_WIDTH)
    return True


def is_live(console: Console) -> bool:
    """Whether ``console`` can redraw a live view (a real, non-dumb terminal)."""
    return console.is_terminal and not console.is_dumb_terminal


class PlainProgress(Progress):
    """A rich :class:`Progress` that never draws a live view and prints plain lines instead.

    Same API as ``Progress`` (``add_task``, ``update``, ``advance``, ``track``, ``tasks``),
    so a loop does not care which one it got from :func:`make_progress`.
    """

    def __init__(self, *columns: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True  # no Live display; tasks are still tracked
        kwargs.pop("transient", None)
        super().__init__(*columns, **kwargs)
        self._started: dict[TaskID, float] = {}
        self._last_line: dict[TaskID, tuple[float, float]] = {}  # (time, completed)

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> TaskID:
        task_id = super().add_task(description, *args, **kwargs)
        self._started[task_id] = time.monotonic()
        self._last_line[task_id] = (time.monotonic(), 0.0)
        return task_id

    def update(self, task_id: TaskID, *args: Any, **kwargs: Any) -> None:
        super().update(task_id, *args, **kwargs)
        self._maybe_print(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_print(task_id)

    def _maybe_print(self, task_id: TaskID) -> None:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or not task.visible:
                return
            now = time.monotonic()
            last_time, last_done = self._last_line.get(task_id, (now, 0.0))
            done, total = task.completed, task.total
            if done == last_done:
                return
            finished = total is not None and done >= total
            if total is None or total <= _STEP_LINES_UP_TO or finished:
                due = True
            else:
                due = (int(10 * done / total) > int(10 * last_done / total)
                       or now - last_time >= _LINE_EVERY_S)
            if not due:
                return
            self._last_line[task_id] = (now, done)
            line = progress_line(
                str(task.description), done, total, now - self._started.get(task_id, now),
                extra=self._text_columns(task),
            )
        self.console.print(line, highlight=False, soft_wrap=True)


    def _text_columns(self, task: Task) -> str:
        """The live view's text columns (counts, current item) as plain text."""
        texts = []
        for column in self.columns:
            if isinstance(column, str):
                fmt = column
            elif isinstance(column, TextColumn):
                fmt = column.text_format
            else:
                continue
            if "task.description" in fmt or "task.percentage" in fmt:
                continue
            try:
                text = Text.from_markup(fmt.format(task=task)).plain.strip()
            except (KeyError, AttributeError, IndexError, ValueError):
                continue
            if text and text != str(task.description):
                texts.append(text)
        return " · ".join(texts)


def progress_line(description: str, done: float, total: float | None, elapsed: float,
                  extra: str = "") -> str:
    """``description: 3/10 (30%) · elapsed 1m05s · ETA 2m32s[ · extra]``."""
    parts = [f"{description.rstrip(': ')}:"]
    if total:
        parts.append(f"{fmt_num(done)}/{fmt_num(total)} ({100 * done / total:.0f}%)")
    else:
        parts.append(fmt_num(done))
    parts.append(f"· elapsed {fmt_duration(elapsed)}")
    if total and 0 < done < total:
        parts.append(f"· ETA {fmt_duration(elapsed / done * (total - done))}")
    if extra:
        parts.append(f"· {extra}")
    return " ".join(parts)


def make_progress(*columns: Any, console: Console | None = None, disable: bool = False,
                  **kwargs: Any) -> Progress:
    """A live rich ``Progress`` on a terminal, a :class:`PlainProgress` otherwise."""
    console = console or Console()
    if disable or is_live(console):
        return Progress(*columns, console=console, disable=disable, **kwargs)
    return PlainProgress(*columns, console=console, **kwargs)


def epoch_progress_bar(console: Console | None = None) -> Any:
    """Lightning's progress callback for this output: a rich bar that numbers epochs
    from 1 on a terminal, one line per epoch otherwise. Imports Lightning lazily."""
    from lightning.pytorch.callbacks import ProgressBar, RichProgressBar

    out = console or Console()

    class EpochBar(RichProgressBar):
        """Lightning's rich bar, with epochs counted 1..N (Lightning shows 0..N-1)."""

        def _get_train_description(self, current_epoch: int) -> str:
            text = f"Epoch {current_epoch + 1}"
            if self.trainer.max_epochs is not None and self.trainer.max_epochs > 0:
                text += f"/{self.trainer.max_epochs}"
            return f"{text:{len(self.validation_description)}}"

    class EpochLines(ProgressBar):
        """One plain line per finished epoch: elapsed, ETA and the progress-bar metrics."""

        def __init__(self) -> None:
            super().__init__()
            self._enabled = True
            self._t0: float | None = None
            self._first_epoch = 0

        def disable(self) -> None:
            self._enabled = False

        def enable(self) -> None:
            self._enabled = True

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            self._t0 = time.monotonic()
            self._first_epoch = trainer.current_epoch  # a resumed run starts later

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if not self._enabled or self._t0 is None:
                return
            epoch = trainer.current_epoch + 1
            total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
            elapsed = time.monotonic() - self._t0
            metrics = {k: v for k, v in self.get_metrics(trainer, pl_module).items()
                       if k != "v_num"}
            extra = "  ".join(f"{k} {fmt_num(_scalar(v))}" for k, v in metrics.items())
            done_here = epoch - self._first_epoch
            line = f"epoch {epoch}" + (f"/{total}" if total else "")
            line += f" · elapsed {fmt_duration(elapsed)}"
            if total and done_here > 0 and epoch < total:
                line += f" · ETA {fmt_duration(elapsed / done_here * (total - epoch))}"
            if extra:
                line += f" · {extra}"
            out.print(line, highlight=False, soft_wrap=True)

    return EpochBar() if is_live(out) else EpochLines()


def _scalar(value: Any) -> Any:
    try:
        return value.item()
    except AttributeError:
        return value
