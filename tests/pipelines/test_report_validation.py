"""Report sections for per-source, within-source, external and leave-one-dataset-out results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rich.console import Console
from support.sweepfakes import fake_cell, resolve

from cxr.classifier.metrics import evaluate
from cxr.classifier.source_metrics import source_breakdown
from cxr.config import AblateConfig
from cxr.pipelines.ablate.executors import LocalExecutor
from cxr.pipelines.ablate.grid import SplitInputs, input_key
from cxr.pipelines.ablate.run_ablate import run_ablate
from cxr.pipelines.report.build import build_report

QUIET = Console(quiet=True)
CLASSES = ("rest", "covid")


def _metrics(rng: np.random.Generator, datasets: list[str], shortcut: bool) -> dict:
    ds = np.repeat(datasets, 40)
    y = (rng.random(ds.size) < np.where(ds == datasets[0], 0.8, 0.2)).astype(int)
    score = np.where(ds == datasets[0], 0.7, 0.3) if shortcut else 0.3 + 0.4 * y
    score = np.clip(score + rng.normal(0, 0.1, ds.size), 0, 1)
    p = np.c_[1 - score, score]
    pids = [f"{d}:{i}" for i, d in enumerate(ds)]
    m = evaluate(y, p, pids, CLASSES, threshold=0.5, n_boot=50)
    return m | source_breakdown(y, p, pids, ds, CLASSES, threshold=0.5, n_boot=50)


def test_run_report_shows_pooled_within_source_and_external(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    run = tmp_path / "run"
    run.mkdir()
    m = _metrics(rng, ["hosp_a", "hosp_b"], shortcut=True)
    m["external"] = {"site_c": _metrics(rng, ["hosp_c", "hosp_d"], shortcut=False)}
    (run / "metrics.json").write_text(json.dumps(m))
    html = build_report(run, console=QUIET).read_text()
    assert "Per-source, within-source and external validation" in html
    assert "within-source AUROC" in html and "external site_c" in html
    for name in ("hosp_a", "hosp_b", "hosp_c", "hosp_d"):
        assert name in html
    w = m["within_source"]["auroc"]["value"]
    assert f"within-source {w:.3f}" in html  # the pooled vs within-source line
    assert "Leave-one-dataset-out" not in html  # not a sweep


def test_single_source_per_class_is_flagged(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    run = tmp_path / "run"
    run.mkdir()
    ds = np.repeat(["covid_site", "normal_site"], 30)
    y = (ds == "covid_site").astype(int)
    s = np.clip(0.2 + 0.6 * y + rng.normal(0, 0.1, 60), 0, 1)
    p = np.c_[1 - s, s]
    pids = [f"p{i}" for i in range(60)]
    m = evaluate(y, p, pids, CLASSES, threshold=0.5, n_boot=20)
    m |= source_breakdown(y, p, pids, ds, CLASSES, threshold=0.5, n_boot=20)
    (run / "metrics.json").write_text(json.dumps(m))
    html = build_report(run, console=QUIET).read_text()
    assert "no collection holds both classes" in html


def test_lodo_sweep_report_shows_folds_and_pooled_gain(tmp_path: Path) -> None:
    cfg = AblateConfig(out=str(tmp_path / "sweep"), manifest="m.csv", backbones=("tiny",),
                      synthetic=(0.0, 0.3), seeds=2, bootstrap=30, leave_dataset_out=True)
    inputs = {input_key(None, f): SplitInputs(manifest=f"{f}.csv") for f in ("hosp_a", "hosp_b")}
    run_ablate(cfg, cell_fn=fake_cell, resolve=resolve, inputs=inputs,
              executor=LocalExecutor(), console=QUIET)
    html = build_report(tmp_path / "sweep", console=QUIET).read_text()
    section = html[html.index('<h3 id="lodo">'):]
    assert "Gain over ratio 0 on held-out collections" in section
    assert "hosp_a" in section and "hosp_b" in section
    assert "all held-out (paired by seed)" in section
