"""Leave-one-dataset-out sweeps: fold inputs, fold cells, per-fold and pooled paired gains."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from rich.console import Console
from support.sweepfakes import fake_cell, png, resolve

from cxr.config import AblateConfig
from cxr.data.manifest import load_manifest, new_manifest, save_manifest
from cxr.pipelines.ablate.executors import LocalExecutor
from cxr.pipelines.ablate.grid import SplitInputs, expand_grid, input_key
from cxr.pipelines.ablate.results import POOLED_FOLD
from cxr.pipelines.ablate.run_ablate import run_ablate
from cxr.runtime.errors import ConfigError

QUIET = Console(quiet=True)


def _cfg(tmp_path: Path, **kw) -> AblateConfig:
    base = dict(out=str(tmp_path / "sweep"), manifest="m.csv", backbones=("tiny",),
                synthetic=(0.0, 0.3), seeds=3, bootstrap=50, leave_dataset_out=True)
    return AblateConfig(**(base | kw))


def test_fold_cells_keys_and_inputs() -> None:
    cells = expand_grid(backbones=("r",), synthetic=(0.0, 0.5), seeds=2, losses=("ce",),
                        folds=("hosp a", "b"))
    assert len(cells) == 2 * 2 * 2
    assert {c.fold for c in cells} == {"hosp a", "b"}
    c = next(c for c in cells if c.fold == "hosp a")
    assert c.prefix().endswith("-out-hosp_a") and c.input_key == ":hosp a"
    assert input_key(None) is None and input_key(3, "b") == "3:b"
    plain = expand_grid(backbones=("r",), synthetic=(0.0,), seeds=1, losses=("ce",))
    assert plain[0].fold == "" and plain[0].input_key is None


def test_lodo_sweep_reports_per_fold_and_pooled_gain_paired_by_seed(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    inputs = {input_key(None, f): SplitInputs(manifest=f"{f}.csv", notes=(f"fold {f}",))
              for f in ("a", "b")}
    res = run_ablate(cfg, cell_fn=fake_cell, resolve=resolve, inputs=inputs,
                    executor=LocalExecutor(), console=QUIET)
    assert res.counts["done"] == 2 * 2 * 3
    out = Path(cfg.out)
    results = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert sorted(set(results["fold"])) == ["a", "b"]
    assert all(f"-out-{f}-" in Path(d).name for f, d in zip(results["fold"],
                                                            results["run_dir"], strict=True))
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert len(summary) == 2 * 2 and set(summary["fold"]) == {"a", "b"}
    comp = pd.read_csv(out / "comparisons.csv", keep_default_na=False)
    assert len(comp) == 2 * 3  # syn0.3 vs its same-fold, same-seed reference
    gains = pd.read_csv(out / "gains.csv", keep_default_na=False)
    per_fold = gains[gains["fold"].isin(["a", "b"])]
    pooled = gains[gains["fold"] == POOLED_FOLD]
    assert len(per_fold) == 2 and len(pooled) == 1
    p = pooled.iloc[0]
    assert p["n_seeds"] == 3 and p["n_folds"] == 2
    # paired by seed: the mean over seeds of the per-seed mean over folds
    per_seed = comp.groupby("seed")["auroc_diff"].mean()
    assert p["auroc_diff"] == pytest.approx(per_seed.mean(), abs=1e-6)
    assert p["auroc_diff_lo"] <= p["auroc_diff"] <= p["auroc_diff_hi"]
    doc = __import__("json").loads((out / "summary.json").read_text())
    assert doc["grid"]["folds"] == ["a", "b"] and doc["grid"]["leave_dataset_out"]
    assert any("Leave-one-dataset-out" in n for n in doc["notes"])
    assert "fold a" in doc["notes"] and "fold b" in doc["notes"]


def _two_sources(root: Path) -> Path:
    rows = []
    # hosp_a: covid + normal; hosp_b: covid only; hosp_c: normal + pneumonia
    spec = {"hosp_a": ("covid", "normal"), "hosp_b": ("covid",), "hosp_c": ("normal", "pneumonia")}
    k = 0
    for ds, labels in spec.items():
        for p in range(8):
            img = root / ds / f"p{p}.png"
            png(img, k)
            k += 1
            rows.append(dict(image_path=str(img), patient_id=f"{ds}:p{p}",
                             label=labels[p % len(labels)], dataset=ds,
                             split=("train", "train", "val", "test")[p % 4],
                             content_hash=f"{ds}{p}"))
    return save_manifest(new_manifest(rows), root / "manifest.csv")


def test_prepare_fold_inputs_writes_fold_manifests(tmp_path: Path) -> None:
    from cxr.pipelines.ablate.fold_inputs import prepare_fold_inputs

    manifest = _two_sources(tmp_path / "data")
    cfg = _cfg(tmp_path, manifest=str(manifest), synthetic=(0.0,))
    inputs = prepare_fold_inputs(cfg, Path(cfg.out), console=QUIET)
    assert set(inputs) == {":hosp_a", ":hosp_b"}
    for name, inp in (("hosp_a", inputs[":hosp_a"]), ("hosp_b", inputs[":hosp_b"])):
        df = load_manifest(inp.manifest)
        assert name not in set(df.loc[df["split"].isin(["train", "val"]), "dataset"])
        assert set(df.loc[df["dataset"] == name, "split"]) == {"test"}
        assert inp.manifest_key and f"Fold '{name}'" in inp.notes[0]
    assert any("compares sources" in n for n in inputs[":hosp_b"].notes)
    again = prepare_fold_inputs(cfg, Path(cfg.out), console=QUIET)
    assert again[":hosp_a"].manifest_key == inputs[":hosp_a"].manifest_key


def test_lodo_refuses_gans_that_saw_the_held_out_collection(tmp_path: Path) -> None:
    from cxr.pipelines.ablate.fold_inputs import prepare_fold_inputs

    manifest = _two_sources(tmp_path / "data")
    for kw, msg in (({"shared_gan": True}, "shared-gan"),
                    ({"synthetic_manifest": "g.csv"}, "synthetic-manifest")):
        cfg = _cfg(tmp_path, manifest=str(manifest), **kw)
        with pytest.raises(ConfigError, match=msg):
            prepare_fold_inputs(cfg, Path(cfg.out), console=QUIET)


@pytest.mark.slow
def test_tiny_lodo_sweep_end_to_end(tmp_path: Path) -> None:
    """Real classify cells and a per-fold CycleGAN on two phantom collections."""
    import json

    from support.classify_fixtures import make_sources_manifest

    manifest = make_sources_manifest(tmp_path / "data", ("hosp_a", "hosp_b"))
    cfg = AblateConfig(
        out=str(tmp_path / "sweep"), manifest=str(manifest), backbones=("squeezenet1_1",),
        synthetic=(0.0, 0.3), seeds=1, bootstrap=30, leave_dataset_out=True,
        classify={"image_size": 48, "epochs": 1, "batch_size": 8, "workers": 0,
                  "bootstrap": 20, "accelerator": "cpu", "cache_dir": str(tmp_path / "cache")},
        gan={"image_size": 32, "epochs": 1, "epochs_decay": 0, "ngf": 4, "ndf": 4,
             "n_blocks": 1, "batch_size": 2, "pool_size": 3, "sample_images": 2,
             "accelerator": "cpu", "cache_dir": str(tmp_path / "cache"), "cache_workers": 1},
    )
    res = run_ablate(cfg, console=QUIET)
    out = Path(cfg.out)
    results = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert set(results["status"]) == {"done"} and sorted(set(results["fold"])) == ["hosp_a",
                                                                                  "hosp_b"]
    assert res.counts["done"] == 4
    for fold in ("hosp_a", "hosp_b"):
        # the GAN of the fold was trained on the other collection's train split only
        gan_manifest = out / "folds" / "given" / fold / "manifest.csv"
        fold_df = load_manifest(gan_manifest)
        train_sets = set(fold_df.loc[fold_df["split"] == "train", "dataset"])
        assert train_sets == ({"hosp_a", "hosp_b"} - {fold})
        syn = load_manifest(out / "gan" / f"given-out-{fold}" / "synth" / "manifest.csv")
        assert not syn["source_patient"].str.startswith(fold + ":").any()
        cell = results[(results["fold"] == fold) & (results["arm"] == "syn0")].iloc[0]
        metrics = json.loads((Path(cell["run_dir"]) / "metrics.json").read_text())
        assert fold in metrics["by_dataset"]  # tested on the held-out collection
    assert results["within_source_auroc"].astype(float).between(0, 1).all()
    gains = pd.read_csv(out / "gains.csv", keep_default_na=False)
    assert POOLED_FOLD in set(gains["fold"])


def test_results_carry_the_within_source_auroc(tmp_path: Path) -> None:
    import json

    from cxr.pipelines.ablate.grid import Cell, CellTask
    from cxr.pipelines.ablate.results import collect_results

    tasks = []
    for k, within in enumerate(({"auroc": {"value": 0.61, "ci_low": 0.5, "ci_high": 0.7}}, None)):
        d = tmp_path / f"c{k}"
        d.mkdir()
        (d / "done").write_text('{"seconds": 1}')
        (d / "metrics.json").write_text(json.dumps({
            "headline": {"auroc": {"value": 0.9, "ci_low": 0.8, "ci_high": 0.95}},
            "within_source": within}))
        tasks.append(CellTask(Cell("r", 0.0, "ce", k, fold="a"), f"k{k}", str(d), {}))
    res = collect_results(tasks)
    assert res["within_source_auroc"].iloc[0] == 0.61
    assert res["within_source_auroc_lo"].iloc[0] == 0.5
    assert pd.isna(res["within_source_auroc"].iloc[1]) and list(res["fold"]) == ["a", "a"]


def test_cli_leave_dataset_out_reaches_the_sweep_config(monkeypatch) -> None:
    from typer.testing import CliRunner

    from cxr.cli import app

    seen: dict = {}
    monkeypatch.setattr(
        "cxr.pipelines.ablate.run_ablate.run_ablate",
        lambda cfg: seen.update(cfg=cfg) or SimpleNamespace(failed=[], sweep_dir=Path(".")),
    )
    res = CliRunner().invoke(app, ["ablate", "--manifest", "m.csv", "--leave-dataset-out",
                                   "--synthetic", "0,0.3"])
    assert res.exit_code == 0, res.output
    assert seen["cfg"].leave_dataset_out is True and seen["cfg"].synthetic == (0.0, 0.3)
