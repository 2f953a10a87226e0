"""`cxr explain` and `cxr explain progression` end to end on a tiny trained checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cxr.cli import app

SIZE = 48


def _ellipse(cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def _write(path: Path, arr: np.ndarray) -> str:
    from cxr.data.images.imageio import write_png

    write_png(path, arr.astype(np.uint8))
    return str(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Toy radiographs (dark lungs; COVID: a bright blob in a lung), a briefly trained resnet18."""
    from cxr.classifier import ClassifierInfo, create_backbone, save_classifier
    from cxr.data.images.intensity import to_network
    from cxr.data.manifest import new_manifest, save_manifest

    root = tmp_path_factory.mktemp("explain")
    rng = np.random.default_rng(0)
    lung = _ellipse(24, 14, 14, 8) | _ellipse(24, 34, 14, 8)
    rows, imgs, labels = [], [], []
    for i in range(16):
        covid = i % 2 == 0
        img = np.full((SIZE, SIZE), 170.0) - 110.0 * lung + rng.normal(0, 6, (SIZE, SIZE))
        lesion = (
            _ellipse(18 + (i % 3) * 5, 14 if i % 4 else 34, 5, 4) if covid else np.zeros_like(lung)
        )
        img[lesion] = 220.0
        u8 = np.clip(img, 0, 255).astype(np.uint8)
        stem = f"p{i // 4}_s{i % 4}"
        rows.append(
            {
                "image_path": _write(root / "images" / f"{stem}.png", u8),
                "patient_id": f"toy:P{i // 4}",
                "label": "covid" if covid else "normal",
                "offset_days": float(i % 4) * 3.0,
                "dataset": "toy",
                "split": "test" if i < 8 else "train",
                "lung_mask_path": _write(root / "masks" / "lung" / f"{stem}.png", lung * 255),
                "lesion_mask_path": _write(root / "masks" / "lesion" / f"{stem}.png", lesion * 255),
            }
        )
        imgs.append(u8)
        labels.append(1 if covid else 0)
    save_manifest(new_manifest(rows), root / "manifest.csv")
    torch.manual_seed(0)
    model = create_backbone("resnet18", 2, pretrained="none", in_chans=1)
    x = to_network(torch.from_numpy(np.stack(imgs))).unsqueeze(1)
    y = torch.tensor(labels)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(4):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    info = ClassifierInfo(
        classes=("rest", "covid"),
        task="binary",
        backbone="resnet18",
        image_size=SIZE,
        resize_mode="pad",
        threshold=0.5,
    )
    save_classifier(root / "best.ckpt", model.eval(), info)
    return {"root": root, "manifest": root / "manifest.csv", "ckpt": root / "best.ckpt"}


def test_explain_writes_overlays_sheets_and_scores(tiny: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        [
            "explain",
            "--checkpoint",
            str(tiny["ckpt"]),
            "--manifest",
            str(tiny["manifest"]),
            "--split",
            "test",
            "--method",
            "gradcam",
            "--out",
            str(out),
            "--batch-size",
            "3",
            "--device",
            "cpu",
        ],
        env={"COLUMNS": "200"},  # as in a log file (cxr.runtime.progress.wide_output)
    )
    assert res.exit_code == 0, res.output
    assert len(list((out / "overlays").glob("*.png"))) == 8
    sheets = sorted(p.name for p in (out / "sheets").glob("*.png"))
    assert sheets and all(s.startswith("true-") and "__pred-" in s for s in sheets)
    summary = json.loads((out / "explain.json").read_text())
    assert summary["images"] == 8 and summary["with_lesion_mask"] == 4
    assert summary["with_lung_mask"] == 8
    pg = summary["scores"]["true=covid"]["pointing"]
    assert pg["n"] == 4 and 0.0 <= pg["mean"] <= 1.0
    assert pg["baseline"] == pytest.approx(np.pi * 5 * 4 / SIZE**2, rel=0.25)
    assert summary["scores"]["all"]["lung_energy"]["n"] == 8
    # empty maps are counted (and every map is in the lung-energy mean above)
    assert summary["empty_maps"] == sum(
        r["empty_map"] == "1.0" for r in _csv_rows(out / "explanations.csv"))
    assert summary["decision"].startswith("P(covid)>=")
    assert "pointing game" in res.output and "random baseline" in res.output
    # resnet18's last stage is a 2x2 grid at 48 px: --cam-layer auto hooks the finest stage
    # (layer2, 6x6), says so, and says that even that is coarse
    assert summary["cam_layer"] == "layer2" and summary["cam_grid"] == [6, 6]
    assert any("instead of the last stage layer4 (2x2" in n for n in summary["notes"])
    assert any("6x6 grid at 48 px" in n for n in summary["notes"])
    from PIL import Image

    assert Image.open(out / "overlays" / "p0_s0.png").size == (SIZE, SIZE)


