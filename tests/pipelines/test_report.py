"""HTML report: sections from files, omitted ones noted, self-contained, renders in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from support.sweepfakes import fake_cell, make_manifests, png, resolve

from cxr.config import AblateConfig
from cxr.pipelines.ablate.executors import LocalExecutor
from cxr.pipelines.ablate.run_ablate import SplitInputs, run_ablate
from cxr.pipelines.report.build import build_report

QUIET = Console(quiet=True)
HEADINGS = (
    "Shortcut audit",
    "Dataset",
    "Split and leakage checks",
    "Per-source, within-source and external validation",
    "GAN samples",
    "GAN quality (FID / KID)",
    "Synthetic-data audit",
    "Ablation sweep",
    "ROC curves",
    "Grad-CAM examples and localization",
)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rep")
    manifest, synthetic = make_manifests(root / "data")
    sweep = root / "sweep"
    inputs = {
        None: SplitInputs(
            manifest=str(manifest),
            synthetic_manifest=str(synthetic),
            notes=("GAN trained on the train split only.",),
        )
    }
    cfg = AblateConfig(
        out=str(sweep),
        manifest=str(manifest),
        backbones=("resnet18", "tiny"),
        synthetic=(0.0, 0.2, 0.5),
        seeds=3,
        baselines=("oversample",),
        bootstrap=50,
    )
    run_ablate(
        cfg,
        cell_fn=fake_cell,
        resolve=resolve,
        inputs=inputs,
        executor=LocalExecutor(),
        console=QUIET,
    )
    gan = sweep / "gan" / "split-none"
    (gan / "samples").mkdir(parents=True)
    png(gan / "samples" / "epoch_003.png", 7, 96)
    (gan / "losses.csv").write_text("epoch,loss\n1,1.0\n")
    sep = {"n_per_set": 12, "synthetic_vs_real": {"auroc": 0.97, "ci_low": 0.9, "ci_high": 1.0},
           "baseline_real_vs_real": {"auroc": 0.55, "ci_low": 0.3, "ci_high": 0.8}}
    (gan / "eval.json").write_text(json.dumps({"fid": 41.5, "kid": {"mean": 0.031, "std": 0.004},
                                               "audit": {"separability": sep}}))
    ex = root / "explain"
    png(ex / "sheets" / "true-covid__pred-covid.png", 9, 120)
    (ex / "explain.json").write_text(
        json.dumps(
            {
                "images": 8,
                "method": "gradcam",
                "notes": [],
                "scores": {
                    "all": {"pointing": {"n": 8, "mean": 0.62, "ci95": [0.4, 0.8], "baseline": 0.2}}
                },
                "sheets": ["sheets/true-covid__pred-covid.png"],
            }
        )
    )
    shutil.move(str(ex), str(sweep / "explain"))
    _audit_json(sweep / "audit")
    return sweep


def _audit_json(folder: Path) -> None:
    """An `cxr audit shortcuts` result (one collection: the source probe does not apply)."""
    from cxr.pipelines.audit.verdict import decide

    auroc = {"auroc": 0.52, "ci_low": 0.4, "ci_high": 0.64, "n": 20}
    audit = {
        "positive": "covid", "n_images": 40, "datasets": {"phantoms": 40},
        "confounding": {"all": {"labels": ["covid", "normal"], "datasets": ["phantoms"],
                                "counts": {"phantoms": {"covid": 10, "normal": 30}},
                                "cramers_v": None, "single_label_share": {"covid": 0.0}}},
        "source_probe": {"applicable": False, "reason": "one collection (phantoms)"},
        "masking": {"applicable": True, "classifier": "probe", "lung_field": {"mask": 20},
                    "full": auroc, "lungs_hidden": auroc, "border_only": auroc},
    }
    audit["verdict"] = decide(audit)
    folder.mkdir(parents=True)
    (folder / "audit.json").write_text(json.dumps(audit))


def test_sweep_report_has_every_section_and_is_self_contained(sweep_dir: Path) -> None:
    out = build_report(sweep_dir, console=QUIET)
    assert out == sweep_dir / "report.html"
    html = out.read_text()
    for h in HEADINGS:
        assert f"<h2>{h.replace('(', '(')}</h2>" in html, h
    assert "Not in this input" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from outside
    assert "<link" not in html and "<script" not in html
    assert html.count("data:image/png;base64,") >= 5
    assert "passed" in html  # the leakage check ran on manifest + GAN rows
    assert "41.5" in html and "0.031" in html  # FID/KID table
    assert "Student-t" in html  # CI method stated
    # the classical arms present are described (this sweep has oversample only)
    assert "oversample = oversampling only" in html and "augment = albumentations" not in html
    assert "GAN trained on the train split only." in html
    # the shortcut audit is the first section, with its verdict
    assert html.split("<main>")[1].lstrip().startswith('<section id="shortcut-audit"')
    assert "Shortcut risk: <strong" in html and "LOW" in html


def test_run_report_notes_absent_sections(tmp_path: Path) -> None:
    from cxr.pipelines.ablate.grid import Cell, CellTask

    run = tmp_path / "run"
    run.mkdir()
    fake_cell(CellTask(Cell("resnet18", 0.0, "ce", 0), "k", str(run), {}))
    out = build_report(run, tmp_path / "r.html", console=QUIET)
    html = out.read_text()
    assert "<h2>ROC curves</h2>" in html and "<h2>Not in this input</h2>" in html
    assert "<strong>GAN samples</strong>: no synthetic manifest or GAN run found" in html
    assert "<h2>Ablation sweep</h2>" not in html
    assert not list(tmp_path.glob(".r.html*"))  # atomic write left no temp file


def test_report_of_missing_dir_is_a_clear_error(tmp_path: Path) -> None:
    from cxr.runtime.errors import CxrError

    with pytest.raises(CxrError, match="not a directory"):
        build_report(tmp_path / "nope", console=QUIET)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(sweep_dir: Path, tmp_path: Path) -> None:
    page = build_report(sweep_dir, tmp_path / "report.html", console=QUIET)
    shot = tmp_path / "shot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = page.resolve().as_uri()
    subprocess.run(
        [_chromium(), *flags, f"--screenshot={shot}", "--window-size=1280,2000", url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file()
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2000, 1280)
    assert pixels.std() > 10  # not a blank page
    dom = subprocess.run(
        [_chromium(), *flags, "--dump-dom", url],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    for h in HEADINGS:
        assert f"<h2>{h}</h2>" in dom, h
    shutil.copy(shot, sweep_dir / "report-screenshot.png")  # for a person to look at


def test_cli_report_calls_build_report(tmp_path: Path) -> None:
    from unittest import mock

    from typer.testing import CliRunner

    from cxr.cli import app

    with mock.patch("cxr.pipelines.report.build.build_report") as build:
        res = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "x.html")])
    assert res.exit_code == 0, res.output
    assert build.call_args.args == (tmp_path, tmp_path / "x.html")


def test_first_screen_shows_the_covid_sheet_first() -> None:
    from cxr.pipelines.report.metrics_section import first_sheet

    names = ["true-rest__pred-covid", "true-covid__pred-rest", "true-covid__pred-covid",
             "true-rest__pred-rest"]
    sheets = [Path(f"sheets/{n}.png") for n in names]
    assert first_sheet(sheets).stem == "true-covid__pred-covid"
    assert first_sheet(sheets[:2]).stem == "true-covid__pred-rest"
    assert first_sheet([sheets[0], sheets[3]]).stem == "true-rest__pred-rest"
