"""The Ray executor: same cells, same results.csv as the local executor (a local Ray instance)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from support import sweepfakes

from cxr.config import AblateConfig
from cxr.pipelines.ablate.executors import LocalExecutor, RayExecutor
from cxr.pipelines.ablate.run_ablate import SplitInputs, run_ablate

ray = pytest.importorskip("ray", reason="Ray not installed (pip install 'ray[default]')")

INPUTS = {None: SplitInputs(manifest="m.csv")}


@pytest.fixture(scope="module")
def local_ray():
    # test helpers are not importable inside Ray workers: ship them by value
    ray.cloudpickle.register_pickle_by_value(sweepfakes)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _comparable(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, keep_default_na=False)
    return df.drop(columns=["run_dir", "seconds"]).sort_values("key").reset_index(drop=True)


def test_ray_executor_matches_local(tmp_path: Path, local_ray) -> None:
    def cfg(name: str) -> AblateConfig:
        return AblateConfig(
            out=str(tmp_path / name),
            manifest="m.csv",
            backbones=("a", "b"),
            synthetic=(0.0, 0.5),
            seeds=2,
            baselines=("augment",),
            bootstrap=50,
        )

    quiet = Console(quiet=True)
    local = run_ablate(
        cfg("local"),
        cell_fn=sweepfakes.fake_cell,
        resolve=sweepfakes.resolve,
        inputs=INPUTS,
        executor=LocalExecutor(),
        console=quiet,
    )
    remote = run_ablate(
        cfg("ray"),
        cell_fn=sweepfakes.fake_cell,
        resolve=sweepfakes.resolve,
        inputs=INPUTS,
        executor=RayExecutor(cpus_per_cell=1),
        console=quiet,
    )
    assert remote.counts == local.counts == {"done": 12, "failed": 0, "pending": 0}
    pd.testing.assert_frame_equal(_comparable(local.results_csv), _comparable(remote.results_csv))
    for name in ("comparisons.csv", "gains.csv", "summary.csv"):
        a = pd.read_csv(tmp_path / "local" / name, keep_default_na=False)
        b = pd.read_csv(tmp_path / "ray" / name, keep_default_na=False)
        pd.testing.assert_frame_equal(a, b)


def test_ray_failure_in_a_task_is_recorded(tmp_path: Path, local_ray) -> None:
    def boom(task):
        if task.cell.ratio > 0:
            raise ValueError("bad cell")
        sweepfakes.fake_cell(task)

    cfg = AblateConfig(
        out=str(tmp_path / "s"),
        manifest="m.csv",
        backbones=("a",),
        synthetic=(0.0, 0.5),
        seeds=1,
        bootstrap=20,
    )
    res = run_ablate(
        cfg,
        cell_fn=boom,
        resolve=sweepfakes.resolve,
        inputs=INPUTS,
        executor=RayExecutor(),
        console=Console(quiet=True),
    )
    assert res.counts == {"done": 1, "failed": 1, "pending": 0}
    df = pd.read_csv(res.results_csv, keep_default_na=False)
    assert "bad cell" in df.loc[df["status"] == "failed", "error"].iat[0]
