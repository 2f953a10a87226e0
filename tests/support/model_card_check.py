"""The model card of a finished classify run agrees with its metrics.json, number for number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

#: Hugging Face metric type -> metrics.json headline key (cxr.pipelines.classify.model_card)
_HF_TO_CXR = {"roc_auc": "auroc", "recall": "sensitivity", "specificity": "specificity",
              "balanced_accuracy": "balanced_accuracy", "f1": "f1",
              "average_precision": "average_precision", "accuracy": "accuracy"}


def _front_matter(md: str) -> dict[str, Any]:
    assert md.startswith("---\n"), "MODEL_CARD.md has no YAML front matter"
    head = md[4:].split("\n---\n", 1)[0]
    return yaml.safe_load(head)


def assert_model_card_matches(folder: str | Path, run_dir: str | Path | None = None) -> dict:
    """Check MODEL_CARD.md + model_card.json in ``folder`` against ``run_dir``'s metrics.json
    (``run_dir`` defaults to ``folder``: the card beside best.ckpt); returns the card."""
    folder = Path(folder)
    run_dir = Path(run_dir) if run_dir is not None else folder
    card = json.loads((folder / "model_card.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    run = json.loads((run_dir / "run.json").read_text())
    assert card["cxr"]["metrics"] == metrics, f"{folder}: model card metrics != metrics.json"
    # the Hugging Face model-index: every value is the metrics.json value of its set
    sets = {"internal test split": metrics}
    sets |= {f"test split, {k} only": v for k, v in (metrics.get("by_dataset") or {}).items()}
    sets |= {f"external: {k}": v for k, v in (metrics.get("external") or {}).items()}
    results = card["model-index"][0]["results"]
    assert results and results[0]["dataset"]["name"] == "internal test split"
    for res in results:
        src = sets[res["dataset"]["name"]]["headline"]
        for m in res["metrics"]:
            entry = src[_HF_TO_CXR[m["type"]]]
            assert m["value"] == entry["value"], (folder, res["dataset"]["name"], m)
    assert card["cxr"]["decision"]["threshold"] == metrics.get("threshold")
    assert card["cxr"]["decision"]["target_sensitivity"] == run.get("target")
    assert "not for clinical use" in card["cxr"]["clinical_use"].lower()
    assert card["cxr"]["warnings"][0]["topic"] == "clinical use"
    assert card["cxr"]["gan_lineage"] == run.get("gan_lineage")
    import hashlib

    config_hash = hashlib.sha256((run_dir / "config.yaml").read_bytes()).hexdigest()
    assert card["cxr"]["training"]["config_sha256"] == config_hash
    md = (folder / "MODEL_CARD.md").read_text()
    meta = _front_matter(md)
    assert meta == {k: v for k, v in card.items() if k != "cxr"}, "front matter != JSON metadata"
    assert meta["pipeline_tag"] == "image-classification" and meta["library_name"] == "cxr"
    if run.get("data"):  # runs of this version record their data counts
        assert card["cxr"]["data"]["counts"] == run["data"]["counts"]
        assert card["cxr"]["data"]["patient_level_split"] is True
    return card


def finished_runs(root: Path) -> list[Path]:
    """Folders below ``root`` that `run_classify` finished: metrics.json, config.yaml and a
    run.json with its ``data`` record (hand-made fakes of other tests have none)."""
    out = []
    for p in root.rglob("run.json"):
        try:
            run = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if (isinstance(run, dict) and "data" in run and (p.parent / "metrics.json").is_file()
                and (p.parent / "config.yaml").is_file()):
            out.append(p.parent)
    return sorted(out)
