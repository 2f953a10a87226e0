"""One writer per output folder, and signals that stop a run cleanly at a safe point.

* :func:`output_lock` takes an exclusive ``fcntl.flock`` on ``<folder>/.cxr.lock``
  for the life of a command. The kernel drops the lock when the holder dies (even
  by SIGKILL), so a lock left by a dead process is taken over without ceremony;
  the holder's pid is written into the file only so that the refusal can name it.
  Forked children close their copy of the lock, so none can keep the folder busy.
* :func:`arm_signals` / :func:`stop_on_signals` install a handler that only *records*
  the first SIGTERM or SIGINT. Python may run a handler between any two bytecodes,
  inside a ``__del__`` or a weakref callback too, where a raised exception would be
  printed and dropped (and the run would go on, then exit 0). The stop happens at
  :func:`safe_point`, called where the command owns the flow: after every training
  batch (:mod:`cxr.runtime.lightning_stop`), between sweep cells, between chunks of
  decoding, synthesis, explanation and report writing. It raises :class:`Interrupted`,
  a ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception`` blocks
  do not swallow it; the flag stays set, so if anything swallows it anyway the next
  safe point raises it again. Atomic writers delete their temporary files, Lightning
  tears down, and the CLI prints one line naming what was kept and exits
  ``128 + signum`` (143 for SIGTERM, 130 for SIGINT). A second signal ends the process
  at once (the default action).
* Children do not outlive the command: forks made by the main thread of an armed
  process get ``PR_SET_PDEATHSIG`` (Linux), and spawned pool workers run
  :func:`child_init` (ignore SIGTERM/SIGINT, the parent owns the stop; die with it).
* :func:`last_output` is the folder the command locked last (kept after release);
  the CLI names it when an ``OSError`` carries no file name, and after a signal;
  :func:`note_kept` lets a command say more precisely what an interruption keeps.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from cxr.runtime.errors import CxrError

__all__ = [
    "LOCK_NAME",
    "FolderBusyError",
    "Interrupted",
    "arm_for_process",
    "arm_signals",
    "child_init",
    "interrupted_message",
    "last_output",
    "note_kept",
    "output_lock",
    "pause",
    "safe_point",
    "signals_armed",
    "stop_on_signals",
    "stop_requested",
]

LOCK_NAME = ".cxr.lock"

# folders locked by this process -> nesting depth; flock would refuse a second lock of the
# same file from the same process (a new open file description), so nesting is counted here
_held: dict[Path, int] = {}
_fds: dict[Path, int] = {}
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
    _fds[folder] = fd
    _last[:] = [folder]
    try:
        yield folder
    finally:
        del _held[folder]
        _fds.pop(folder, None)
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)  # closing releases the flock


class _Stop:
    """What the handler records: the first signal's number, and whether handlers are ours."""

    signum: int | None = None
    armed: bool = False


def _handler(signum: int, frame: FrameType | None) -> None:
    """Record the signal and return: nothing here can raise into whatever code it interrupts.

    Python runs this between two bytecodes of the main thread, which may be inside a
    ``__del__`` or a weakref callback, where an exception would be printed and dropped.
    So the stop happens later, at a :func:`safe_point` the command owns. A second signal
    means "now": the default action ends the process at once.
    """
    if _Stop.signum is not None:
        os.write(2, f"cxr: second {signal.Signals(signum).name}: stopping at once\n".encode())
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _Stop.signum = signum


def _libc_prctl(option: int, arg: int) -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0)


_PR_SET_PDEATHSIG = 1
# set just before each fork: (forked by the main thread of an armed process, its pid)
_forking: list[tuple[bool, int]] = [(False, 0)]


def _before_fork() -> None:
    main = threading.current_thread() is threading.main_thread()
    _forking[0] = (main and _Stop.armed, os.getpid())


