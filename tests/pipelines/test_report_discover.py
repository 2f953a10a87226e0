"""How `cxr report` finds the outputs that belong to a run: recorded links, a walk, options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cxr.pipelines.report.discover import discover
from cxr.runtime.errors import CxrError


def _run(tmp: Path) -> Path:
    """runs/clf (classify run naming runs/synth/manifest.csv), runs/synth/{eval,eval-xray}."""
    runs = tmp / "runs"
    run = runs / "clf"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    (run / "best.ckpt").write_bytes(b"w")
    syn = runs / "synth"
    syn.mkdir()
    (syn / "manifest.csv").write_text("image_path\n")
    (run / "config.yaml").write_text(yaml.safe_dump({
        "manifest": str(tmp / "m.csv"), "synthetic_manifest": str(syn / "manifest.csv"),
        "synthetic_ratio": 0.3}))
    (syn / "eval").mkdir()
    (syn / "eval" / "eval.json").write_text(json.dumps({"label_preservation": 0.9}))
    (syn / "eval-fid").mkdir()
    (syn / "eval-fid" / "eval.json").write_text(json.dumps(
        {"synthetic_vs_real_target": {"fid": 12.0, "kid_mean": 0.01, "kid_std": 0.002},
         "label_preservation": 0.9}))
    return run


def _explain(d: Path, checkpoint: Path) -> Path:
    d.mkdir(parents=True)
    (d / "explain.json").write_text(json.dumps(
        {"images": 2, "method": "saliency", "inputs": {"checkpoint": str(checkpoint)}}))
    return d


def test_gan_eval_found_through_the_synthetic_manifest_most_complete_wins(tmp_path) -> None:
    run = _run(tmp_path)
    found = discover(run)
    assert found.gan_evals == [tmp_path / "runs" / "synth" / "eval-fid" / "eval.json"]
    assert "the synthetic manifest in" in found.origin(found.gan_evals[0])
    assert any("showing" in n and "has FID/KID" in n and "eval/eval.json" in n
               for n in found.eval_notes)


def test_explanations_beside_the_run_only_when_they_explain_its_checkpoint(tmp_path) -> None:
    run = _run(tmp_path)
    mine = _explain(tmp_path / "runs" / "explain", run / "best.ckpt")
    _explain(tmp_path / "runs" / "explain-other", tmp_path / "other" / "best.ckpt")
    found = discover(run)
    assert found.explain_dirs == [mine]
    assert "found beside the run" in found.origin(mine / "explain.json")


def test_explicit_options_and_their_errors(tmp_path) -> None:
    run = _run(tmp_path)
    extra = _explain(tmp_path / "elsewhere" / "ex", tmp_path / "x.ckpt")
    found = discover(run, explains=[extra])
    assert extra in found.explain_dirs and "--explain" in found.origin(extra)
    with pytest.raises(CxrError, match="--gan-eval"):
        discover(run, gan_evals=[tmp_path / "nothing"])
    with pytest.raises(CxrError, match="--explain"):
        discover(run, explains=[tmp_path / "nothing"])


def test_a_folder_of_runs_is_reported(tmp_path) -> None:
    run = _run(tmp_path)
    (run / "predictions.csv").write_text("label,p_covid\n")
    found = discover(tmp_path / "runs")
    assert found.kind == "folder" and found.runs == [run]
    assert found.roc_runs == [("clf", run)]
