"""Overlap of predicted and reference lung masks: Dice and IoU per image, patient-bootstrap CIs.

Per image: Dice ``2|P & G| / (|P| + |G|)`` (Sørensen-Dice) and IoU ``|P & G| / |P | G|``
(Jaccard), computed by torchmetrics (``dice_score`` / ``mean_iou``, samplewise). An image
where both masks are empty scores 1 (torchmetrics leaves it undefined: NaN / -1); a reference
lung mask is never empty in practice.

Summaries are means over images with 95 % percentile intervals from the patient-level
bootstrap of :mod:`cxr.stats.bootstrap` (all images of a drawn patient enter with its
weight), so several studies of one patient do not narrow the interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cxr.stats.bootstrap import patient_codes, patient_weights, percentile_ci

__all__ = ["bootstrap_scores", "dice_iou"]


def dice_iou(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(dice, iou)`` float64 ``(N,)`` for boolean ``(N, H, W)`` predictions and references."""
    import torch
    from torchmetrics.functional.segmentation import dice_score, mean_iou

    p = np.asarray(pred, dtype=bool)
    g = np.asarray(target, dtype=bool)
    if p.shape != g.shape or p.ndim != 3:
        raise ValueError(
            f"dice_iou needs two (N, H, W) masks of one shape, got {p.shape}, {g.shape}")
    pt = torch.from_numpy(p).long().unsqueeze(1)
    gt = torch.from_numpy(g).long().unsqueeze(1)
    dice = dice_score(pt, gt, num_classes=1, average="none", input_format="one-hot")
    iou = mean_iou(pt, gt, num_classes=1, per_class=True, input_format="one-hot")
    both_empty = ~(p.reshape(len(p), -1).any(1) | g.reshape(len(g), -1).any(1))
    d = dice.reshape(-1).double().numpy()
    j = iou.reshape(-1).double().numpy()
    d[both_empty] = 1.0
    j[both_empty] = 1.0
    return d, j


def bootstrap_scores(
    scores: dict[str, np.ndarray],
    patient_ids: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, Any]]:
    """``{name: {mean, median, ci_low, ci_high, n_images, n_patients}}`` per score array."""
    codes, n_pat = patient_codes(patient_ids)
    out: dict[str, dict[str, Any]] = {}
    weights = None
    if n_boot > 0 and n_pat > 1:
        weights = patient_weights(codes, n_pat, n_boot, np.random.default_rng(seed))
    for name, values in scores.items():
        v = np.asarray(values, dtype=np.float64)
        if v.shape != codes.shape:
            raise ValueError(f"{name}: {v.size} scores for {codes.size} patient ids")
        res: dict[str, Any] = {"mean": float(v.mean()) if v.size else None,
                               "median": float(np.median(v)) if v.size else None,
                               "ci_low": None, "ci_high": None,
                               "n_images": int(v.size), "n_patients": n_pat}
        if weights is not None:
            boot = (weights @ v) / weights.sum(axis=1)
            res["ci_low"], res["ci_high"], _ = percentile_ci(boot, level)
        out[name] = res
    return out
