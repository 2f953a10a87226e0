"""One writer per output folder, and signals that stop a run cleanly.

* :func:`output_lock` takes an exclusive ``fcntl.flock`` on ``<folder>/.cxr.lock``
  for the life of a command. The kernel drops the lock when the holder dies (even
  by SIGKILL), so a lock left by a dead process is taken over without ceremony;
  the holder's pid is written into the file only so that the refusal can name it.
* :func:`stop_on_signals` turns the first SIGTERM or SIGINT into :class:`Interrupted`,
  a ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception``
  blocks in training loops do not swallow it. Atomic writers then delete their
  temporary files, Lightning tears down, and the CLI prints one line and exits
  ``128 + signum`` (143 for SIGTERM, 130 for SIGINT). A second signal gets the
  default action (immediate termination).
* :func:`last_output` is the folder the command locked last (kept after release);
  the CLI names it when an ``OSError`` carries no file name, and after a signal.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from cxr.runtime.errors import CxrError

__all__ = [
    "LOCK_NAME",
    "FolderBusyError",
    "Interrupted",
    "interrupted_message",
    "last_output",
    "output_lock",
    "stop_on_signals",
]

LOCK_NAME = ".cxr.lock"

# folders locked by this process -> nesting depth; flock would refuse a second lock of the
# same file from the same process (a new open file description), so nesting is counted here
_held: dict[Path, int] = {}
_last: list[Path] = []


class FolderBusyError(CxrError):
    """Another live process holds the output folder."""


class Interrupted(BaseException):  # noqa: N818 - named like KeyboardInterrupt, its sibling
    """SIGTERM or SIGINT arrived; ``exit_code`` is ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.signame = signal.Signals(signum).name
        self.exit_code = 128 + signum


def last_output() -> Path | None:
    """The output folder most recently locked by this process (held or already released)."""
    return _last[-1] if _last else None


def _holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "pid unknown"
    return text.splitlines()[0] if text else "pid unknown"


@contextlib.contextmanager
def output_lock(folder: str | Path, *, what: str = "--out") -> Iterator[Path]:
    """Hold ``folder`` (created if needed) exclusively; fail at once if another run holds it."""
    import fcntl

    folder = Path(folder).resolve()
    if folder in _held:
        _held[folder] += 1
        try:
            yield folder
        finally:
            _held[folder] -= 1
        return
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / LOCK_NAME
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise FolderBusyError(
                f"{folder} is in use by another cxr run ({_holder(lock_path)}); wait for it "
                f"to finish or choose another {what}"
            ) from None
        # the previous holder may have unlinked the file between our open and flock:
        # then we hold a lock on a deleted inode, and must lock the file that is there now
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}\n".encode())
    except OSError:
        pass  # a full disk must not stop the lock itself; the pid is only for messages
    _held[folder] = 1
    _last[:] = [folder]
    try:
        yield folder
    finally:
        del _held[folder]
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)  # closing releases the flock


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Raise :class:`Interrupted` in the main thread on the first SIGTERM/SIGINT."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.getsignal(s) for s in signums}

    def handler(signum: int, frame: FrameType | None) -> None:
        for s in signums:
            signal.signal(s, signal.SIG_DFL)
        raise Interrupted(signum)

    for s in signums:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def interrupted_message(exc: Interrupted) -> str:
    """The one line printed when a command stops on a signal."""
    where = last_output()
    place = f" ({where})" if where else ""
    return (
        f"cxr: interrupted by {exc.signame}: finished work is kept{place}; "
        "rerun the same command to continue"
    )

