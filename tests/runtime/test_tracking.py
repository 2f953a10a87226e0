"""Run tracking: TensorBoard event files and MLflow runs (local file store), read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from support.classify_fixtures import make_split_manifest
from support.gan_fixtures import make_tiny_manifest, tiny_cfg
from support.sweepfakes import fake_cell, resolve

from cxr.config import AblateConfig, ClassifyConfig
from cxr.pipelines.ablate.executors import LocalExecutor
from cxr.pipelines.ablate.grid import SplitInputs
from cxr.pipelines.ablate.run_ablate import run_ablate
from cxr.pipelines.classify.run_classify import run_classify
from cxr.pipelines.gan.train_gan import train_gan
from cxr.runtime.errors import ConfigError
from cxr.runtime.tracking import headline_metrics, lightning_loggers

pytest.importorskip("tensorboard")
mlflow = pytest.importorskip("mlflow")


def _events(logdir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("track")
    return {"root": root, "manifest": make_split_manifest(root, patients=32, size=32)}


def _classify_cfg(split: dict[str, Path], **kw) -> ClassifyConfig:
    base = dict(manifest=str(split["manifest"]), backbone="squeezenet1_1", image_size=32,
                epochs=2, batch_size=8, workers=0, bootstrap=20, lr=1e-3,
                cache_dir=str(split["root"] / "cache"))
    return ClassifyConfig(**(base | kw))


def test_classify_writes_tensorboard_beside_csv_by_default(split) -> None:
    out = split["root"] / "tb_run"
    res = run_classify(_classify_cfg(split), out, progress=False)
    assert (out / "logs" / "metrics.csv").is_file()  # the CSV log stays
    acc = _events(out / "tensorboard")
    tags = set(acc.Tags()["scalars"])
    assert {"train_loss", "val_auroc", "val_loss", "test/auroc"} <= tags
    assert len(acc.Scalars("val_auroc")) == 2  # one per epoch
    auroc = acc.Scalars("test/auroc")[-1].value
    assert auroc == pytest.approx(res.metrics["headline"]["auroc"]["value"], abs=1e-6)


def test_classify_mlflow_file_store(split) -> None:
    out = split["root"] / "mlflow_run"
    res = run_classify(_classify_cfg(split, logger="mlflow", epochs=1), out, progress=False)
    assert not (out / "tensorboard").exists()
    info = json.loads((out / "mlflow.json").read_text())
    assert info["tracking_uri"] == (out.resolve() / "mlruns").as_uri()
    run = _client(info["tracking_uri"]).get_run(info["run_id"])
    assert run.data.params["backbone"] == "squeezenet1_1"
    assert run.data.params["image_size"] == "32" and run.data.params["logger"] == "mlflow"
    assert run.data.metrics["test/auroc"] == pytest.approx(
        res.metrics["headline"]["auroc"]["value"], abs=1e-6)
    assert "val_auroc" in run.data.metrics and run.info.status == "FINISHED"
    assert (out / "mlruns").is_dir()


def test_unknown_logger_is_refused(split) -> None:
    with pytest.raises(ConfigError, match="--logger 'wandb' is not one of: csv, tensorboard"):
        run_classify(_classify_cfg(split, logger="wandb"), split["root"] / "bad", progress=False)
    with pytest.raises(ConfigError, match="--logger"):
        lightning_loggers("wandb", split["root"], csv=True, experiment="x", run_name="y")


def test_gan_losses_and_sample_grids_in_tensorboard(tmp_path: Path) -> None:
    manifest = make_tiny_manifest(tmp_path / "data")
    out = tmp_path / "gan"
    train_gan(tiny_cfg(tmp_path), manifest=manifest, out_dir=out, progress=False)
    assert (out / "losses.csv").is_file()
    acc = _events(out / "tensorboard")
    scalars = set(acc.Tags()["scalars"])
    assert {"epoch/G", "epoch/D_A", "epoch/cycle_A", "loss/G"} <= scalars
    assert len(acc.Scalars("epoch/G")) == 2
    images = acc.Images("samples")
    assert [im.step for im in images] == [1, 2]
    assert images[0].width > 32 and images[0].height > 32


def test_gan_mlflow_gets_losses_and_grids(tmp_path: Path) -> None:
    manifest = make_tiny_manifest(tmp_path / "data")
    out = tmp_path / "gan"
    uri = (tmp_path / "store").resolve().as_uri()
    train_gan(tiny_cfg(tmp_path, logger="mlflow", mlflow_uri=uri, epochs_decay=0),
              manifest=manifest, out_dir=out, progress=False)
    info = json.loads((out / "mlflow.json").read_text())
    assert info["tracking_uri"] == uri
    client = _client(uri)
    run = client.get_run(info["run_id"])
    assert "epoch/G" in run.data.metrics and run.data.params["ngf"] == "4"
    assert [a.path for a in client.list_artifacts(info["run_id"], "samples")] == [
        "samples/epoch_001.png"]


def test_headline_metrics_names() -> None:
    m = {"headline": {"auroc": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9},
                      "f1": {"value": None, "ci_low": None, "ci_high": None}}}
    assert headline_metrics(m) == {"test/auroc": 0.8, "test/auroc_ci_low": 0.7,
                                   "test/auroc_ci_high": 0.9}


def test_sweep_cells_become_mlflow_runs_once(tmp_path: Path) -> None:
    cfg = AblateConfig(out=str(tmp_path / "sweep"), manifest="m.csv", backbones=("tiny",),
                      synthetic=(0.0, 0.3), seeds=2, bootstrap=20, logger="mlflow")
    kwargs = dict(cell_fn=fake_cell, resolve=resolve, inputs={None: SplitInputs("m.csv")},
                  executor=LocalExecutor(), console=Console(quiet=True))
    run_ablate(cfg, **kwargs)
    client = _client((tmp_path / "sweep" / "mlruns").resolve().as_uri())
    exp = client.get_experiment_by_name("cxr-sweep-sweep")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 4
    keys = {r.data.tags["cxr.cell_key"] for r in runs}
    assert keys == {p.name for p in (tmp_path / "sweep" / "cells").iterdir()}
    for r in runs:
        ratio = float(r.data.params["synthetic_ratio"])
        seed = int(r.data.params["seed"])
        assert r.data.params["cell.arm"] == f"syn{ratio:g}"
        # fake_cell's AUROC is 0.7 + 0.2 ratio + 0.01 seed
        assert r.data.metrics["test/auroc"] == pytest.approx(0.7 + 0.2 * ratio + 0.01 * seed)
        assert r.info.status == "FINISHED"
    run_ablate(cfg, **kwargs)  # resumed: nothing new to log
    assert len(client.search_runs([exp.experiment_id])) == 4


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["classify", "--manifest", "m.csv"], "cxr.pipelines.classify.run_classify.run_classify"),
        (["gan", "train", "--manifest", "m.csv"], "cxr.pipelines.gan.train_gan.train_gan"),
        (["ablate", "--manifest", "m.csv"], "cxr.pipelines.ablate.run_ablate.run_ablate"),
    ],
)
def test_cli_passes_logger_options(tmp_path: Path, argv: list[str], target: str) -> None:
    from unittest import mock

    from typer.testing import CliRunner

    from cxr.cli import app

    table = "cxr.pipelines.gan.train_gan.summary_table"  # formats train_gan's result
    with mock.patch(target) as run, mock.patch(table, return_value=""):
        res = CliRunner().invoke(app, [*argv, "--out", str(tmp_path / "o"), "--logger", "mlflow",
                                       "--mlflow-uri", "http://tracking:5000"])
    assert res.exit_code == 0, res.output
    cfg = run.call_args.args[0]
    assert (cfg.logger, cfg.mlflow_uri) == ("mlflow", "http://tracking:5000")
