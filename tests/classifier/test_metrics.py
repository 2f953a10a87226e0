"""Clinical metrics: equality with scikit-learn/torchmetrics, patient bootstrap, thresholds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchmetrics.functional.classification as tmf
from sklearn import metrics as skm

from cxr.classifier.metrics import (
    HEADLINE,
    calibration_bins,
    choose_threshold,
    evaluate,
    headline_resamples,
    predict_labels,
)
from cxr.runtime.errors import ConfigError
from cxr.stats import bootstrap as bs

CLASSES3 = ["covid", "pneumonia", "normal"]


def _fake(n: int, n_cls: int, seed: int, per_patient: int = 1, signal: float = 1.2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_cls, n)
    logits = rng.normal(size=(n, n_cls))
    logits[np.arange(n), y] += signal
    # quantise so the scores have ties, as real softmax outputs in float16 do
    p = np.exp(logits)
    p = np.round(p / p.sum(1, keepdims=True), 2)
    p[:, -1] = 1 - p[:, :-1].sum(1)
    p = np.clip(p, 0, 1)
    p /= p.sum(1, keepdims=True)
    pids = [f"pt{i // per_patient}" for i in range(n)]
    return y, p, pids


@pytest.mark.parametrize("n_cls", [2, 3])
def test_point_estimates_equal_sklearn(n_cls: int) -> None:
    classes = CLASSES3[:n_cls]
    y, p, pids = _fake(300, n_cls, seed=1)
    res = evaluate(y, p, pids, classes, n_boot=0)
    pred = p.argmax(1)
    assert res["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-6)
    assert res["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred),
                                                     abs=1e-6)
    cm = skm.confusion_matrix(y, pred, labels=range(n_cls))
    assert res["confusion_matrix"] == cm.tolist()
    rec = skm.recall_score(y, pred, average=None)
    prec = skm.precision_score(y, pred, average=None)
    f1 = skm.f1_score(y, pred, average=None)
    for k, name in enumerate(classes):
        pc = res["per_class"][name]
        tp = cm[k, k]
        fp = cm[:, k].sum() - tp
        fn = cm[k].sum() - tp
        tn = cm.sum() - tp - fp - fn
        assert pc["sensitivity"] == pytest.approx(rec[k], abs=1e-6)
        assert pc["ppv"] == pytest.approx(prec[k], abs=1e-6)
        assert pc["f1"] == pytest.approx(f1[k], abs=1e-6)
        assert pc["specificity"] == pytest.approx(tn / (tn + fp), abs=1e-6)
        assert pc["npv"] == pytest.approx(tn / (tn + fn), abs=1e-6)
        assert pc["auroc"] == pytest.approx(skm.roc_auc_score(y == k, p[:, k]), abs=1e-6)
        assert pc["average_precision"] == pytest.approx(
            skm.average_precision_score(y == k, p[:, k]), abs=1e-6)
        assert pc["support"] == int((y == k).sum())
    if n_cls > 2:
        macro = skm.roc_auc_score(y, p, multi_class="ovr", average="macro")
        assert res["auroc_macro"] == pytest.approx(macro, abs=1e-6)


def test_threshold_decision_rule() -> None:
    y, p, pids = _fake(200, 2, seed=2)
    res = evaluate(y, p, pids, ["normal", "covid"], positive="covid", threshold=0.3, n_boot=0)
    pred = (p[:, 1] >= 0.3).astype(int)
    assert res["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    assert res["headline"]["sensitivity"]["value"] == pytest.approx(
        skm.recall_score(y, pred), abs=1e-6)
    # three classes: positive if P(covid) >= t, else the most probable other class
    probs = np.array([[0.35, 0.6, 0.05], [0.2, 0.3, 0.5], [0.29, 0.7, 0.01]])
    assert predict_labels(probs, 0, 0.3).tolist() == [0, 2, 1]


def test_vectorised_metrics_equal_libraries_with_weights() -> None:
    y, p, _ = _fake(400, 3, seed=3)
    rng = np.random.default_rng(0)
    w = np.vstack([np.ones(y.size), rng.integers(0, 4, (5, y.size))]).astype(float)
    for k in range(3):
        au = bs.auroc(w, y == k, p[:, k])
        ap = bs.average_precision(w, y == k, p[:, k])
        for b in range(w.shape[0]):
            assert au[b] == pytest.approx(
                skm.roc_auc_score(y == k, p[:, k], sample_weight=w[b]), abs=1e-10)
            assert ap[b] == pytest.approx(
                skm.average_precision_score(y == k, p[:, k], sample_weight=w[b]), abs=1e-10)
    t_y = torch.as_tensor(y)
    tm_auc = tmf.binary_auroc(torch.as_tensor(p[:, 0]), t_y == 0)
    assert bs.auroc(w[:1], y == 0, p[:, 0])[0] == pytest.approx(float(tm_auc), abs=1e-6)
    tm_ece = tmf.multiclass_calibration_error(torch.as_tensor(p), t_y, num_classes=3, n_bins=15)
    conf = p.max(1)
    ece = bs.expected_calibration_error(w[:1], conf, p.argmax(1) == y,
                                        calibration_bins(conf, 15))[0]
    assert ece == pytest.approx(float(tm_ece), abs=1e-6)
    # integer weights = the data set with repeated rows
    rep = np.repeat(np.arange(y.size), w[1].astype(int))
    tm_rep = tmf.multiclass_calibration_error(torch.as_tensor(p[rep]), t_y[rep], num_classes=3,
                                              n_bins=15)
    ece_w = bs.expected_calibration_error(w[1:2], conf, p.argmax(1) == y,
                                          calibration_bins(conf, 15))[0]
    assert ece_w == pytest.approx(float(tm_rep), abs=1e-6)
    cm = bs.confusion(w[1:2], y, p.argmax(1), 3)[0]
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y, p.argmax(1), sample_weight=w[1]))


def test_ece_hand_example() -> None:
    # two bins used: conf 0.9 (3 right of 4) and conf 0.6 (1 right of 2)
    p = np.array([[0.9, 0.1]] * 4 + [[0.4, 0.6]] * 2)
    y = np.array([0, 0, 0, 1, 1, 0])
    res = evaluate(y, p, [str(i) for i in range(6)], ["covid", "normal"], n_boot=0)
    expected = 4 / 6 * abs(0.75 - 0.9) + 2 / 6 * abs(0.5 - 0.6)
    assert res["ece"] == pytest.approx(expected, abs=1e-6)


def test_bootstrap_unit_weights_reproduce_point_estimates() -> None:
    y, p, pids = _fake(250, 3, seed=4, per_patient=2)
    res = evaluate(y, p, pids, CLASSES3, threshold=0.4, n_boot=0)
    pred = predict_labels(p, 0, 0.4)
    boot = headline_resamples(np.ones((1, y.size)), y, p, pred, 0)
    for k in HEADLINE:
        assert boot[k][0] == pytest.approx(res["headline"][k]["value"], abs=1e-6), k


def test_result_is_json_and_ci_contains_point() -> None:
    y, p, pids = _fake(300, 3, seed=5, per_patient=3)
    res = evaluate(y, p, pids, CLASSES3, n_boot=300, seed=1)
    again = json.loads(json.dumps(res))
    assert again == res
    assert res["n_images"] == 300 and res["n_patients"] == 100 and res["n_boot"] == 300
    for k in HEADLINE:
        h = res["headline"][k]
        assert h["ci_low"] <= h["value"] <= h["ci_high"], k
        assert h["n_skipped"] == 0
    assert res == evaluate(y, p, pids, CLASSES3, n_boot=300, seed=1)  # seeded


def test_ci_narrows_with_more_patients() -> None:
    widths = []
    for n in (60, 600):
        y, p, pids = _fake(n, 2, seed=6, per_patient=2)
        res = evaluate(y, p, pids, ["covid", "normal"], n_boot=400)
        widths.append({k: res["headline"][k]["ci_high"] - res["headline"][k]["ci_low"]
                       for k in ("accuracy", "auroc", "sensitivity")})
    for k in widths[0]:
        assert widths[1][k] < 0.6 * widths[0][k], k


def test_patient_resampling_keeps_images_together() -> None:
    # one patient owns 60 images (all misclassified); 40 patients own one (all correct)
    n_big, n_small = 60, 40
    y = np.zeros(n_big + n_small, dtype=int)
    p = np.tile([0.9, 0.1], (y.size, 1))
    p[:n_big] = [0.2, 0.8]
    pids = ["big"] * n_big + [f"s{i}" for i in range(n_small)]
    codes, n_pat = bs.patient_codes(pids)
    w = bs.patient_weights(codes, n_pat, 200, np.random.default_rng(0))
    assert (w[:, :n_big] == w[:, :1]).all()  # the big patient's images share one weight
    assert (w[:, n_big:].sum(1) + w[:, 0] == n_small + 1).all()  # n_patients drawn each time
    # accuracy moves in jumps of 60 images: far wider than an image-level bootstrap
    clustered = evaluate(y, p, pids, ["covid", "normal"], n_boot=500)["headline"]["accuracy"]
    by_image = evaluate(y, p, [str(i) for i in range(y.size)], ["covid", "normal"],
                        n_boot=500)["headline"]["accuracy"]
    assert clustered["value"] == by_image["value"] == 0.4
    assert (clustered["ci_high"] - clustered["ci_low"]) > 3 * (by_image["ci_high"]
                                                                - by_image["ci_low"])


def test_resamples_lacking_a_class_are_skipped_and_counted() -> None:
    # covid appears in one patient only: about (1 - 1/30)^30 = 36 % of resamples lack it
    y = np.array([0] * 3 + [1] * 29)
    p = np.tile([0.3, 0.7], (32, 1))
    p[:3] = [0.8, 0.2]
    pids = ["c"] * 3 + [f"n{i}" for i in range(29)]
    res = evaluate(y, p, pids, ["covid", "normal"], n_boot=500)
    for k in ("auroc", "average_precision", "sensitivity", "f1", "auroc_macro"):
        assert 100 < res["headline"][k]["n_skipped"] < 260, k
        assert res["headline"][k]["ci_low"] == res["headline"][k]["ci_high"] == 1.0
    assert res["headline"]["accuracy"]["n_skipped"] == 0


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"positive": "flu"}, "positive class 'flu' not in classes"),
        ({"threshold": 1.5}, "threshold must be in"),
        ({"n_boot": -1}, "n_boot"),
    ],
)
def test_bad_options(kw: dict, msg: str) -> None:
    y, p, pids = _fake(20, 3, seed=7)
    with pytest.raises(ConfigError, match=msg):
        evaluate(y, p, pids, CLASSES3, **kw)


def test_bad_inputs() -> None:
    y, p, pids = _fake(20, 3, seed=7)
    with pytest.raises(ConfigError, match="shape"):
        evaluate(y, p[:, :2], pids, CLASSES3)
    with pytest.raises(ConfigError, match="patient ids"):
        evaluate(y, p, pids[:-1], CLASSES3)
    with pytest.raises(ConfigError, match="sum to 1"):
        evaluate(y, p * 0.5, pids, CLASSES3)


def test_choose_threshold_matches_roc_curve() -> None:
    y, p, _ = _fake(500, 2, seed=8)
    pos, score = y == 1, p[:, 1]
    fpr, tpr, thr = skm.roc_curve(pos, score, drop_intermediate=False)
    for target in (0.5, 0.8, 0.9, 0.95, 1.0):
        t = choose_threshold(pos, score, target)
        assert t == pytest.approx(thr[np.flatnonzero(tpr >= target - 1e-12)[0]])
        assert ((score >= t) & pos).sum() / pos.sum() >= target
    youden = choose_threshold(pos, score, method="youden")
    assert youden == pytest.approx(thr[np.argmax(tpr - fpr)])
    with pytest.raises(ConfigError, match="unknown method 'f1'"):
        choose_threshold(pos, score, method="f1")
    with pytest.raises(ConfigError, match="no positive"):
        choose_threshold(np.zeros(5), np.linspace(0, 1, 5))
