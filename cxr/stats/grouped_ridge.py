"""Ridge regression scored by patient-grouped cross-validation (scikit-learn).

The model-derived severity of Cohen et al. (Cureus 2020, arXiv:2005.11856):
a linear regression from a network's penultimate features to the experts'
scores, judged on images of patients the regression never saw. Here:

* outer loop: :class:`~sklearn.model_selection.GroupKFold` over patients
  (``folds``, at most the number of patients), every image predicted once by
  a model fitted without any image of its patient;
* inside each outer training set: standardised features, and the ridge
  penalty chosen from ``alphas`` by an inner patient-grouped
  :class:`~sklearn.model_selection.GridSearchCV` (mean squared error), so the
  held-out patients play no part in choosing it.

:func:`grouped_ridge_predictions` returns the out-of-fold predictions and the
penalty chosen per fold; their correlation with the scores
(:mod:`cxr.stats.correlation`) is the figure reported. The bootstrap interval
on those predictions resamples patients but does not refit the regression, so
it leaves out the variance of the fitting itself (say so beside it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 4, 13))


@dataclass(frozen=True)
class GroupedRidge:
    """Out-of-fold predictions (one per image) and the penalty chosen in each outer fold."""

    predictions: np.ndarray
    fold: np.ndarray  # outer fold of each image
    alphas: tuple[float, ...]  # chosen per outer fold
    folds: int


def grouped_ridge_predictions(
    features: np.ndarray,
    target: np.ndarray,
    groups: Sequence[str],
    *,
    folds: int = 5,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
) -> GroupedRidge:
    """Out-of-fold ridge predictions of ``target`` from ``features`` ``(N, D)``, grouped by patient.

    Raises ``ValueError`` when there are fewer than 3 patients (no fold could
    hold out a patient and still fit on two others).
    """
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    g = np.asarray(groups, dtype=str)
    if x.ndim != 2 or len(x) != len(y) or len(y) != len(g):
        raise ValueError(f"features {x.shape}, target {y.shape} and {len(g)} groups differ")
    n_groups = len(np.unique(g))
    if n_groups < 3:
        raise ValueError(f"grouped cross-validation needs at least 3 patients, got {n_groups}")
    k = max(2, min(folds, n_groups))
    pred = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1, dtype=np.int64)
    chosen = []
    for i, (tr, te) in enumerate(GroupKFold(n_splits=k).split(x, y, g)):
        inner = max(2, min(folds, len(np.unique(g[tr]))))
        search = GridSearchCV(
            make_pipeline(StandardScaler(), Ridge()),
            {"ridge__alpha": list(alphas)},
            cv=GroupKFold(n_splits=inner),
            scoring="neg_mean_squared_error",
        )
        search.fit(x[tr], y[tr], groups=g[tr])
        pred[te] = search.predict(x[te])
        fold_of[te] = i
        chosen.append(float(search.best_params_["ridge__alpha"]))
    return GroupedRidge(pred, fold_of, tuple(chosen), k)
