"""Synthetic-data audit of `cxr gan eval`: planted copies are flagged, every measure has
its real baseline, MS-SSIM scales fit the image size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.classify_fixtures import make_split_manifest

import cxr.pipelines.gan.gan_eval as ge
from cxr.config import GanAuditConfig
from cxr.cyclegan.synthetic_metrics import mean_pairwise_ms_ssim, ms_ssim_scales, prdc
from cxr.data.images.imageio import write_png
from cxr.data.images.preprocess import load_preprocessed
from cxr.data.manifest import load_manifest, new_manifest, save_manifest
from cxr.runtime.errors import CheckpointError
from cxr.runtime.files import sha256_file


def test_ms_ssim_scales_and_prdc_identity() -> None:
    assert [ms_ssim_scales(s) for s in (32, 64, 128, 161, 256)] == [2, 3, 4, 5, 5]
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (6, 64, 64), dtype=np.uint8)
    same = mean_pairwise_ms_ssim(np.repeat(imgs[:1], 4, 0), pairs=10)
    noise = mean_pairwise_ms_ssim(imgs, pairs=10)
    assert same["mean"] == pytest.approx(1.0, abs=1e-4) and noise["mean"] < 0.5
    assert same["scales"] == 3
    f = rng.normal(size=(30, 4))
    r = prdc(f, f.copy(), k=3)
    assert r["precision"] == 1.0 and r["coverage"] == 1.0


def _synthetic(root: Path, manifest: Path, planted: int) -> tuple[Path, set[str]]:
    """GAN rows: brightened train normals (their own translations) plus ``planted`` exact
    copies of train COVID images posing as translations of other normals."""
    df = load_manifest(manifest)
    train = df[df["split"] == "train"]
    normals = train[train["label"] == "normal"]
    covid = train[train["label"] == "covid"]
    rows, copies = [], set()
    for i, (_, r) in enumerate(normals.iterrows()):
        img = load_preprocessed(r["image_path"], 32, "pad").astype(int)
        img[16:, :] += 25
        path = root / f"gan_{i}.png"
        if i < planted:  # an exact training COVID image instead of a translation
            img = load_preprocessed(covid["image_path"].iat[i], 32, "pad").astype(int)
            copies.add(path.name)
        write_png(path, np.clip(img, 0, 255).astype(np.uint8))
        rows.append({"image_path": str(path), "patient_id": f"gan:{r['patient_id']}",
                     "label": "covid", "dataset": "phantoms+cyclegan", "origin": "gan",
                     "split": "train", "width": 32, "height": 32,
                     "content_hash": sha256_file(path), "source_image": r["image_path"],
                     "source_patient": r["patient_id"], "aug_seed": -1})
    return save_manifest(new_manifest(rows), root / "manifest.csv"), copies


def _no_inception(*_: Any) -> Path:
    raise CheckpointError("no inception weights in tests")


def test_gan_audit_flags_planted_copies_and_reports_baselines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = make_split_manifest(tmp_path, patients=48, size=32)
    syn, planted = _synthetic(tmp_path / "syn", manifest, planted=3)
    monkeypatch.setattr(ge, "find_inception_weights", _no_inception)
    cfg = GanAuditConfig(audit_images=60, probe_epochs=1, probe_batch_size=16, bootstrap=50,
                         fid_repeats=3, ms_ssim_pairs=30)
    ge.run_gan_eval(manifest=manifest, synthetic_manifest=syn, out_dir=tmp_path / "ev",
                    audit=cfg)
    a = json.loads((tmp_path / "ev" / "eval.json").read_text())["audit"]
    mem = a["memorisation"]
    assert mem["copies"] == len(planted) and mem["synthetic"]["max_ssim"] == pytest.approx(1.0)
    assert mem["synthetic"]["min_distance"] == pytest.approx(0.0, abs=1e-6)
    assert mem["baseline_heldout_real"]["min_distance"] > 0
    assert (tmp_path / "ev" / mem["figure"]).is_file()
    sep = a["separability"]
    for key in ("synthetic_vs_real", "baseline_real_vs_real"):
        assert 0 <= sep[key]["auroc"] <= 1 and sep[key]["ci_low"] <= sep[key]["ci_high"]
    div = a["diversity"]
    assert div["synthetic"]["n_images"] == div["baseline_real_target"]["n_images"]
    assert div["synthetic"]["scales"] == 2 and "160 px" in div["note"]
    cov = a["coverage"]
    assert cov["synthetic"]["n_real"] == cov["baseline_real_vs_real"]["n_fake"]
    t = a["tstr"]
    assert t["train_on_synthetic"]["n"] == t["baseline_train_on_real"]["n"] == t["n_test"]
    fid = a["fid_kid_equal_n"]
    assert {"synthetic_vs_real_target_heldout", "real_target_train_vs_real_target_heldout",
            "real_source_heldout_vs_real_target_heldout"} <= set(fid)
    assert all(v["n"] == fid["n"] for k, v in fid.items() if isinstance(v, dict))
    assert a["features"].startswith("random-init")
    # the report shows the audit block with the baselines beside the synthetic figures
    from cxr.pipelines.report.build import build_report

    page = build_report(tmp_path / "ev", tmp_path / "report.html").read_text()
    block = page.split('id="gan-audit"')[1].split("</section>")[0]
    assert "real baseline" in block and "flagged copies" in block and "MS-SSIM" in block
    assert f"{mem['copies']} (" in block
