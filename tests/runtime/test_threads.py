"""CPU thread choice: affinity, cgroup quota and load, passive OpenMP waiting, --threads."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cxr.runtime import cpuload, threads
from cxr.runtime.errors import ConfigError


def _cgroup(tmp_path: Path, proc: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cg"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    proc_file = tmp_path / "proc_cgroup"
    proc_file.write_text(proc)
    return root, proc_file


def test_cgroup_v2_quota(tmp_path) -> None:
    root, proc = _cgroup(tmp_path, "0::/job\n", {"job/cpu.max": "150000 100000\n"})
    assert threads.cgroup_cpu_quota(root, proc) == pytest.approx(1.5)


def test_cgroup_v2_unlimited_and_v1_quota(tmp_path) -> None:
    root, proc = _cgroup(tmp_path, "0::/\n", {"cpu.max": "max 100000\n"})
    assert threads.cgroup_cpu_quota(root, proc) is None
    root, proc = _cgroup(tmp_path / "v1", "3:cpu,cpuacct:/box\n0::/\n", {
        "cpu,cpuacct/box/cpu.cfs_quota_us": "300000\n",
        "cpu,cpuacct/box/cpu.cfs_period_us": "100000\n",
    })
    assert threads.cgroup_cpu_quota(root, proc) == pytest.approx(3.0)
    root, proc = _cgroup(tmp_path / "v1none", "3:cpu:/\n", {
        "cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n",
    })
    assert threads.cgroup_cpu_quota(root, proc) is None


def test_available_cpus_capped_by_quota(monkeypatch) -> None:
    monkeypatch.setattr(threads, "affinity_cpus", lambda: 8)
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: 1.5)
    assert threads.available_cpus() == (2, 8, 1.5)
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: None)
    assert threads.available_cpus() == (8, 8, None)


def test_configure_threads_respects_user_settings(monkeypatch) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda: (3, 4, 3.0))
    env: dict[str, str] = {}
    choice = threads.configure_threads(None, env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0", "GOMP_SPINCOUNT": "20000",
                   "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"}
    assert (choice.threads, choice.source) == (3, "available CPUs")
    env = {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "1"}
    choice = threads.configure_threads(None, env)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE" and env["OMP_NUM_THREADS"] == "1"
    assert "GOMP_SPINCOUNT" not in env  # a user's own wait policy is left as it is
    assert (choice.threads, choice.source) == (1, "OMP_NUM_THREADS")
    choice = threads.configure_threads(2, env)  # --threads wins over the environment
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert choice.source == "--threads" and "2 torch thread(s)" in choice.describe()
    with pytest.raises(ConfigError, match="--threads"):
        threads.configure_threads(0, {})


def _torch_threads_after_cli(args: list[str], extra_env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI's root callback in a fresh interpreter, then import torch there."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "CXR_THREADS")}
    env.update(extra_env)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cxr.cli import app\n"
        "assert 'torch' not in sys.modules\n"
        f"r = CliRunner().invoke(app, {args!r} + ['report', '--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "import os, torch\n"
        "from cxr.runtime.threads import current_choice\n"
        "print(current_choice().threads, torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    chosen, used = int(out[-3]), int(out[-2])
    assert chosen == used  # what the CLI chose is what torch runs
    return used, out[-1]


def test_cli_sets_torch_threads_before_import() -> None:
    usable, _, _ = threads.available_cpus()
    # all usable CPUs, less those other processes (another test worker, say) keep busy
    used, policy = _torch_threads_after_cli([], {})
    assert 1 <= used <= usable and policy == "PASSIVE"
    assert _torch_threads_after_cli(["--threads", "1"], {"OMP_NUM_THREADS": "2"}) == (
        1, "PASSIVE")


# -- the machine's load ----------------------------------------------------------------------

_STAT = """cpu  400 0 100 1000 0 0 0 0 0 0
cpu0 100 0 50 500 0 0 0 0 0 0
cpu1 300 0 50 300 20 0 0 10 0 0
cpu2 0 0 0 200 0 0 0 0 0 0
intr 12345
"""


def test_cpu_jiffies_counts_the_affinity_cpus_only(tmp_path) -> None:
    stat = tmp_path / "stat"
    stat.write_text(_STAT)
    # busy = everything but idle and iowait (steal counts as busy: not ours to use)
    assert cpuload._cpu_jiffies(stat, None) == (150 + 360, 650 + 680 + 200, 3)
    assert cpuload._cpu_jiffies(stat, {1}) == (360, 680, 1)
    assert cpuload._cpu_jiffies(stat, {7}) is None
    assert cpuload._cpu_jiffies(tmp_path / "missing", None) is None


def test_other_busy_cpus_subtracts_this_process() -> None:
    before = cpuload.CpuSample(wall=10.0, busy=0, total=0, cpus=2, own=5.0)
    # 4 s: both CPUs fully busy (800 of 800 jiffies), 1.2 CPU-s of them this process's
    after = cpuload.CpuSample(wall=14.0, busy=800, total=800, cpus=2, own=9.8)
    assert cpuload.other_busy_cpus(before, after) == pytest.approx(2.0 - 4.8 / 4)
    idle = cpuload.CpuSample(wall=14.0, busy=400, total=800, cpus=2, own=9.0)
    assert cpuload.other_busy_cpus(before, idle) == pytest.approx(0.0)  # only us: 1 CPU
    assert cpuload.other_busy_cpus(before, before) is None  # no time passed
    assert cpuload.other_busy_cpus(
        before, cpuload.CpuSample(wall=14.0, busy=8, total=8, cpus=3, own=5.0)) is None


@pytest.mark.parametrize("usable, others, sampled, expected", [
    (2, None, None, 2), (2, 0.0, 2, 2), (2, 0.5, 2, 2), (2, 0.7, 2, 1), (2, 1.4, 2, 1),
    (2, 2.0, None, 1), (2, 5.0, 2, 1), (16, 2.1, 16, 14), (1, 3.0, 1, 1),
    # a 2-CPU cgroup quota on a 64-core host: other containers' 30 busy CPUs leave plenty
    (2, 30.0, 64, 2), (2, 63.0, 64, 1),
])
def test_threads_for_load(usable, others, sampled, expected) -> None:
    assert threads.threads_for_load(usable, others, sampled) == expected


def test_configure_threads_leaves_busy_cpus_to_other_processes(monkeypatch) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda: (2, 2, None))
    env: dict[str, str] = {}
    choice = threads.configure_threads(None, env, other_load=lambda: 1.4)
    assert (choice.threads, choice.usable, choice.others) == (1, 2, 1.4)
    assert env["OMP_NUM_THREADS"] == "1"
    assert "1.4 busy with other processes" in choice.describe()
    # an explicit choice is never measured against the load
    asked: list[int] = []

    def load() -> float:
        asked.append(1)
        return 2.0

    assert threads.configure_threads(2, {}, other_load=load).threads == 2
    assert threads.configure_threads(None, {"OMP_NUM_THREADS": "2"}, other_load=load).threads == 2
    assert asked == []


def test_measure_other_load_sees_a_cpu_bound_process() -> None:
    # another process, not a child of this one (a child's CPU time counts as this process's):
    # the shell starts it in the background, prints its pid and exits
    shell = subprocess.run(
        ["sh", "-c", f"'{sys.executable}' -c 'while True: pass' >/dev/null 2>&1 & echo $!"],
        capture_output=True, text=True, check=True)
    pid = int(shell.stdout.strip())
    try:
        cpuload.measure_other_load(0.0)  # start a new interval
        others = cpuload.measure_other_load(0.6)  # sleeps the rest of 0.6 s
    finally:
        os.kill(pid, signal.SIGKILL)
    assert others is not None and others >= 0.6
    # under the interval and not waiting: nothing measured, the interval keeps its start
    cpuload.measure_other_load(0.0)
    assert cpuload.measure_other_load(60.0, wait=False) is None


def test_load_candidates_only_for_the_tools_own_choice(monkeypatch) -> None:
    monkeypatch.setattr(threads, "_CHOICE", None)
    base = threads.ThreadChoice(threads=2, source="available CPUs", affinity=2, quota=None,
                                usable=2)
    threads.remember(base)
    assert threads.load_candidates(lambda: 0.1) == ((2,), 0.1)
    assert threads.load_candidates(lambda: 1.5) == ((1, 2), 1.5)
    assert threads.current_choice().others == 1.5
    # too soon to measure again: the last figure stands; never measured: nothing to go on
    assert threads.load_candidates(lambda: None) == ((1, 2), 1.5)
    threads.remember(base)
    assert threads.load_candidates(lambda: None) is None
    threads.remember(dataclasses.replace(base, source="--threads"))
    assert threads.load_candidates(lambda: 1.5) is None
    threads.remember(dataclasses.replace(base, usable=1))
    assert threads.load_candidates(lambda: 1.5) is None


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run_steps(tuner: threads.ThreadTuner, clock: _Clock, seconds: dict[int, float],
               limit: int = 50) -> list[int]:
    """Drive a tuner with steps that take ``seconds[threads]``; the counts it ran, in order."""
    ran = []
    for _ in range(limit):
        if tuner.best is not None:
            break
        n = tuner.current
        ran.append(n)
        tuner.step_started()
        clock.now += seconds[n]
        tuner.step_ended()
    return ran


def test_thread_tuner_keeps_the_faster_count() -> None:
    clock = _Clock()
    tuner = threads.ThreadTuner((1, 2), steps=2, warmup=1, clock=clock)
    assert _run_steps(tuner, clock, {1: 1.0, 2: 0.6}) == [1, 1, 1, 2, 2, 2]
    assert tuner.best == 2 and tuner.timings == pytest.approx({1: 1.0, 2: 0.6})
    assert tuner.describe() == "1 thread 1 s/step, 2 threads 0.6 s/step"
    assert tuner.step_ended() is None  # decided: nothing more to do


def test_thread_tuner_prefers_fewer_threads_within_tolerance() -> None:
    clock = _Clock()
    tuner = threads.ThreadTuner((1, 2), steps=2, warmup=1, tolerance=0.05, clock=clock)
    _run_steps(tuner, clock, {1: 1.0, 2: 0.97})
    assert tuner.best == 1


def test_thread_tuner_drops_a_hopeless_count_after_one_step() -> None:
    clock = _Clock()
    tuner = threads.ThreadTuner((1, 2), steps=3, warmup=1, abort=1.5, clock=clock)
    assert _run_steps(tuner, clock, {1: 1.0, 2: 3.5}) == [1, 1, 1, 1, 2, 2]
    assert tuner.best == 1 and tuner.timings[2] == 3.5


def test_thread_tuner_does_not_judge_a_slow_warm_up_step() -> None:
    """The first step at a new count starts threads and re-plans kernels: not a verdict."""
    clock = _Clock()
    tuner = threads.ThreadTuner((1, 2), steps=2, warmup=1, abort=1.5, clock=clock)
    durations = iter([1.0, 1.0, 1.0,   # one thread: warm-up, two timed steps
                      3.0, 0.7, 0.7])  # two threads: a slow warm-up, then faster
    while tuner.best is None:
        tuner.step_started()
        clock.now += next(durations)
        tuner.step_ended()
    assert tuner.best == 2 and tuner.timings == pytest.approx({1: 1.0, 2: 0.7})
    with pytest.raises(ValueError):
        threads.ThreadTuner(())


def test_follow_load_tries_both_counts_then_reuses_the_choice(monkeypatch) -> None:
    """The Lightning callback: idle -> all CPUs; loaded -> a trial, kept for the network."""
    import io
    from types import SimpleNamespace

    import torch
    from rich.console import Console

    from cxr.runtime import lightning_threads as lt

    clock = _Clock()
    step_seconds = {1: 1.0, 2: 3.0}  # two threads are hopeless under this load
    used: list[int] = []
    state = {"threads": 2}

    def fake_set(n: int) -> int:
        old, state["threads"] = state["threads"], n
        used.append(n)
        return old

    load = {"value": 1.5}
    monkeypatch.setattr(lt, "set_torch_threads", fake_set)
    monkeypatch.setattr(lt, "load_candidates",
                        lambda: ((1, 2), load["value"]) if load["value"] >= 0.6
                        else ((2,), load["value"]))
    monkeypatch.setattr(lt, "ThreadTuner",
                        lambda c: threads.ThreadTuner(c, steps=2, warmup=1, clock=clock))
    monkeypatch.setattr(lt, "_CHOSEN", {})
    monkeypatch.setattr(lt, "_TRIALS", {})
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")))
    module = torch.nn.Linear(3, 2)
    out = io.StringIO()

    def train(callback: lt.FollowLoad, steps: int) -> None:
        callback.on_train_start(trainer, module)
        for i in range(steps):
            callback.on_train_batch_start(trainer, module, None, i)
            clock.now += step_seconds[state["threads"]]
            callback.on_train_batch_end(trainer, module, None, None, i)
        callback.on_train_epoch_end(trainer, module)

    # a short first run leaves the trial unfinished; the next run of the network goes on
    train(lt.FollowLoad(Console(file=io.StringIO())), steps=2)
    assert lt._TRIALS and not lt._CHOSEN
    train(lt.FollowLoad(Console(file=out, width=200)), steps=4)
    assert lt._CHOSEN == {("Linear", 8, (1, 2)): 1} and not lt._TRIALS
    assert state["threads"] == 1
    assert "1 thread 1 s/step, 2 threads 3 s/step: training on 1" in out.getvalue()
    # a later run of the same network under the same load skips the trial
    before = len(used)
    train(lt.FollowLoad(Console(file=io.StringIO())), steps=3)
    assert used[before:] == [1, 1] and state["threads"] == 1
    # the load goes away: all CPUs again, said in one line
    load["value"] = 0.0
    out = io.StringIO()
    callback = lt.FollowLoad(Console(file=out, width=200))
    callback._look(trainer, module)
    assert state["threads"] == 2 and "torch threads 1 -> 2" in out.getvalue()
    # not on CPU: nothing is measured or changed
    gpu_trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("meta")))
    load["value"] = 1.5
    callback._look(gpu_trainer, module)
    assert state["threads"] == 2
