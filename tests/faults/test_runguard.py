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
    "import sys, time\n"
    "from cxr import cli\n"
    "def nap() -> None:\n"
    "    print('napping', flush=True)\n"
    "    time.sleep(120)\n"
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
