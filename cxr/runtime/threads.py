"""CPU threads chosen by the tool, so that a shared machine needs no environment tuning.

PyTorch's default intra-op thread count is the number of cores the OpenMP runtime
sees, and its OpenMP threads spin-wait between parallel regions. On a machine whose
cores are shared with other jobs (a container with a CPU quota, a laptop running
other work) the spinning threads compete with those jobs and with each other: small
models then run several times slower (docs/benchmarks.md). This module

* counts the CPUs this process may actually use: the affinity mask
  (``os.sched_getaffinity``) bounded by the cgroup v2 ``cpu.max`` or cgroup v1
  ``cpu.cfs_quota_us / cpu.cfs_period_us`` quota;
* takes how many of those CPUs other processes keep busy (:mod:`cxr.runtime.cpuload`, over a
  short interval at start-up and then over each training epoch) and leaves them to those
  processes: on a 2-core machine running two other
  CPU-bound jobs, one intra-op thread trains EfficientNet-B0 four times faster than two
  whose OpenMP barriers keep waiting for a descheduled partner. VGG16's larger kernels
  still gain from two, so under load :class:`ThreadTuner` times a few training steps at
  both counts and keeps the faster (benchmarks/threads_under_load.py, docs/benchmarks.md);
* before torch is imported, asks OpenMP to sleep instead of spinning when idle
  (``OMP_WAIT_POLICY=PASSIVE`` for GNU OpenMP, ``KMP_BLOCKTIME=0`` for Intel's) and
  sets the intra-op thread count (``OMP_NUM_THREADS``/``MKL_NUM_THREADS``), each only
  where the user has not set it; an explicit ``--threads N`` wins over the environment
  and is never changed by the load.

DataLoader worker processes need nothing here: torch sets one thread per worker.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from cxr.runtime.cpuload import measure_other_load

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
    usable: int = 0  # affinity capped by the quota (0: not computed)
    others: float | None = None  # CPUs other processes kept busy when last measured

    def describe(self) -> str:
        quota = "none" if self.quota is None else f"{self.quota:g}"
        source = self.source
        if self.others is not None and self.source == "available CPUs":
            source = (f"{self.usable} available CPU(s), {self.others:.1f} busy with "
                      "other processes")
        return (
            f"{self.threads} torch thread(s) ({source}; "
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


#: A process is counted as a competitor from this much of a CPU on (a light periodic job
#: such as a file indexer does not cost a thread).
COMPETITOR_CPU = 0.6


def threads_for_load(usable: int, others: float | None, sampled: int | None = None) -> int:
    """Intra-op threads for ``usable`` CPUs while other processes keep ``others`` of the
    ``sampled`` CPUs (the affinity mask /proc/stat was read over; ``usable`` when None)
    busy: the CPUs they leave free, at most ``usable`` and at least one. Under a cgroup
    quota (2 CPUs' worth on a 64-core host, say) other containers' work on the rest of
    the host does not take a thread away."""
    if others is None:
        return usable
    free = (sampled or usable) - int(others + 1 - COMPETITOR_CPU)
    return max(1, min(usable, free))


def configure_threads(threads: int | None = None,
                      environ: dict[str, str] | None = None,
                      other_load: Callable[[], float | None] | None = None) -> ThreadChoice:
    """Set the OpenMP wait policy and thread count for this process and its children.

    Call before torch is imported (the CLI does, for every command). ``threads`` (from
    ``--threads``) overrides the environment; otherwise a user's ``OMP_NUM_THREADS`` is
    kept and only filled in when unset: from :func:`available_cpus`, less the CPUs that
    ``other_load`` (the CLI passes :func:`cxr.runtime.cpuload.measure_other_load`) finds busy
    with other
    processes. If torch was already imported, an explicit ``threads`` is also applied
    with ``torch.set_num_threads``.
    """
    env = os.environ if environ is None else environ
    if "OMP_WAIT_POLICY" not in env:
        for key, value in SHORT_SPIN.items():
            env.setdefault(key, value)
    for key, value in PASSIVE_WAIT.items():
        env.setdefault(key, value)
    usable, affinity, quota = available_cpus()
    others: float | None = None
    if threads is not None:
        if threads < 1:
            from cxr.runtime.errors import ConfigError

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
        others = other_load() if other_load is not None and usable > 1 else None
        n, source = threads_for_load(usable, others, affinity), "available CPUs"
        for key in THREAD_VARS:
            env.setdefault(key, str(n))
    return ThreadChoice(threads=n, source=source, affinity=affinity, quota=quota,
                        usable=usable, others=others)


_CHOICE: ThreadChoice | None = None


def remember(choice: ThreadChoice) -> None:
    """Keep the CLI's choice so that summaries can show it."""
    global _CHOICE
    _CHOICE = choice


def current_choice() -> ThreadChoice | None:
    """The choice made by the CLI in this process, if any."""
    return _CHOICE


#: Training epochs shorter than this are measured together with the next ones.
ADAPT_INTERVAL = 2.0


def load_candidates(
    other_load: Callable[[], float | None] | None = None,
) -> tuple[tuple[int, ...], float] | None:
    """Thread counts worth running now, from the load since the last look: the CPUs other
    processes leave free, and all usable ones when that is fewer (``(low, usable)``; see
    :class:`ThreadTuner`), with the CPUs found busy. None when the count is not the tool's
    to change (``--threads``, ``OMP_NUM_THREADS``, one CPU) or nothing was ever measured
    (no /proc/stat). Under :data:`ADAPT_INTERVAL` seconds since the last look, the last
    figure stands."""
    choice = _CHOICE
    if choice is None or choice.source != "available CPUs" or choice.usable <= 1:
        return None
    measure = other_load or (lambda: measure_other_load(ADAPT_INTERVAL, wait=False))
    others = measure()
    if others is None:  # too soon to measure again (a sweep's next cell): the last figure
        others = choice.others
        if others is None:
            return None
    else:
        remember(replace(choice, others=others))
    low = threads_for_load(choice.usable, others, choice.affinity)
    return ((low,) if low == choice.usable else (low, choice.usable)), others


def set_torch_threads(n: int) -> int:
    """Set torch's intra-op thread count (and the remembered choice); returns the old count."""
    import torch

    current = torch.get_num_threads()
    if n != current:
        torch.set_num_threads(n)
    if _CHOICE is not None:
        remember(replace(_CHOICE, threads=n))
    return current


class ThreadTuner:
    """Times a few training steps at each candidate thread count and keeps the fastest.

    On a loaded machine the better count depends on the network. Beside two CPU-bound
    processes on 2 cores, 64 px, batch 16 (benchmarks/threads_under_load.py,
    docs/benchmarks.md): VGG16 ran a training step in 7.1 s on two threads and 9.2 s on
    one; ResNet50 in 3.2 s on two and 1.9 s on one; EfficientNet-B0 in 2.7 s on two and
    0.66 s on one. Each candidate runs ``warmup`` untimed steps, then ``steps`` timed
    ones; the fewest threads within ``tolerance`` of the fastest win (CPU left to the other
    processes). A trial
    stops early, at its first timed step, when that step alone took ``abort`` times the
    best mean so far (the fast demo's CycleGAN step under load: 1.1 s on one thread, 4.0 s
    on two), so a bad candidate costs its warm-up and one step.
    """

    def __init__(self, candidates: tuple[int, ...], steps: int = 3, warmup: int = 1,
                 tolerance: float = 0.05, abort: float = 1.5,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if not candidates:
            raise ValueError("ThreadTuner needs at least one candidate")
        self.candidates = tuple(candidates)
        self.steps, self.warmup, self.tolerance, self.clock = steps, warmup, tolerance, clock
        self.abort = abort
        self.timings: dict[int, float] = {}  # candidate -> mean seconds per timed step
        self.best: int | None = None
        self._index = self._seen = self._timed = 0
        self._spent = 0.0
        self._started: float | None = None

    @property
    def current(self) -> int:
        """The count being tried (or the winner, once chosen)."""
        return self.best if self.best is not None else self.candidates[self._index]

    def step_started(self) -> None:
        if self.best is None:
            self._started = self.clock()

    def step_ended(self) -> int | None:
        """Account one finished step; returns the count to switch to, or None to stay."""
        if self.best is not None or self._started is None:
            return None
        elapsed, self._started = self.clock() - self._started, None
        self._seen += 1
        if self._seen <= self.warmup:
            # never judged on a warm-up step: the first steps at a new count pay for starting
            # threads and re-planning kernels (a VGG16 step under load: 14.9 s, then 7 s)
            return None
        if self.timings and elapsed > self.abort * min(self.timings.values()):
            self.timings[self.candidates[self._index]] = elapsed  # hopeless: stop here
        else:
            self._spent += elapsed
            self._timed += 1
            if self._timed < self.steps:
                return None
            self.timings[self.candidates[self._index]] = self._spent / self._timed
        self._index += 1
        self._seen = self._timed = 0
        self._spent = 0.0
        if self._index < len(self.candidates):
            return self.candidates[self._index]
        fastest = min(self.timings.values())
        self.best = min(c for c, t in self.timings.items()
                        if t <= fastest * (1 + self.tolerance))
        return self.best

    def describe(self) -> str:
        """e.g. ``1 thread 0.796 s/step, 2 threads 0.907 s/step``."""
        return ", ".join(f"{c} thread{'s' if c > 1 else ''} {t:.3g} s/step"
                         for c, t in sorted(self.timings.items()))
