"""Clinical evaluation: per-class and headline metrics with patient-level bootstrap CIs.

Point estimates use the torchmetrics functional API (Nicki Skafte Detlefsen et
al., "TorchMetrics - measuring reproducibility in PyTorch", JOSS 2022).
Sensitivity/specificity/PPV/NPV follow the usual diagnostic-accuracy
definitions (Altman & Bland, BMJ 1994); expected calibration error is the
15-bin top-label ECE of Guo et al., "On calibration of modern neural
networks", ICML 2017. Confidence intervals: 95 % percentile intervals from a
bootstrap that resamples *patients* (see :mod:`cxr.stats.bootstrap`),
as recommended when patients contribute several images (e.g. Roberts et al.,
"Common pitfalls and recommendations for using machine learning to detect and
prognosticate for COVID-19", Nat. Mach. Intell. 2021).

Decision rule: ``threshold`` given -> predict ``positive`` when
``P(positive) >= threshold``, otherwise the most probable other class (for two
classes: the other class); no threshold -> argmax.

Balanced accuracy is the mean recall over the classes present in ``y_true``
(scikit-learn's definition). Per-class metrics with no defined value
(e.g. AUROC of a class absent from ``y_true``) are ``None``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from cxr.runtime.errors import ConfigError
from cxr.stats import bootstrap as bs

HEADLINE: tuple[str, ...] = ("accuracy", "balanced_accuracy", "auroc", "auroc_macro",
                             "average_precision", "sensitivity", "specificity", "f1", "ece")
ECE_BINS = 15
DECIMALS = 6
_CHUNK = 256  # resamples per vectorised block (bounds memory at 256 x N floats)


def _num(x: Any) -> float | None:
    """JSON number: 6 decimals (torchmetrics rates are float32), None for undefined."""
    if x is None:
        return None
    v = float(x)
    return None if math.isnan(v) else round(v, DECIMALS)


def _check_inputs(y_true: np.ndarray, probs: np.ndarray, patient_ids: Sequence[str],
                  classes: Sequence[str], positive: str, threshold: float | None) -> int:
    n_cls = len(classes)
    if n_cls < 2:
        raise ConfigError(f"evaluate: need at least 2 classes, got {list(classes)}")
    if positive not in classes:
        raise ConfigError(f"evaluate: positive class '{positive}' not in classes {list(classes)}")
    if probs.ndim != 2 or probs.shape != (y_true.size, n_cls):
        raise ConfigError(
            f"evaluate: probs must have shape (N={y_true.size}, C={n_cls}), got {probs.shape}"
        )
    if len(patient_ids) != y_true.size:
        raise ConfigError(
            f"evaluate: {len(patient_ids)} patient ids for {y_true.size} predictions"
        )
    if y_true.size == 0:
        raise ConfigError("evaluate: no predictions to evaluate")
    if y_true.min() < 0 or y_true.max() >= n_cls:
        raise ConfigError(f"evaluate: y_true must be class indices in [0, {n_cls})")
    if not np.isfinite(probs).all() or probs.min() < 0 or probs.max() > 1:
        raise ConfigError("evaluate: probs must be finite probabilities in [0, 1]")
    if np.abs(probs.sum(axis=1) - 1).max() > 1e-3:
        raise ConfigError("evaluate: each row of probs must sum to 1 (pass softmax outputs)")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"evaluate: threshold must be in [0, 1], got {threshold}")
    return n_cls


def predict_labels(probs: np.ndarray, pos: int, threshold: float | None) -> np.ndarray:
    """Class decisions under the module's decision rule."""
    if threshold is None:
        return probs.argmax(axis=1)
    others = probs.copy()
    others[:, pos] = -np.inf
    return np.where(probs[:, pos] >= threshold, pos, others.argmax(axis=1))


def calibration_bins(confidence: np.ndarray, n_bins: int = ECE_BINS) -> np.ndarray:
    """ECE bin of each confidence, exactly as torchmetrics bins it.

    torchmetrics casts confidences to float32 and uses float32 ``torch.linspace``
    edges with ``bucketize(right=True)``; a confidence on an edge (0.4 = 6/15)
    can land in another bin than float64 arithmetic would put it, so we reuse
    the same operations rather than re-deriving the edges in numpy.
    """
    import torch

    conf = torch.as_tensor(np.asarray(confidence)).float()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float32)
    return (torch.bucketize(conf, edges, right=True) - 1).numpy()


def _point_estimates(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, n_cls: int,
                     classes: Sequence[str]) -> dict[str, Any]:
    with warnings.catch_warnings():
        # torchmetrics warns about classes absent from y_true; we report those as None
        warnings.filterwarnings("ignore", message=".*(samples in targets|samples found in target)")
        return _torchmetrics_estimates(y, probs, pred, n_cls, classes)


