"""CPU thread choice: affinity and cgroup quota, passive OpenMP waiting, --threads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cxr import threads
from cxr.errors import ConfigError


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
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cxr.cli import app\n"
        "assert 'torch' not in sys.modules\n"
        f"r = CliRunner().invoke(app, {args!r} + ['report', '--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "import os, torch\n"
        "print(torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    return int(out[-2]), out[-1]


def test_cli_sets_torch_threads_before_import() -> None:
    usable, _, _ = threads.available_cpus()
    assert _torch_threads_after_cli([], {}) == (usable, "PASSIVE")
    assert _torch_threads_after_cli(["--threads", "1"], {"OMP_NUM_THREADS": "2"}) == (
        1, "PASSIVE")
