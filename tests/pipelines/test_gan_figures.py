"""Difference figures of `cxr gan eval`: data drawn, files, eval.json, augmented-only skip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.gan_fixtures import make_tiny_manifest

import cxr.cyclegan.gan_figures as figs
import cxr.pipelines.gan.gan_eval as ge
from cxr.data.images.imageio import write_png
from cxr.data.images.preprocess import load_preprocessed
from cxr.data.manifest import load_manifest, new_manifest, save_manifest
from cxr.pipelines.gan.difference_figures import unaugmented
from cxr.runtime.errors import CheckpointError
from cxr.runtime.files import sha256_file

PNG_MAGIC = b"\x89PNG"


def test_mean_difference_figure_draws_the_numpy_mean(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    src = [rng.integers(0, 200, (16, 16), dtype=np.uint8) for _ in range(3)]
    syn = [(s + rng.integers(0, 50, s.shape)).astype(np.uint8) for s in src]
    lung = np.zeros((16, 16), bool)
    lung[3:13, 2:7] = lung[3:13, 9:14] = True
    st = figs.accumulate_differences(((a, b, lung) for a, b in zip(src, syn, strict=True)), 2)
    expected = np.mean(
        [b.astype(float) - a.astype(float) for a, b in zip(src, syn, strict=True)], 0
    )
    assert st.n == 3 and st.n_lung == 3 and len(st.examples) == 2
    assert st.mean_difference is not None and st.mean_lung is not None
    drawn = figs.mean_difference_figure(
        st.mean_difference, tmp_path / "m.png", n_images=st.n, mean_lung=st.mean_lung
    )
    np.testing.assert_allclose(drawn, expected / 255, atol=1e-6)
    vmax = figs.difference_figure(st.examples, tmp_path / "d.png")
    shown = [np.abs(b.astype(float) - a) / 255 for a, b in zip(src[:2], syn[:2], strict=True)]
    assert vmax == pytest.approx(np.percentile(np.stack(shown), 99.5), rel=1e-5)  # one range
    for name in ("m.png", "d.png"):
        assert (tmp_path / name).read_bytes()[:4] == PNG_MAGIC
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def _synthetic(root: Path, real: Path, aug_seeds: list[int]) -> Path:
    """GAN rows for the normal train images: source + a bright lower band."""
    df = load_manifest(real)
    src = df[(df["label"] == "normal") & (df["split"] == "train")].head(len(aug_seeds))
    rows = []
    for i, (seed, (_, r)) in enumerate(zip(aug_seeds, src.iterrows(), strict=True)):
        img = load_preprocessed(r["image_path"], 32, "pad").astype(int)
        img[20:, :] += 20 + 5 * i
        path = root / "images" / f"gan_{i}.png"
        write_png(path, np.clip(img, 0, 255).astype(np.uint8))
        rows.append(
            {
                "image_path": str(path),
                "patient_id": r["patient_id"],
                "label": "covid",
                "dataset": "tiny+cyclegan",
                "origin": "gan",
                "split": "train",
                "width": 32,
                "height": 32,
                "content_hash": sha256_file(path),
                "source_image": r["image_path"],
                "source_patient": r["patient_id"],
                "aug_seed": seed,
                "lung_mask_path": r["lung_mask_path"],
            }
        )
    return save_manifest(new_manifest(rows), root / "manifest.csv")


def _no_inception(*_: Any) -> Path:
    raise CheckpointError("no inception weights in tests")


def test_eval_writes_difference_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = make_tiny_manifest(tmp_path / "real")
    syn = _synthetic(tmp_path / "syn", real, [-1, -1, -1, 12345])
    monkeypatch.setattr(ge, "find_inception_weights", _no_inception)
    drawn: list[np.ndarray] = []
    real_fig = figs.mean_difference_figure

    def spy(*a: Any, **k: Any) -> np.ndarray:
        drawn.append(real_fig(*a, **k))
        return drawn[-1]

    monkeypatch.setattr(figs, "mean_difference_figure", spy)
    res = ge.run_gan_eval(manifest=real, synthetic_manifest=syn, out_dir=tmp_path / "ev")
    doc = json.loads((tmp_path / "ev" / "eval.json").read_text())
    f = doc["figures"]
    assert (f["difference"], f["mean_difference"]) == ("difference.png", "mean_difference.png")
    assert f["n_images"] == 3 and f["n_examples"] == 3 and f["n_lung_masks"] == 3
    for name in ("difference.png", "mean_difference.png"):
        assert (tmp_path / "ev" / name).read_bytes()[:4] == PNG_MAGIC
    rows = load_manifest(syn)
    rows = rows[unaugmented(rows)]  # aug_seed loads as text; the augmented row is excluded
    assert len(rows) == 3
    expected = np.mean(
        [
            load_preprocessed(r["image_path"], 32, "pad").astype(float)
            - load_preprocessed(r["source_image"], 32, "pad")
            for _, r in rows.iterrows()
        ],
        axis=0,
    )
    np.testing.assert_allclose(drawn[0], expected / 255, atol=1e-6)
    assert res.metrics["lesion_region"]["n_images"] == 3


def test_eval_skips_figures_when_all_augmented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = make_tiny_manifest(tmp_path / "real")
    syn = _synthetic(tmp_path / "syn", real, [7, 8])
    monkeypatch.setattr(ge, "find_inception_weights", _no_inception)
    ge.run_gan_eval(manifest=real, synthetic_manifest=syn, out_dir=tmp_path / "ev")
    doc = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert "figures" not in doc
    assert any("difference figures skipped" in w and "aug_seed" in w for w in doc["warnings"])
    assert not list((tmp_path / "ev").glob("*.png"))
