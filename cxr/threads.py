"""CPU threads chosen by the tool, so that a shared machine needs no environment tuning.

PyTorch's default intra-op thread count is the number of cores the OpenMP runtime
sees, and its OpenMP threads spin-wait between parallel regions. On a machine whose
cores are shared with other jobs (a container with a CPU quota, a laptop running
other work) the spinning threads compete with those jobs and with each other: small
models then run several times slower (docs/benchmarks.md). This module

* counts the CPUs this process may actually use: the affinity mask
  (``os.sched_getaffinity``) bounded by the cgroup v2 ``cpu.max`` or cgroup v1
  ``cpu.cfs_quota_us / cpu.cfs_period_us`` quota;
* before torch is imported, asks OpenMP to sleep instead of spinning when idle
  (``OMP_WAIT_POLICY=PASSIVE`` for GNU OpenMP, ``KMP_BLOCKTIME=0`` for Intel's) and
  sets the intra-op thread count (``OMP_NUM_THREADS``/``MKL_NUM_THREADS``), each only
  where the user has not set it; an explicit ``--threads N`` wins over the environment.

DataLoader worker processes need nothing here: torch sets one thread per worker.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

#: Environment variables that keep idle OpenMP threads from burning CPU time.
PASSIVE_WAIT = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
#: A short spin before sleeping (GNU OpenMP, which torch's wheels bundle). Fully passive
#: waiting made 64 px CycleGAN epochs 1.8x slower on an idle 2-core machine (52.4 s vs
#: 32.5 s for 3 epochs); a 20,000-iteration spin got that back (33.0 s) while staying
#: 15x below libgomp's default spin, which is what burns CPU on a shared machine
#: (docs/benchmarks.md). Only set when cxr chose the wait policy itself.
SHORT_SPIN = {"GOMP_SPINCOUNT": "20000"}
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class ThreadChoice:
    """What :func:`configure_threads` decided and why (shown in summaries)."""

    threads: int
    source: str  # "--threads", "OMP_NUM_THREADS", or "available CPUs"
    affinity: int
    quota: float | None  # CPUs allowed by the cgroup quota; None when unlimited

    def describe(self) -> str:
        quota = "none" if self.quota is None else f"{self.quota:g}"
        return (
            f"{self.threads} torch thread(s) ({self.source}; "
            f"affinity {self.affinity} CPU(s), cgroup quota {quota})"
        )


def _cgroup_paths(proc_cgroup: Path) -> tuple[str | None, str | None]:
    """This process's cgroup v2 path and cgroup v1 ``cpu`` controller path."""
    v2 = v1 = None
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _read_quota_v2(path: Path) -> float | None:
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def _read_quota_v1(quota_path: Path, period_path: Path) -> float | None:
    try:
        quota = int(quota_path.read_text().strip())
        period = int(period_path.read_text().strip())
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:  # -1: no quota
        return None
    return quota / period


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup"),
                     proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs allowed by this process's cgroup CPU quota (v2 first, then v1); None if unlimited."""
    v2, v1 = _cgroup_paths(proc_cgroup)
    candidates_v2 = [root / v2.lstrip("/") / "cpu.max"] if v2 is not None else []
    candidates_v2.append(root / "cpu.max")
    for path in candidates_v2:
        quota = _read_quota_v2(path)
        if quota is not None:
            return quota
    dirs = []
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        if v1 is not None:
            dirs.append(root / controller / v1.lstrip("/"))
        dirs.append(root / controller)
    for d in dirs:
        quota = _read_quota_v1(d / "cpu.cfs_quota_us", d / "cpu.cfs_period_us")
        if quota is not None:
            return quota
    return None


def affinity_cpus() -> int:
    """CPUs in this process's affinity mask (``os.cpu_count()`` where the mask is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def available_cpus() -> tuple[int, int, float | None]:
    """``(usable CPUs, affinity count, cgroup quota)``: the affinity count capped by the
    quota (rounded up: a 1.5-CPU quota still runs two threads part of the time)."""
    affinity = affinity_cpus()
    quota = cgroup_cpu_quota()
    usable = affinity if quota is None else min(affinity, max(1, math.ceil(quota)))
    return max(1, usable), affinity, quota


def configure_threads(threads: int | None = None,
                      environ: dict[str, str] | None = None) -> ThreadChoice:
    """Set the OpenMP wait policy and thread count for this process and its children.

    Call before torch is imported (the CLI does, for every command). ``threads`` (from
    ``--threads``) overrides the environment; otherwise a user's ``OMP_NUM_THREADS`` is
    kept and only filled in from :func:`available_cpus` when unset. If torch was already
    imported, an explicit ``threads`` is also applied with ``torch.set_num_threads``.
    """
    env = os.environ if environ is None else environ
    if "OMP_WAIT_POLICY" not in env:
        for key, value in SHORT_SPIN.items():
            env.setdefault(key, value)
    for key, value in PASSIVE_WAIT.items():
        env.setdefault(key, value)
    usable, affinity, quota = available_cpus()
    if threads is not None:
        if threads < 1:
            from cxr.errors import ConfigError

            raise ConfigError(f"--threads must be >= 1, got {threads}")
        n, source = threads, "--threads"
        for key in THREAD_VARS:
            env[key] = str(n)
        torch = sys.modules.get("torch")
        if torch is not None and environ is None:
            torch.set_num_threads(n)
    elif env.get("OMP_NUM_THREADS", "").strip().isdigit() and int(env["OMP_NUM_THREADS"]) > 0:
        n, source = int(env["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    else:
        n, source = usable, "available CPUs"
        for key in THREAD_VARS:
            env.setdefault(key, str(n))
    return ThreadChoice(threads=n, source=source, affinity=affinity, quota=quota)


_CHOICE: ThreadChoice | None = None


def remember(choice: ThreadChoice) -> None:
    """Keep the CLI's choice so that summaries can show it."""
    global _CHOICE
    _CHOICE = choice


def current_choice() -> ThreadChoice | None:
    """The choice made by the CLI in this process, if any."""
    return _CHOICE
