"""Errors that the CLI turns into a one-line message (no traceback).

Library code raises these; it never calls ``exit()``.
"""

from __future__ import annotations


class CxrError(Exception):
    """Base class: a user-facing problem with a clear one-line message."""

    exit_code = 2


class ConfigError(CxrError):
    """A bad config file, key or option value."""


class ManifestError(CxrError):
    """The manifest violates its contract (column, row or file named)."""


class ImageReadError(CxrError):
    """An image file cannot be decoded. ``path`` and ``reason`` are kept."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class LeakageError(CxrError):
    """Patients across splits, or synthetic/augmented data outside training."""


class CheckpointError(CxrError):
    """A checkpoint or weight file is missing or does not fit the model."""


class PartialFailureError(CxrError):
    """A job finished what it could but some parts failed (exit code 1)."""

    exit_code = 1


def require_files(**groups: object) -> None:
    """Fail at once naming the first missing file: ``require_files(image=[...], model=[...])``.

    Commands call this before importing torch or loading a model, so a typo costs
    milliseconds, not the seconds a model load takes.
    """
    from pathlib import Path

    for kind, paths in groups.items():
        for path in paths:  # type: ignore[attr-defined]
            p = Path(path)
            if not p.exists():
                raise ConfigError(f"{kind} file not found: {p}")
            if p.is_dir():
                raise ConfigError(f"{kind} path is a folder, expected a file: {p}")
