"""Metrics per source collection, and the within-source figure.

Public COVID-19 radiographs usually come from different hospitals per class,
so a classifier can score well by recognising the *source* (DeGrave, Janizek &
Lee, "AI for radiographic COVID-19 detection selects shortcuts over signal",
Nat. Mach. Intell. 3, 2021). Two breakdowns make that visible:

* ``by_dataset``: every headline metric of :func:`cxr.classifier.metrics.evaluate`
  on the images of each collection (``dataset`` column), with counts. A
  collection holding one class has no AUROC, only sensitivity or specificity.
* ``within_source``: over the collections that hold *both* the positive class
  and another class, the AUROC computed from positive-negative pairs **of the
  same collection only** (a stratified Mann-Whitney statistic; equivalently the
  per-collection AUROCs weighted by their number of pairs, as in the
  stratified/"within-cluster" AUC of Obuchowski, Biometrics 1997), plus
  sensitivity and specificity at the run's threshold on those images. No pair
  compares images of two sources, so recognising the source cannot raise it:
  it is the least confounded number the data allow. Its 95% CI comes from the
  same patient-level bootstrap as the headline (:mod:`cxr.classifier.bootstrap`).
  ``None`` when no collection holds both classes (then nothing in the data can
  separate disease from source).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cxr.classifier.metrics import _num, evaluate, predict_labels
from cxr.stats import bootstrap as bs
from cxr.stats.auroc import stratified_auroc

_CHUNK = 256


def _counts(y_pos: np.ndarray, patient_ids: Sequence[str]) -> dict[str, int]:
    return {"n_images": int(y_pos.size), "n_patients": len(set(map(str, patient_ids))),
            "n_positive": int(y_pos.sum()), "n_negative": int((~y_pos).sum())}


def by_dataset(
    y: np.ndarray, probs: np.ndarray, patient_ids: Sequence[str], datasets: Sequence[str],
    classes: Sequence[str], *, positive: str = "covid", threshold: float | None = None,
    n_boot: int = 1000, seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """``{dataset: {n_images, n_patients, n_positive, n_negative, headline, confusion_matrix}}``."""
    y = np.asarray(y).astype(np.int64)
    ds = np.asarray(datasets, dtype=str)
    pids = np.asarray(patient_ids, dtype=str)
    pos = list(classes).index(positive)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(ds.tolist())):
        m = ds == name
        res = evaluate(y[m], probs[m], pids[m].tolist(), classes, positive=positive,
                       threshold=threshold, n_boot=n_boot, seed=seed)
        out[name] = {**_counts(y[m] == pos, pids[m].tolist()), "headline": res["headline"],
                     "confusion_matrix": res["confusion_matrix"]}
    return out


def _rates(weights: np.ndarray, positive: np.ndarray, called: np.ndarray) -> dict[str, np.ndarray]:
    p, c = positive.astype(np.float64), called.astype(np.float64)
    tp, n_pos = weights @ (p * c), weights @ p
    tn, n_neg = weights @ ((1 - p) * (1 - c)), weights @ (1 - p)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"sensitivity": np.where(n_pos > 0, tp / n_pos, np.nan),
                "specificity": np.where(n_neg > 0, tn / n_neg, np.nan)}


def within_source(
    y: np.ndarray, probs: np.ndarray, patient_ids: Sequence[str], datasets: Sequence[str],
    classes: Sequence[str], *, positive: str = "covid", threshold: float | None = None,
    n_boot: int = 1000, seed: int = 0, ci_level: float = 0.95,
) -> dict[str, Any] | None:
    """The within-source figure of the module docstring, or ``None`` if no source has both."""
    y = np.asarray(y).astype(np.int64)
    pos = list(classes).index(positive)
    is_pos = y == pos
    ds = np.asarray(datasets, dtype=str)
    mixed = [d for d in sorted(set(ds.tolist()))
             if is_pos[ds == d].any() and (~is_pos[ds == d]).any()]
    if not mixed:
        return None
    m = np.isin(ds, mixed)
    pids = np.asarray(patient_ids, dtype=str)[m]
    yp, score, strata = is_pos[m], np.asarray(probs, dtype=np.float64)[m, pos], ds[m]
    called = predict_labels(np.asarray(probs, dtype=np.float64)[m], pos, threshold) == pos

    def figures(w: np.ndarray) -> dict[str, np.ndarray]:
        return {"auroc": stratified_auroc(w, yp, score, strata),
                "auroc_pooled": bs.auroc(w, yp, score), **_rates(w, yp, called)}

    point = figures(np.ones((1, yp.size)))
    codes, n_pat = bs.patient_codes(pids.tolist())
    rng = np.random.default_rng(seed)
    boot: dict[str, list[np.ndarray]] = {k: [] for k in point}
    for start in range(0, n_boot, _CHUNK):
        w = bs.patient_weights(codes, n_pat, min(_CHUNK, n_boot - start), rng)
        for k, v in figures(w).items():
            boot[k].append(v)
    out: dict[str, Any] = {
        "datasets": mixed, **_counts(yp, pids.tolist()),
        "per_dataset": {d: _counts(yp[strata == d], pids[strata == d].tolist()) for d in mixed},
        "definition": "AUROC over positive-negative pairs from the same collection only; "
                      "sensitivity/specificity at the run's decision on those collections' images",
    }
    for k, v in point.items():
        lo, hi, skipped = bs.percentile_ci(np.concatenate(boot[k]) if n_boot else np.empty(0),
                                           ci_level)
        out[k] = {"value": _num(v[0]), "ci_low": _num(lo), "ci_high": _num(hi),
                  "n_skipped": skipped}
    return out


def source_breakdown(
    y: np.ndarray, probs: np.ndarray, patient_ids: Sequence[str], datasets: Sequence[str],
    classes: Sequence[str], *, positive: str = "covid", threshold: float | None = None,
    n_boot: int = 1000, seed: int = 0,
) -> dict[str, Any]:
    """``{"by_dataset": ..., "within_source": ...}`` for one evaluated set (JSON-ready)."""
    kw: dict[str, Any] = dict(positive=positive, threshold=threshold, n_boot=n_boot, seed=seed)
    return {"by_dataset": by_dataset(y, probs, patient_ids, datasets, classes, **kw),
            "within_source": within_source(y, probs, patient_ids, datasets, classes, **kw)}
