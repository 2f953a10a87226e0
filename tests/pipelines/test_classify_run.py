"""`run_classify` end to end on tiny phantoms: outputs, reuse, GAN counts, leakage refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from support.classify_fixtures import make_gan_manifest, make_split_manifest
from support.model_card_check import assert_model_card_matches

from cxr.classifier import load_classifier
from cxr.config import ClassifyConfig
from cxr.pipelines.classify.loaders import guard_eval_splits, make_loaders, prepare_data
from cxr.pipelines.classify.run_classify import run_classify
from cxr.runtime.errors import ConfigError, LeakageError


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cls")
    manifest = make_split_manifest(root)
    return {"root": root, "manifest": manifest,
            "gan": make_gan_manifest(manifest, root / "gan", copies=2)}


def _cfg(data: dict[str, Path], **kw) -> ClassifyConfig:
    base = dict(manifest=str(data["manifest"]), backbone="squeezenet1_1", image_size=48,
                epochs=2, batch_size=8, workers=0, bootstrap=50, lr=1e-3, patience=5,
                cache_dir=str(data["root"] / "cache"))
    return ClassifyConfig(**(base | kw))


def _record_save_all(monkeypatch) -> list[dict]:
    """Wrap ``plots.save_all`` (still writing the PNGs) and record the keyword arguments."""
    import cxr.classifier.plots as plots

    calls: list[dict] = []
    real = plots.save_all

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(plots, "save_all", spy)
    return calls


def test_binary_run_writes_everything_and_is_reused(data, monkeypatch) -> None:
    out = data["root"] / "run_bin"
    plot_calls = _record_save_all(monkeypatch)
    res = run_classify(_cfg(data), out, progress=False)
    for name in ("config.yaml", "metrics.json", "run.json", "predictions.csv", "best.ckpt"):
        assert (out / name).is_file(), name
    assert any((out / "plots").glob("*.png"))
    # disk: one checkpoint per finished run; Lightning's resume checkpoints are gone
    assert [p.name for p in out.rglob("*.ckpt")] == ["best.ckpt"]
    assert not (out / "checkpoints").exists()
    assert json.loads((out / "run.json").read_text())["lightning_checkpoints"] == "removed"
    metrics = json.loads((out / "metrics.json").read_text())
    auroc = metrics["headline"]["auroc"]
    assert 0.0 <= auroc["value"] <= 1.0 and auroc["ci_low"] <= auroc["value"] <= auroc["ci_high"]
    preds = pd.read_csv(out / "predictions.csv")
    manifest = pd.read_csv(data["manifest"])
    assert len(preds) == (manifest["split"] == "test").sum()
    assert list(preds.columns) == ["image_path", "patient_id", "dataset", "label", "manifest_label",
                                   "p_rest", "p_covid", "prediction"]
    np.testing.assert_allclose(preds[["p_rest", "p_covid"]].sum(1), 1.0, atol=1e-5)
    assert set(preds["label"]) <= {"rest", "covid"}
    # the decision follows the validation threshold stored in the checkpoint
    model, info = load_classifier(out / "best.ckpt")
    assert info.task == "binary" and info.classes == ("rest", "covid")
    assert info.threshold is not None and info.threshold == res.run["threshold"]
    assert info.image_size == 48 and info.manifest_key
    expected = np.where(preds["p_covid"] >= info.threshold - 1e-6, "covid", "rest")
    assert (preds["prediction"].to_numpy() == expected).all()
    # the confusion-matrix plot uses the same validation threshold as metrics.json
    assert len(plot_calls) == 1 and plot_calls[0].get("threshold") == res.run["threshold"]
    assert plot_calls[0]["positive"] == "covid"
    # the model card beside best.ckpt: metrics.json's numbers, the threshold, the data counts
    card = assert_model_card_matches(out)
    counts = card["cxr"]["data"]["counts"]
    assert set(counts) == {"train", "val", "test"}
    assert sum(c["images"] for c in counts["test"].values()) == metrics["n_images"]
    assert card["cxr"]["shortcut"]["verdict"] == "not audited"
    # a rerun of the finished dir does not train again
    stamp = (out / "best.ckpt").stat().st_mtime_ns
    again = run_classify(_cfg(data), out, progress=False)
    assert again.reused and (out / "best.ckpt").stat().st_mtime_ns == stamp
    assert again.metrics == metrics
    with pytest.raises(ConfigError, match="different config.*lr"):
        run_classify(_cfg(data, lr=0.5), out, progress=False)


def test_3class_with_synthetic_uses_the_documented_gan_count(data, monkeypatch) -> None:
    out = data["root"] / "run_3c"
    cfg = _cfg(data, task="3class", synthetic_ratio=0.3, synthetic_manifest=str(data["gan"]),
               loss="focal", balance="oversample", epochs=1, backbone="resnet18")
    plot_calls = _record_save_all(monkeypatch)
    res = run_classify(cfg, out, progress=False)
    # 3-class: no threshold is chosen, so the confusion matrix uses argmax like metrics.json
    assert len(plot_calls) == 1 and "threshold" in plot_calls[0]
    assert plot_calls[0]["threshold"] is None
    m = pd.read_csv(data["manifest"])
    r_covid = int(((m["split"] == "train") & (m["label"] == "covid")).sum())
    assert res.run["real_covid_train"] == r_covid
    assert res.run["gan_per_epoch"] == int(np.floor(r_covid * 0.3 / 0.7 + 0.5))
    assert res.run["gan_per_epoch"] > 0
    assert res.run["gan_draws_per_epoch"] >= res.run["gan_per_epoch"]
    assert res.metrics["classes"] == ["covid", "pneumonia", "normal"]
    preds = pd.read_csv(out / "predictions.csv")
    assert {"p_covid", "p_pneumonia", "p_normal"} <= set(preds.columns)
    assert not preds["image_path"].str.contains("gan").any()  # GAN images never tested
    card = assert_model_card_matches(out)
    assert card["cxr"]["decision"]["threshold"] is None  # 3-class: argmax, said so
    assert "gan-augmented" in card["tags"]
    assert card["cxr"]["data"]["counts"]["train"]["covid"].get("gan_images", 0) > 0
    assert any(w["topic"] == "GAN lineage" for w in card["cxr"]["warnings"])


def test_gan_row_in_val_is_refused(data) -> None:
    bad = make_gan_manifest(data["manifest"], data["root"] / "gan_val", copies=1, split="val")
    cfg = _cfg(data, synthetic_ratio=0.3, synthetic_manifest=str(bad))
    with pytest.raises(LeakageError, match="origin=gan is in split .val."):
        run_classify(cfg, data["root"] / "run_refused", progress=False)
    assert not (data["root"] / "run_refused" / "best.ckpt").exists()


def test_test_patient_in_val_is_refused(data) -> None:
    df = pd.read_csv(data["manifest"], dtype=str, keep_default_na=False)
    i = int(np.flatnonzero(df["split"] == "test")[0])
    j = int(np.flatnonzero(df["split"] == "val")[0])
    df.loc[df.index[j], "patient_id"] = df["patient_id"].iat[i]  # a test patient's image in val
    path = data["manifest"].parent / "leaky.csv"  # beside the original: relative paths resolve
    df.to_csv(path, index=False)
    with pytest.raises(LeakageError, match="patient .* several splits"):
        run_classify(_cfg(data, manifest=str(path)), data["root"] / "run_leaky", progress=False)
    assert not (data["root"] / "run_leaky" / "best.ckpt").exists()


def test_guard_catches_what_reaches_the_loaders() -> None:
    df = pd.DataFrame({"image_path": ["a", "b", "c", "d"], "patient_id": ["p1", "p2", "p3", "p4"],
                       "origin": ["real", "real", "gan", "real"],
                       "split": ["train", "val", "test", "test"]})
    masks = {s: (df["split"] == s).to_numpy() for s in ("train", "val", "test")}
    with pytest.raises(LeakageError, match="test split holds a non-real image"):
        guard_eval_splits(df, masks)
    df2 = df.assign(origin="real", patient_id=["p1", "p2", "p1", "p4"])
    with pytest.raises(LeakageError, match="patient p1 is in both train and test"):
        guard_eval_splits(df2, masks)


def test_with_synthetic_needs_gan_images(data) -> None:
    with pytest.raises(ConfigError, match="--synthetic-manifest"):
        run_classify(_cfg(data, synthetic_ratio=0.3), data["root"] / "x", progress=False)
    with pytest.raises(ConfigError, match="at least 75 px"):
        run_classify(_cfg(data, backbone="inception_v3"), data["root"] / "x", progress=False)
    with pytest.raises(ConfigError, match="--loss 'mse'"):
        run_classify(_cfg(data, loss="mse"), data["root"] / "x", progress=False)
    with pytest.raises(ConfigError, match="--aug-scope 'covid' is not one of: all, minority"):
        run_classify(_cfg(data, aug_scope="covid"), data["root"] / "x", progress=False)


def test_aug_scope_minority_reaches_the_sampler(data) -> None:
    every = prepare_data(_cfg(data, aug_share=0.5), progress=False).first_plan.counts
    mino = prepare_data(_cfg(data, aug_share=0.5, aug_scope="minority"), progress=False)
    pos = mino.positive_index
    counts = mino.first_plan.counts
    assert counts[pos] == every[pos] and counts[pos]["augmented"] > 0
    assert all(v["augmented"] == 0 for c, v in counts.items() if c != pos)
    assert any(v["augmented"] > 0 for c, v in every.items() if c != pos)


def test_training_draws_replay_by_seed_and_epoch(data) -> None:
    cfg = _cfg(data, augment="strong", aug_share=0.5)
    loaders = [make_loaders(prepare_data(cfg, progress=False), cfg)["train"] for _ in range(2)]

    def epoch(loader, e: int) -> torch.Tensor:
        loader.sampler.set_epoch(e)
        return torch.cat([b["image"] for b in loader])

    a0, b0 = epoch(loaders[0], 0), epoch(loaders[1], 0)
    assert torch.equal(a0, b0)
    assert not torch.equal(a0, epoch(loaders[0], 1))
    assert torch.equal(epoch(loaders[0], 0), a0)  # going back replays exactly


def test_lateral_views_are_left_out_and_counted(data, tmp_path) -> None:
    from cxr.data.manifest import load_manifest, save_manifest

    df = load_manifest(data["manifest"])
    lateral = df.index[df["label"].isin(["covid", "normal"])][[0, 1, -1]]
    df.loc[lateral, "view"] = "L"  # as covid-chestxray spells it
    path = save_manifest(df, tmp_path / "views.csv")
    frontal = prepare_data(_cfg(data, manifest=str(path)), progress=False)
    assert frontal.left_out.get("lateral view") == 3
    used = np.zeros(len(frontal.df), dtype=bool)
    for split in ("train", "val", "test"):
        used |= frontal.masks[split]
        assert "lateral" not in set(frontal.rows(split)["view"])
    every = prepare_data(_cfg(data, manifest=str(path), views="all"), progress=False)
    assert "lateral view" not in every.left_out
    n_used = sum(int(every.masks[s].sum()) for s in ("train", "val", "test"))
    assert n_used == int(used.sum()) + 3
    with pytest.raises(ConfigError, match="--views 'lateral' is not one of: frontal, all"):
        run_classify(_cfg(data, views="lateral"), data["root"] / "x", progress=False)
