"""Paired statistics: DeLong, McNemar, patient-level paired bootstrap, t-interval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from cxr.stats.compare import (
    delong_auc_variance,
    delong_test,
    mcnemar_exact,
    paired_bootstrap_auc,
    t_interval,
)


def _binormal(n_pos: int, n_neg: int, shift_a: float, shift_b: float, rho: float, seed: int):
    """Two correlated scorers; AUROC_k = Phi(shift_k / sqrt(2)) for unit-variance normals."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    cov = [[1.0, rho], [rho, 1.0]]
    noise = rng.multivariate_normal([0, 0], cov, size=y.size)
    a = noise[:, 0] + shift_a * y
    b = noise[:, 1] + shift_b * y
    return y, a, b


def test_delong_auc_equals_sklearn_including_ties():
    y, a, _ = _binormal(40, 70, 1.0, 1.0, 0.5, seed=1)
    a = np.round(a, 1)  # force ties
    auc, var = delong_auc_variance(y, a)
    assert auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert var > 0


def test_delong_variance_agrees_with_bootstrap():
    y, a, _ = _binormal(150, 250, 1.2, 1.2, 0.5, seed=2)
    _, var = delong_auc_variance(y, a)
    rng = np.random.default_rng(0)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    boots = []
    for _ in range(800):
        idx = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
        boots.append(roc_auc_score(y[idx], a[idx]))
    assert var == pytest.approx(np.var(boots, ddof=1), rel=0.2)


def test_delong_detects_clearly_better_model():
    y, a, b = _binormal(100, 150, 0.3, 2.0, 0.3, seed=3)
    res = delong_test(y, a, b)
    assert res.auc_b > res.auc_a
    assert res.diff == pytest.approx(roc_auc_score(y, b) - roc_auc_score(y, a))
    assert res.p_value < 1e-4


def test_delong_not_significant_under_null():
    # same generating model for both scorers: the p-values should be ~uniform
    pvals = [delong_test(*_binormal(60, 90, 1.0, 1.0, 0.4, seed=s)).p_value for s in range(40)]
    assert np.mean(np.array(pvals) < 0.05) <= 0.15
    assert np.median(pvals) > 0.2


def test_delong_identical_scores_gives_p_one():
    y, a, _ = _binormal(20, 30, 1.0, 1.0, 0.0, seed=4)
    assert delong_test(y, a, a).p_value == 1.0


def test_mcnemar_matches_hand_computation():
    # A right & B wrong: 2 cases; A wrong & B right: 9 cases; plus concordant ones
    a = [1] * 2 + [0] * 9 + [1] * 30 + [0] * 5
    b = [0] * 2 + [1] * 9 + [1] * 30 + [0] * 5
    res = mcnemar_exact(np.array(a, bool), np.array(b, bool))
    assert (res.b, res.c) == (2, 9)
    # exact two-sided: 2 * P(X <= 2), X ~ Binomial(11, 1/2) = 2 * (1 + 11 + 55) / 2048
    assert res.p_value == pytest.approx(2 * (1 + 11 + 55) / 2048)
    assert res.acc_a == pytest.approx(32 / 46)
    assert res.acc_b == pytest.approx(39 / 46)


def test_mcnemar_no_discordant_pairs():
    assert mcnemar_exact([True, False], [True, False]).p_value == 1.0


def test_paired_bootstrap_ci_contains_true_difference():
    shift_a, shift_b = 0.8, 1.6
    true_diff = stats.norm.cdf(shift_b / np.sqrt(2)) - stats.norm.cdf(shift_a / np.sqrt(2))
    y, a, b = _binormal(200, 300, shift_a, shift_b, 0.5, seed=5)
    # two images per patient: patient-level resampling must keep them together
    groups = np.repeat(np.arange(y.size // 2), 2)
    y[1::2] = y[0::2]
    res = paired_bootstrap_auc(y, a, b, groups, n_resamples=400, seed=0)
    assert res.ci_low < true_diff < res.ci_high
    assert res.ci_low > 0  # the better model is detectably better
    assert res.diff == pytest.approx(roc_auc_score(y, b) - roc_auc_score(y, a))


def test_paired_bootstrap_wider_when_clustered():
    # duplicating every image (same patient) must not shrink the patient-level interval
    y, a, b = _binormal(60, 90, 0.8, 1.2, 0.5, seed=6)
    ids = np.arange(y.size)
    one = paired_bootstrap_auc(y, a, b, ids, n_resamples=300, seed=1)
    y2, a2, b2, g2 = (np.repeat(v, 3) for v in (y, a, b, ids))
    naive = paired_bootstrap_auc(y2, a2, b2, None, n_resamples=300, seed=1)
    clustered = paired_bootstrap_auc(y2, a2, b2, g2, n_resamples=300, seed=1)
    width = lambda r: r.ci_high - r.ci_low  # noqa: E731
    assert width(clustered) > 1.4 * width(naive)
    assert width(clustered) == pytest.approx(width(one), rel=0.3)


def test_single_class_is_refused():
    with pytest.raises(ValueError, match="one class"):
        delong_test([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


def test_t_interval():
    mean, lo, hi = t_interval([0.8, 0.82, 0.84])
    assert mean == pytest.approx(0.82)
    half = stats.t.ppf(0.975, 2) * np.std([0.8, 0.82, 0.84], ddof=1) / np.sqrt(3)
    assert (lo, hi) == pytest.approx((0.82 - half, 0.82 + half))
    m1, lo1, hi1 = t_interval([0.7])
    assert m1 == 0.7 and np.isnan(lo1) and np.isnan(hi1)


def test_t_interval_clips_to_the_metric_range() -> None:
    from cxr.stats.compare import t_interval

    mean, lo, hi = t_interval([0.99, 0.80], bounds=(0.0, 1.0))
    assert lo >= 0.0 and hi == 1.0 and lo < mean < hi
    _, raw_lo, raw_hi = t_interval([0.99, 0.80])
    assert raw_hi > 1.0 and raw_lo < 0.0  # two seeds: the raw t-interval is wider than [0, 1]
