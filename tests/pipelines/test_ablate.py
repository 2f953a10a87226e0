"""Sweep engine: grid expansion, run-dir keys, resume after a kill, failures recorded."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rich.console import Console
from support.sweepfakes import constant_for_tiny, fake_cell, resolve

from cxr.config import AblateConfig, build_config
from cxr.pipelines.ablate.executors import LocalExecutor, make_executor
from cxr.pipelines.ablate.grid import Cell, cell_key, expand_grid
from cxr.pipelines.ablate.results import flatten_metrics
from cxr.pipelines.ablate.run_ablate import SplitInputs, plan_cells, run_ablate, run_cells
from cxr.runtime.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
INPUTS = {None: SplitInputs(manifest="m.csv")}
QUIET = Console(quiet=True)


def _cfg(tmp_path: Path, **kw) -> AblateConfig:
    base = dict(
        out=str(tmp_path / "sweep"),
        manifest="m.csv",
        backbones=("resnet18", "tiny"),
        synthetic=(0.0, 0.3),
        seeds=2,
        baselines=("oversample",),
        bootstrap=50,
    )
    base.update(kw)
    return AblateConfig(**base)


def test_grid_expansion_and_keys() -> None:
    cells = expand_grid(
        backbones=("vgg16", "resnet50"),
        synthetic=(0, 0.1, 0.3),
        seeds=3,
        losses=("ce", "focal"),
        baselines=("oversample", "augment"),
        split_seeds=(0, 1),
    )
    assert len(cells) == 2 * 3 * 2 * (3 + 2) * 2
    assert len(set(cells)) == len(cells)
    assert cells[0].seed == 0 and cells[-1].seed == 2  # seed-major
    c = Cell("resnet50", 0.3, "ce", 1)
    key = cell_key(c, {"backbone": "resnet50", "synthetic_ratio": 0.3})
    assert key.startswith("resnet50-syn0.3-ce-seed1-") and len(key.split("-")[-1]) == 8
    # any change in the resolved config gives a new key; the same config the same key
    assert key != cell_key(c, {"backbone": "resnet50", "synthetic_ratio": 0.3, "epochs": 2})
    assert key == cell_key(c, {"synthetic_ratio": 0.3, "backbone": "resnet50"})
    assert Cell("vgg16", 0, "ce", 0, "augment", 1).prefix() == "vgg16-augment-ce-seed0-split1"


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"synthetic": (1.5,)}, "ratios must be in"),
        ({"baselines": ("smote",)}, "unknown 'smote'"),
        ({"seeds": 0}, "seeds must be"),
        ({"backbones": ()}, "at least one backbone"),
    ],
)
def test_bad_grid_options_name_the_option(kw: dict, msg: str) -> None:
    args = dict(backbones=("a",), synthetic=(0.0,), seeds=1, losses=("ce",))
    args.update(kw)
    with pytest.raises(ConfigError, match=msg):
        expand_grid(**args)


def test_unknown_executor() -> None:
    with pytest.raises(ConfigError, match="unknown executor 'slurm'"):
        make_executor("slurm")


def test_kill_and_rerun_runs_only_missing_cells(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    cells = expand_grid(
        backbones=cfg.backbones,
        synthetic=cfg.synthetic,
        seeds=cfg.seeds,
        losses=cfg.losses,
        baselines=cfg.baselines,
    )
    tasks = plan_cells(cells, INPUTS, cfg.out, resolve)
    ran: list[str] = []

    def dies_after(k: int):
        def fn(task):
            if len(ran) == k:
                raise KeyboardInterrupt
            ran.append(task.key)
            fake_cell(task)

        return fn

    csv = Path(cfg.out) / "results.csv"
    with pytest.raises(KeyboardInterrupt):
        run_cells(tasks, dies_after(5), executor=LocalExecutor(), results_csv=csv, console=QUIET)
    first = list(ran)
    assert len(first) == 5
    status = pd.read_csv(csv, keep_default_na=False)["status"]
    assert (status == "done").sum() == 5 and (status == "pending").sum() == len(tasks) - 5
    ran.clear()
    run_cells(tasks, dies_after(10**6), executor=LocalExecutor(), results_csv=csv, console=QUIET)
    assert sorted(ran) == sorted(t.key for t in tasks if t.key not in first)
    ran.clear()
    run_cells(tasks, dies_after(10**6), executor=LocalExecutor(), results_csv=csv, console=QUIET)
    assert ran == []  # everything done: nothing runs


def test_failed_cell_is_recorded_and_sweep_goes_on(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, backbones=("resnet18",), baselines=())

    def flaky(task):
        if task.cell.ratio > 0 and task.cell.seed == 1:
            raise RuntimeError("out of memory in cell")
        fake_cell(task)

    res = run_ablate(
        cfg, cell_fn=flaky, resolve=resolve, inputs=INPUTS, executor=LocalExecutor(), console=QUIET
    )
    assert res.counts == {"done": 3, "failed": 1, "pending": 0}
    df = pd.read_csv(res.results_csv, keep_default_na=False)
    bad = df[df["status"] == "failed"]
    assert len(bad) == 1 and "out of memory in cell" in bad["error"].iat[0]
    assert "RuntimeError" in (Path(bad["run_dir"].iat[0]) / "error.txt").read_text()
    # a rerun retries the failed cell only
    res2 = run_ablate(
        cfg,
        cell_fn=fake_cell,
        resolve=resolve,
        inputs=INPUTS,
        executor=LocalExecutor(),
        console=QUIET,
    )
    assert res2.ran == [bad["key"].iat[0]]
    assert res2.counts["done"] == 4


def test_sweep_writes_results_summary_and_paired_comparisons(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    res = run_ablate(
        cfg,
        cell_fn=fake_cell,
        resolve=resolve,
        inputs=INPUTS,
        executor=LocalExecutor(),
        console=QUIET,
    )
    out = Path(cfg.out)
    results = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert len(results) == 2 * 2 * 3 and set(results["status"]) == {"done"}
    for col in (
        "backbone",
        "ratio",
        "loss",
        "seed",
        "baseline",
        "auroc",
        "auroc_lo",
        "auroc_hi",
        "run_dir",
    ):
        assert col in results.columns
    assert (Path(results["run_dir"].iat[0]) / "done").is_file()
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    row = summary[(summary["backbone"] == "tiny") & (summary["arm"] == "syn0.3")].iloc[0]
    assert row["n_seeds"] == 2
    assert row["auroc"] == pytest.approx(0.7 + 0.06 + 0.005)
    assert row["auroc_lo"] < row["auroc"] < row["auroc_hi"]
    comp = pd.read_csv(out / "comparisons.csv", keep_default_na=False)
    assert len(comp) == 2 * 2 * 2  # (syn0.3, oversample) x backbones x seeds
    syn = comp[comp["arm"] == "syn0.3"]
    assert (syn["auroc_diff"] > 0).all() and (syn["auroc_diff_lo"] <= syn["auroc_diff"]).all()
    assert syn["delong_p"].between(0, 1).all() and syn["mcnemar_p"].between(0, 1).all()
    gains = pd.read_csv(out / "gains.csv", keep_default_na=False)
    assert set(gains["arm"]) == {"syn0.3", "oversample"}
    saved = yaml.safe_load((out / "sweep.yaml").read_text())
    assert saved["backbones"] == ["resnet18", "tiny"]
    assert res.counts["done"] == 12


def test_flatten_metrics_shapes() -> None:
    flat = flatten_metrics(
        {
            "auroc": {"value": 0.9, "ci_low": 0.8, "ci_high": 0.95},
            "accuracy": 0.7,
            "f1_ci": [0.1, 0.2],
            "per_class": {"covid": {"auroc": {"estimate": 0.8, "ci": [0.7, 0.9]}}},
            "n": 10,
            "ok": True,
        }
    )
    assert flat["auroc"] == 0.9 and flat["auroc_lo"] == 0.8 and flat["auroc_hi"] == 0.95
    assert flat["accuracy"] == 0.7 and flat["f1_lo"] == 0.1 and "ok" not in flat
    assert flat["per_class_covid_auroc_hi"] == 0.9


def test_sweep_yaml_files_are_valid() -> None:
    for path in sorted((REPO / "configs" / "ablate").glob("*.yaml")):
        cfg = build_config(AblateConfig, path)
        assert cfg.backbones, path


def test_cli_ablate_passes_the_grid(tmp_path: Path) -> None:
    from unittest import mock

    from typer.testing import CliRunner

    from cxr.cli import app

    sweep = REPO / "configs" / "ablate" / "headline.yaml"
    with mock.patch("cxr.pipelines.ablate.run_ablate.run_ablate") as run:
        run.return_value.failed = []
        res = CliRunner().invoke(
            app,
            [
                "ablate",
                "--manifest",
                "m.csv",
                "--backbones",
                "vgg16,resnet50",
                "--synthetic",
                "0,0.1",
                "--seeds",
                "2",
                "--loss",
                "ce,focal",
                "--baselines",
                "oversample",
                "--sweep",
                str(sweep),
                "--out",
                str(tmp_path / "s"),
                "--executor",
                "ray",
                "--ray-address",
                "auto",
                "--devices",
                "2",
                "--strategy",
                "ddp",
                "--split-seeds",
                "0,1",
                "--shared-gan",
            ],
        )
    assert res.exit_code == 0, res.output
    (cfg,), _ = run.call_args
    assert cfg.backbones == ("vgg16", "resnet50") and cfg.synthetic == (0.0, 0.1)
    assert cfg.seeds == 2 and cfg.losses == ("ce", "focal") and cfg.baselines == ("oversample",)
    assert cfg.executor == "ray" and cfg.ray_address == "auto"
    assert (cfg.devices, cfg.strategy) == ("2", "ddp")
    assert cfg.split_seeds == (0, 1) and cfg.shared_gan is True
    assert cfg.classify["pretrained"] == "imagenet"  # from the sweep YAML
    assert cfg.out == str(tmp_path / "s") and cfg.manifest == "m.csv"


def test_cli_ablate_bad_ratio_is_one_line_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cxr.cli import main; main()",
            "ablate",
            "--synthetic",
            "0,2",
            "--manifest",
            "m.csv",
            "--out",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "cxr: error: --synthetic: ratios must be in [0, 1), got 2"


def test_prepare_inputs_given_split_and_gan_rows(tmp_path: Path) -> None:
    from support.sweepfakes import make_manifests

    from cxr.pipelines.ablate.split_inputs import prepare_inputs

    manifest, synthetic = make_manifests(tmp_path / "data")
    cfg = _cfg(tmp_path, manifest=str(manifest), synthetic_manifest=str(synthetic))
    inputs = prepare_inputs(cfg, Path(cfg.out), console=QUIET)
    (inp,) = inputs.values()
    assert inp.manifest == str(manifest) and inp.synthetic_manifest == str(synthetic)
    assert inp.manifest_key and inp.synthetic_key and "not trained by this sweep" in inp.notes[0]
    # keys are content keys: the same data gives the same key
    again = prepare_inputs(cfg, Path(cfg.out), console=QUIET)[None]
    assert again.manifest_key == inp.manifest_key


def test_prepare_inputs_refuses_unsplit_manifest(tmp_path: Path) -> None:
    import pandas as pd
    from support.sweepfakes import make_manifests

    from cxr.data.manifest import load_manifest, save_manifest
    from cxr.pipelines.ablate.split_inputs import prepare_inputs

    manifest, _ = make_manifests(tmp_path / "data")
    df = load_manifest(manifest)
    save_manifest(df.assign(split=pd.Series([""] * len(df))), manifest)
    cfg = _cfg(tmp_path, manifest=str(manifest), synthetic=(0.0,))
    with pytest.raises(ConfigError, match="run `cxr data split` first or pass --split-seeds"):
        prepare_inputs(cfg, Path(cfg.out), console=QUIET)


def test_prepare_inputs_resplits_per_seed(tmp_path: Path) -> None:
    from support.sweepfakes import make_manifests

    from cxr.data.manifest import load_manifest
    from cxr.pipelines.ablate.split_inputs import prepare_inputs

    manifest, _ = make_manifests(tmp_path / "data")
    cfg = _cfg(tmp_path, manifest=str(manifest), synthetic=(0.0,), split_seeds=(0, 1))
    inputs = prepare_inputs(cfg, Path(cfg.out), console=QUIET)
    assert set(inputs) == {0, 1}
    assert inputs[0].manifest_key != inputs[1].manifest_key  # different patient assignment
    for seed, inp in inputs.items():
        assert inp.manifest.endswith(f"splits/split{seed}/manifest.csv")
        df = load_manifest(inp.manifest)
        assert {"train", "val", "test"} <= set(df["split"])
    # a cell's key depends on its split
    tasks = plan_cells(
        expand_grid(
            backbones=("a",), synthetic=(0.0,), seeds=1, losses=("ce",), split_seeds=(0, 1)
        ),
        inputs,
        cfg.out,
        lambda c, i: {"m": i.manifest_key},
    )
    assert tasks[0].key.startswith("a-syn0-ce-seed0-split0-")
    assert tasks[0].key[-8:] != tasks[1].key[-8:]


def test_resolve_classify_arms_and_resource_passthrough() -> None:
    from cxr.pipelines.ablate.cells import resolve_classify

    inp = SplitInputs(
        manifest="m.csv", synthetic_manifest="g.csv", manifest_key="k1", synthetic_key="k2"
    )
    sweep = AblateConfig(classify={"epochs": 3, "augment": "light"}, devices="2", strategy="ddp")
    ref = resolve_classify(Cell("resnet18", 0.0, "ce", 1), inp, sweep=sweep)
    gan = resolve_classify(Cell("resnet18", 0.3, "ce", 1), inp, sweep=sweep)
    over = resolve_classify(Cell("resnet18", 0.0, "ce", 1, "oversample"), inp, sweep=sweep)
    aug = resolve_classify(Cell("resnet18", 0.0, "ce", 1, "augment"), inp, sweep=sweep)
    assert (ref["synthetic_ratio"], ref["balance"], ref["augment"]) == (0.0, "none", "none")
    assert ref["synthetic_manifest"] == "" and gan["synthetic_manifest"] == "g.csv"
    assert (gan["synthetic_ratio"], gan["augment"]) == (0.3, "none")
    assert (over["balance"], over["augment"]) == ("oversample", "none")
    assert (aug["balance"], aug["augment"]) == ("none", "light")
    # the augment baseline is albumentations on the minority class only
    assert aug["aug_scope"] == "minority"
    assert ref["aug_scope"] == gan["aug_scope"] == over["aug_scope"] == "all"
    assert ref["epochs"] == 3 and ref["seed"] == 1
    assert (ref["devices"], ref["strategy"]) == ("2", "ddp")  # passed through to Lightning
    # resources do not change a cell's identity; the data's content key does
    cpu = resolve_classify(
        Cell("resnet18", 0.0, "ce", 1),
        inp,
        sweep=AblateConfig(classify={"epochs": 3, "augment": "light"}),
    )
    assert cell_key(Cell("resnet18", 0.0, "ce", 1), cpu) == cell_key(
        Cell("resnet18", 0.0, "ce", 1), ref
    )
    other = SplitInputs(manifest="m.csv", manifest_key="k9")
    assert cell_key(Cell("resnet18", 0.0, "ce", 1), ref) != cell_key(
        Cell("resnet18", 0.0, "ce", 1),
        resolve_classify(Cell("resnet18", 0.0, "ce", 1), other, sweep=sweep),
    )
    with pytest.raises(ConfigError, match="needs GAN images"):
        resolve_classify(Cell("resnet18", 0.3, "ce", 1), other, sweep=sweep)


def test_classify_by_backbone_sets_each_networks_own_options() -> None:
    """A learning rate per network: the other cells and the arms' own knobs are untouched."""
    from cxr.pipelines.ablate.cells import check_backbone_overrides, resolve_classify

    inp = SplitInputs(
        manifest="m.csv", synthetic_manifest="g.csv", manifest_key="k1", synthetic_key="k2"
    )
    sweep = AblateConfig(
        backbones=("vgg16", "resnet50"),
        classify={"epochs": 4, "lr": 3e-4},
        classify_by_backbone={"vgg16": {"lr": 1e-4, "precision": "bf16-mixed"}},
    )
    check_backbone_overrides(sweep)
    vgg = resolve_classify(Cell("vgg16", 0.3, "ce", 1), inp, sweep=sweep)
    rn = resolve_classify(Cell("resnet50", 0.3, "ce", 1), inp, sweep=sweep)
    over = resolve_classify(Cell("vgg16", 0.0, "ce", 1, "oversample"), inp, sweep=sweep)
    assert (vgg["lr"], vgg["precision"], vgg["epochs"]) == (1e-4, "bf16-mixed", 4)
    assert (rn["lr"], rn["precision"], rn["epochs"]) == (3e-4, "32-true", 4)
    assert over["lr"] == 1e-4 and over["balance"] == "oversample"  # the arm still applies
    assert vgg["synthetic_ratio"] == 0.3 and vgg["backbone"] == "vgg16"
    # the per-backbone options are part of the cell's identity
    plain = resolve_classify(Cell("vgg16", 0.3, "ce", 1), inp, sweep=dataclasses.replace(
        sweep, classify_by_backbone={}))
    assert cell_key(Cell("vgg16", 0.3, "ce", 1), vgg) != cell_key(Cell("vgg16", 0.3, "ce", 1),
                                                                  plain)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"resnet18": {"lr": 1e-3}}, "'resnet18' is not one of the sweep's backbones"),
        ({"vgg16": {"synthetic_ratio": 0.5}}, "classify_by_backbone.vgg16.synthetic_ratio: set by"),
        ({"vgg16": {"seed": 3}}, "vgg16.seed: set by the sweep's arms"),
        ({"vgg16": {"learning_rate": 1e-3}}, "classify_by_backbone.vgg16: unknown option"),
        ({"vgg16": 0.001}, "classify_by_backbone.vgg16: expected a mapping"),
    ],
)
def test_classify_by_backbone_bad_entries_fail_before_anything_runs(
    table: dict, message: str
) -> None:
    from cxr.pipelines.ablate.cells import check_backbone_overrides

    sweep = AblateConfig(backbones=("vgg16",), classify_by_backbone=table)
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_backbone_overrides(sweep)