@pytest.mark.parametrize("method", ["gradcam++", "smoothgrad"])
def test_explain_other_methods_on_files(tiny: dict[str, Path], tmp_path: Path, method: str) -> None:
    out = tmp_path / method
    res = CliRunner().invoke(
        app,
        [
            "explain",
            "--checkpoint",
            str(tiny["ckpt"]),
            "--images",
            str(tiny["root"] / "images" / "p0_s0.png"),
            "--images",
            str(tiny["root"] / "images" / "p1_s1.png"),
            "--method",
            method,
            "--lung-masks",
            str(tiny["root"] / "masks" / "lung"),
            "--out",
            str(out),
            "--regions",
            "box",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "explain.json").read_text())
    assert summary["images"] == 2 and summary["with_lung_mask"] == 2
    assert summary["with_lesion_mask"] == 0
    assert [p.name for p in (out / "sheets").glob("*.png")][0].startswith("true-unknown__")


def test_explain_bad_options_are_one_line_errors(tiny: dict[str, Path], tmp_path: Path) -> None:
    from cxr.runtime.errors import CheckpointError, ConfigError

    base = ["explain", "--manifest", str(tiny["manifest"]), "--out", str(tmp_path)]
    res = CliRunner().invoke(app, [*base, "--checkpoint", str(tiny["ckpt"]), "--method", "lime"])
    assert isinstance(res.exception, ConfigError) and "--method 'lime'" in str(res.exception)
    res = CliRunner().invoke(app, [*base, "--checkpoint", str(tmp_path / "nope.ckpt")])
    assert isinstance(res.exception, CheckpointError)
    res = CliRunner().invoke(app, [*base, "--checkpoint", str(tiny["ckpt"]), "--target", "flu"])
    assert isinstance(res.exception, ConfigError) and "flu" in str(res.exception)
    fresh = tmp_path / "cam"
    res = CliRunner().invoke(app, ["explain", "--manifest", str(tiny["manifest"]), "--out",
                                   str(fresh), "--checkpoint", str(tiny["ckpt"]),
                                   "--cam-layer", "layer9"])
    assert isinstance(res.exception, ConfigError)
    assert "no Grad-CAM stage 'layer9' (valid: last, layer4, layer3, layer2)" in str(res.exception)
    assert not (fresh / "explain.json").exists() and not (fresh / "config.yaml").exists()


def test_explain_cam_layer_option_names_the_hooked_stage(
        tiny: dict[str, Path], tmp_path: Path) -> None:
    """--cam-layer last keeps the last stage (and its coarse-grid note), a name picks one."""
    for spec, stage, grid in (("last", "layer4", [2, 2]), ("layer3", "layer3", [3, 3])):
        out = tmp_path / spec
        res = CliRunner().invoke(app, ["explain", "--checkpoint", str(tiny["ckpt"]), "--manifest",
                                       str(tiny["manifest"]), "--split", "test", "--cam-layer",
                                       spec, "--device", "cpu", "--out", str(out)])
        assert res.exit_code == 0, res.output
        summary = json.loads((out / "explain.json").read_text())
        assert (summary["cam_layer"], summary["cam_grid"]) == (stage, grid)
        assert not any("instead of the last stage" in n for n in summary["notes"])
        assert any(f"{grid[0]}x{grid[1]} grid at 48 px" in n for n in summary["notes"])


