"""The model card of a classify run: built from its files, copied beside the ONNX file,
shown by `cxr report`, and honest about what was (not) audited."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support.model_card_check import assert_model_card_matches
from typer.testing import CliRunner

from cxr.cli import app
from cxr.pipelines.classify.model_card import build_model_card, find_shortcut_audit
from cxr.pipelines.classify.run_folder import ClassifyRunFolder

runner = CliRunner()


def test_card_beside_best_ckpt_equals_metrics_json(tiny_classify_run: Path) -> None:
    card = assert_model_card_matches(tiny_classify_run)
    c = card["cxr"]
    art = c["model"]["artifact"]
    assert art["file"] == "best.ckpt" and len(art["sha256"]) == 64
    assert card["datasets"] == ["phantoms"] and "covid-19" in card["tags"]
    md = (tiny_classify_run / "MODEL_CARD.md").read_text()
    # warnings come before any number, and the card says what it is not for
    assert md.index("Not for clinical use") < md.index("## Test metrics")
    assert "patient-level split: True" in md


def test_export_writes_the_card_beside_the_onnx_file(tiny_classify_run: Path, tmp_path) -> None:
    onnx_path = tmp_path / "ship" / "model.onnx"
    onnx_path.parent.mkdir()
    res = runner.invoke(app, ["export", "--checkpoint", str(tiny_classify_run / "best.ckpt"),
                              "--onnx", str(onnx_path)])
    assert res.exit_code == 0, res.output
    card = assert_model_card_matches(onnx_path.parent, tiny_classify_run)
    art = card["cxr"]["model"]["artifact"]
    import hashlib

    assert art["file"] == "model.onnx" and art["format"] == "onnx"
    assert art["sha256"] == hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    assert art["onnxruntime_max_abs_diff"] <= 1e-4
    assert "model.onnx" in (onnx_path.parent / "MODEL_CARD.md").read_text()


def test_shortcut_audit_of_the_same_manifest_is_found_and_warned(tiny_classify_run: Path,
                                                                  tmp_path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_classify_run, run)
    manifest = json.loads((run / "run.json").read_text())["inputs"]["manifest"]
    folder = ClassifyRunFolder(run)
    assert find_shortcut_audit(folder, manifest) is None
    (tmp_path / "audit").mkdir()
    # an audit of another manifest does not count
    (tmp_path / "audit" / "audit.json").write_text(json.dumps(
        {"manifest": str(tmp_path / "other.csv"), "verdict": {"verdict": "low"}}))
    assert build_model_card(run)["cxr"]["shortcut"]["verdict"] == "not audited"
    (tmp_path / "audit" / "audit.json").write_text(json.dumps(
        {"manifest": manifest, "verdict": {"verdict": "high", "strong": ["border probe AUROC "
                                                                         "0.95"], "some": []}}))
    card = build_model_card(run)
    assert card["cxr"]["shortcut"]["verdict"] == "high"
    text = [w["text"] for w in card["cxr"]["warnings"] if w["topic"] == "shortcut"][0]
    assert "HIGH" in text and "border probe AUROC 0.95" in text


def test_report_shows_the_model_card(tiny_classify_run: Path, tmp_path) -> None:
    out = tmp_path / "report.html"
    res = runner.invoke(app, ["report", str(tiny_classify_run), "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert 'id="model-card"' in html and "Not for clinical use" in html
    assert "config sha256" in html
