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


def test_lung_model_stage_predicts_fields_and_keys_only_audit_and_severity(
        tmp_path, monkeypatch) -> None:
    """``lung_model``: its hash keys the lungs/audit/severity stages, never the grid; the
    predicted fields fill every row without a collection mask; the report names them."""
    import numpy as np
    import pytest
    from support.classify_fixtures import make_split_manifest

    import cxr.lungs.lung_model as lm
    from cxr.config import StudyConfig, build_config
    from cxr.lungs.lung_model import LungModelInfo, save_lung_model
    from cxr.lungs.unet import UNet
    from cxr.pipelines.study.run_study import _identity
    from cxr.pipelines.study.study_audit import lung_model_key, predict_lung_fields
    from cxr.pipelines.study.study_report import lung_field_lines
    from cxr.runtime.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    split = make_split_manifest(tmp_path / "data", patients=8, size=48)
    df = pd.read_csv(split, keep_default_na=False)
    df.loc[df.index % 2 == 0, "lung_mask_path"] = ""  # half the rows have no collection mask
    df.to_csv(split, index=False)
    plain = build_config(StudyConfig, None, out=str(tmp_path / "s"))
    assert lung_model_key(plain) == []
    with pytest.raises(ConfigError, match=r"--lung-model .*nope\.pt: no such file"):
        lung_model_key(build_config(StudyConfig, None, lung_model=str(tmp_path / "nope.pt")))

    model = tmp_path / "lungs.pt"
    save_lung_model(model, UNet(base=2), LungModelInfo(32, "pad", 2, 4, 0.5, {}))
    cfg = build_config(StudyConfig, None, out=str(tmp_path / "s"), lung_model=str(model))
    key = lung_model_key(cfg)
    assert key[0] == str(model.resolve()) and len(key[1]) == 64
    assert _identity(cfg) == _identity(plain)  # the protocol grid's key does not move

    def two_lungs(net, images, batch_size=32):  # a plausible pair of lungs per image
        m = np.zeros(images.shape[-2:], np.float32)
        s = images.shape[-1]
        m[s // 5 : s * 4 // 5, s // 8 : s * 7 // 16] = 1
        m[s // 5 : s * 4 // 5, s * 9 // 16 : s * 7 // 8] = 1
        return np.stack([m] * len(images))

    monkeypatch.setattr(lm, "predict_probs", two_lungs)
    res = predict_lung_fields(cfg, split, tmp_path / "s" / "lungs")
    out = pd.read_csv(res["manifest"], keep_default_na=False)
    assert (out.loc[out.index % 2 == 0, "lung_mask_source"] == "predicted").all()
    assert (out.loc[out.index % 2 == 1, "lung_mask_source"] == "phantom").all()
    assert (out["lung_mask_path"] != "").all()
    lines = lung_field_lines({"lung_field": {"by_dataset": {"colA": {"predicted": 3,
                                                                      "box": 1}}}})
    assert lines == ["lung field, colA: predicted 3, box 1"]


def test_severity_rows_add_left_out_patients_but_no_lateral_or_copy(tmp_path) -> None:
    import numpy as np

    from cxr.pipelines.study.severity_hook import held_out_scored

    def row(pid, split, h, extent, view="pa"):
        return {"image_path": f"{pid}-{h}.png", "patient_id": pid, "label": "covid",
                "dataset": "ieee8023", "split": split, "content_hash": h, "view": view,
                "label_detail": "", "offset_days": "", "origin": "real", "width": 64,
                "height": 64,
                "severity_extent": extent, "severity_opacity": extent}

    split = pd.DataFrame([row("a", "train", "h1", 3.0), row("b", "test", "h2", 2.0),
                          row("c", "test", "h3", None)])
    index = pd.DataFrame([*split.drop(columns="split").to_dict("records"),
                          row("d", "", "h4", 5.0), row("d", "", "h5", 1.0, view="lateral"),
                          row("e", "", "h1", 4.0),  # the same radiograph as a's (train)
                          row("f", "", "h6", None)])
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = {h: rng.integers(0, 255, (64, 64), dtype=np.uint8) for h in index["content_hash"]}
    for path, h in zip(index["image_path"], index["content_hash"], strict=True):
        Image.fromarray(pixels[h]).save(tmp_path / path)  # e-h1.png: a copy of a-h1.png
    split.to_csv(tmp_path / "split.csv", index=False)
    index.assign(split="").to_csv(tmp_path / "index.csv", index=False)
    path, counts = held_out_scored(tmp_path / "split.csv", tmp_path / "index.csv",
                                   tmp_path / "sev")
    out = pd.read_csv(path)
    assert sorted(Path(p).name for p in out["image_path"]) == ["b-h2.png", "c-h3.png", "d-h4.png"]
    assert (out["split"] == "test").all()
    assert counts == {"test_split": 1, "left_out_patients": 1, "left_out_copies_dropped": 1}


def test_gan_verdict_keeps_tiny_fids_readable() -> None:
    from cxr.pipelines.study.gan_arms import cue_verdict

    m = {"synthetic_vs_real_target": {"fid": 1.82e-10}, "real_source_vs_real_target":
         {"fid": 5.84e-10}, "audit": {"fid_kid_equal_n": {
             "real_target_train_vs_real_target_heldout": {"fid_mean": 7.7e-11}}}}
    line = cue_verdict("children", m)
    assert "1.82e-10 vs 5.84e-10" in line and "7.7e-11" in line and "moved them closer" in line


def test_a_reference_that_did_not_learn_is_said_first() -> None:
    from cxr.pipelines.study.study_report import _confounding_first, reference_warning

    assert reference_warning({"reference": {"did_not_learn": ""}}) == ""
    doc = {"reference": {"did_not_learn": "near-constant predictions (p_covid within [0.7649, "
                                          "0.7649])"}}
    assert "did not learn (near-constant" in reference_warning(doc)
    html = _confounding_first(doc, {})
    assert html.startswith("<ul><li class='bad'><b>The real-only reference classifier")
