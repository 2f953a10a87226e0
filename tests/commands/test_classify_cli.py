"""`cxr classify`, `cxr predict`, `cxr export` through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from support.classify_fixtures import make_split_manifest
from typer.testing import CliRunner

from cxr.classifier import ClassifierInfo, create_backbone, save_classifier
from cxr.cli import app
from cxr.data.images.imageio import write_png

runner = CliRunner()


@pytest.fixture()
def ckpt(tmp_path) -> Path:
    torch.manual_seed(0)
    model = create_backbone("squeezenet1_1", 2).eval()
    info = ClassifierInfo(classes=("rest", "covid"), task="binary", backbone="squeezenet1_1",
                          image_size=32, resize_mode="pad", threshold=0.5)
    return save_classifier(tmp_path / "best.ckpt", model, info)


def test_classify_options_reach_the_config(tmp_path, monkeypatch) -> None:
    seen = {}
    monkeypatch.setattr("cxr.pipelines.classify.run_classify.run_classify",
                        lambda cfg, out, **kw: seen.update(cfg=cfg, out=out, **kw))
    yml = tmp_path / "c.yaml"
    yml.write_text("epochs: 3\nbackbone: vgg16\nloss: focal\n")
    res = runner.invoke(app, ["classify", "--manifest", "m.csv", "--out", str(tmp_path / "run"),
                              "--config", str(yml), "--backbone", "resnet50",
                              "--with-synthetic", "0.3", "--synthetic-manifest", "g.csv",
                              "--devices", "2", "--precision", "16-mixed"])
    assert res.exit_code == 0, res.output
    cfg = seen["cfg"]
    assert (cfg.backbone, cfg.epochs, cfg.loss) == ("resnet50", 3, "focal")  # CLI > YAML > default
    assert cfg.synthetic_ratio == 0.3 and cfg.synthetic_manifest == "g.csv"
    assert (cfg.devices, cfg.precision, cfg.manifest) == ("2", "16-mixed", "m.csv")
    assert seen["out"] == tmp_path / "run"
    assert cfg.aug_scope == "all"  # the default
    assert seen["keep_checkpoints"] is False  # a finished run keeps only best.ckpt


def test_aug_scope_reaches_the_config(tmp_path, monkeypatch) -> None:
    seen = {}
    monkeypatch.setattr("cxr.pipelines.classify.run_classify.run_classify",
                        lambda cfg, out, **kw: seen.update(cfg=cfg))
    yml = tmp_path / "c.yaml"
    yml.write_text("aug_scope: all\n")
    res = runner.invoke(app, ["classify", "--manifest", "m.csv", "--out", str(tmp_path / "run"),
                              "--config", str(yml), "--aug-scope", "minority",
                              "--aug-share", "0.5"])
    assert res.exit_code == 0, res.output
    assert (seen["cfg"].aug_scope, seen["cfg"].aug_share) == ("minority", 0.5)  # CLI > YAML


def test_classify_end_to_end_then_predict(tmp_path) -> None:
    manifest = make_split_manifest(tmp_path, patients=40, size=40)
    out = tmp_path / "run"
    res = runner.invoke(app, ["classify", "--manifest", str(manifest), "--out", str(out),
                              "--backbone", "squeezenet1_1", "--image-size", "40", "--epochs", "1",
                              "--batch-size", "8", "--workers", "0", "--augment", "light"])
    assert res.exit_code == 0, res.output
    assert (out / "metrics.json").is_file() and (out / "best.ckpt").is_file()
    img = sorted((tmp_path / "phantoms" / "images").glob("*.png"))[0]
    res = runner.invoke(app, ["predict", "--checkpoint", str(out / "best.ckpt"), str(img),
                              "--csv", str(tmp_path / "p.csv")])
    assert res.exit_code == 0, res.output
    assert img.name in res.output and "p(covid)" in res.output
    assert (tmp_path / "p.csv").read_text().startswith("image,p_rest,p_covid,prediction")


def test_predict_table_and_unreadable_image(tmp_path, ckpt) -> None:
    rng = np.random.default_rng(0)
    for k in range(2):
        write_png(tmp_path / f"x{k}.png", rng.integers(0, 256, (50, 40), dtype=np.uint8))
    res = runner.invoke(app, ["predict", "--checkpoint", str(ckpt),
                              str(tmp_path / "x0.png"), str(tmp_path / "x1.png")])
    assert res.exit_code == 0, res.output
    assert "x0.png" in res.output and "x1.png" in res.output and ">= 0.500" in res.output
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    proc = subprocess.run([sys.executable, "-m", "cxr.cli", "predict", "--checkpoint", str(ckpt),
                           str(tmp_path / "x0.png"), str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cxr: error:") and "bad.png" in lines[0]


def test_export_onnx_dynamic_batch_agrees(tmp_path, ckpt) -> None:
    import warnings

    onnx_path = tmp_path / "m.onnx"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = runner.invoke(app, ["export", "--checkpoint", str(ckpt), "--onnx", str(onnx_path)])
    assert res.exit_code == 0, res.output
    assert not [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    assert "max abs diff" in res.output or onnx_path.is_file()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = (np.random.default_rng(1).random((5, 1, 32, 32), dtype=np.float32) * 2 - 1)
    logits, probs = sess.run(None, {"image": x})
    assert logits.shape == (5, 2) and probs.shape == (5, 2)
    from cxr.classifier import load_classifier

    model, _ = load_classifier(ckpt)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(ref - logits).max() < 1e-4
    meta = {p.key: p.value for p in __import__("onnx").load(str(onnx_path)).metadata_props}
    assert '"backbone": "squeezenet1_1"' in meta["cxr_info"]


def test_export_refuses_when_outputs_disagree(tmp_path, ckpt) -> None:
    res = runner.invoke(app, ["export", "--checkpoint", str(ckpt), "--onnx",
                              str(tmp_path / "m.onnx"), "--atol", "-1"])
    assert res.exit_code != 0
    assert "disagrees with PyTorch" in str(res.exception)
    assert not (tmp_path / "m.onnx").exists()


def test_predict_missing_file_fails_before_torch_loads(tmp_path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from cxr.cli import main\n"
        f"sys.argv = ['cxr', 'predict', '--checkpoint', {str(tmp_path / 'best.ckpt')!r}, "
        f"{str(tmp_path / 'nope.png')!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        "print('torch' in sys.modules, code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path,
                          env={**__import__("os").environ,
                               "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.stdout.split() == ["False", "2"], proc.stderr
    assert "checkpoint file not found" in proc.stderr and "best.ckpt" in proc.stderr
