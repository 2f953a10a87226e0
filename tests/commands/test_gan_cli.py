"""`cxr gan train|synth|eval`: options reach the experiments; one end-to-end run on phantoms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cxr.cli import app
from cxr.config import GanConfig

runner = CliRunner()


def test_train_options_reach_train_gan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cxr.pipelines.gan.train_gan as tg

    got: dict[str, Any] = {}

    def fake(cfg: GanConfig, **kw: Any) -> Any:
        got.update(cfg=cfg, **kw)
        return tg.GanRunResult(tmp_path, tmp_path / "c", 1, 1, 1, 1, 0.0, {})

    monkeypatch.setattr(tg, "train_gan", fake)
    r = runner.invoke(
        app,
        [
            "gan",
            "train",
            "--manifest",
            "m.csv",
            "--out",
            str(tmp_path / "run"),
            "--source",
            "normal,pneumonia",
            "--target",
            "covid",
            "--image-size",
            "64",
            "--epochs",
            "3",
            "--epochs-decay",
            "2",
            "--batch-size",
            "8",
            "--precision",
            "bf16-mixed",
            "--devices",
            "2",
            "--strategy",
            "ddp",
            "--compile",
        ],
    )
    assert r.exit_code == 0, r.output
    cfg = got["cfg"]
    assert cfg.source == ("normal", "pneumonia") and cfg.image_size == 64
    assert (cfg.epochs, cfg.epochs_decay, cfg.batch_size) == (3, 2, 8)
    assert (cfg.precision, cfg.devices, cfg.strategy, cfg.compile) == (
        "bf16-mixed",
        "2",
        "ddp",
        True,
    )
    assert cfg.lr == 2e-4 and cfg.lambda_cycle == 10 and got["resume"] is False
    assert got["manifest"] == Path("m.csv")


def test_synth_and_eval_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cxr.pipelines.gan.gan_eval as ge
    import cxr.pipelines.gan.run_synth as sy

    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        sy,
        "run_synth",
        lambda **kw: (
            seen.setdefault("synth", kw)
            and sy.SynthResult(tmp_path, tmp_path / "m", 1, 1, 0, 1, "ab" * 32)
        ),
    )
    monkeypatch.setattr(
        ge,
        "run_gan_eval",
        lambda **kw: (
            seen.setdefault("eval", kw)
            and ge.EvalResult(
                None,
                {
                    "n_synthetic": 1,
                    "target": "covid",
                    "source": ["normal"],
                    "n_real_target_heldout": 0,
                    "n_real_source_heldout": 0,
                },
            )
        ),
    )
    r = runner.invoke(
        app,
        [
            "gan",
            "synth",
            "--n",
            "7",
            "--checkpoint",
            "c.ckpt",
            "--manifest",
            "m.csv",
            "--out",
            "o",
            "--batch-size",
            "3",
        ],
    )
    assert r.exit_code == 0, r.output
    assert seen["synth"]["n"] == 7 and seen["synth"]["batch_size"] == 3
    r = runner.invoke(
        app,
        [
            "gan",
            "eval",
            "--synthetic",
            "o",
            "--manifest",
            "m.csv",
            "--features",
            "xray",
            "--classifier",
            "k.ckpt",
        ],
    )
    assert r.exit_code == 0, r.output
    assert seen["eval"]["features"] == "xray" and seen["eval"]["classifier"] == Path("k.ckpt")


def test_end_to_end_on_phantoms(tmp_path: Path) -> None:
    data, man = tmp_path / "phantom", tmp_path / "manifest.csv"
    for args in (
        [
            "data",
            "phantom",
            "--out",
            str(data),
            "--patients",
            "40",
            "--image-size",
            "64",
            "--workers",
            "1",
        ],
        ["data", "index", str(data), "--out", str(man), "--workers", "1"],
        ["data", "split", str(man)],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
    run = tmp_path / "gan"
    r = runner.invoke(
        app,
        [
            "gan",
            "train",
            "--manifest",
            str(man),
            "--out",
            str(run),
            "--image-size",
            "32",
            "--epochs",
            "1",
            "--epochs-decay",
            "0",
            "--steps-per-epoch",
            "2",
            "--batch-size",
            "2",
            "--ngf",
            "4",
            "--ndf",
            "4",
            "--n-blocks",
            "1",
            "--accelerator",
            "cpu",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (run / "samples" / "epoch_001.png").is_file()
    syn = tmp_path / "syn"
    r = runner.invoke(
        app,
        [
            "gan",
            "synth",
            "--n",
            "6",
            "--checkpoint",
            str(run / "checkpoints" / "last.ckpt"),
            "--manifest",
            str(man),
            "--out",
            str(syn),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    assert len(list((syn / "images").glob("gan_*.png"))) == 6
    r = runner.invoke(
        app,
        [
            "gan",
            "eval",
            "--synthetic",
            str(syn),
            "--manifest",
            str(man),
            "--out",
            str(tmp_path / "eval"),
        ],
    )
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert res["n_synthetic"] == 6 and res["lesion_region"]["n_images"] >= 1
    assert any("InceptionV3 weights not found" in w for w in res["warnings"])