def _torchmetrics_estimates(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, n_cls: int,
                            classes: Sequence[str]) -> dict[str, Any]:
    import torch
    import torchmetrics.functional.classification as tmf

    t_y, t_pred = torch.as_tensor(y), torch.as_tensor(pred)
    t_p = torch.as_tensor(probs, dtype=torch.float64)
    kw: dict[str, Any] = {"num_classes": n_cls, "average": None}
    support = np.bincount(y, minlength=n_cls)
    has_pos, has_neg = support > 0, support < y.size
    per = {
        "sensitivity": tmf.multiclass_recall(t_pred, t_y, **kw),
        "specificity": tmf.multiclass_specificity(t_pred, t_y, **kw),
        "ppv": tmf.multiclass_precision(t_pred, t_y, **kw),
        "npv": tmf.multiclass_negative_predictive_value(t_pred, t_y, **kw),
        "f1": tmf.multiclass_f1_score(t_pred, t_y, **kw),
        "auroc": tmf.multiclass_auroc(t_p, t_y, **kw, thresholds=None),
        "average_precision": tmf.multiclass_average_precision(t_p, t_y, **kw, thresholds=None),
    }
    per_class: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(classes):
        row: dict[str, Any] = {"support": int(support[k])}
        for metric, values in per.items():
            defined = {
                "sensitivity": has_pos[k], "f1": has_pos[k], "specificity": has_neg[k],
                "auroc": has_pos[k] and has_neg[k], "average_precision": has_pos[k] and has_neg[k],
            }.get(metric, True)
            row[metric] = _num(values[k]) if defined else None
        per_class[name] = row
    recalls = [per_class[c]["sensitivity"] for c in classes if per_class[c]["support"]]
    aurocs = [per_class[c]["auroc"] for c in classes]
    aps = [per_class[c]["average_precision"] for c in classes]
    return {
        "accuracy": _num(tmf.multiclass_accuracy(t_pred, t_y, num_classes=n_cls,
                                                 average="micro")),
        "balanced_accuracy": _num(np.mean(recalls)),
        "auroc_macro": _num(np.mean(aurocs)) if None not in aurocs else None,
        "average_precision_macro": _num(np.mean(aps)) if None not in aps else None,
        "ece": _num(tmf.multiclass_calibration_error(t_p, t_y, num_classes=n_cls,
                                                     n_bins=ECE_BINS, norm="l1")),
        "confusion_matrix": tmf.multiclass_confusion_matrix(t_pred, t_y, num_classes=n_cls)
        .tolist(),
        "per_class": per_class,
    }