def test_progression_patient_and_all(tiny: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "prog"
    res = CliRunner().invoke(
        app,
        [
            "explain",
            "progression",
            "--checkpoint",
            str(tiny["ckpt"]),
            "--manifest",
            str(tiny["manifest"]),
            "--patient",
            "P1",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    rec = json.loads((out / "progression" / "toy_P1" / "progression.json").read_text())
    assert [s["offset_days"] for s in rec["studies"]] == [0.0, 3.0, 6.0, 9.0]
    assert rec["lung_source"].endswith("mask")  # "<source> mask": unknown without a source column
    assert all(0.0 <= s["involved"] <= 1.0 for s in rec["studies"])
    assert (out / "progression" / "toy_P1" / "strip.png").stat().st_size > 0
    assert (out / "progression" / "toy_P1" / "plot.png").stat().st_size > 0
    res = CliRunner().invoke(
        app,
        [
            "explain",
            "progression",
            "--checkpoint",
            str(tiny["ckpt"]),
            "--manifest",
            str(tiny["manifest"]),
            "--all",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    index = json.loads((out / "progression.json").read_text())
    assert sorted(index["patients"]) == ["toy:P0", "toy:P1", "toy:P2", "toy:P3"]


def test_progression_all_leaves_out_undated_patients(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    import math

    from cxr.data.manifest import load_manifest, save_manifest

    df = load_manifest(tiny["manifest"])
    df["offset_days"] = [math.nan if p == "toy:P3" else d
                         for p, d in zip(df["patient_id"], df["offset_days"], strict=True)]
    save_manifest(df, tmp_path / "undated.csv")
    out = tmp_path / "prog"
    res = CliRunner().invoke(
        app,
        ["explain", "progression", "--checkpoint", str(tiny["ckpt"]), "--manifest",
         str(tmp_path / "undated.csv"), "--all", "--out", str(out)],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    index = json.loads((out / "progression.json").read_text())
    assert sorted(index["patients"]) == ["toy:P0", "toy:P1", "toy:P2"]
    assert "1 patient(s) with several studies left out" in res.output
    assert all(s["offset_days"] is not None
               for rec in index["patients"].values() for s in rec["studies"])


def test_progression_without_lung_masks_uses_the_labelled_estimate(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    from cxr.data.manifest import load_manifest, save_manifest

    df = load_manifest(tiny["manifest"])
    df["lung_mask_path"] = ""
    save_manifest(df, tmp_path / "nolung.csv")
    args = [
        "explain",
        "progression",
        "--checkpoint",
        str(tiny["ckpt"]),
        "--manifest",
        str(tmp_path / "nolung.csv"),
        "--patient",
        "toy:P0",
    ]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "est")])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "est" / "progression" / "toy_P0" / "progression.json").read_text())
    assert rec["lung_source"] == "estimate"
    assert any(s["involved"] is not None for s in rec["studies"])
    res = CliRunner().invoke(app, [*args, "--no-lung-estimate", "--out", str(tmp_path / "none")])
    assert res.exit_code == 0, res.output
    rec = json.loads(
        (tmp_path / "none" / "progression" / "toy_P0" / "progression.json").read_text()
    )
    assert rec["lung_source"] == "none"
    assert all(s["involved"] is None for s in rec["studies"])


def test_progression_common_scale_fields_and_threshold(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    args = [
        "explain",
        "progression",
        "--checkpoint",
        str(tiny["ckpt"]),
        "--manifest",
        str(tiny["manifest"]),
        "--patient",
        "P0",
        "--device",
        "cpu",
    ]
    recs = {}
    for thr in ("0.5", "0.9"):
        res = CliRunner().invoke(
            app, [*args, "--involved-threshold", thr, "--out", str(tmp_path / thr)]
        )
        assert res.exit_code == 0, res.output
        recs[thr] = json.loads(
            (tmp_path / thr / "progression" / "toy_P0" / "progression.json").read_text()
        )
    rec = recs["0.5"]
    assert rec["involved_threshold"] == 0.5 and "common scale" in rec["involved_definition"]
    peaks = [s["map_peak"] for s in rec["studies"]]
    assert all(0.0 <= p <= 1.0 for p in peaks) and max(peaks) == pytest.approx(1.0)
    assert rec["common_scale"] == pytest.approx(max(s["raw_peak"] for s in rec["studies"]))
    assert all(isinstance(s["predicted_positive"], bool) for s in rec["studies"])
    # a higher common-scale level never counts more lung
    for lo, hi in zip(recs["0.5"]["studies"], recs["0.9"]["studies"], strict=True):
        assert hi["involved"] <= lo["involved"]
    res = CliRunner().invoke(
        app, [*args, "--involved-threshold", "1.5", "--out", str(tmp_path / "bad")]
    )
    assert "--involved-threshold" in str(res.exception)


def test_explain_gates_involvement_by_the_decision(tiny: dict[str, Path], tmp_path: Path) -> None:
    import pandas as pd

    from cxr.pipelines.explain.run_explain import gated_involvement

    assert gated_involvement(0.3, pred=1, target=1) == 0.3
    assert gated_involvement(0.3, pred=0, target=1) == 0.0
    assert gated_involvement(None, pred=0, target=1) is None
    out = tmp_path / "rest"
    res = CliRunner().invoke(
        app,
        [
            "explain",
            "--checkpoint",
            str(tiny["ckpt"]),
            "--manifest",
            str(tiny["manifest"]),
            "--target",
            "rest",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out / "explanations.csv")
    other = df[df["pred"] != "rest"]
    assert len(other) > 0  # the toy model calls (nearly) everything covid
    assert (other["involved_lung_fraction"] == 0.0).all()
    assert (df[df["pred"] == "rest"]["involved_lung_fraction"] > 0.0).all()
    summary = json.loads((out / "explain.json").read_text())
    assert "predicted as the explained class" in summary["involved_lung_fraction_rule"]


def test_explain_saliency_smooths_before_regions_and_says_so(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    import pandas as pd

    base = [
        "explain",
        "--checkpoint",
        str(tiny["ckpt"]),
        "--manifest",
        str(tiny["manifest"]),
        "--method",
        "saliency",
        "--device",
        "cpu",
    ]
    runs = {}
    for name, extra in (("smooth", []), ("raw", ["--region-sigma", "0", "--region-min-area", "0"])):
        out = tmp_path / name
        res = CliRunner().invoke(app, [*base, "--out", str(out), *extra])
        assert res.exit_code == 0, res.output
        runs[name] = (
            json.loads((out / "explain.json").read_text()),
            pd.read_csv(out / "explanations.csv"),
        )
    smooth, raw = runs["smooth"][0], runs["raw"][0]
    assert smooth["region_smoothing"]["applied"] and smooth["region_smoothing"]["sigma"] == 0.02
    assert "smoothed map as displayed" in smooth["region_smoothing"]["scores_on"]
    assert smooth["region_min_area"]["pixels"] == int(np.ceil(0.005 * SIZE**2))
    assert not raw["region_smoothing"]["applied"] and raw["region_min_area"]["pixels"] == 0
    # speckle: fewer, larger regions once the map is smoothed and islands are dropped
    assert runs["smooth"][1]["regions"].mean() < runs["raw"][1]["regions"].mean()
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "bad"), "--region-sigma", "0.7"])
    assert "--region-sigma" in str(res.exception)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_explain_localize_on_a_model_that_saw_bright_lesions(tiny: dict[str, Path],
                                                             tmp_path: Path) -> None:
    out = tmp_path / "loc"
    res = CliRunner().invoke(app, ["explain", "localize", "--checkpoint", str(tiny["ckpt"]),
                                   "--manifest", str(tiny["manifest"]), "--out", str(out),
                                   "--bootstrap", "50", "--device", "cpu"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "localize.json").read_text())
    assert doc["images"] == 8 and doc["patients"] == 4 and doc["label"] == "covid"
    # a bare checkpoint (no run folder naming its training data): said, not silently passed
    assert doc["leakage_check"].startswith("leakage check not checked")
    t = {r["score"]: r for r in doc["table"]}
    assert t["lesion_energy"]["map"]["mean"] > t["lesion_energy"]["random"]["mean"]
    assert t["pointing"]["map"]["n"] == 8 and t["pointing"]["lung_prior"]["n"] == 8
    assert "lung prior" in res.output and "map - random" in res.output


def test_explain_severity_and_localize_options_reach_their_configs(monkeypatch,
                                                                  tmp_path: Path) -> None:
    import cxr.pipelines.explain.run_localize as rl
    import cxr.pipelines.explain.run_severity as rs

    seen: dict[str, object] = {}
    monkeypatch.setattr(rs, "run_severity", lambda cfg: seen.setdefault("severity", cfg))
    monkeypatch.setattr(rl, "run_localize", lambda cfg: seen.setdefault("localize", cfg))
    res = CliRunner().invoke(app, ["explain", "severity", "--checkpoint", "c.ckpt", "--manifest",
                                   "m.csv", "--folds", "4", "--no-lung-estimate", "--out",
                                   str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    s = seen["severity"]
    assert (s.folds, s.lung_estimate, s.split, s.checkpoint) == (4, False, "all", "c.ckpt")
    res = CliRunner().invoke(app, ["explain", "localize", "--checkpoint", "c.ckpt", "--manifest",
                                   "m.csv", "--exclude-shared", "--pointing-tolerance", "3",
                                   "--out", str(tmp_path / "l")])
    assert res.exit_code == 0, res.output
    lc = seen["localize"]
    assert (lc.exclude_shared, lc.pointing_tolerance, lc.label) == (True, 3, "covid")
