"""Per-epoch draws under distributed data parallel: real 2-process CPU (gloo) runs.

Every rank must draw a disjoint shard of the *current* epoch's plan, the union of
the shards must be the single-process plan, and the plan must change from
epoch to epoch exactly as on one device (docs/mixing.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, Dataset

from cxr.augment.mixing import MixingSampler, shard_positions
from cxr.augment.sampling import SeededDraws
from cxr.runtime.errors import ConfigError

COVID = 0
OPTIONS: dict[str, Any] = {"minority": COVID, "with_synthetic": 0.5, "aug_share": 0.5,
                           "balance": "oversample", "seed": 3}


def _rows() -> tuple[np.ndarray, np.ndarray]:
    labels = np.array([COVID] * 5 + [1] * 9 + [COVID] * 8)
    origins = np.array(["real"] * 14 + ["gan"] * 8)
    return labels, origins


def _sampler(**kw: Any) -> SeededDraws:
    labels, origins = _rows()
    return SeededDraws(MixingSampler.from_arrays(labels, origins, **OPTIONS, **kw), seed=3)


def _single_process_plan(epoch: int) -> list[list[Any]]:
    draws = _sampler(num_replicas=1, rank=0)
    draws.set_epoch(epoch)
    return [list(d) for d in draws]


class _Keys(Dataset):
    """Returns the sampler key itself, so a batch shows exactly what was drawn."""

    def __len__(self) -> int:
        return 22

    def __getitem__(self, key: tuple[int, bool, int]) -> dict[str, Any]:
        i, aug, seed = key
        return {"index": i, "augment": aug, "seed": seed, "x": torch.ones(1)}


def _interleave(shards: list[list[list[Any]]], n: int) -> list[list[Any]]:
    """Undo the rank-strided layout: position p was drawn by rank p % W as its (p // W)-th."""
    world = len(shards)
    return [shards[p % world][p // world] for p in range(n)]


def test_shard_positions_are_disjoint_equal_and_cover() -> None:
    for n in (0, 1, 5, 22, 23):
        for world in (1, 2, 3, 4):
            shards = [shard_positions(n, r, world) for r in range(world)]
            assert len({s.size for s in shards}) == 1
            padded = np.concatenate(shards)
            assert set(padded.tolist()) == set(range(n))
            assert padded.size - n == (-n) % world  # padding only
    with pytest.raises(ConfigError, match="rank 2"):
        shard_positions(5, 2, 2)


def test_explicit_ranks_shard_the_epoch_plan() -> None:
    for epoch in (0, 1):
        plan = _single_process_plan(epoch)
        shards = []
        for rank in (0, 1):
            draws = _sampler(num_replicas=2, rank=rank)
            draws.set_epoch(epoch)
            shards.append([list(d) for d in draws])
            assert len(draws) == len(shards[-1])
        assert _interleave(shards, len(plan)) == plan
    assert _single_process_plan(0) != _single_process_plan(1)


def _gloo_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        draws = _sampler()  # rank and world size come from the process group
        loader = DataLoader(_Keys(), sampler=draws, batch_size=4)
        from lightning.fabric.utilities.data import _set_sampler_epoch

        seen = {}
        for epoch in (0, 1):
            _set_sampler_epoch(loader, epoch)  # what Lightning's fit loop calls each epoch
            seen[epoch] = [[int(i), bool(a), int(s)] for b in loader
                           for i, a, s in zip(b["index"], b["augment"], b["seed"], strict=True)]
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(seen))
    finally:
        dist.destroy_process_group()


def _check_ranks(out_dir: Path, world: int) -> None:
    seen = [json.loads((out_dir / f"rank{r}.json").read_text()) for r in range(world)]
    for epoch in (0, 1):
        plan = _single_process_plan(epoch)
        shards = [s[str(epoch)] for s in seen]
        assert len({len(s) for s in shards}) == 1  # equal steps on every rank
        assert _interleave(shards, len(plan)) == plan  # union over ranks == one-device plan
        assert sum(len(s) for s in shards) - len(plan) == (-len(plan)) % world
    for s in seen:
        assert s["0"] != s["1"]  # epoch 1 is a new draw on every rank


def test_two_process_gloo_ranks_draw_disjoint_shards_of_each_epoch(tmp_path: Path) -> None:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_gloo_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2,
             join=True)
    _check_ranks(tmp_path, 2)


class _Recorder(L.LightningModule):
    """Writes the keys each rank trained on, per epoch."""

    def __init__(self, out_dir: str) -> None:
        super().__init__()
        self.out_dir = out_dir
        self.w = torch.nn.Linear(1, 1)
        self.keys: list[list[Any]] = []

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self.keys += [[int(i), bool(a), int(s)] for i, a, s in
                      zip(batch["index"], batch["augment"], batch["seed"], strict=True)]
        return self.w(batch["x"]).sum()

    def on_train_epoch_end(self) -> None:
        name = f"rank{self.global_rank}_epoch{self.current_epoch}.json"
        Path(self.out_dir, name).write_text(json.dumps(self.keys))
        self.keys = []

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.log("val_auroc", 0.5, sync_dist=True, batch_size=len(batch["x"]))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _lightning_entry(out_dir: str) -> None:
    from cxr.config import ClassifyConfig
    from cxr.pipelines.classify.run_classify import _trainer

    cfg = ClassifyConfig(epochs=2, patience=5, accelerator="cpu", devices="2",
                         strategy="ddp_spawn")
    trainer = _trainer(cfg, Path(out_dir), False)
    train = DataLoader(_Keys(), sampler=_sampler(), batch_size=4)
    val = DataLoader(_Keys(), sampler=[(0, False, 0), (1, False, 0)], batch_size=2)
    trainer.fit(_Recorder(out_dir), train, val)


@pytest.mark.slow  # two spawned Lightning processes: ~40 s CPU
def test_classify_trainer_under_ddp_draws_each_epochs_plan(tmp_path: Path) -> None:
    """`cxr classify`'s own Trainer settings, 2 CPU processes (ddp_spawn, gloo), 2 epochs."""
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    _lightning_entry(str(tmp_path))
    for rank in (0, 1):
        seen = {str(e): json.loads((tmp_path / f"rank{rank}_epoch{e}.json").read_text())
                for e in (0, 1)}
        (tmp_path / f"rank{rank}.json").write_text(json.dumps(seen))
    _check_ranks(tmp_path, 2)