def headline_resamples(weights: np.ndarray, y: np.ndarray, probs: np.ndarray, pred: np.ndarray,
                       pos: int) -> dict[str, np.ndarray]:
    """Every headline metric for each row of ``weights`` (NaN where undefined)."""
    n_cls = probs.shape[1]
    cm = bs.confusion(weights, y, pred, n_cls)
    total = cm.sum(axis=(1, 2))
    rows = cm.sum(axis=2)
    diag = np.diagonal(cm, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(rows > 0, diag / rows, np.nan)
        tp, fn = cm[:, pos, pos], rows[:, pos] - cm[:, pos, pos]
        fp = cm[:, :, pos].sum(axis=1) - tp
        tn = total - tp - fn - fp
        out = {
            "accuracy": diag.sum(axis=1) / total,
            "balanced_accuracy": np.nanmean(recall, axis=1),
            "sensitivity": recall[:, pos],
            "specificity": np.where(tn + fp > 0, tn / (tn + fp), np.nan),
            "f1": np.where(tp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan),
        }
    onevsrest = [bs.auroc(weights, y == k, probs[:, k]) for k in range(n_cls)]
    out["auroc"] = onevsrest[pos]
    out["auroc_macro"] = np.mean(onevsrest, axis=0)  # NaN if any class is missing
    out["average_precision"] = bs.average_precision(weights, y == pos, probs[:, pos])
    conf = probs.max(axis=1).astype(np.float32).astype(np.float64)  # as torchmetrics
    out["ece"] = bs.expected_calibration_error(weights, conf, probs.argmax(axis=1) == y,
                                               calibration_bins(conf))
    return out


def evaluate(
    y_true: np.ndarray,
    probs: np.ndarray,
    patient_ids: Sequence[str],
    classes: Sequence[str],
    *,
    positive: str = "covid",
    threshold: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
) -> dict[str, Any]:
    """All metrics, with patient-level bootstrap CIs on the headline ones (JSON-ready).

    Keys: ``headline[name] = {value, ci_low, ci_high, n_skipped}`` for each of
    :data:`HEADLINE` (sensitivity, specificity, F1, AUROC, AP of the positive
    class; ``n_skipped`` = resamples where the metric is undefined, e.g. no
    positive patient drawn); ``per_class[class] = {support, sensitivity,
    specificity, ppv, npv, f1, auroc, average_precision}``; ``confusion_matrix``
    (rows true, columns predicted); ``accuracy``, ``balanced_accuracy``,
    ``auroc_macro``, ``average_precision_macro``, ``ece``; and ``n_images``,
    ``n_patients``, ``n_boot``, ``seed``, ``threshold``, ``decision``, ``ci``.
    Numbers have 6 decimals; undefined values are ``None``.
    """
    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(probs, dtype=np.float64)
    n_cls = _check_inputs(y, p, patient_ids, classes, positive, threshold)
    if n_boot < 0:
        raise ConfigError(f"evaluate: n_boot must be >= 0, got {n_boot}")
    pos = list(classes).index(positive)
    pred = predict_labels(p, pos, threshold)
    point = _point_estimates(y, p, pred, n_cls, classes)
    pc = point["per_class"][positive]
    values = {"accuracy": point["accuracy"], "balanced_accuracy": point["balanced_accuracy"],
              "auroc": pc["auroc"], "auroc_macro": point["auroc_macro"],
              "average_precision": pc["average_precision"], "sensitivity": pc["sensitivity"],
              "specificity": pc["specificity"], "f1": pc["f1"], "ece": point["ece"]}

    codes, n_pat = bs.patient_codes(patient_ids)
    rng = np.random.default_rng(seed)
    boot: dict[str, list[np.ndarray]] = {k: [] for k in HEADLINE}
    for start in range(0, n_boot, _CHUNK):
        w = bs.patient_weights(codes, n_pat, min(_CHUNK, n_boot - start), rng)
        for k, v in headline_resamples(w, y, p, pred, pos).items():
            boot[k].append(v)
    headline: dict[str, dict[str, Any]] = {}
    for k in HEADLINE:
        lo, hi, skipped = bs.percentile_ci(np.concatenate(boot[k]) if n_boot else
                                           np.empty(0), ci_level)
        headline[k] = {"value": values[k], "ci_low": _num(lo), "ci_high": _num(hi),
                       "n_skipped": skipped}
    return {
        "classes": list(classes),
        "positive": positive,
        "decision": "argmax" if threshold is None else f"P({positive}) >= threshold",
        "threshold": None if threshold is None else float(threshold),
        "n_images": int(y.size),
        "n_patients": n_pat,
        "n_boot": int(n_boot),
        "seed": int(seed),
        "ci": f"{ci_level:.0%} percentile, patient-level cluster bootstrap",
        "headline": headline,
        **{k: point[k] for k in ("accuracy", "balanced_accuracy", "auroc_macro",
                                 "average_precision_macro", "ece", "confusion_matrix",
                                 "per_class")},
    }


def choose_threshold(y_true_binary: np.ndarray, p_pos: np.ndarray,
                     target_sensitivity: float = 0.9, *, method: str = "sensitivity") -> float:
    """Operating threshold from validation predictions (``predict positive if p >= t``).

    ``method="sensitivity"``: the highest threshold whose sensitivity reaches
    ``target_sensitivity``. ``method="youden"``: the threshold maximising
    Youden's J = sensitivity + specificity - 1 (Youden, Cancer 1950); ties -> highest.
    """
    y = np.asarray(y_true_binary).astype(bool).ravel()
    s = np.asarray(p_pos, dtype=np.float64).ravel()
    if y.size != s.size or y.size == 0:
        raise ConfigError(f"choose_threshold: {y.size} labels for {s.size} scores")
    if not y.any():
        raise ConfigError("choose_threshold: no positive cases in the validation set")
    if method == "sensitivity":
        if not 0.0 < target_sensitivity <= 1.0:
            raise ConfigError(
                f"choose_threshold: target_sensitivity must be in (0, 1], got {target_sensitivity}"
            )
        pos_desc = np.sort(s[y])[::-1]
        k = math.ceil(target_sensitivity * pos_desc.size - 1e-9)
        return float(pos_desc[k - 1])
    if method == "youden":
        if y.all():
            raise ConfigError("choose_threshold: youden needs negative cases too")
        cand = np.unique(s)[::-1]  # descending
        tpr = np.searchsorted(np.sort(-s[y]), -cand, side="right") / y.sum()
        fpr = np.searchsorted(np.sort(-s[~y]), -cand, side="right") / (~y).sum()
        return float(cand[int(np.argmax(tpr - fpr))])
    raise ConfigError(f"choose_threshold: unknown method '{method}' (valid: sensitivity, youden)")
