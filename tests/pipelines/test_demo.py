"""`cxr demo`: config mirror, fast mode, CLI wiring; the end-to-end run is marked slow."""

from __future__ import annotations

import time
from pathlib import Path
from unittest import mock

import pytest
from typer.testing import CliRunner

from cxr.cli import app
from cxr.config import AblateConfig, DemoConfig, build_config
from cxr.pipelines.demo.run_demo import effective, sweep_config

REPO = Path(__file__).resolve().parents[2]


def test_demo_yaml_mirrors_demo_config() -> None:
    from_yaml = build_config(AblateConfig, REPO / "configs" / "ablate" / "demo.yaml")
    assert from_yaml == sweep_config(DemoConfig(), "demo/data/split.csv", "demo/sweep")


def test_fast_mode_shrinks_every_costly_stage() -> None:
    full, fast = DemoConfig(), effective(DemoConfig(fast=True))
    assert fast.patients < full.patients and fast.gan_epochs < full.gan_epochs
    assert fast.classify_epochs <= full.classify_epochs and fast.seeds == 1
    assert effective(full) == full
    sweep = sweep_config(fast, "m.csv", "o")
    assert sweep.classify["epochs"] == fast.classify_epochs and sweep.gan["epochs"] == 1
    assert sweep.classify["image_size"] == sweep.gan["image_size"] == 64
    # fast mode's short classify run is not lengthened again per backbone
    assert all("epochs" not in o for o in sweep.classify_by_backbone.values())


def test_demo_sweeps_the_mission_backbones_each_with_valid_settings() -> None:
    from cxr.pipelines.ablate.cells import backbone_overrides, check_backbone_overrides

    sweep = sweep_config(DemoConfig(), "m.csv", "o")
    assert set(sweep.backbones) == {"vgg16", "resnet50", "efficientnet_b0"}
    assert set(sweep.baselines) >= {"oversample", "augment"}
    check_backbone_overrides(sweep)  # every entry is a valid classify option
    lrs = {b: backbone_overrides(sweep, b).get("lr", sweep.classify.get("lr")) for b in
           sweep.backbones}
    assert len(set(lrs.values())) > 1, lrs  # from scratch they do not share a learning rate
    fast = sweep_config(effective(DemoConfig(fast=True)), "m.csv", "o")
    assert set(fast.classify_by_backbone) <= set(fast.backbones)


def test_cli_demo_builds_config() -> None:
    with mock.patch("cxr.pipelines.demo.run_demo.run_demo") as run:
        res = CliRunner().invoke(app, ["demo", "--fast"])
    assert res.exit_code == 0, res.output
    (cfg,), _ = run.call_args
    assert cfg == DemoConfig(out="demo-fast", fast=True)
    with mock.patch("cxr.pipelines.demo.run_demo.run_demo") as run:
        res = CliRunner().invoke(app, ["demo", "--out", "elsewhere"])
    assert res.exit_code == 0, res.output
    assert run.call_args.args[0] == DemoConfig(out="elsewhere")


@pytest.mark.slow
def test_fast_demo_end_to_end_and_resume(tmp_path: Path) -> None:
    from rich.console import Console

    from cxr.pipelines.demo.run_demo import run_demo

    cfg = DemoConfig(out=str(tmp_path / "demo"), fast=True)
    report = run_demo(cfg, console=Console(quiet=True))
    html = report.read_text()
    for h in (
        "Dataset",
        "Split and leakage checks",
        "GAN samples",
        "Ablation sweep",
        "ROC curves",
        "Grad-CAM examples and localization",
    ):
        assert f"<h2>{h}</h2>" in html, h
    start = time.perf_counter()
    assert run_demo(cfg, console=Console(quiet=True)) == report  # resumes: nothing retrained
    assert time.perf_counter() - start < 60
