"""Shortcut-audit building blocks: regions, AUROC intervals, the verdict rule, the probe."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxr.data.regions import border_band, central_box, hide, lung_field
from cxr.pipelines.audit.verdict import decide
from cxr.stats.auroc import auroc_ci, macro_auroc_ci, within_source_auroc_ci


def test_regions_box_band_and_mask() -> None:
    box = central_box(50, 0.1)
    assert box.sum() == 40 * 40 and not box[0].any() and box[25, 25]
    band = border_band(50, 0.1)
    assert band.sum() == 50 * 50 - 40 * 40 and band[0, 25] and not band[25, 25]
    mask = np.zeros((50, 50), np.uint8)
    mask[20:30, 10:20] = 255
    lung, kind = lung_field(mask, 50, dilate=0.04)
    assert kind == "mask" and lung[20:30, 10:20].all() and lung[18, 15] and not lung[40, 40]
    assert lung_field(None, 50)[1] == "box" and lung_field(mask * 0, 50)[1] == "box"
    img = np.full((50, 50), 7, np.uint8)
    hidden = hide(img, lung)
    assert (hidden[lung] == 128).all() and (hidden[~lung] == 7).all() and (img == 7).all()


def test_auroc_ci_matches_sklearn_and_brackets_it() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.4
    s = y + rng.normal(0, 1, 200)
    pids = [f"p{i // 2}" for i in range(200)]
    r = auroc_ci(y, s, pids, n_boot=300)
    assert r["auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-6)
    assert r["ci_low"] < r["auroc"] < r["ci_high"] and r["n_patients"] == 100
    probs = np.stack([1 - s / 10, s / 10, np.zeros(200)], 1)
    m = macro_auroc_ci(y.astype(int), probs[:, :2], pids, n_boot=50)
    assert m["auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-6)


def test_within_source_auroc_removes_between_source_signal() -> None:
    # source A: 40 positives, 10 negatives; source B: the reverse. Scores say only the source.
    rng = np.random.default_rng(1)
    src = np.array(["A"] * 50 + ["B"] * 50)
    pos = np.r_[np.ones(40), np.zeros(10), np.ones(10), np.zeros(40)].astype(bool)
    score = (src == "A") + rng.normal(0, 0.01, 100)
    r = within_source_auroc_ci(pos, score, src, [f"p{i}" for i in range(100)], n_boot=200)
    assert r["pooled"]["auroc"] > 0.75
    assert abs(r["within_source"]["auroc"] - 0.5) < 0.2
    assert r["gap"]["gap"] > 0.2 and r["gap"]["ci_low"] > 0
    assert r["sources_with_both_classes"] == ["A", "B"]


def _audit(**kw: object) -> dict:
    base: dict = {"positive": "covid", "confounding": {"all": {"cramers_v": None, "labels": [],
                                                              "single_label_share": {}}}}
    base.update(kw)
    return base


def test_verdict_rule() -> None:
    conf = {"all": {"cramers_v": 1.0, "labels": ["covid", "normal"], "dataset_accuracy": 1.0,
                    "single_label_share": {"covid": 1.0}}}
    probe = {"applicable": True, "auroc": 0.99, "ci_low": 0.97, "ci_high": 1.0}
    assert decide(_audit(confounding=conf, source_probe=probe))["verdict"] == "high"
    weak = {"applicable": True, "auroc": 0.8, "ci_low": 0.6, "ci_high": 0.9}
    v = decide(_audit(confounding=conf, source_probe=weak))
    assert v["verdict"] == "medium" and any(s.startswith("M1") for s in v["some"])
    assert decide(_audit(source_probe={"applicable": False}))["verdict"] == "low"
    masked = {"applicable": True, "lungs_hidden": {"auroc": 0.9, "ci_low": 0.85, "ci_high": 0.95},
              "border_only": {"auroc": 0.55, "ci_low": 0.4, "ci_high": 0.7}}
    v = decide(_audit(masking=masked))
    assert v["verdict"] == "high" and v["strong"][0].startswith("S2")
    masked["lungs_hidden"] = {"auroc": 0.7, "ci_low": 0.55, "ci_high": 0.85}
    assert decide(_audit(masking=masked))["verdict"] == "medium"
    gap = {"gap": {"gap": 0.3, "ci_low": 0.1, "ci_high": 0.4}}
    assert decide(_audit(source_gap=gap))["verdict"] == "high"
    cam = {"by_dataset": {"x": {"median_energy_share": 0.2, "mean_area_share": 0.5}}}
    assert decide(_audit(gradcam=cam))["verdict"] == "medium"


def test_probe_learns_a_visible_difference() -> None:
    from cxr.classifier.probe import predict_probe, train_probe

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 100, (48, 32, 32), dtype=np.uint8)
    y = np.arange(48) % 2
    imgs[y == 1, :4, :4] = 255  # a corner marker, as burned-in text would be
    model = train_probe(imgs[:32], y[:32], n_classes=2, epochs=3, batch_size=8, lr=3e-3)
    p = predict_probe(model, imgs[32:])
    assert p.shape == (16, 2) and np.allclose(p.sum(1), 1)
    assert roc_auc_score(y[32:], p[:, 1]) > 0.9
    with pytest.raises(Exception, match="two classes"):
        train_probe(imgs, np.zeros(48, int), n_classes=2)


def test_audit_rows_leave_out_laterals_unless_views_all(tmp_path) -> None:
    from support.fakelayouts import tiny_image

    from cxr.config import AuditConfig
    from cxr.data.manifest import new_manifest, save_manifest
    from cxr.pipelines.audit.shortcuts import _real_rows

    rows = [{"image_path": str(tiny_image(tmp_path / f"{i}.png", seed=i)), "patient_id": f"d:{i}",
             "label": "covid", "dataset": "d", "view": v}
            for i, v in enumerate(["PA", "L", "AP Supine", "LL"])]
    path = save_manifest(new_manifest(rows), tmp_path / "m.csv")
    df, out = _real_rows(path, AuditConfig())
    assert len(df) == 2 and out == {"lateral view": 2}
    df, out = _real_rows(path, AuditConfig(views="all"))
    assert len(df) == 4 and out == {}
