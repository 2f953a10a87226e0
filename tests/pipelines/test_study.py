"""`cxr study` end to end at smoke scale on phantoms written as two collections."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cxr.config import PhantomConfig, StudyConfig, build_config
from cxr.runtime.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

SMOKE = {
    "image_size": 32, "backbones": ["resnet18"], "reference_backbone": "resnet18",
    "tasks": ["binary", "3class"], "seeds": 2, "ratios": [0.5],
    "scarcity_levels": [0.5, 1.0], "scarcity_backbones": ["resnet18"],
    "scarcity_retrain_gan": False, "lodo_backbones": ["resnet18"],
    "within_source_backbones": ["resnet18"],
    "classify": {"epochs": 1, "batch_size": 32, "patience": 1, "lr": 0.001},
    "gan": {"epochs": 1, "epochs_decay": 0, "steps_per_epoch": 3, "ngf": 4, "ndf": 4,
            "n_blocks": 1, "batch_size": 4},
    "gan_audit": {"audit_images": 24, "probe_epochs": 1, "fid_repeats": 2, "bootstrap": 50,
                  "ms_ssim_pairs": 10, "probe_backbone": "resnet18"},
    "audit": {"epochs": 1, "backbone": "resnet18", "max_per_dataset": 40, "cam_images": 4},
    "bootstrap": 100,
}


def _write_collections(root: Path) -> None:
    from cxr.phantom import generate_phantoms

    for k, name in enumerate(("colA", "colB")):
        cfg = PhantomConfig(patients=36, seed=7 + 101 * k, image_size=64, mix_normal=0.35,
                            mix_bacterial=0.15, mix_viral=0.15, mix_covid=0.35,
                            longitudinal_fraction=0.0, max_studies=2)
        generate_phantoms(root / name, cfg, workers=1, progress=False)


#: the kill test's smaller smoke: one task, one seed, one baseline (three runs of it)
KILL_SMOKE = {**SMOKE, "tasks": ["binary"], "seeds": 1, "baselines": ["oversample"],
              "scarcity_levels": [0.5]}


@pytest.fixture(scope="module")
def study_cfg(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study-data")
    _write_collections(root / "data")
    cfg = {
        "collections": {"colA": "colA", "colB": "colB"},
        "gan_arms": {"children": {"source_datasets": ["colA"], "source": ["normal", "pneumonia"]},
                     "adult": {"source_datasets": ["colB"], "source": ["normal", "pneumonia"]}},
        "within_source_dataset": "colA", "test_fraction": 0.3, "val_fraction": 0.25,
        "profiles": {"smoke": SMOKE},
    }
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    (root / "kill.yaml").write_text(yaml.safe_dump({**cfg, "profiles": {"smoke": KILL_SMOKE}}))
    return path


def _config(study_cfg: Path, out: Path) -> StudyConfig:
    return build_config(StudyConfig, study_cfg, out=str(out), profile="smoke",
                        data_root=str(study_cfg.parent / "data"))


@pytest.fixture(scope="module")
def smoke_run(study_cfg, tmp_path_factory) -> Path:
    from cxr.pipelines.study.run_study import run_study

    out = tmp_path_factory.mktemp("study") / "run"
    run_study(_config(study_cfg, out))
    return out


def test_profile_cannot_set_the_runs_identity(study_cfg, tmp_path) -> None:
    from cxr.pipelines.study.run_study import effective

    cfg = build_config(StudyConfig, study_cfg, out=str(tmp_path),
                       profiles={"smoke": {"out": "elsewhere"}}, profile="smoke")
    with pytest.raises(ConfigError, match=r"profiles.smoke.out: not a profile setting"):
        effective(cfg)
    with pytest.raises(ConfigError, match="--profile must be one of"):
        effective(build_config(StudyConfig, study_cfg, profile="huge"))


@pytest.mark.slow
def test_smoke_study_end_to_end(smoke_run) -> None:
    out = smoke_run
    doc = json.loads((out / "results.json").read_text())
    assert doc["profile"] == "smoke"
    cells = pd.read_csv(out / "results.csv", keep_default_na=False)
    # every section ran, with paired seeds, and every arm of the protocol is there
    assert set(cells["section"]) == {"protocol", "scarcity", "lodo", "within_source"}
    prot = cells[cells["section"] == "protocol"]
    assert set(prot["task"]) == {"binary", "3class"}
    assert {"real-only", "GAN-children 0.5", "GAN-adult 0.5", "oversample",
            "augment"} <= set(prot["arm"])
    assert (cells["status"] == "done").all()
    # the real-only cells are shared between the GAN arms' sweeps, counted once
    ref = prot[prot["arm"] == "real-only"]
    assert len(ref) == 2 * 2  # tasks x seeds
    # every cell says whether it learned (learning_verdict), none silently
    assert "did_not_learn" in cells.columns
    gains = pd.DataFrame(doc["tables"]["gains"])
    assert {"GAN-children 0.5", "GAN-adult 0.5", "oversample", "augment"} <= set(gains["arm"])
    assert {"auroc_diff", "auroc_diff_lo", "auroc_diff_hi"} <= set(gains.columns)
    assert set(cells.loc[cells["section"] == "scarcity", "level"].astype(str)) == {"0.5", "1"}
    assert set(cells.loc[cells["section"] == "lodo", "fold"]) == {"colA", "colB"}
    # the GAN arms were evaluated (FID/KID vs held-out real COVID-19, audit, 16 pairs)
    for arm in ("children", "adult"):
        g = doc["gan_arms"][arm]
        assert g["metrics"]["n_real_target_heldout"] > 0 and "audit" in g["metrics"]
        assert Path(g["pairs_figure"]).is_file() and g["verdict"]
    assert doc["audit"]["verdict"]["verdict"] in {"low", "medium", "high"}
    # the severity hook is skipped with its reason until `cxr explain severity` lands
    sev = doc["severity"]
    assert "skipped" in sev or "result" in sev
    # scarcity: the same COVID-19 patients across arms, nested across levels
    half = pd.read_csv(out / "scarcity" / "level050" / "manifest.csv")
    full = pd.read_csv(out / "data" / "split.csv")
    keep = set(half.loc[(half["label"] == "covid") & (half["split"] == "train"), "patient_id"])
    allc = set(full.loc[(full["label"] == "covid") & (full["split"] == "train"), "patient_id"])
    assert keep < allc and len(keep) == int(np.ceil(0.5 * len(allc)))
    html = (out / "report.html").read_text()
    # the confounding findings come first, before the protocol's table
    assert html.index("Read this first") < html.index("The seed protocol")
    assert "alt='scarcity curve'" in html and "alt='per-arm gains'" in html
    assert (out / "report.md").read_text().count("| ---") >= 5  # the docs' tables


@pytest.mark.slow
def test_rerun_reuses_every_stage(smoke_run, study_cfg) -> None:
    from cxr.pipelines.study.run_study import run_study

    before = (smoke_run / "results.csv").read_text()
    stamp = (smoke_run / "stages.json").stat().st_mtime_ns
    t0 = time.perf_counter()
    run_study(_config(study_cfg, smoke_run))
    assert time.perf_counter() - t0 < 60
    assert (smoke_run / "stages.json").stat().st_mtime_ns == stamp  # no stage ran again
    assert (smoke_run / "results.csv").read_text() == before


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(smoke_run, tmp_path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={shot}", "--window-size=1200,2400",
                    (smoke_run / "report.html").resolve().as_uri()],
                   check=True, timeout=120, capture_output=True)
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape == (2400, 1200)
    # a rendered page with tables and plots, not a blank or error page
    assert img.std() > 20 and (img < 128).mean() > 0.01


def _cli(study_cfg: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "cxr.cli", "study", str(study_cfg), "--out", str(out),
            "--profile", "smoke", "--data-root", str(study_cfg.parent / "data")]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "CXR_THREADS": "1"}


def _table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "results.csv", keep_default_na=False)


@pytest.mark.slow
def test_killed_study_reruns_to_the_same_results_table(study_cfg, tmp_path) -> None:
    """SIGTERM and SIGKILL at seeded moments, then a rerun: the uninterrupted run's table."""
    study_cfg = study_cfg.parent / "kill.yaml"
    clean = tmp_path / "clean"
    t0 = time.perf_counter()
    subprocess.run(_cli(study_cfg, clean), env=_env(), check=True, capture_output=True,
                   timeout=900)
    duration = time.perf_counter() - t0
    want = _table(clean)
    rng = np.random.default_rng(24)
    for k, sig in enumerate((signal.SIGTERM, signal.SIGKILL)):
        out = tmp_path / f"killed{k}"
        proc = subprocess.Popen(_cli(study_cfg, out), env=_env(), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(float(rng.uniform(0.2, 0.8)) * duration)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
        assert proc.returncode != 0, "the study finished before it was killed"
        subprocess.run(_cli(study_cfg, out), env=_env(), check=True, capture_output=True,
                       timeout=900)
        pd.testing.assert_frame_equal(_table(out), want, check_exact=False, rtol=1e-6)
