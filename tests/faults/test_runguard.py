"""The output-folder lock and the signal exits, through the real entry point (no torch)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from faultkit import cli_env

from cxr.runtime.runguard import LOCK_NAME, FolderBusyError, output_lock

HOLD = (
    "import sys, time\n"
    "from cxr.runtime.runguard import output_lock\n"
    "with output_lock(sys.argv[1]):\n"
    "    print('locked', flush=True)\n"
    "    time.sleep(120)\n"
)


def test_busy_folder_names_the_holder_and_a_dead_holder_frees_it(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], env=cli_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        busy = pytest.raises(FolderBusyError, match=rf"pid {holder.pid}\b.*another --out")
        with busy, output_lock(tmp_path):
            pass
    finally:
        holder.kill()  # SIGKILL: no cleanup runs, the lock file stays behind
        holder.wait()
    assert (tmp_path / LOCK_NAME).is_file()
    with output_lock(tmp_path) as held:  # the kernel released the dead holder's flock
        assert held == tmp_path.resolve()
        with output_lock(tmp_path):  # nested use in one process is allowed
            pass
    assert not (tmp_path / LOCK_NAME).exists()


SLEEPER = (
    "import sys\n"
    "from cxr import cli\n"
    "from cxr.runtime.runguard import pause\n"
    "def nap() -> None:\n"
    "    print('napping', flush=True)\n"
    "    pause(120)\n"
    "cli.app.command('nap')(nap)\n"
    "cli.app.command('nap2')(nap)\n"
    "sys.argv = ['cxr', 'nap']\n"
    "cli.main()\n"
)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_exit_with_128_plus_signum_and_one_line(sig: int, code: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER], env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "napping"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert err.strip().splitlines() == [
        f"cxr: interrupted by {signal.Signals(sig).name}: finished work is kept; "
        "rerun the same command to continue"
    ]


FULL = (
    "import errno, os, sys\n"
    "from cxr import cli\n"
    "from cxr.runtime.runguard import output_lock\n"
    "def fill() -> None:\n"
    "    with output_lock(folder):\n"
    "        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
    "cli.app.command('fill')(fill)\n"
    "cli.app.command('fill2')(fill)\n"
    "folder = sys.argv[1]\n"
    "sys.argv = ['cxr', 'fill']\n"
    "cli.main()\n"
)


def test_unnamed_disk_error_names_the_run_folder(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", FULL, str(tmp_path / "run")], env=cli_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"cxr: error: writing to {tmp_path / 'run'}: No space left on device "
        "(free some space and rerun the same command; finished work is kept)"
    ]
    assert not (tmp_path / "run" / LOCK_NAME).exists()


# --- the handler only records; the stop happens at a safe point (issue 25) -----------------

def _deliver_inside(now_seen: object) -> None:
    """SIGTERM to this process, delivered before the calling frame returns (forced)."""
    import os
    import time

    os.kill(os.getpid(), signal.SIGTERM)
    end = time.monotonic() + 10
    while not now_seen() and time.monotonic() < end:  # type: ignore[operator]
        time.sleep(0.001)  # the handler runs here at the latest, inside the caller
    assert now_seen(), "the signal was not delivered"  # type: ignore[operator]


def _finalisers() -> dict[str, object]:
    """Two ways a signal lands in a finaliser: ``__del__`` and a ``weakref.finalize`` callback."""
    import weakref

    from cxr.runtime.runguard import stop_requested

    def seen() -> bool:
        return stop_requested() is not None

    class WithDel:
        def __del__(self) -> None:
            _deliver_inside(seen)

    class Plain:
        pass

    def by_del() -> None:
        WithDel()  # dropped at once: __del__ runs now

    def by_finalize() -> None:
        obj = Plain()
        weakref.finalize(obj, _deliver_inside, seen)
        del obj  # the callback runs now

    return {"__del__": by_del, "weakref.finalize": by_finalize}


@pytest.mark.parametrize("how", ["__del__", "weakref.finalize"])
def test_signal_inside_a_finaliser_stops_at_the_next_safe_point(how: str) -> None:
    from cxr.runtime.runguard import Interrupted, safe_point, stop_on_signals, stop_requested

    steps: list[int] = []
    with stop_on_signals(), pytest.raises(Interrupted) as info:
        for step in range(50):  # a "training loop": work, a finaliser, then the batch end
            _finalisers()[how]()  # type: ignore[operator]
            assert stop_requested() == signal.SIGTERM  # recorded, and nothing raised yet
            steps.append(step)
            safe_point()
    assert steps == [0] and info.value.exit_code == 143
    assert stop_requested() is None  # stop_on_signals restored the previous state on exit


def test_a_swallowed_interrupt_is_raised_again_at_the_next_safe_point() -> None:
    import contextlib

    from cxr.runtime.runguard import Interrupted, safe_point, stop_on_signals, stop_requested

    with stop_on_signals():
        _deliver_inside(lambda: stop_requested() is not None)
        with contextlib.suppress(BaseException):  # some library's over-broad except
            safe_point()
        with pytest.raises(Interrupted):
            safe_point()


@pytest.mark.parametrize("how", ["__del__", "weakref.finalize"])
def test_a_raising_handler_would_lose_the_signal_in_a_finaliser(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug of issue 25, reproduced: why the handler must not raise."""
    import sys

    class Raised(BaseException):
        pass

    def raising(signum: int, frame: object) -> None:
        raise Raised

    lost: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: lost.append(u.exc_value))
    old = signal.signal(signal.SIGTERM, raising)
    try:
        ran = 0
        for _ in range(5):
            try:
                _finalisers()[how]()  # type: ignore[operator]
            except Raised:  # pragma: no cover - would mean the signal was not lost
                break
            ran += 1
    finally:
        signal.signal(signal.SIGTERM, old)
    assert ran == 5 and lost and all(isinstance(e, Raised) for e in lost)


