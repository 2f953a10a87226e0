"""benchmarks/gpu_suite.py: the tiny CPU mode runs every measurement, and without a GPU the
full mode says how to run it and exits 0 (so the prepared GPU run never breaks unnoticed)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def _suite():  # noqa: ANN202 - the benchmark module, loaded from its file
    path = ROOT / "benchmarks" / "gpu_suite.py"
    spec = importlib.util.spec_from_file_location("gpu_suite", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gpu_suite"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_tiny_mode_measures_everything(tmp_path: Path) -> None:
    suite = _suite()
    assert suite.main(["--tiny", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "gpu_suite.json").read_text())
    assert data["tiny"] is True
    rows = data["results"]
    groups = {r["group"] for r in rows}
    assert groups == {"CycleGAN training", "synthesis", "classifier training", "FID", "Grad-CAM"}
    failed = [(r["group"], r["name"], r["impl"], r["note"]) for r in rows if r["status"] != "ok"]
    assert not failed
    assert all(r["value"] > 0 for r in rows)
    impls = {(r["group"], r["impl"]) for r in rows}
    # every comparison has both sides
    assert {("CycleGAN training", "cxr"), ("CycleGAN training", "reference"),
            ("classifier training", "cxr"), ("classifier training", "torchvision"),
            ("Grad-CAM", "cxr"), ("Grad-CAM", "pytorch-grad-cam")} <= impls
    table = (tmp_path / "gpu_suite.md").read_text()
    assert "| CycleGAN training |" in table and "tiny mode" in table


@pytest.mark.skipif(torch.cuda.is_available(), reason="the no-GPU message needs a CPU-only machine")
def test_without_gpu_says_how_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite()
    assert suite.main(["--out", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    assert "no GPU" in out and "make bench-gpu" in out
    assert not (tmp_path / "x").exists()


def test_budget_skips_what_does_not_fit(tmp_path: Path) -> None:
    suite = _suite()
    s = suite.Suite(total_s=0.0, device=torch.device("cpu"), sizes=suite.TINY, tiny=False)
    res = s.run("g", "n", "i", "it/s", 5.0, lambda: (1.0, {}))
    assert res.status == "skipped" and "left of the total" in res.note and res.value is None


def test_alarm_stops_an_overrun() -> None:
    suite = _suite()
    s = suite.Suite(total_s=suite.process_age() + 0.5, device=torch.device("cpu"),
                    sizes=suite.TINY, tiny=False)
    s.margin_s = 0.0

    def forever() -> tuple[float, dict]:
        while True:
            pass

    res = s.run("g", "n", "i", "it/s", 0.0, forever)
    assert res.status == "stopped" and res.value is None
