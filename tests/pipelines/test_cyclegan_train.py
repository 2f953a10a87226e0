"""`train_gan` end to end on tiny data: leakage guard, outputs, exact resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from support.gan_fixtures import make_tiny_manifest, tiny_cfg

from cxr.data.manifest import load_manifest, new_manifest, save_manifest
from cxr.pipelines.gan.train_gan import train_gan
from cxr.runtime.errors import ConfigError, LeakageError


class RowSpy(L.Callback):
    def __init__(self) -> None:
        self.rows: set[int] = set()

    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        self.rows |= set(batch["A_row"].tolist()) | set(batch["B_row"].tolist())
        assert int(batch["A"][:, :3, :3].min()) < 255, "a held-out (marked) image reached training"


class KillAtEpoch(L.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated kill")


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_manifest(tmp_path_factory.mktemp("tiny"))


def test_train_outputs_leakage_and_exact_resume(tiny: Path, tmp_path: Path) -> None:
    cfg = tiny_cfg(tmp_path)
    spy = RowSpy()
    straight = train_gan(
        cfg, manifest=tiny, out_dir=tmp_path / "a", progress=False, callbacks=[spy]
    )
    df = load_manifest(tiny)
    seen = df.iloc[sorted(spy.rows)]
    assert set(seen["split"]) == {"train"} and set(seen["origin"]) == {"real"}
    held_out = set(df.loc[df["split"] != "train", "patient_id"])
    assert not held_out & set(seen["patient_id"])
    assert straight.epochs == 2 and straight.steps_per_epoch == 3
    run = tmp_path / "a"
    for name in (
        "config.yaml",
        "losses.csv",
        "losses.png",
        "summary.json",
        "samples/epoch_001.png",
        "samples/epoch_002.png",
    ):
        assert (run / name).is_file(), name
    assert len((run / "losses.csv").read_text().splitlines()) == 3

    with pytest.raises(RuntimeError, match="simulated kill"):
        train_gan(
            cfg, manifest=tiny, out_dir=tmp_path / "b", progress=False, callbacks=[KillAtEpoch(1)]
        )
    assert len((tmp_path / "b" / "losses.csv").read_text().splitlines()) == 2
    with pytest.raises(ConfigError, match="--resume"):
        train_gan(cfg, manifest=tiny, out_dir=tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="option lr"):
        train_gan(
            tiny_cfg(tmp_path, lr=1e-3),
            manifest=tiny,
            out_dir=tmp_path / "b",
            progress=False,
            resume=True,
        )
    # the first session ran at "bf16-mixed" on paper; the resumed one says what it used
    cfg_b = (tmp_path / "b" / "config.yaml")
    cfg_b.write_text(cfg_b.read_text().replace("precision: 32-true", "precision: bf16-mixed"))
    resumed = train_gan(dataclasses.replace(cfg, precision="32"), manifest=tiny,
                        out_dir=tmp_path / "b", progress=False, resume=True)
    assert resumed.epochs == 2
    assert "precision: '32'" in cfg_b.read_text() or "precision: \"32\"" in cfg_b.read_text()
    wa, wb = _weights(straight.checkpoint), _weights(resumed.checkpoint)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert (run / "losses.csv").read_text() == (tmp_path / "b" / "losses.csv").read_text()


def test_resume_without_checkpoint_starts_afresh_and_leaky_manifest_is_refused(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = load_manifest(tiny)
    leaky = pd_concat_patient_across_splits(df)
    path = save_manifest(leaky, tiny.parent / "leaky.csv")
    # a requeued job passes --resume every time: with nothing saved yet it starts from epoch 0
    # (and says so) instead of failing; here the leakage check then stops it
    with pytest.raises(LeakageError):
        train_gan(tiny_cfg(tmp_path), manifest=path, out_dir=tmp_path / "x", resume=True)
    err = " ".join(capsys.readouterr().err.split())
    assert "--resume: no checkpoint at" in err and "starting from epoch 0" in err
    with pytest.raises(LeakageError):
        train_gan(tiny_cfg(tmp_path), manifest=path, out_dir=tmp_path / "y", progress=False)


def pd_concat_patient_across_splits(df: Any) -> Any:
    rows = df.to_dict("records")
    val_row = next(r for r in rows if r["split"] == "val")
    train_pid = next(r["patient_id"] for r in rows if r["split"] == "train")
    val_row["patient_id"] = train_pid  # one patient now in train and val
    return new_manifest(rows)
