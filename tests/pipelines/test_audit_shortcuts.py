"""`cxr audit shortcuts` end to end: phantoms (one source) and the real confounded set.

The real-data test runs on ../shared/data (Hannover COVID-19 vs Kaggle pediatric
normals and pneumonia: every COVID image from one hospital) and is skipped when
that folder is absent; it asserts only what its README states: the set is fully
source-confounded, so the audit must say ``high``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.classify_fixtures import make_split_manifest

from cxr.config import AuditConfig
from cxr.pipelines.audit.shortcuts import run_shortcut_audit

_DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "data"
DATA = Path(os.environ.get("CXR_SHARED_DATA", _DEFAULT))
HANNOVER = DATA / "hannover-covid-full"
KAGGLE = DATA / "real-sample" / "kaggle-chest-xray"

TINY = dict(image_size=32, epochs=2, batch_size=16, bootstrap=200, workers=1)


def test_phantoms_one_source_is_not_high(tmp_path: Path) -> None:
    manifest = make_split_manifest(tmp_path, patients=40, size=32)
    cfg = AuditConfig(cache_dir=str(tmp_path / "cache"), **TINY)  # type: ignore[arg-type]
    res = run_shortcut_audit(cfg, manifest=manifest, out_dir=tmp_path / "audit", progress=False)
    a = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert a == json.loads(json.dumps(res.audit))
    assert a["verdict"]["verdict"] != "high", a["verdict"]
    assert a["source_probe"]["applicable"] is False
    assert "one collection" in a["source_probe"]["reason"]
    m = a["masking"]
    assert m["applicable"] and m["lung_field"]["mask"] == m["n"]  # phantoms ship lung masks
    for key in ("full", "lungs_hidden", "border_only"):
        assert 0.0 <= m[key]["auroc"] <= 1.0 and m[key]["n"] == m["n"]
    assert set(a["confounding"]) >= {"all", "train", "test"}
    html = (tmp_path / "audit" / "audit.html").read_text()
    assert "Shortcut risk" in html and "not applicable" in html
    assert (tmp_path / "audit" / "figures" / "auroc.png").is_file()

    # the report shows the audit first when it lies below the report's folder
    from cxr.pipelines.report.build import build_report

    page = build_report(tmp_path, tmp_path / "report.html").read_text()
    assert page.split("<main>")[1].lstrip().startswith('<section id="shortcut-audit"')


@pytest.mark.integration
@pytest.mark.skipif(not (HANNOVER.is_dir() and KAGGLE.is_dir()), reason=f"no real data in {DATA}")
def test_real_confounded_data_is_high(tmp_path: Path) -> None:
    from cxr.config import SplitConfig
    from cxr.data.index.indexer import build_index
    from cxr.data.split import split_file

    manifest = tmp_path / "manifest.csv"
    build_index([HANNOVER, KAGGLE], manifest, workers=1, progress=False)
    split_file(manifest, SplitConfig(seed=0), progress=False)
    cfg = AuditConfig(cache_dir=str(tmp_path / "cache"), max_per_dataset=60,
                      **TINY)  # type: ignore[arg-type]
    a = run_shortcut_audit(cfg, manifest=manifest, out_dir=tmp_path / "audit",
                           progress=False).audit
    assert a["verdict"]["verdict"] == "high", a["verdict"]
    sp = a["source_probe"]
    assert sp["applicable"] and sp["auroc"] is not None
    assert any(s.startswith("S1") for s in a["verdict"]["strong"])
    assert f"{sp['auroc']:.3f}" in (tmp_path / "audit" / "audit.html").read_text()


def test_checkpoint_adds_gradcam_energy_and_within_source_gap(tmp_path: Path) -> None:
    from cxr.classifier import ClassifierInfo, create_backbone, save_classifier

    manifest = make_split_manifest(tmp_path, patients=40, size=32)
    ckpt = save_classifier(tmp_path / "best.ckpt", create_backbone("resnet18", 2),
                           ClassifierInfo(classes=("rest", "covid"), task="binary",
                                          backbone="resnet18", image_size=32, resize_mode="pad"))
    cfg = AuditConfig(cache_dir=str(tmp_path / "cache"), cam_images=8,
                      **TINY)  # type: ignore[arg-type]
    a = run_shortcut_audit(cfg, manifest=manifest, out_dir=tmp_path / "audit", checkpoint=ckpt,
                           progress=False).audit
    assert "test split" in a["masking"]["classifier"]
    g = a["gradcam"]
    assert g["applicable"] and g["n"] == 8 and set(g["by_dataset"]) == {"phantoms"}
    # one collection: every (positive, negative) pair is within it, so the gap is exactly 0
    gap = a["source_gap"]
    assert gap["applicable"] and gap["gap"]["gap"] == 0.0
    assert gap["pooled"]["auroc"] == gap["within_source"]["auroc"] == a["masking"]["full"]["auroc"]
