"""Per-collection metrics and the within-source AUROC (pairs of one collection only)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxr.classifier.source_metrics import source_breakdown, stratified_auroc, within_source

CLASSES = ("rest", "covid")


def _probs(score: np.ndarray) -> np.ndarray:
    return np.c_[1 - score, score]


def test_stratified_auroc_is_pair_weighted_per_source_auroc() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300).astype(bool)
    s = rng.random(300) + 0.4 * y
    strata = np.repeat(["a", "b", "c"], 100)
    want_num = want_den = 0.0
    for k in "abc":
        m = strata == k
        pairs = y[m].sum() * (~y[m]).sum()
        want_num += roc_auc_score(y[m], s[m]) * pairs
        want_den += pairs
    got = stratified_auroc(np.ones((1, 300)), y, s, strata)[0]
    assert got == pytest.approx(want_num / want_den, abs=1e-12)


def test_source_shortcut_scores_high_pooled_and_chance_within() -> None:
    """The model only reads the source: pooled AUROC is high, within-source ~0.5."""
    rng = np.random.default_rng(1)
    # source a: 90% covid; source b: 10% covid; the score depends on the source only
    ds = np.repeat(["a", "b"], 200)
    y = np.r_[rng.random(200) < 0.9, rng.random(200) < 0.1].astype(int)
    score = np.where(ds == "a", 0.8, 0.2) + rng.normal(0, 0.05, 400)
    pids = [f"{d}:{i // 2}" for i, d in enumerate(ds)]
    res = source_breakdown(y, _probs(np.clip(score, 0, 1)), pids, ds, CLASSES,
                           threshold=0.5, n_boot=200)
    w = res["within_source"]
    assert w["datasets"] == ["a", "b"] and w["n_images"] == 400 and w["n_patients"] == 200
    assert w["n_positive"] == int(y.sum()) and w["n_negative"] == int(400 - y.sum())
    assert w["auroc_pooled"]["value"] > 0.85
    assert abs(w["auroc"]["value"] - 0.5) < 0.12
    assert w["auroc"]["ci_low"] < 0.5 < w["auroc"]["ci_high"]
    by = res["by_dataset"]
    assert set(by) == {"a", "b"} and by["a"]["n_images"] == 200
    assert by["a"]["n_positive"] == int(y[:200].sum())
    assert {"value", "ci_low", "ci_high"} <= set(by["a"]["headline"]["auroc"])


def test_single_class_sources_have_no_within_source_figure() -> None:
    ds = np.repeat(["covid_hospital", "normal_hospital"], 20)
    y = (ds == "covid_hospital").astype(int)
    score = np.linspace(0.1, 0.9, 40)
    pids = [f"p{i}" for i in range(40)]
    assert within_source(y, _probs(score), pids, ds, CLASSES, n_boot=10) is None
    res = source_breakdown(y, _probs(score), pids, ds, CLASSES, threshold=0.5, n_boot=10)
    one = res["by_dataset"]["normal_hospital"]
    assert one["headline"]["auroc"]["value"] is None  # undefined with one class
    assert one["headline"]["specificity"]["value"] is not None
    assert one["n_positive"] == 0 and one["n_negative"] == 20