def _after_fork_in_child() -> None:
    """A forked child (DataLoader worker, pool process) holds no lock and dies with us.

    The child shares the lock's open file description: closing it here drops the child's
    reference only (the parent keeps its lock), so a child that outlives the parent can
    never keep the folder busy. ``PR_SET_PDEATHSIG`` (Linux) kills the child when the
    thread that forked it ends, so only forks made by the main thread get it.
    """
    for fd in _fds.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _fds.clear()
    _held.clear()
    dies_with_parent, parent = _forking[0]
    if dies_with_parent and sys.platform.startswith("linux"):
        _libc_prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


_hooked: list[bool] = [False]


def child_init() -> None:
    """Initializer of the spawned worker processes cxr starts (pools): the parent owns the stop.

    The worker ignores SIGTERM and SIGINT (a scheduler or Ctrl-C signals the whole process
    group; the parent stops at its next safe point and shuts its pool down) and is killed
    when the parent dies, so no worker outlives the command.
    """
    parent = os.getppid()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        _libc_prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)


def arm_signals() -> None:
    """Install the recording handler for SIGTERM and SIGINT (main thread only; idempotent).

    The command line calls this as its first statement, so that a signal during start-up
    is recorded too; the handler stays for the life of the process.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, _handler)
    if not _hooked[0]:  # once per process: fork hooks cannot be unregistered
        _hooked[0] = True
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
    _Stop.armed = True


def _ignore_late_signals() -> None:
    """Last atexit callback: the command's outcome and exit code are final.

    Python resets handlers to the default action during interpreter shutdown, after the atexit
    callbacks; a SIGTERM then would kill a process whose output is complete (shell 143, no
    line). Ignoring the two signals for those last moments keeps the exit code the command
    chose; SIGKILL still ends a shutdown that hangs.
    """
    for s in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(s, signal.SIG_IGN)


def arm_for_process() -> None:
    """:func:`arm_signals` for the rest of the process (the command line, at import).

    The atexit hook registered here runs after every later-registered one (LIFO), i.e.
    after Ray's, Lightning's and the loggers' own shutdown, which a second signal can
    still cut short.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    arm_signals()
    import atexit

    atexit.register(_ignore_late_signals)


def signals_armed() -> bool:
    """Whether the recording handler is installed (by the command line, or a ``with`` block)."""
    return _Stop.armed


def stop_requested() -> int | None:
    """The number of the signal that asked this process to stop, or None."""
    return _Stop.signum


def safe_point() -> None:
    """Raise :class:`Interrupted` if a stop was asked for; call it between items of work.

    The flag is never cleared: if an ``except`` anywhere swallowed the exception, the next
    safe point raises it again.
    """
    if _Stop.signum is not None:
        raise Interrupted(_Stop.signum)


def pause(seconds: float) -> None:
    """``time.sleep`` that ends early (raising :class:`Interrupted`) when a stop is asked for."""
    import time

    end = time.monotonic() + seconds
    while True:
        safe_point()
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))


@contextlib.contextmanager
def stop_on_signals(*, restore: bool = True) -> Iterator[None]:
    """Record the first SIGTERM/SIGINT; :func:`safe_point` raises :class:`Interrupted` for it.

    ``restore=False`` (the command line) leaves the handler installed for the rest of the
    process, so a signal during interpreter shutdown is still only recorded.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.getsignal(s) for s in signums}
    was_armed = _Stop.armed
    arm_signals()
    try:
        yield
    finally:
        if restore:
            _Stop.armed = was_armed
            _Stop.signum = None
            _kept.clear()
            for s, h in previous.items():
                signal.signal(s, h if h is not None else signal.SIG_DFL)


_kept: list[str] = []


def note_kept(what: str) -> None:
    """Say what an interruption from now on keeps, e.g. ``"3 finished epoch(s) in ..."``."""
    _kept[:] = [what]


def interrupted_message(exc: Interrupted) -> str:
    """The one line printed when a command stops on a signal: what was kept, and what next."""
    where = last_output()
    place = f" ({where})" if where else ""
    kept = f"kept {_kept[0]}" if _kept else f"finished work is kept{place}"
    return (
        f"cxr: interrupted by {exc.signame}: {kept}; "
        "rerun the same command to continue"
    )
