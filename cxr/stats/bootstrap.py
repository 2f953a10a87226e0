"""Patient-level (cluster) bootstrap with vectorised, weighted metrics.

Images of one patient are correlated, so resampling images would understate
the uncertainty. We resample *patients* with replacement and take all their
images (the cluster bootstrap; Field & Welsh, "Bootstrapping clustered data",
JRSS-B 2007; percentile intervals as in Efron & Tibshirani, "An Introduction to
the Bootstrap", 1993, ch. 13).

A resample is represented by integer image weights: ``W[b, i]`` = how many
times image ``i``'s patient was drawn in resample ``b`` (all images of a patient
share one weight). Every metric here is the metric of the resampled data set,
computed as a weighted metric, for all resamples at once with matrix products
and cumulative sums instead of a Python loop of torchmetrics calls. With unit
weights they equal torchmetrics / scikit-learn (tests/test_metrics.py).

Conventions: AUROC counts ties as 1/2 (Mann-Whitney); average precision is the
step-wise sum ``sum_k (R_k - R_{k-1}) P_k`` over distinct thresholds (as
scikit-learn and torchmetrics); ECE is top-label over equal-width confidence
bins, binned as torchmetrics does. Undefined
values (e.g. AUROC of a resample without positives) are NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def patient_codes(patient_ids: Sequence[str]) -> tuple[np.ndarray, int]:
    """Integer code per image and the number of distinct patients."""
    _, inverse = np.unique(np.asarray(patient_ids, dtype=str), return_inverse=True)
    return inverse.astype(np.int64), int(inverse.max()) + 1 if len(inverse) else 0


def patient_weights(codes: np.ndarray, n_patients: int, n_boot: int,
                    rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, N)`` image weights: patient draw counts (multinomial), broadcast to images."""
    counts = rng.multinomial(n_patients, np.full(n_patients, 1.0 / n_patients), size=n_boot)
    return counts[:, codes].astype(np.float64)


def confusion(weights: np.ndarray, y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Weighted confusion matrices ``(B, C, C)``, rows = true class, cols = predicted."""
    cell = y * n_classes + pred
    onehot = np.zeros((y.size, n_classes * n_classes))
    onehot[np.arange(y.size), cell] = 1.0
    return (weights @ onehot).reshape(-1, n_classes, n_classes)


def _grouped(weights: np.ndarray, positive: np.ndarray, score: np.ndarray,
             descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positive / negative totals per distinct score, in score order: ``(B, G)`` each."""
    order = np.argsort(-score if descending else score, kind="stable")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    w = weights[:, order]
    pos = np.add.reduceat(w * positive[order], starts, axis=1)
    tot = np.add.reduceat(w, starts, axis=1)
    return pos, tot - pos


def auroc(weights: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Weighted one-vs-rest AUROC per resample ``(B,)``; NaN without both classes."""
    pos, neg = _grouped(weights, positive.astype(np.float64), score, descending=False)
    neg_below = np.cumsum(neg, axis=1) - neg
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    num = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / (n_pos * n_neg)
    out[(n_pos == 0) | (n_neg == 0)] = np.nan
    return out


def average_precision(weights: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Weighted average precision per resample ``(B,)``; NaN without both classes."""
    pos, neg = _grouped(weights, positive.astype(np.float64), score, descending=True)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    denom = tp + fp
    precision = np.divide(tp, denom, out=np.zeros_like(tp), where=denom > 0)
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (pos * precision).sum(axis=1) / n_pos
    out[(n_pos == 0) | (n_neg == 0)] = np.nan
    return out


def expected_calibration_error(weights: np.ndarray, confidence: np.ndarray,
                               correct: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Weighted top-label ECE (L1) per resample ``(B,)``.

    ``bins`` is each image's bin index (:func:`cxr.classifier.metrics.calibration_bins`
    reproduces torchmetrics' float32 binning, which decides images lying on a bin edge).
    """
    onehot = np.zeros((confidence.size, int(bins.max()) + 1))
    onehot[np.arange(confidence.size), bins] = 1.0
    gap = (weights * (correct.astype(np.float64) - confidence)) @ onehot
    return np.abs(gap).sum(axis=1) / weights.sum(axis=1)


def percentile_ci(
    values: np.ndarray, level: float = 0.95
) -> tuple[float | None, float | None, int]:
    """Percentile interval over the defined (non-NaN) values and the number skipped."""
    ok = values[~np.isnan(values)]
    skipped = int(values.size - ok.size)
    if ok.size == 0:
        return None, None, skipped
    lo, hi = np.percentile(ok, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi), skipped
