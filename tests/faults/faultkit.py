"""Helpers for the fault tests: run the real ``cxr`` command line in subprocesses.

Each subprocess pays for importing torch (seconds on a loaded 2-core machine), so the
fixtures share one tiny phantom dataset, one image cache and one uninterrupted
reference GAN run per session; every fault run is compared with that reference.

Full disks and read-only folders are real: a small tmpfs mounted for the test (root with
CAP_SYS_ADMIN, as in the project's CI container). Where mounting is not allowed the tests
that need it are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GAN_ARGS = [
    "--image-size", "32", "--epochs", "4", "--epochs-decay", "0", "--steps-per-epoch", "3",
    "--batch-size", "2", "--ngf", "4", "--ndf", "4", "--n-blocks", "1", "--accelerator", "cpu",
]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               CUDA_VISIBLE_DEVICES="", MPLBACKEND="Agg", PYTHONHASHSEED="0",
               COLUMNS="200", TERM="dumb")
    return env


def cxr(*args: object, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``cxr ARGS`` to completion; stdout and stderr captured as text."""
    cmd = [sys.executable, "-m", "cxr.cli", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=cli_env(), capture_output=True, text=True,
                          timeout=timeout)


def spawn(*args: object, cwd: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "cxr.cli", *map(str, args)]
    return subprocess.Popen(cmd, cwd=cwd, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(pred: object, proc: subprocess.Popen[str], timeout: float = 300) -> None:
    """Poll until ``pred()`` holds; fail early (with its output) if ``proc`` exits first."""
    end = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process ended (rc {proc.returncode}) before the condition:\n{err}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail("timed out waiting")
        time.sleep(0.02)


def error_lines(stderr: str) -> list[str]:
    """The ``cxr: ...`` lines, after checking that no traceback reached the user."""
    assert "Traceback" not in stderr, stderr
    return [ln for ln in stderr.splitlines() if ln.startswith("cxr: ")]


def leftovers(folder: Path) -> list[str]:
    """Temporary or half-written files under ``folder`` (atomic writers' temp names)."""
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*")
        if p.is_file() and (p.name.startswith(".") or p.suffix in (".tmp", ".partial"))
    )


def state_dict_of(ckpt: Path) -> dict[str, object]:
    import torch

    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def same_weights(a: Path, b: Path) -> bool:
    import torch

    sa, sb = state_dict_of(a), state_dict_of(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)  # type: ignore[arg-type]


def terminate(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


@contextlib.contextmanager
def _mounted(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


