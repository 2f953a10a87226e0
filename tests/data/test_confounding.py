"""Source confounding (cxr.data.leakage.confounding) and where it surfaces.

Index, split, classify.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.fakelayouts import make_hannover, tiny_image
from typer.testing import CliRunner

from cxr.cli import app
from cxr.data.leakage.confounding import source_confounding
from cxr.data.manifest import new_manifest


def _manifest(spec: dict[tuple[str, str], int], origin: str = "real"):
    """Rows for (dataset, label) -> n images, one patient each."""
    rows = []
    for (ds, label), n in spec.items():
        for i in range(n):
            rows.append(
                {
                    "image_path": f"/x/{ds}/{label}{i}.png",
                    "patient_id": f"{ds}:{label}{i}",
                    "label": label,
                    "dataset": ds,
                    "origin": origin,
                    "split": "",
                    "width": 8,
                    "height": 8,
                    "content_hash": f"{ds}{label}{i}",
                }
            )
    return new_manifest(rows)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_separate_collections_are_flagged_perfect() -> None:
    rep = source_confounding(_manifest({("A", "covid"): 10, ("B", "normal"): 30}))
    assert rep.counts == {"A": {"covid": 10}, "B": {"normal": 30}}
    assert rep.single_label_share == {"covid": 1.0, "normal": 1.0}
    assert rep.dataset_accuracy == 1.0 and rep.baseline_accuracy == 0.75 and rep.perfect
    assert rep.cramers_v == pytest.approx(1.0)
    assert len(rep.warnings) == 3
    assert rep.warnings[0].startswith(
        "label 'covid': 100% of images come from A, which holds "
        "no other label — a classifier can learn the collection"
    )
    assert "add covid images from the other collections (B)" in rep.warnings[0]
    assert "predicts every label perfectly" in rep.warnings[2]
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["warnings"] == rep.warnings and d["counts"]["B"] == {"normal": 30}
    assert any("warning: label 'normal'" in ln for ln in rep.summary())
    assert list(rep.frame().columns) == ["dataset", "covid", "normal"]


def test_mixed_collections_are_not_flagged() -> None:
    rep = source_confounding(
        _manifest(
            {("A", "covid"): 10, ("A", "normal"): 12, ("B", "covid"): 11, ("B", "normal"): 10}
        )
    )
    assert rep.warnings == [] and not rep.perfect
    assert rep.single_label_share == {"covid": 0.0, "normal": 0.0}
    assert rep.cramers_v is not None and rep.cramers_v < 0.2
    assert rep.dataset_accuracy == pytest.approx(23 / 43)  # A -> normal (12), B -> covid (11)


def test_threshold_edge() -> None:
    # covid: 9 of 10 images from C (covid only), 1 from the mixed A
    spec = {("C", "covid"): 9, ("A", "covid"): 1, ("A", "normal"): 10}
    rep = source_confounding(_manifest(spec))
    assert rep.single_label_share["covid"] == pytest.approx(0.9)
    assert len(rep.warnings) == 1 and rep.warnings[0].startswith("label 'covid': 90% ")
    assert not source_confounding(_manifest(spec), threshold=0.91).warnings
    spec[("A", "covid")] = 2  # 9 / 11 = 81.8%
    assert source_confounding(_manifest(spec)).warnings == []


def test_gan_rows_and_one_label_ignored() -> None:
    import pandas as pd

    real = _manifest({("A", "covid"): 5, ("A", "normal"): 5})
    gan = _manifest({("gan", "covid"): 50}, origin="gan")
    rep = source_confounding(pd.concat([real, gan], ignore_index=True))
    assert rep.datasets == ["A"] and rep.warnings == []
    only = source_confounding(_manifest({("A", "normal"): 4, ("B", "normal"): 3}))
    assert only.warnings == [] and only.cramers_v is None
    assert "nothing to confound" in only.summary()[0]


def test_per_split() -> None:
    df = _manifest({("A", "covid"): 4, ("B", "normal"): 4, ("B", "covid"): 4})
    df["split"] = ["test"] * 8 + ["train"] * 4
    assert source_confounding(df, split="train").labels == ["covid"]
    rep = source_confounding(df, split="test")
    assert rep.scope == "split test" and rep.perfect


@pytest.fixture
def two_roots(tmp_path: Path) -> list[Path]:
    """A folder-per-class root with Normal/ only and a Hannover (all COVID) root."""
    normal = tmp_path / "pediatric"
    for i in range(4):
        tiny_image(normal / "Normal" / f"n{i}.png", seed=200 + i)
    return [normal, make_hannover(tmp_path / "hannover")]


def test_index_and_split_cli_warn(two_roots: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    res = CliRunner().invoke(
        app, ["data", "index", *map(str, two_roots), "--out", str(out), "--workers", "1"]
    )
    assert res.exit_code == 0, res.output
    text = _flat(res.output)
    assert (
        "label 'covid': 100% of images come from hannover, which holds no other label — "
        "a classifier can learn the collection instead of the disease"
    ) in text
    assert "label 'normal': 100% of images come from pediatric" in text
    res = CliRunner().invoke(app, ["data", "split", str(out), "--val", "0.25", "--test", "0.25"])
    assert res.exit_code == 0, res.output
    text = _flat(res.output)
    assert "label 'covid': 100% of images come from hannover" in text
    assert "predicts every label perfectly" in text


def test_classify_run_records_confounding(tmp_path: Path) -> None:
    from support.classify_fixtures import make_split_manifest

    from cxr.config import ClassifyConfig
    from cxr.data.manifest import load_manifest, save_manifest
    from cxr.pipelines.classify.run_classify import run_classify

    manifest = make_split_manifest(tmp_path, patients=24, size=32)
    df = load_manifest(manifest)
    df["dataset"] = ["covid-only" if lb == "covid" else "other" for lb in df["label"]]
    save_manifest(df, manifest)
    cfg = ClassifyConfig(
        manifest=str(manifest),
        backbone="squeezenet1_1",
        image_size=32,
        epochs=1,
        batch_size=16,
        workers=0,
        bootstrap=10,
        cache_dir=str(tmp_path / "cache"),
    )
    run_classify(cfg, tmp_path / "run", progress=False)
    rec = json.loads((tmp_path / "run" / "run.json").read_text())["source_confounding"]
    assert rec["single_label_share"]["covid"] == 1.0 and rec["single_label_sources"]["covid"] == [
        "covid-only"
    ]
    assert any(
        w.startswith("label 'covid': 100% of images come from covid-only") for w in rec["warnings"]
    )
    assert any(w.startswith("test split: the label is predictable from the source collection")
               for w in rec["warnings"])


def test_report_section_shows_table_and_warnings() -> None:
    from cxr.pipelines.report.sections import confounding_html

    html = confounding_html(_manifest({("A", "covid"): 3, ("B", "normal"): 5}))
    assert "CONFOUNDED" in html and "<table" in html and "label &#x27;covid&#x27;: 100%" in html
    assert "CONFOUNDED" not in confounding_html(
        _manifest({("A", "covid"): 3, ("A", "normal"): 3, ("B", "covid"): 3, ("B", "normal"): 3})
    )
