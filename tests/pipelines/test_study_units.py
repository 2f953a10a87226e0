"""Units of `cxr study`: patient caps, scarcity levels, cell reuse, the severity hook."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

import pandas as pd

from cxr.pipelines.study import severity_hook
from cxr.pipelines.study.protocol_grid import reuse_reference_cells
from cxr.pipelines.study.study_data import cap_patients
from cxr.pipelines.study.study_results import arm_name


def _rows(n_patients: int, per: int, dataset: str, label: str) -> list[dict]:
    return [{"patient_id": f"{dataset}:{label}:{p}", "dataset": dataset, "label": label,
             "image_path": f"{dataset}/{label}/{p}-{i}.png"}
            for p in range(n_patients) for i in range(per)]


def test_cap_draws_whole_patients_per_collection_and_label() -> None:
    df = pd.DataFrame(_rows(10, 3, "kermany", "normal") + _rows(4, 2, "kermany", "pneumonia")
                      + _rows(10, 1, "ieee8023", "covid"))
    out = cap_patients(df, {"kermany": 5}, seed=0)
    got = out.groupby(["dataset", "label"])["patient_id"].nunique().to_dict()
    assert got == {("kermany", "normal"): 5, ("kermany", "pneumonia"): 4,
                   ("ieee8023", "covid"): 10}
    # whole patients: every kept patient keeps all three of its images
    assert (out[out["label"] == "normal"].groupby("patient_id").size() == 3).all()
    again = cap_patients(df, {"kermany": 5}, seed=0)
    assert set(again["patient_id"]) == set(out["patient_id"])  # seeded
    assert set(cap_patients(df, {"kermany": 5}, seed=1)["patient_id"]) != set(out["patient_id"])


def test_scarcity_levels_are_nested_and_leave_val_and_test_alone(tmp_path) -> None:
    from support.classify_fixtures import make_sources_manifest

    from cxr.data.manifest import load_manifest
    from cxr.pipelines.study.scarcity import level_manifest

    split = make_sources_manifest(tmp_path / "d", ("a", "b"), patients=24, size=32)
    kept = {}
    for level in (0.25, 0.5, 1.0):
        info = level_manifest(split, level, 0, tmp_path / f"l{level}.csv")
        df = load_manifest(tmp_path / f"l{level}.csv", check_files=False)
        covid = df[(df["label"] == "covid") & (df["split"] == "train")]
        kept[level] = set(covid["patient_id"])
        assert info["covid_train_patients"] == len(kept[level])
        full = load_manifest(split, check_files=False)
        for part in ("val", "test"):
            assert (df["split"] == part).sum() == (full["split"] == part).sum()
    assert kept[0.25] < kept[0.5] < kept[1.0]


def test_reuse_copies_finished_reference_cells_without_weights(tmp_path) -> None:
    src, dst = tmp_path / "a", tmp_path / "b"
    for name, done in (("resnet18-syn0-ce-seed0-aaaa", True),
                       ("resnet18-syn0-ce-seed1-bbbb", False),
                       ("resnet18-syn0.5-ce-seed0-cccc", True)):
        d = src / "cells" / name
        d.mkdir(parents=True)
        (d / "metrics.json").write_text("{}")
        (d / "best.ckpt").write_bytes(b"x" * 10)
        if done:
            (d / "done").write_text("{}")
    assert reuse_reference_cells(src, dst) == 1
    copied = dst / "cells" / "resnet18-syn0-ce-seed0-aaaa"
    assert (copied / "done").is_file() and (copied / "metrics.json").is_file()
    assert not (copied / "best.ckpt").exists()
    assert sorted(p.name for p in (dst / "cells").iterdir()) == [copied.name]
    assert reuse_reference_cells(src, dst) == 0  # already there
    assert reuse_reference_cells(src, dst, only_reference=False) == 1  # the syn0.5 cell


def test_arm_names() -> None:
    assert arm_name("syn0", "children") == "real-only"
    assert arm_name("syn0.3", "adult") == "GAN-adult 0.3"
    assert arm_name("oversample", "children") == "oversample"


def test_severity_hook_skips_with_a_reason_then_runs_when_the_command_lands(
        tmp_path, monkeypatch) -> None:
    from cxr.data.manifest import new_manifest, save_manifest

    split = save_manifest(new_manifest([
        {"image_path": str(tmp_path / "x.png"), "patient_id": "p", "label": "covid",
         "split": "test", "origin": "real", "dataset": "d", "severity_extent": 3.0},
        {"image_path": str(tmp_path / "y.png"), "patient_id": "q", "label": "normal",
         "split": "test", "origin": "real", "dataset": "d"}]), tmp_path / "split.csv")
    name = severity_hook.CANDIDATES[0]
    if importlib.util.find_spec(name) is None:
        res = severity_hook.severity_stage(split, "ckpt", tmp_path / "sev")
        assert "not in this checkout" in res["skipped"] and res["scored_images_in_split"] == 1
    calls = []
    fake = types.ModuleType(name)
    fake.__spec__ = importlib.machinery.ModuleSpec(name, None)

    def run_severity(cfg=None, *, console=None, **kw) -> dict:  # either API
        if cfg is not None:  # the landed API: a SeverityConfig
            kw = {"checkpoint": cfg.checkpoint, "manifest": cfg.manifest, "out_dir": cfg.out}
        calls.append((kw["checkpoint"], kw["manifest"], kw["out_dir"]))
        return {"spearman": 0.5}

    fake.run_severity = run_severity  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, fake)
    res = severity_hook.severity_stage(split, "ckpt", tmp_path / "sev")
    assert res["result"] == {"spearman": 0.5} and res["module"] == name
    assert calls == [("ckpt", str(split), str(tmp_path / "sev"))]
    assert Path(calls[0][1]).is_file()


def test_severity_table_rows_carry_their_intervals() -> None:
    from cxr.pipelines.study.study_report import severity_rows

    row = {"method": "p_covid", "score": "extent", "n": 6, "n_patients": 4, "pearson": 0.5,
           "pearson_ci_low": -0.2, "pearson_ci_high": 0.9, "spearman": 0.4,
           "spearman_ci_low": -0.3, "spearman_ci_high": 0.8}
    assert severity_rows({"result": {"table": [row]}}) == [
        ["p_covid", "extent", 6, 4, "0.500 [-0.200, 0.900]", "0.400 [-0.300, 0.800]"]]
    assert severity_rows({"skipped": "not in this checkout"}) == []
