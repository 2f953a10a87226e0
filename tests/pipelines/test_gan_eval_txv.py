"""`cxr gan eval --features txv:NAME`: FID/KID in torchxrayvision's feature space, the
features equal to torchxrayvision's own on the same images (random weights, placed file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from support.gan_fixtures import make_tiny_manifest
from support.txv_fixtures import DENSENET, no_downloads, place_densenet, xrv_or_skip

import cxr.cyclegan.fid_kid as fk
import cxr.pipelines.gan.gan_eval as ge
from cxr.data.images.imageio import write_png
from cxr.data.images.preprocess import load_preprocessed
from cxr.data.manifest import load_manifest, new_manifest, save_manifest
from cxr.runtime.errors import CheckpointError, ConfigError
from cxr.runtime.files import sha256_file


def _synthetic(root: Path, real: Path, n: int = 3) -> Path:
    df = load_manifest(real)
    src = df[(df["label"] == "normal") & (df["split"] == "train")].head(n)
    rows = []
    for i, (_, r) in enumerate(src.iterrows()):
        img = load_preprocessed(r["image_path"], 32, "pad").astype(int)
        img[20:, :] += 30 + 5 * i
        path = root / "images" / f"gan_{i}.png"
        write_png(path, np.clip(img, 0, 255).astype(np.uint8))
        rows.append({"image_path": str(path), "patient_id": r["patient_id"], "label": "covid",
                     "dataset": "tiny+cyclegan", "origin": "gan", "split": "train", "width": 32,
                     "height": 32, "content_hash": sha256_file(path),
                     "source_image": r["image_path"], "source_patient": r["patient_id"]})
    return save_manifest(new_manifest(rows), root / "manifest.csv")


@pytest.fixture
def placed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    xrv = xrv_or_skip()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    no_downloads(monkeypatch, xrv)
    return xrv


def test_txv_features_are_torchxrayvision_features(
    tmp_path: Path, placed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    xrv = placed
    weights = tmp_path / "weights"
    path = place_densenet(xrv, weights, seed=1)
    real = make_tiny_manifest(tmp_path / "real")
    syn = _synthetic(tmp_path / "syn", real)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    real_fid_kid = fk.fid_kid

    def spy(a: torch.Tensor, b: torch.Tensor, **kw: Any) -> dict[str, float]:
        seen.append((a, b))
        return real_fid_kid(a, b, **kw)

    monkeypatch.setattr(fk, "fid_kid", spy)
    res = ge.run_gan_eval(manifest=real, synthetic_manifest=syn, out_dir=tmp_path / "ev",
                          features=f"txv:{DENSENET}={weights}", kid_subsets=5)
    doc = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert doc["features"] == f"txv:{DENSENET}"
    assert doc["inputs"]["feature_weights"] == {"spec": f"txv:{DENSENET}", "file": str(path),
                                                "sha256": sha256_file(path)}
    assert np.isfinite(res.metrics["synthetic_vs_real_target"]["fid"])
    assert "real_source_vs_real_target" in res.metrics

    # torchxrayvision's own pass: its normalize, its DenseNet, at its 224 px, on the same files
    ref = xrv.models.DenseNet(weights=DENSENET, cache_dir=str(weights))
    df = load_manifest(real)
    held = df[df["split"].isin(["val", "test"]) & (df["label"] == "covid")]

    def xrv_features(paths: list[str]) -> torch.Tensor:
        u8 = np.stack([load_preprocessed(p, 224, "pad") for p in paths]).astype(np.float32)
        x = torch.from_numpy(xrv.utils.normalize(u8, 255)).float().unsqueeze(1)
        with torch.no_grad():
            return ref.features2(x)

    want_real = xrv_features(held["image_path"].tolist())
    want_syn = xrv_features(load_manifest(syn)["image_path"].tolist())
    got_real, got_syn = seen[0]
    scale = float(want_real.abs().max())
    assert scale > 1e-2
    torch.testing.assert_close(got_real, want_real, rtol=1e-4, atol=1e-4 * scale)
    torch.testing.assert_close(got_syn, want_syn, rtol=1e-4, atol=1e-4 * scale)


def test_txv_features_without_the_file_fail_in_one_line(tmp_path: Path, placed: Any) -> None:
    real = make_tiny_manifest(tmp_path / "real")
    syn = _synthetic(tmp_path / "syn", real, n=2)
    with pytest.raises(CheckpointError, match=r"\.torchxrayvision/models_data.*never downloads"):
        ge.run_gan_eval(manifest=real, synthetic_manifest=syn, features=f"txv:{DENSENET}")
    with pytest.raises(ConfigError, match="--features must be inception, xray, txv:NAME or auto"):
        ge.run_gan_eval(manifest=real, synthetic_manifest=syn, features="imagenet")
