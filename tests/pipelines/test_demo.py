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
    assert fast.seeds == 1 and len(fast.backbones) == 1 and not fast.baselines
    cells = len(fast.backbones) * len(fast.synthetic) * fast.seeds
    assert cells < len(full.backbones) * (len(full.synthetic) + len(full.baselines))
    assert effective(DemoConfig(profile="cpu")) == DemoConfig(profile="cpu")
    sweep = sweep_config(fast, "m.csv", "o")
    assert sweep.classify["epochs"] == fast.classify_epochs and sweep.gan["epochs"] == 1
    assert sweep.gan["image_size"] == 64
    # fast mode's short classify run is not lengthened again per backbone
    assert all(o.get("epochs", fast.classify_epochs) <= fast.classify_epochs
               for o in sweep.classify_by_backbone.values())


def test_profiles_gpu_by_itself_with_cuda_and_bad_names_fail() -> None:
    from cxr.pipelines.demo.run_demo import demo_profile
    from cxr.runtime.errors import ConfigError

    with mock.patch("torch.cuda.is_available", return_value=True):
        assert demo_profile(DemoConfig()) == "gpu"
        assert demo_profile(DemoConfig(profile="cpu")) == "cpu"
        assert demo_profile(DemoConfig(fast=True)) == "fast"
    with mock.patch("torch.cuda.is_available", return_value=False):
        assert demo_profile(DemoConfig()) == "cpu"
    cpu, gpu = DemoConfig(), effective(DemoConfig(profile="gpu"))
    assert gpu.image_size > cpu.image_size and gpu.gan_epochs > cpu.gan_epochs
    assert gpu.classify_epochs > cpu.classify_epochs and gpu.patients > cpu.patients
    sweep = sweep_config(gpu, "m.csv", "o")
    assert sweep.classify["accelerator"] == sweep.gan["accelerator"] == "gpu"
    with pytest.raises(ConfigError, match="--profile must be one of auto, cpu, gpu"):
        demo_profile(DemoConfig(profile="tpu"))


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



def test_report_first_screen_says_what_the_demo_shows_and_marks_cells(tmp_path: Path) -> None:
    import json

    from rich.console import Console
    from support.sweepfakes import constant_for_tiny, resolve

    from cxr.pipelines.ablate.executors import LocalExecutor
    from cxr.pipelines.ablate.run_ablate import SplitInputs, run_ablate
    from cxr.pipelines.demo.run_demo import WHAT_IT_SHOWS, _learning_lines
    from cxr.pipelines.report.build import build_report

    root = tmp_path / "demo"
    cfg = AblateConfig(out=str(root / "sweep"), manifest="m.csv", backbones=("resnet18", "tiny"),
                       synthetic=(0.0, 0.3), seeds=1, baselines=(), bootstrap=50)
    run_ablate(cfg, cell_fn=constant_for_tiny, resolve=resolve,
               inputs={None: SplitInputs(manifest="m.csv")}, executor=LocalExecutor(),
               console=Console(quiet=True))
    (root / "demo.json").write_text(json.dumps({"profile": "fast", "what_it_shows": WHAT_IT_SHOWS,
                                                "config": {"patients": 160}}))
    lines = _learning_lines(root / "sweep")
    assert lines[0] == "cells that learned (test AUROC CI above 0.5): 2 of 4"
    assert sum("DID NOT LEARN: " in line for line in lines) == 2
    html = build_report(root, console=Console(quiet=True)).read_text()
    assert "cxr report: demo (demo on phantoms)" in html
    first = html.index("What this demo shows")
    assert first < html.index("Ablation sweep")
    assert "not a result on real data" in html and "Profile: <strong>fast</strong>" in html
    assert html.count("<strong>DID NOT LEARN</strong>") == 2
