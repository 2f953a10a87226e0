"""Pearson and Spearman correlation, and means, with patient-bootstrap intervals.

Used to compare a model-derived severity with expert scores (`cxr explain
severity`) and to put intervals on localization scores (`cxr explain localize`).
Images of one patient are correlated, so intervals resample *patients*
(:mod:`cxr.stats.bootstrap`: the cluster bootstrap, Field & Welsh 2007) and take
all their images; where every image has its own patient id this is the
ordinary image bootstrap, and the result says so (``unit``).

* :func:`correlation_ci`: Pearson's r and Spearman's rho (Pearson's r of
  mid-ranks, ties averaged) of the resampled data set, with percentile 95 %
  intervals. A resample is a weight vector (patient draw counts), so Pearson
  is a weighted correlation for all resamples at once, and Spearman the
  weighted correlation of weighted mid-ranks (the ranks the repeated values
  would have in the expanded resample).
* :func:`mean_ci`: the mean (images weighted equally) with a percentile
  interval; :func:`paired_difference_ci`: the mean of ``a - b`` on the same images.

Each returns a plain JSON-ready dict; undefined values (a constant input) are ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cxr.stats import bootstrap as bs

__all__ = ["bootstrap_unit", "correlation_ci", "mean_ci", "paired_difference_ci"]


def _num(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def bootstrap_unit(patient_ids: Sequence[str]) -> str:
    """``patient`` when some patient has several images, else ``image`` (one image each)."""
    codes, n = bs.patient_codes(patient_ids)
    return "patient" if n < len(codes) else "image"


def resample_weights(patient_ids: Sequence[str], n_boot: int, seed: int) -> np.ndarray:
    """``(1 + n_boot, N)`` image weights; row 0 is the data itself (unit weights)."""
    codes, n_pat = bs.patient_codes(patient_ids)
    ones = np.ones((1, len(codes)))
    if n_boot < 1 or n_pat == 0:
        return ones
    return np.vstack([ones, bs.patient_weights(codes, n_pat, n_boot,
                                               np.random.default_rng(seed))])


def weighted_pearson(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of ``x`` and ``y`` under each row of weights ``w`` ``(B, N)``: ``(B,)``."""
    tot = w.sum(axis=1, keepdims=True)
    mx = (w @ x)[:, None] / tot
    my = (w @ y)[:, None] / tot
    dx, dy = x[None, :] - mx, y[None, :] - my
    cov = (w * dx * dy).sum(axis=1)
    vx, vy = (w * dx * dx).sum(axis=1), (w * dy * dy).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(vx * vy)
    r[(vx <= 1e-12 * np.maximum(1.0, tot[:, 0])) | (vy <= 1e-12 * np.maximum(1.0, tot[:, 0]))] = (
        np.nan)
    return np.clip(r, -1.0, 1.0)


def weighted_midranks(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mid-ranks ``(B, N)`` of ``x`` in each resample (values repeated ``w`` times, ties averaged).

    For a value ``v``: (weight of values below ``v``) + (weight at ``v`` + 1) / 2, the
    rank that ``scipy.stats.rankdata`` gives it in the expanded sample.
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    group = np.cumsum(np.r_[True, xs[1:] != xs[:-1]]) - 1  # tie group of each sorted value
    gw = np.add.reduceat(w[:, order], starts, axis=1)  # (B, G) weight per distinct value
    below = np.cumsum(gw, axis=1) - gw
    ranks_sorted = (below + (gw + 1.0) / 2.0)[:, group]
    out = np.empty_like(ranks_sorted)
    out[:, order] = ranks_sorted
    return out


def weighted_spearman(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho under each row of weights: Pearson of the weighted mid-ranks, ``(B,)``."""
    rx, ry = weighted_midranks(w, x), weighted_midranks(w, y)
    tot = w.sum(axis=1, keepdims=True)
    mx = (w * rx).sum(axis=1, keepdims=True) / tot
    my = (w * ry).sum(axis=1, keepdims=True) / tot
    dx, dy = rx - mx, ry - my
    cov = (w * dx * dy).sum(axis=1)
    vx, vy = (w * dx * dx).sum(axis=1), (w * dy * dy).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(vx * vy)
    r[(vx <= 0) | (vy <= 0)] = np.nan
    return np.clip(r, -1.0, 1.0)


def _interval(values: np.ndarray, level: float) -> tuple[float | None, float | None]:
    if len(values) < 2:
        return None, None
    lo, hi, _ = bs.percentile_ci(values[1:], level)
    return lo, hi


def correlation_ci(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    patient_ids: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Pearson and Spearman of ``x`` vs ``y`` with patient-bootstrap percentile intervals."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xa.shape != ya.shape or xa.ndim != 1 or len(patient_ids) != xa.size:
        raise ValueError(f"x {xa.shape}, y {ya.shape} and {len(patient_ids)} patient ids differ")
    codes, n_pat = bs.patient_codes(patient_ids)
    out: dict[str, Any] = {"n": int(xa.size), "n_patients": n_pat,
                           "unit": bootstrap_unit(patient_ids), "n_boot": int(n_boot)}
    if xa.size < 3:
        for k in ("pearson", "spearman"):
            out[k] = {"r": None, "ci_low": None, "ci_high": None}
        return out
    w = resample_weights(patient_ids, n_boot, seed)
    for name, fn in (("pearson", weighted_pearson), ("spearman", weighted_spearman)):
        vals = fn(w, xa, ya)
        lo, hi = _interval(vals, level)
        out[name] = {"r": _num(vals[0]), "ci_low": _num(lo), "ci_high": _num(hi)}
    return out


def mean_ci(
    values: Sequence[float] | np.ndarray,
    patient_ids: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Mean of ``values`` (NaN rows left out) with a patient-bootstrap percentile interval."""
    v = np.asarray(values, dtype=np.float64)
    pids = np.asarray(patient_ids, dtype=str)
    ok = np.isfinite(v)
    v, pids = v[ok], pids[ok]
    if v.size == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0, "n_patients": 0}
    w = resample_weights(list(pids), n_boot, seed)
    means = (w @ v) / w.sum(axis=1)
    lo, hi = _interval(means, level)
    return {"mean": _num(means[0]), "ci_low": _num(lo), "ci_high": _num(hi), "n": int(v.size),
            "n_patients": int(len(set(pids)))}


def paired_difference_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    patient_ids: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Mean of ``a - b`` over images where both are defined, with a patient-bootstrap interval."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return mean_ci(d, patient_ids, n_boot=n_boot, seed=seed, level=level)
