"""Lightning checkpoints that survive full disks and kills, and are checked before a resume.

Lightning's own ``TorchCheckpointIO`` writes through fsspec, whose local "transaction"
stages the file in the system temp folder and then *copies* it into place when that is
another file system: a full disk or a kill mid-copy leaves a truncated ``last.ckpt``,
which the next resume then fails to read. :class:`AtomicCheckpointIO` writes a temporary
file in the destination folder, fsyncs it and renames it
(:func:`cxr.runtime.files.atomic_torch_save`).

:func:`resumable` is the gate every resume goes through: a checkpoint that is truncated,
corrupt or refused by ``weights_only`` loading is renamed to ``*.corrupt`` with a message,
and the caller falls back (to an older checkpoint or a fresh start) instead of crashing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from cxr.runtime.files import atomic_torch_save, checkpoint_problem, set_aside

__all__ = ["AtomicCheckpointIO", "checkpoint_epoch", "resumable", "resume_point"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with temp-file-in-place + fsync + rename saves."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_torch_save(checkpoint, Path(path))


def resumable(path: str | Path, warn: Callable[[str], None]) -> Path | None:
    """``path`` when it is a complete, safe checkpoint; else set it aside and return None."""
    path = Path(path)
    if not path.is_file():
        return None
    problem = checkpoint_problem(path)
    if problem is None:
        return path
    moved = set_aside(path)
    warn(f"{path} is not usable ({problem}); set aside as {moved.name}")
    return None


def checkpoint_epoch(path: str | Path) -> int:
    """Epochs completed in a Lightning checkpoint saved at an epoch end (its ``epoch`` + 1)."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return int(ckpt.get("epoch", -1)) + 1


def resume_point(
    candidates: list[Path], say: Callable[[str], None], *, fallback: str = ""
) -> Path | None:
    """The first usable checkpoint of ``candidates`` (damaged ones are set aside), announced.

    ``fallback`` is appended to the set-aside message (e.g. "starting from epoch 0").
    """
    for path in candidates:
        ok = resumable(path, lambda m: say(f"warning: {m}" + (f"; {fallback}" if fallback else "")))
        if ok is not None:
            say(f"resumed from epoch {checkpoint_epoch(ok)} ({ok})")
            return ok
    return None
