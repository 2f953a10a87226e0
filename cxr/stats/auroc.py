"""AUROC with patient-bootstrap intervals, for probes and per-source comparisons.

* :func:`auroc_ci`: binary AUROC (Mann-Whitney, ties 1/2) and its 95 %
  percentile interval from resampling *patients* (the cluster bootstrap of
  :mod:`cxr.stats.bootstrap`).
* :func:`macro_auroc_ci`: mean one-vs-rest AUROC over the classes present
  (e.g. a probe predicting one of several source collections).
* :func:`stratified_auroc` (per resample) and :func:`within_source_auroc_ci`:
  AUROC counting only (positive, negative)
  pairs that come from the same source, i.e. the pooled Mann-Whitney statistic
  of a stratified comparison (the "within-hospital" analysis of Zech et al.,
  PLOS Med 2018). It cannot be raised by telling the sources apart; sources
  holding only one class contribute no pairs. Returned beside the pooled AUROC
  of the same images, so their gap measures how much of the pooled figure comes
  from between-source pairs.

Each returns a plain dict (JSON-ready): ``auroc``, ``ci_low``, ``ci_high``,
``n`` images, ``n_patients`` and the class counts; ``auroc`` is None when it
is undefined (one class only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cxr.stats import bootstrap as bs

__all__ = ["auroc_ci", "macro_auroc_ci", "stratified_auroc", "within_source_auroc_ci"]


def _num(x: float | None) -> float | None:
    return None if x is None or np.isnan(x) else round(float(x), 6)


def _weights(patient_ids: Sequence[str], n_boot: int, seed: int) -> tuple[np.ndarray, int]:
    codes, n_pat = bs.patient_codes(patient_ids)
    ones = np.ones((1, len(codes)))
    if n_boot < 1 or n_pat == 0:
        return ones, n_pat
    w = bs.patient_weights(codes, n_pat, n_boot, np.random.default_rng(seed))
    return np.vstack([ones, w]), n_pat  # row 0: the point estimate


def _summary(values: np.ndarray, level: float, key: str = "auroc") -> dict[str, Any]:
    lo, hi, _ = bs.percentile_ci(values[1:], level) if len(values) > 1 else (None, None, 0)
    return {key: _num(values[0]), "ci_low": _num(lo), "ci_high": _num(hi)}


def auroc_ci(
    positive: Sequence[bool] | np.ndarray,
    score: Sequence[float] | np.ndarray,
    patient_ids: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Binary AUROC of ``score`` for ``positive`` with a patient-bootstrap interval."""
    pos = np.asarray(positive, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    w, n_pat = _weights(patient_ids, n_boot, seed)
    values = bs.auroc(w, pos, s) if len(pos) else np.full(len(w), np.nan)
    return {**_summary(values, level), "n": int(len(pos)), "n_positive": int(pos.sum()),
            "n_negative": int((~pos).sum()), "n_patients": n_pat}


def macro_auroc_ci(
    y: Sequence[int] | np.ndarray,
    probs: np.ndarray,
    patient_ids: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Mean one-vs-rest AUROC over the classes present in ``y`` (binary: the AUROC of
    class 1), with a patient-bootstrap interval."""
    y = np.asarray(y, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    present = [int(c) for c in np.unique(y)]
    w, n_pat = _weights(patient_ids, n_boot, seed)
    if probs.shape[1] == 2:
        values = bs.auroc(w, y == 1, probs[:, 1])
    else:
        per = np.stack([bs.auroc(w, y == c, probs[:, c]) for c in present])
        with np.errstate(invalid="ignore"):
            values = np.nanmean(np.where(np.isnan(per).any(axis=0), np.nan, per), axis=0) \
                if len(present) > 1 else np.full(len(w), np.nan)
    counts = {int(c): int((y == c).sum()) for c in present}
    return {**_summary(values, level), "n": int(len(y)), "n_patients": n_pat,
            "class_counts": counts}


def stratified_auroc(weights: np.ndarray, positive: np.ndarray, score: np.ndarray,
                     strata: np.ndarray) -> np.ndarray:
    """AUROC over positive-negative pairs of the same stratum, per resample ``(B,)``.

    ``sum_s AUC_s * P_s * N_s / sum_s P_s * N_s`` with weighted counts ``P_s``, ``N_s``
    of each stratum; strata without both classes in a resample contribute no pairs.
    NaN when no stratum has a pair.
    """
    num = np.zeros(weights.shape[0])
    den = np.zeros(weights.shape[0])
    for s in np.unique(strata):
        m = strata == s
        w = weights[:, m]
        p = positive[m].astype(np.float64)
        pairs = (w * p).sum(axis=1) * (w * (1 - p)).sum(axis=1)
        auc = bs.auroc(w, positive[m], score[m])
        ok = pairs > 0
        num[ok] += auc[ok] * pairs[ok]
        den += pairs
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def within_source_auroc_ci(
    positive: Sequence[bool] | np.ndarray,
    score: Sequence[float] | np.ndarray,
    source: Sequence[str],
    patient_ids: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Pooled and within-source AUROC of the same images, each with an interval, and
    the per-source AUROC of every source holding both classes."""
    pos = np.asarray(positive, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    src = np.asarray(source, dtype=str)
    w, n_pat = _weights(patient_ids, n_boot, seed)
    pooled = bs.auroc(w, pos, s)
    within = stratified_auroc(w, pos, s, src)
    by_source: dict[str, Any] = {}
    for name in sorted(set(src.tolist())):
        m = src == name
        n_pos, n_neg = int(pos[m].sum()), int((~pos[m]).sum())
        entry: dict[str, Any] = {"n_positive": n_pos, "n_negative": n_neg}
        if n_pos and n_neg:
            entry.update(_summary(bs.auroc(w[:, m], pos[m], s[m]), level))
        by_source[name] = entry
    mixed = [k for k, v in by_source.items() if v["n_positive"] and v["n_negative"]]
    gap = pooled - within
    return {
        "pooled": _summary(pooled, level),
        "within_source": _summary(within, level),
        "gap": _summary(gap, level, "gap"),  # pooled - within, paired interval
        "sources_with_both_classes": mixed,
        "by_source": by_source,
        "n": int(len(pos)),
        "n_patients": n_pat,
    }
