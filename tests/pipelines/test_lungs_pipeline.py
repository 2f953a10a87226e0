"""cxr lungs train / evaluate / predict on phantoms, and the predicted lung field downstream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxr.config import AuditConfig, LungsConfig
from cxr.runtime.errors import ConfigError, ManifestError
from tests.support.classify_fixtures import make_split_manifest


@pytest.fixture(scope="module")
def phantom_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_split_manifest(tmp_path_factory.mktemp("lungs"), patients=20, size=48)


def _cfg(root: Path, **kw: object) -> LungsConfig:
    base = dict(image_size=32, base_channels=4, epochs=2, batch_size=4, bootstrap=50,
                workers=0, cache_dir=str(root / "cache"), accelerator="cpu", device="cpu")
    base.update(kw)
    return LungsConfig(**base)  # type: ignore[arg-type]


def test_train_scores_held_out_patients_and_resumes(phantom_manifest: Path, tmp_path: Path
                                                    ) -> None:
    from cxr.lungs.lung_model import load_lung_model
    from cxr.pipelines.lungs.predict_lungs import run_lungs_evaluate
    from cxr.pipelines.lungs.train_lungs import run_lungs_train

    cfg = _cfg(tmp_path, epochs=1)
    # --resume with nothing to resume (a requeued job's first start) starts from epoch 0
    run = run_lungs_train(cfg, manifest=phantom_manifest, out_dir=tmp_path / "run",
                          resume=True, progress=False)
    sets = {s["name"]: s for s in run.metrics["sets"]}
    df = pd.read_csv(phantom_manifest, keep_default_na=False)
    assert sets["test"]["n_images"] == int((df["split"] == "test").sum())
    assert sets["test"]["n_patients"] == df[df["split"] == "test"]["patient_id"].nunique()
    for s in sets.values():
        d = s["dice"]
        assert 0.0 <= d["ci_low"] <= d["mean"] <= d["ci_high"] <= 1.0
        assert s["iou"]["mean"] <= d["mean"] + 1e-9  # IoU <= Dice always
    assert (tmp_path / "run" / "test_scores.csv").is_file()
    assert (tmp_path / "run" / "test_worst.png").is_file()
    net, info = load_lung_model(tmp_path / "run")
    assert info.image_size == 32 and info.extra["train_images"] == run.metrics["train_images"]
    assert run.metrics["epochs_trained"] == 1

    with pytest.raises(ConfigError, match="already holds a run"):
        run_lungs_train(cfg, manifest=phantom_manifest, out_dir=tmp_path / "run", progress=False)
    resumed = run_lungs_train(_cfg(tmp_path, epochs=2), manifest=phantom_manifest,
                              out_dir=tmp_path / "run", resume=True, progress=False)
    assert resumed.metrics["epochs_trained"] == 2

    ev = run_lungs_evaluate(cfg, checkpoint=tmp_path / "run" / "lungs.pt",
                            manifest=phantom_manifest, out_dir=tmp_path / "ev", split="test",
                            progress=False)
    assert ev["dice"]["mean"] == pytest.approx(sets["test"]["dice"]["mean"], abs=1e-6)


def test_predicted_masks_never_train_and_model_masks_are_no_reference(tmp_path: Path,
                                                                      phantom_manifest: Path
                                                                      ) -> None:
    from cxr.pipelines.lungs.lungs_data import reference_rows, training_rows, with_sources

    df = pd.read_csv(phantom_manifest, keep_default_na=False)
    df["lung_mask_source"] = np.where(np.arange(len(df)) % 2 == 0, "phantom", "dataset-model")
    rows = with_sources(df)
    with pytest.raises(ConfigError, match="predicted cannot train"):
        training_rows(rows, ("predicted",), "m.csv")
    ref, source = reference_rows(rows)
    assert source == "phantom" and set(ref["_mask_source"]) == {"phantom"}
    df["lung_mask_source"] = "dataset-model"
    with pytest.raises(ManifestError, match="no lung masks of source manual"):
        training_rows(with_sources(df), ("manual",), "m.csv")


def _two_lungs(size: int) -> np.ndarray:
    m = np.zeros((size, size), np.float32)
    m[size // 5 : size * 4 // 5, size // 8 : size * 7 // 16] = 1
    m[size // 5 : size * 4 // 5, size * 9 // 16 : size * 7 // 8] = 1
    return m


@pytest.fixture()
def predicted(phantom_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
              ) -> tuple[Path, pd.DataFrame]:
    """Predict for a manifest whose even rows lost their masks; every third image 'fails'."""
    import torch

    import cxr.lungs.lung_model as lm
    from cxr.lungs.lung_model import LungModelInfo, save_lung_model
    from cxr.lungs.unet import UNet
    from cxr.pipelines.lungs.predict_lungs import run_lungs_predict

    save_lung_model(tmp_path / "lungs.pt", UNet(base=2),
                    LungModelInfo(32, "pad", 2, 4, 0.5, {}))
    calls = {"n": 0}

    def fake(net: torch.nn.Module, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        out = []
        for _ in images:  # a plausible pair of lungs, or one blob for every third image
            calls["n"] += 1
            m = _two_lungs(images.shape[-1])
            if calls["n"] % 3 == 0:
                m[:, :] = 0
                m[8:24, 8:24] = 1
            out.append(m)
        return np.stack(out)

    monkeypatch.setattr(lm, "predict_probs", fake)
    df = pd.read_csv(phantom_manifest, keep_default_na=False)
    df.loc[df.index % 2 == 0, "lung_mask_path"] = ""
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    # relative mask paths of the odd rows stay relative to the manifest's folder
    for col in ("image_path", "lung_mask_path", "lesion_mask_path"):
        df[col] = [str((phantom_manifest.parent / p).resolve()) if p else "" for p in df[col]]
    df.to_csv(src, index=False)
    res = run_lungs_predict(_cfg(tmp_path), checkpoint=tmp_path / "lungs.pt", manifest=src,
                            out_dir=tmp_path / "pred", progress=False)
    out = pd.read_csv(res.manifest, keep_default_na=False)
    return res.manifest, out


def test_predict_writes_plausible_masks_and_flags_the_rest(predicted: tuple[Path, pd.DataFrame]
                                                           ) -> None:
    from cxr.data.images.imageio import read_image_u8

    path, out = predicted
    even, odd = out.index % 2 == 0, out.index % 2 == 1
    assert (out.loc[odd, "lung_mask_source"] == "phantom").all()  # kept their phantom mask
    flagged = even & (out["lung_mask_flag"] != "")
    used = even & (out["lung_mask_flag"] == "")
    assert flagged.sum() >= 1 and used.sum() >= 1
    assert (out.loc[flagged, "lung_mask_path"] == "").all()
    assert out.loc[flagged, "lung_mask_flag"].str.contains("large components").all()
    assert (out.loc[used, "lung_mask_source"] == "predicted").all()
    for rel, w, h in out.loc[used, ["lung_mask_path", "width", "height"]].itertuples(index=False):
        m = read_image_u8(path.parent / rel)
        assert m.shape == (h, w) and set(np.unique(m)) <= {0, 255}  # the image's own frame
    assert len(list((path.parent / "masks" / "flagged").glob("*.png"))) == int(flagged.sum())


def test_predict_resumes_from_the_masks_on_disk(predicted: tuple[Path, pd.DataFrame],
                                                tmp_path: Path) -> None:
    from cxr.pipelines.lungs.predict_lungs import run_lungs_predict

    path, first = predicted
    again = run_lungs_predict(_cfg(tmp_path), checkpoint=tmp_path / "lungs.pt",
                              manifest=tmp_path / "in.csv", out_dir=tmp_path / "pred",
                              progress=False)  # predict_probs is still the fake: not called
    second = pd.read_csv(again.manifest, keep_default_na=False)
    pd.testing.assert_frame_equal(first, second)


def test_audit_and_explain_use_the_predicted_field(predicted: tuple[Path, pd.DataFrame],
                                                   tmp_path: Path) -> None:
    from cxr.data.manifest import load_manifest
    from cxr.explain.inputs import items_from_manifest
    from cxr.pipelines.audit.probes import load_images, lung_field_counts
    from cxr.pipelines.report.shortcuts_section import _rows

    path, out = predicted
    df = load_manifest(path)
    data = load_images(df, AuditConfig(workers=0, cache_dir=str(tmp_path / "c")), 32, "pad",
                       progress=False)
    flagged = (out["lung_mask_flag"] != "").to_numpy()
    kinds = data.lung_kind
    assert set(kinds[~flagged & (out.index % 2 == 0)]) == {"predicted"}
    assert set(kinds[flagged]) == {"box"}
    assert set(kinds[out.index % 2 == 1]) == {"phantom"}
    counts = lung_field_counts(data)
    assert counts["by_kind"]["predicted"] == int((kinds == "predicted").sum())
    assert counts["box"] == int(flagged.sum()) and counts["mask"] == len(df) - counts["box"]
    rows = _rows({"source_probe": {"applicable": False, "reason": "x"},
                  "lung_field": counts, "masking": {"applicable": False, "reason": "y"}})
    text = " ".join(" ".join(r) for r in rows)
    assert "lung field, phantoms" in text and "predicted" in text and "box" in text

    items = items_from_manifest(df, split="all")
    fields = [it.lung_field for it in items]
    assert fields.count("predicted") == counts["by_kind"]["predicted"]
    assert fields.count("none") == int(flagged.sum())
