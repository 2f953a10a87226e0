"""Follow the machine's load during training: threads chosen from the CPUs other processes
leave free, and, on a loaded machine, from how fast this network actually trains.

A long run (a 30-epoch GAN, a sweep of many cells) sees other jobs start and stop; the
thread count chosen at start-up would then be wrong for most of it. Lightning calls this
callback when training starts and after every epoch (epochs under two seconds are
measured together with the next ones): on an idle machine training uses every usable CPU;
while other processes keep CPUs busy, the first training steps try the free CPUs' count
and all usable ones (:class:`cxr.runtime.threads.ThreadTuner`), and the faster is kept, for this
network and load, for the rest of the process: a trial that a short run leaves unfinished
goes on in the next sweep cell of the same network, and later cells skip it.

Only on CPU, and only when the thread count was cxr's own choice: ``--threads`` and
``OMP_NUM_THREADS`` are never changed.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import Callback
from rich.console import Console

from cxr.runtime.threads import ThreadTuner, load_candidates, set_torch_threads

#: (network class, parameter count, candidates) -> the thread count its trial chose
_CHOSEN: dict[tuple[str, int, tuple[int, ...]], int] = {}
#: the same keys -> trials still running (carried over between trainers of one process)
_TRIALS: dict[tuple[str, int, tuple[int, ...]], ThreadTuner] = {}


def _network_key(pl_module: Any) -> tuple[str, int]:
    return type(pl_module).__qualname__, sum(p.numel() for p in pl_module.parameters())


class FollowLoad(Callback):
    """Re-choose the intra-op thread count as the load changes, saying so when it does."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.tuner: ThreadTuner | None = None
        self._key: tuple[str, int, tuple[int, ...]] | None = None
        self._others = 0.0

    def _say(self, line: str) -> None:
        self.console.print(line, highlight=False, soft_wrap=True)

    def _use(self, n: int) -> None:
        old = set_torch_threads(n)
        if old != n and self.tuner is None:
            self._say(f"CPU: {self._others:.1f} CPU(s) busy with other processes: "
                      f"torch threads {old} -> {n}")

    def _look(self, trainer: Any, pl_module: Any) -> None:
        if trainer.strategy.root_device.type != "cpu":
            return
        found = load_candidates()
        if found is None:
            return
        candidates, self._others = found
        if len(candidates) == 1:
            self.tuner = None
            self._use(candidates[0])
            return
        key = (*_network_key(pl_module), candidates)
        if key in _CHOSEN:
            self.tuner = None
            self._use(_CHOSEN[key])
            return
        if key not in _TRIALS:
            _TRIALS[key] = ThreadTuner(candidates)
        self.tuner, self._key = _TRIALS[key], key
        set_torch_threads(self.tuner.current)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._look(trainer, pl_module)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self._look(trainer, pl_module)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any,
                             batch_idx: int) -> None:
        if self.tuner is not None:
            self.tuner.step_started()

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        tuner = self.tuner
        if tuner is None:
            return
        switch = tuner.step_ended()
        if switch is not None:
            set_torch_threads(switch)
        if tuner.best is not None and self._key is not None:
            _CHOSEN[self._key] = tuner.best
            _TRIALS.pop(self._key, None)
            self.tuner = None
            self._say(f"CPU: {self._others:.1f} CPU(s) busy with other processes: "
                      f"{tuner.describe()}: training on {tuner.best}")
