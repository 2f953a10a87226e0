"""How busy the machine is: the CPUs that processes other than this one keep busy.

Read from ``/proc/stat`` over this process's affinity mask, less this process's own CPU
time and that of its children (live ones from ``/proc/<pid>/task/*/children``, so
DataLoader workers are not taken for competitors; reaped ones from ``os.times``). The first
look is taken when this module is imported (the CLI imports it first thing), so the
root callback can compare it with a second look without waiting. Linux only: elsewhere
every function answers None. :mod:`cxr.runtime.threads` turns the figure into a thread count.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CpuSample:
    """One look at the machine: how long the sampled CPUs were busy, and this process's share."""

    wall: float  # time.monotonic()
    busy: int  # jiffies the sampled CPUs spent on anything but idle and iowait
    total: int  # all jiffies of the sampled CPUs
    cpus: int  # how many CPUs were sampled
    own: float  # CPU seconds of this process, its live children and its reaped children


def _cpu_jiffies(stat: Path, cpus: set[int] | None) -> tuple[int, int, int] | None:
    """``(busy, total, count)`` jiffies over the ``cpuN`` lines of /proc/stat in ``cpus``."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    busy = total = count = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        try:
            index = int(name[3:])
            # user nice system idle iowait irq softirq steal (guest time is inside user)
            fields = [int(v) for v in rest.split()[:8]]
        except ValueError:
            continue
        if (cpus is not None and index not in cpus) or len(fields) < 5:
            continue
        total += sum(fields)
        busy += sum(fields) - fields[3] - fields[4]
        count += 1
    return (busy, total, count) if count else None


def _children_cpu_seconds(proc: Path = Path("/proc")) -> float:
    """CPU seconds of this process's live child processes (DataLoader workers, ...)."""
    pids: set[str] = set()
    try:
        tasks = list((proc / str(os.getpid()) / "task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            pids.update((task / "children").read_text().split())
        except OSError:
            continue
    ticks = 0
    for pid in pids:
        try:
            # the command name (field 2) may hold spaces: split after its closing bracket
            fields = (proc / pid / "stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_sample(stat: Path = Path("/proc/stat")) -> CpuSample | None:
    """Busy time of the CPUs in this process's affinity mask and its own CPU time, now;
    None where /proc/stat cannot be read (not Linux)."""
    try:
        cpus: set[int] | None = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = None
    jiffies = _cpu_jiffies(stat, cpus)
    if jiffies is None:
        return None
    times = os.times()
    own = time.process_time() + times.children_user + times.children_system
    return CpuSample(wall=time.monotonic(), busy=jiffies[0], total=jiffies[1], cpus=jiffies[2],
                     own=own + _children_cpu_seconds())


def other_busy_cpus(before: CpuSample, after: CpuSample) -> float | None:
    """How many CPUs processes other than this one kept busy between two samples:
    the sampled CPUs' busy share less this process's own CPU time over the interval."""
    wall = after.wall - before.wall
    total = after.total - before.total
    if wall <= 0 or total <= 0 or after.cpus != before.cpus:
        return None
    busy = (after.busy - before.busy) / total * after.cpus
    own = (after.own - before.own) / wall
    return max(0.0, busy - own)


_LAST_SAMPLE: CpuSample | None = cpu_sample()  # at import: the CLI measures from here


def measure_other_load(min_interval: float = 0.1, wait: bool = True) -> float | None:
    """CPUs busy with other processes since the previous call (or since this module was
    imported). Shorter than ``min_interval`` seconds: sleep the rest when ``wait``,
    otherwise answer None and keep measuring from the same start."""
    global _LAST_SAMPLE
    start = _LAST_SAMPLE
    if start is None:
        _LAST_SAMPLE = cpu_sample()
        return None
    left = min_interval - (time.monotonic() - start.wall)
    if left > 0:
        if not wait:
            return None
        time.sleep(left)
    now = cpu_sample()
    if now is None:
        return None
    _LAST_SAMPLE = now
    return other_busy_cpus(start, now)
