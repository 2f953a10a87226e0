"""External validation, per-source metrics and `cxr evaluate` on two generated collections."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from support.classify_fixtures import make_sources_manifest

from cxr.config import ClassifyConfig, EvaluateConfig
from cxr.data.manifest import load_manifest, save_manifest
from cxr.pipelines.classify.external import parse_external
from cxr.pipelines.classify.run_classify import run_classify
from cxr.pipelines.evaluate.run_evaluate import run_evaluate
from cxr.runtime.errors import ConfigError, LeakageError


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ev")
    manifest = make_sources_manifest(root / "int", ("hosp_a", "hosp_b"))
    # seed 7 drew a hosp_c phantom that the near-copy check (rightly for 48 px thumbnails of one
    # generator) confirms as a copy of a hosp_b phantom; another seed gives unrelated phantoms
    external = make_sources_manifest(root / "ext", ("hosp_c",), seed=11, split=False)
    cfg = ClassifyConfig(manifest=str(manifest), backbone="squeezenet1_1", image_size=48,
                         epochs=2, batch_size=8, workers=0, bootstrap=40, lr=1e-3,
                         cache_dir=str(root / "cache"), external=(f"site_c={external}",))
    out = root / "run"
    run_classify(cfg, out, progress=False)
    return {"root": root, "manifest": manifest, "external": external, "out": out,
            "cache": root / "cache"}


def test_metrics_json_has_external_by_dataset_and_within_source(run) -> None:
    m = json.loads((run["out"] / "metrics.json").read_text())
    # per source: both internal collections, each with counts and a headline
    assert set(m["by_dataset"]) == {"hosp_a", "hosp_b"}
    test = pd.read_csv(run["manifest"]).query("split == 'test'")
    for name, d in m["by_dataset"].items():
        rows = test[test["dataset"] == name]
        assert d["n_images"] == len(rows)
        assert d["n_positive"] == int((rows["label"] == "covid").sum())
        assert set(d["headline"]) == set(m["headline"])
    # within source: both collections hold covid and non-covid test images
    w = m["within_source"]
    assert w["datasets"] == ["hosp_a", "hosp_b"]
    assert w["n_images"] == m["n_images"] and w["n_positive"] + w["n_negative"] == w["n_images"]
    assert 0 <= w["auroc"]["value"] <= 1 and w["auroc"]["ci_low"] <= w["auroc"]["ci_high"]
    # external: same shape as the internal metrics, evaluated at the validation threshold
    ext = m["external"]["site_c"]
    assert set(ext["headline"]) == set(m["headline"])
    assert set(m) - {"external"} <= set(ext)
    n_ext = len(pd.read_csv(run["external"]))
    assert ext["threshold"] == m["threshold"] and ext["n_images"] == n_ext
    assert set(ext["by_dataset"]) == {"hosp_c"} and ext["within_source"]["datasets"] == ["hosp_c"]
    assert "share no patient" in ext["leakage_check"]
    d = run["out"] / "external" / "site_c"
    assert json.loads((d / "metrics.json").read_text()) == ext
    preds = pd.read_csv(d / "predictions.csv")
    assert len(preds) == len(pd.read_csv(run["external"])) and set(preds["dataset"]) == {"hosp_c"}
    assert any((d / "plots").glob("*.png"))
    run_json = json.loads((run["out"] / "run.json").read_text())
    assert run_json["external"] == ["site_c"]


def test_evaluate_reproduces_the_run_test_metrics_exactly(run, tmp_path) -> None:
    cfg = EvaluateConfig(checkpoint=str(run["out"] / "best.ckpt"), manifest=str(run["manifest"]),
                         split="test", out=str(tmp_path / "ev"), cache_dir=str(run["cache"]))
    res = run_evaluate(cfg, progress=False)
    want = json.loads((run["out"] / "metrics.json").read_text())
    got = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert got["headline"] == want["headline"]  # values and CIs, to the last digit
    for key in ("per_class", "confusion_matrix", "by_dataset", "within_source", "threshold",
                "n_images", "n_patients", "n_boot", "seed"):
        assert got[key] == want[key], key
    assert res.metrics == got
    assert "share no patient" in got["leakage_check"]
    a = pd.read_csv(run["out"] / "predictions.csv")
    b = pd.read_csv(tmp_path / "ev" / "predictions.csv")
    pd.testing.assert_frame_equal(a, b)
    # the external set evaluated alone equals the run's external metrics as well
    cfg = EvaluateConfig(checkpoint=str(run["out"] / "best.ckpt"), manifest=str(run["external"]),
                         split="all", out=str(tmp_path / "ext"), cache_dir=str(run["cache"]))
    ext = run_evaluate(cfg, progress=False).metrics
    assert ext["headline"] == want["external"]["site_c"]["headline"]


def test_training_patients_in_an_evaluated_set_are_refused(run, tmp_path) -> None:
    cfg = EvaluateConfig(checkpoint=str(run["out"] / "best.ckpt"), manifest=str(run["manifest"]),
                         split="all", out=str(tmp_path / "all"), cache_dir=str(run["cache"]))
    with pytest.raises(LeakageError, match=r"patient\(s\) of the training/validation data"):
        run_evaluate(cfg, progress=False)
    assert not (tmp_path / "all" / "metrics.json").exists()


def test_external_set_with_training_images_is_refused_naming_count(run, tmp_path) -> None:
    df = load_manifest(run["manifest"])
    train = df[df["split"] == "train"].head(3)
    # the same radiographs re-published by another collection under other patient ids
    train = train.assign(patient_id=["other:" + p for p in train["patient_id"]], split="")
    path = tmp_path / "leaky.csv"
    save_manifest(pd.concat([load_manifest(run["external"]), train], ignore_index=True), path)
    cfg = ClassifyConfig(**(json.loads(json.dumps(_saved(run))) | {"external": [f"x={path}"]}))
    with pytest.raises(LeakageError, match=r"x .*: 3 image\(s\) duplicate training/validation"):
        run_classify(cfg, run["out"], progress=False)


def _saved(run) -> dict:
    from cxr.config import config_to_dict, load_saved_config

    return config_to_dict(load_saved_config(ClassifyConfig, run["out"]))


def test_finished_run_evaluates_new_external_sets_without_retraining(run, tmp_path) -> None:
    stamp = (run["out"] / "best.ckpt").stat().st_mtime_ns
    again = make_sources_manifest(tmp_path / "d", ("hosp_d",), seed=11, split=False)
    cfg = ClassifyConfig(**(_saved(run) | {"external": [f"site_d={again}"]}))
    res = run_classify(cfg, run["out"], progress=False)
    assert res.reused and (run["out"] / "best.ckpt").stat().st_mtime_ns == stamp
    m = json.loads((run["out"] / "metrics.json").read_text())
    assert set(m["external"]) == {"site_c", "site_d"}
    assert (run["out"] / "external" / "site_d" / "predictions.csv").is_file()


def test_parse_external_errors(tmp_path) -> None:
    f = tmp_path / "m.csv"
    f.write_text("x")
    assert parse_external([f"a={f}"]) == [("a", f)]
    for bad, msg in ((["a"], "NAME=MANIFEST"), ([f"a b={f}"], "NAME may hold"),
                     ([f"a={f}", f"a={f}"], "given twice"), (["a=/nope.csv"], "not a file")):
        with pytest.raises(ConfigError, match=msg):
            parse_external(bad)


def test_cli_external_is_repeatable_and_evaluate_options_reach_the_config(tmp_path,
                                                                          monkeypatch) -> None:
    from typer.testing import CliRunner

    from cxr.cli import app

    seen: dict = {}
    monkeypatch.setattr("cxr.pipelines.classify.run_classify.run_classify",
                        lambda cfg, out, **kw: seen.update(classify=cfg))
    monkeypatch.setattr("cxr.pipelines.evaluate.run_evaluate.run_evaluate",
                        lambda cfg: seen.update(evaluate=cfg))
    runner = CliRunner()
    res = runner.invoke(app, ["classify", "--manifest", "m.csv", "--out", str(tmp_path / "r"),
                              "--external", "a=x.csv", "--external", "b=y.csv"])
    assert res.exit_code == 0, res.output
    assert seen["classify"].external == ("a=x.csv", "b=y.csv")
    res = runner.invoke(app, ["evaluate", "--checkpoint", "c.ckpt", "--manifest", "m.csv",
                              "--out", str(tmp_path / "e"), "--split", "all", "--bootstrap",
                              "200"])
    assert res.exit_code == 0, res.output
    cfg = seen["evaluate"]
    assert (cfg.checkpoint, cfg.manifest, cfg.split, cfg.bootstrap) == ("c.ckpt", "m.csv",
                                                                         "all", 200)
    assert (cfg.seed, cfg.batch_size) == (-1, 0)  # the checkpoint's unless given


def test_evaluate_leaves_out_copies_of_training_images_and_lists_them(run, tmp_path) -> None:
    df = load_manifest(run["manifest"])
    train = df[df["split"] == "train"].head(2)
    # re-published by another collection under other patient ids; one under another label
    other_label = [lbl for lbl in ("normal", "covid") if lbl != train["label"].iat[0]][0]
    train = train.assign(patient_id=["other:" + p for p in train["patient_id"]], split="",
                         dataset="republished",
                         label=[other_label, train["label"].iat[1]])
    ext = load_manifest(run["external"])
    path = tmp_path / "leaky.csv"
    save_manifest(pd.concat([ext, train], ignore_index=True), path)
    cfg = EvaluateConfig(checkpoint=str(run["out"] / "best.ckpt"), manifest=str(path),
                         split="all", out=str(tmp_path / "ev"), cache_dir=str(run["cache"]))
    m = run_evaluate(cfg, progress=False).metrics
    copies = pd.read_csv(tmp_path / "ev" / "copies.csv")
    assert len(copies) == 2 and copies["label_conflict"].tolist() == [1, 0]
    assert "2 image(s) are copies" in m["copies_left_out"] and "1 with another label" in \
        m["copies_left_out"]
    pred = pd.read_csv(tmp_path / "ev" / "predictions.csv")
    assert len(pred) == len(ext)
    refuse = dataclasses.replace(cfg, on_copies="refuse", out=str(tmp_path / "ev2"))
    with pytest.raises(LeakageError, match=r"2 image\(s\) are copies.*refuse"):
        run_evaluate(refuse, progress=False)
