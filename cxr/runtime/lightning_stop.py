"""Stop a Lightning run at the next batch boundary after SIGTERM or SIGINT.

The signal handler (:mod:`cxr.runtime.runguard`) only records the signal; this callback is
the safe point of every training loop: after each training and validation batch it calls
:func:`cxr.runtime.runguard.safe_point`, which raises :class:`~cxr.runtime.runguard.Interrupted`.
Lightning then runs its ``on_exception`` hooks and tears down (DataLoader workers are shut
down, loggers closed) and re-raises, and the command line prints one line and exits 143
(SIGTERM) or 130 (SIGINT). The last checkpoint written at an epoch end is what is kept: a
rerun resumes from it. So a stop takes at most one step's time, and loses at most the epoch
in progress.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from cxr.runtime.runguard import note_kept, safe_point, stop_requested

__all__ = ["StopAtSafePoint"]


class StopAtSafePoint(Callback):
    """Raise ``Interrupted`` at the first batch end after a signal; name the kept checkpoint."""

    def __init__(self, checkpoint: str | Path | None = None) -> None:
        self.checkpoint = None if checkpoint is None else Path(checkpoint)

    def _check(self, trainer: Any) -> None:
        if stop_requested() is None:
            return
        trainer.should_stop = True  # whatever happens next, no further epoch starts
        if self.checkpoint is not None:
            if self.checkpoint.is_file():
                note_kept(f"{trainer.current_epoch} finished epoch(s) in {self.checkpoint}")
            else:
                note_kept(f"no finished epoch yet (nothing in {self.checkpoint.parent})")
        safe_point()

    def on_train_batch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        self._check(trainer)

    def on_validation_batch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        self._check(trainer)

    def on_train_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        self._check(trainer)  # a signal during set-up (data, resume) stops before the first step
