"""Atomic file output: write to a temporary sibling, fsync, then rename.

A killed process leaves either the old file or the new one, never half of one.
A failed write (disk full, read-only folder) removes its temporary file and
raises an ``OSError`` whose ``filename`` is the destination, so the CLI can say
which file could not be written. Checkpoints are serialised in memory first
(:func:`atomic_torch_save`) because torch's own writer turns a full disk into a
RuntimeError that names nothing; :func:`checkpoint_problem` tells a complete
checkpoint from a truncated, corrupt or unsafe one without running pickled code.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _umask_mode() -> int:
    """Permissions a plain ``open()`` would give (mkstemp's temp files are 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` with ``filename`` set to the destination (temp names mean nothing to users)."""
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


def _fsync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file next to ``path``; rename onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _named(exc, path) from None
    os.close(fd)
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _named(exc, path) from None
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | Path, data: bytes | memoryview) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_save(path: str | Path, save_fn: Any) -> None:
    """Atomically write with a function that takes a file path (e.g. PIL, matplotlib).

    ``save_fn(tmp_path)`` writes the temp file; the suffix of ``path`` is kept
    so format-by-extension savers work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    except OSError as exc:
        raise _named(exc, path) from None
    os.close(fd)
    try:
        save_fn(tmp)
        _fsync_path(tmp)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _named(exc, path) from None
        raise


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` atomically, with disk errors as ``OSError`` naming ``path``.

    The archive is built in memory first: written straight to a file, torch's zip writer
    reports a full disk as an unnamed RuntimeError.
    """
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getbuffer())


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def safe_torch_load(
    path: str | Path, *, what: str = "checkpoint", map_location: Any = "cpu"
) -> Any:
    """``torch.load(weights_only=True)`` with one-line errors naming the file.

    weights_only loading runs no pickled code. A missing file, a truncated or foreign
    archive and a disallowed pickle global all become a :class:`CheckpointError`
    saying ``<path>: not a readable <what> (<first line of the cause>)``.
    """
    import torch

    from cxr.runtime.errors import CheckpointError

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    # torch.save writes a zip archive; very old files are a bare pickle (protocol >= 2)
    if not (magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80"):
        raise CheckpointError(f"{path}: not a readable {what} (not a PyTorch file)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle, zip and unsafe-global errors all mean "unusable file"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: not a readable {what} ({first})") from None


def checkpoint_problem(path: str | Path) -> str | None:
    """Why ``path`` is not a usable checkpoint, or None when it is.

    Checks that the zip archive is complete (every member's CRC), then unpickles it with
    ``weights_only=True`` and ``mmap=True`` (no pickled code runs and tensor data is not
    read again). Lightning checkpoints pass; truncated, corrupted and malicious files do not.
    """
    import zipfile

    import torch

    path = Path(path)
    if not path.is_file():
        return "missing"
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        return f"truncated or not a PyTorch checkpoint ({exc})"
    if bad is not None:
        return f"corrupt archive member {bad}"
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # unsafe globals and malformed pickles both mean unusable
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"refused to load ({first})"
    return None


def set_aside(path: str | Path, suffix: str = ".corrupt") -> Path:
    """Rename ``path`` to ``<path><suffix>`` (``.1``, ``.2``... if taken); returns the new path."""
    path = Path(path)
    dest = path.with_name(path.name + suffix)
    k = 0
    while dest.exists():
        k += 1
        dest = path.with_name(f"{path.name}{suffix}.{k}")
    os.replace(path, dest)
    return dest
