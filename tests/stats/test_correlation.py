"""Patient-bootstrap correlations and means, and the grouped ridge, on exact inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st

from cxr.stats.correlation import (
    bootstrap_unit,
    correlation_ci,
    mean_ci,
    paired_difference_ci,
    weighted_pearson,
    weighted_spearman,
)
from cxr.stats.grouped_ridge import grouped_ridge_predictions


def test_weighted_correlations_equal_scipy_on_the_expanded_resample() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, 40).astype(float)  # ties on purpose
    y = x + rng.normal(size=40)
    w = rng.integers(0, 3, (6, 40)).astype(float)
    rho, r = weighted_spearman(w, x, y), weighted_pearson(w, x, y)
    for b in range(len(w)):
        xe, ye = np.repeat(x, w[b].astype(int)), np.repeat(y, w[b].astype(int))
        assert rho[b] == pytest.approx(st.spearmanr(xe, ye).statistic, abs=1e-12)
        assert r[b] == pytest.approx(st.pearsonr(xe, ye).statistic, abs=1e-12)


def test_correlation_ci_point_estimate_interval_and_unit() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    y = 2 * x + 0.5 * rng.normal(size=60)
    pids = [f"p{i // 3}" for i in range(60)]
    c = correlation_ci(x, y, pids, n_boot=300, seed=0)
    assert c["pearson"]["r"] == pytest.approx(st.pearsonr(x, y).statistic, abs=1e-6)
    assert c["spearman"]["r"] == pytest.approx(st.spearmanr(x, y).statistic, abs=1e-6)
    for k in ("pearson", "spearman"):
        assert c[k]["ci_low"] <= c[k]["r"] <= c[k]["ci_high"] <= 1.0
    assert (c["n"], c["n_patients"], c["unit"]) == (60, 20, "patient")
    assert correlation_ci(x, y, pids, n_boot=300, seed=0) == c  # seeded
    # a perfectly monotone relation: rho = 1 in every resample
    m = correlation_ci(x, np.exp(x), pids, n_boot=50)
    assert m["spearman"] == {"r": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    # constant input: undefined, not a number
    assert correlation_ci(np.ones(10), y[:10], pids[:10], n_boot=20)["pearson"]["r"] is None
    assert bootstrap_unit([str(i) for i in range(5)]) == "image"


def test_patient_bootstrap_is_wider_than_image_bootstrap_for_clustered_values() -> None:
    v = np.repeat(np.arange(10.0), 10)  # ten patients, each with ten equal values
    by_patient = mean_ci(v, [str(i // 10) for i in range(100)], n_boot=500)
    by_image = mean_ci(v, [str(i) for i in range(100)], n_boot=500)
    assert by_patient["mean"] == by_image["mean"] == 4.5
    assert by_patient["ci_high"] - by_patient["ci_low"] > 2 * (by_image["ci_high"]
                                                                - by_image["ci_low"])
    d = paired_difference_ci([1.0, 2.0, np.nan], [0.5, 1.0, 3.0], ["a", "b", "c"], n_boot=50)
    assert d["mean"] == pytest.approx(0.75) and d["n"] == 2  # the NaN row is left out


def test_grouped_ridge_holds_out_whole_patients_and_recovers_a_linear_score() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 30))
    y = 3 * x[:, 0] - x[:, 1] + 0.2 * rng.normal(size=80)
    groups = np.array([f"p{i // 4}" for i in range(80)])
    fit = grouped_ridge_predictions(x, y, groups, folds=5)
    assert fit.folds == 5 and len(fit.alphas) == 5
    for g in np.unique(groups):  # every image of a patient is predicted by the same fold
        assert len(set(fit.fold[groups == g])) == 1
    assert np.isfinite(fit.predictions).all()
    assert st.pearsonr(fit.predictions, y).statistic > 0.95
    with pytest.raises(ValueError, match="at least 3 patients"):
        grouped_ridge_predictions(x[:8], y[:8], ["a"] * 4 + ["b"] * 4)