def test_classify_by_backbone_from_yaml_and_the_command_line_wins(tmp_path: Path) -> None:
    from unittest import mock

    from typer.testing import CliRunner

    from cxr.cli import app

    yaml_path = tmp_path / "s.yaml"
    yaml_path.write_text(
        "backbones: [vgg16, resnet50]\nclassify: {epochs: 4}\n"
        "classify_by_backbone:\n  vgg16: {lr: 0.0001, epochs: 3}\n"
    )
    assert build_config(AblateConfig, yaml_path).classify_by_backbone == {
        "vgg16": {"lr": 0.0001, "epochs": 3}
    }
    with mock.patch("cxr.pipelines.ablate.run_ablate.run_ablate") as run:
        run.return_value.failed = []
        res = CliRunner().invoke(app, ["ablate", "--manifest", "m.csv", "--sweep", str(yaml_path),
                                       "--out", str(tmp_path / "o"), "--epochs", "2"])
    assert res.exit_code == 0, res.output
    (cfg,), _ = run.call_args
    assert cfg.classify["epochs"] == 2
    assert cfg.classify_by_backbone == {"vgg16": {"lr": 0.0001}}  # --epochs applies to every cell



def test_cells_that_did_not_learn_are_marked_and_never_compared(tmp_path: Path) -> None:
    from cxr.pipelines.ablate.learning import learned_text
    from cxr.pipelines.ablate.results import display_table
    from cxr.pipelines.report.discover import discover
    from cxr.pipelines.report.sections import sweep_section

    cfg = _cfg(tmp_path)
    run_ablate(cfg, cell_fn=constant_for_tiny, resolve=resolve, inputs=INPUTS,
               executor=LocalExecutor(), console=QUIET)
    out = Path(cfg.out)
    results = pd.read_csv(out / "results.csv", keep_default_na=False)
    tiny = results[results["backbone"] == "tiny"]
    assert tiny["did_not_learn"].str.startswith("constant predictions").all()
    assert (results[results["backbone"] == "resnet18"]["did_not_learn"] == "").all()
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    shown = display_table(summary, ["backbone", "arm", "n_seeds"], ["auroc"])
    assert set(shown[summary["backbone"] == "tiny"]["learned"]) == {"DID NOT LEARN"}
    assert set(shown[summary["backbone"] == "resnet18"]["learned"]) == {"yes"}
    gains = pd.read_csv(out / "gains.csv", keep_default_na=False)
    g = display_table(gains, ["backbone", "arm", "n_seeds"], ["auroc_diff"])
    not_compared = g[gains["backbone"] == "tiny"]["auroc_diff"]
    assert (not_compared == "not a comparison (did not learn)").all()
    assert not g[gains["backbone"] == "resnet18"]["auroc_diff"].str.startswith("not a").any()
    # a CI that reaches 0.5 is "did not learn" too; one seed of two is said so
    assert learned_text(1, 2) == "DID NOT LEARN (1 of 2 seeds)"
    html = str(sweep_section(discover(out)).html)  # type: ignore[union-attr]
    assert "DID NOT LEARN" in html and "not a comparison (did not learn)" in html
