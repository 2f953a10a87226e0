"""Paired comparisons of two classifiers evaluated on the same test images.

Three questions, three tests, all on *the same* test images (paired):

* **Is the AUROC different?** DeLong's nonparametric test for correlated ROC
  curves (DeLong, DeLong & Clarke-Pearson, "Comparing the areas under two or more
  correlated receiver operating characteristic curves", Biometrics 44, 1988),
  computed with the fast midrank algorithm of Sun & Xu ("Fast implementation of
  DeLong's algorithm for comparing the areas under correlated receiver operating
  characteristic curves", IEEE Signal Processing Letters 21, 2014).
* **How large is the AUROC gain, with an interval?** A paired bootstrap of the
  AUROC difference (Efron & Tibshirani, "An Introduction to the Bootstrap", 1993)
  resampling *patients*, not images, because images of one patient are not
  independent; positive and negative patients are resampled separately
  (stratified) so every resample has both classes. ``scipy.stats.bootstrap``
  does the resampling.
* **Is the accuracy different?** McNemar's exact test (McNemar, Psychometrika 12,
  1947): under the null, the discordant pairs split 50/50, so the exact p-value
  is a two-sided binomial test on them (``scipy.stats.binomtest``).

The t-interval used for "mean over seeds" lives here too (:func:`t_interval`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class DeLongResult:
    """AUROCs of two models on the same cases and DeLong's test of their difference."""

    auc_a: float
    auc_b: float
    diff: float  # auc_b - auc_a
    se: float  # standard error of the difference
    z: float
    p_value: float


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test. ``b``: only A correct; ``c``: only B correct."""

    b: int
    c: int
    acc_a: float
    acc_b: float
    p_value: float


@dataclass(frozen=True)
class BootstrapResult:
    """Paired bootstrap of ``AUROC(b) - AUROC(a)`` resampled by patient."""

    diff: float
    ci_low: float
    ci_high: float
    n_resamples: int
    confidence: float


def _binary(y_true: Sequence[int] | np.ndarray) -> np.ndarray:
    y = np.asarray(y_true).astype(int).ravel()
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must be binary (0/1)")
    if y.min() == y.max():
        raise ValueError("y_true has only one class; AUROC is undefined")
    return y


def _structural_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sun & Xu (2014): AUCs and the placement values V10 (positives), V01 (negatives).

    ``scores`` is (k, N): k classifiers on the same N cases. Midranks (average
    ranks for ties) come from ``scipy.stats.rankdata``.
    """
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    tx = stats.rankdata(pos, axis=1)  # midranks among positives
    ty = stats.rankdata(neg, axis=1)  # midranks among negatives
    tz = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)  # among all
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    v10 = (tz[:, :m] - tx) / n  # per positive: share of negatives scored below it
    v01 = 1.0 - (tz[:, m:] - ty) / m  # per negative: share of positives scored above it
    return aucs, v10, v01


def _delong_cov(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    aucs, v10, v01 = _structural_components(y, scores)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, s10 / m + s01 / n


def delong_auc_variance(
    y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[float, float]:
    """AUROC and its DeLong variance for one classifier."""
    y = _binary(y_true)
    s = np.asarray(scores, dtype=float).reshape(1, -1)
    aucs, cov = _delong_cov(y, s)
    return float(aucs[0]), float(cov[0, 0])


def delong_test(
    y_true: Sequence[int] | np.ndarray,
    scores_a: Sequence[float] | np.ndarray,
    scores_b: Sequence[float] | np.ndarray,
) -> DeLongResult:
    """Two-sided DeLong test of ``AUROC(b) - AUROC(a) = 0`` on the same cases."""
    y = _binary(y_true)
    s = np.vstack([np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)])
    if s.shape[1] != y.shape[0]:
        raise ValueError("scores and labels must have the same length")
    aucs, cov = _delong_cov(y, s)
    diff = float(aucs[1] - aucs[0])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if var <= 1e-18:
        # identical rankings (or perfect separation by both): no evidence of a difference
        z, p = 0.0, 1.0
        se = 0.0
    else:
        se = float(np.sqrt(var))
        z = diff / se
        p = float(2 * stats.norm.sf(abs(z)))
    return DeLongResult(float(aucs[0]), float(aucs[1]), diff, se, float(z), p)


def mcnemar_exact(
    correct_a: Sequence[bool] | np.ndarray, correct_b: Sequence[bool] | np.ndarray
) -> McNemarResult:
    """Exact McNemar test on paired correctness indicators."""
    a = np.asarray(correct_a, dtype=bool).ravel()
    b_ = np.asarray(correct_b, dtype=bool).ravel()
    if a.shape != b_.shape:
        raise ValueError("correct_a and correct_b must have the same length")
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    p = 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue)
    return McNemarResult(b, c, float(a.mean()), float(b_.mean()), p)


def fast_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """AUROC by midranks (Mann-Whitney U / (m n)); ties count one half."""
    return float(_structural_components(y, scores.reshape(1, -1))[0][0])


def paired_bootstrap_auc(
    y_true: Sequence[int] | np.ndarray,
    scores_a: Sequence[float] | np.ndarray,
    scores_b: Sequence[float] | np.ndarray,
    groups: Sequence[str] | np.ndarray | None = None,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Percentile CI of ``AUROC(b) - AUROC(a)``, resampling whole patients (``groups``).

    Patients with any positive image and patients with none are resampled
    separately, so each resample keeps both classes and the class balance.
    """
    y = _binary(y_true)
    sa = np.asarray(scores_a, dtype=float).ravel()
    sb = np.asarray(scores_b, dtype=float).ravel()
    if not (sa.shape == sb.shape == y.shape):
        raise ValueError("labels and both score vectors must have the same length")
    g = np.arange(y.size).astype(str) if groups is None else np.asarray(groups).astype(str)
    codes = np.unique(g, return_inverse=True)[1]
    n_groups = int(codes.max()) + 1
    members = [np.flatnonzero(codes == k) for k in range(n_groups)]
    has_pos = np.array([y[idx].any() for idx in members])
    pos_groups = np.flatnonzero(has_pos)
    neg_groups = np.flatnonzero(~has_pos)

    def diff_of(group_ids: np.ndarray) -> float:
        idx = np.concatenate([members[k] for k in group_ids])
        return fast_auc(y[idx], sb[idx]) - fast_auc(y[idx], sa[idx])

    def statistic(pos_sample: np.ndarray, neg_sample: np.ndarray) -> float:
        return diff_of(np.concatenate([pos_sample, neg_sample]).astype(int))

    res = stats.bootstrap(
        (pos_groups, neg_groups),
        statistic,
        paired=False,  # the two strata are resampled independently
        vectorized=False,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    point = diff_of(np.arange(n_groups))
    lo, hi = res.confidence_interval
    return BootstrapResult(point, float(lo), float(hi), n_resamples, confidence)


def t_interval(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval over independent replicates (e.g. seeds).

    Fewer than two finite values give a NaN interval: one seed has no spread.
    ``bounds`` clips the interval to the metric's range (e.g. (0, 1) for AUROC): a
    t-interval over 2-3 seeds easily reaches past it, and "AUROC 1.17" reads as a bug.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    sem = float(stats.sem(v))
    if sem == 0.0:
        return mean, mean, mean
    lo, hi = stats.t.interval(confidence, df=v.size - 1, loc=mean, scale=sem)
    if bounds is not None:
        lo, hi = max(float(lo), bounds[0]), min(float(hi), bounds[1])
    return mean, float(lo), float(hi)