LOOP = (
    "import sys, weakref, os, signal, time\n"
    "from cxr import cli\n"
    "from cxr.runtime.runguard import safe_point, stop_requested\n"
    "class Obj:\n"
    "    pass\n"
    "def deliver():\n"
    "    os.kill(os.getpid(), signal.SIGTERM)\n"
    "    while stop_requested() is None:\n"
    "        time.sleep(0.001)\n"
    "def loop() -> None:\n"
    "    for step in range(100):\n"
    "        o = Obj()\n"
    "        if step == 3:\n"
    "            weakref.finalize(o, deliver)\n"
    "        del o\n"
    "        print('step', step, flush=True)\n"
    "        safe_point()\n"
    "cli.app.command('loop')(loop)\n"
    "cli.app.command('loop2')(loop)\n"
    "sys.argv = ['cxr', 'loop']\n"
    "cli.main()\n"
)


def test_command_stops_at_the_next_safe_point_after_a_signal_in_a_finaliser() -> None:
    out = subprocess.run([sys.executable, "-c", LOOP], env=cli_env(), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 143, out.stderr
    assert out.stdout.split() == ["step", "0", "step", "1", "step", "2", "step", "3"]
    assert out.stderr.strip().splitlines() == [
        "cxr: interrupted by SIGTERM: finished work is kept; rerun the same command to continue"
    ]


STUCK = (
    "import sys, time\n"
    "from cxr import cli\n"
    "def stuck() -> None:\n"
    "    print('stuck', flush=True)\n"
    "    time.sleep(120)  # no safe point: only a second signal ends it\n"
    "cli.app.command('stuck')(stuck)\n"
    "cli.app.command('stuck2')(stuck)\n"
    "sys.argv = ['cxr', 'stuck']\n"
    "cli.main()\n"
)


def test_second_signal_terminates_at_once() -> None:
    import time

    proc = subprocess.Popen([sys.executable, "-c", STUCK], env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "stuck"
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert proc.poll() is None  # recorded, waiting for a safe point
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert err.strip().splitlines() == ["cxr: second SIGTERM: stopping at once"]


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_lungs_commands_refuse_a_folder_another_run_holds(tmp_path: Path, command: str) -> None:
    from typer.testing import CliRunner

    from cxr.cli import app

    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], env=cli_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        args = {"train": ["--manifest", str(tmp_path / "m.csv")],
                "evaluate": ["--checkpoint", str(tmp_path / "l.pt"), "--manifest",
                             str(tmp_path / "m.csv")],
                "predict": ["--checkpoint", str(tmp_path / "l.pt"), "--manifest",
                            str(tmp_path / "m.csv")]}[command]
        res = CliRunner().invoke(app, ["lungs", command, *args, "--out", str(out)])
    finally:
        holder.kill()
        holder.wait()
    assert isinstance(res.exception, FolderBusyError)  # cxr's main prints it as one line
    assert f"pid {holder.pid}" in str(res.exception) and "another --out" in str(res.exception)
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written beside it
