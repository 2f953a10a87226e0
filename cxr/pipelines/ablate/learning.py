"""Whether a sweep cell learned: the verdict, and how tables say it.

A cell whose test predictions are constant, or whose test AUROC's CI reaches 0.5, learned
nothing that its numbers could show; every table, log and report marks it "did not learn" and
shows no paired gain over (or of) it as a comparison.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxr.pipelines.classify.run_folder import ClassifyRunFolder

if TYPE_CHECKING:
    import pandas as pd

#: what a cell that learned nothing is called wherever cells are shown (tables, report, demo)
DID_NOT_LEARN = "did not learn"


def learning_verdict(run_dir: str | Path, metrics: dict[str, Any]) -> str:
    """Why a finished cell did not learn, or ``""`` when it did.

    A cell did not learn when its test predictions are constant (one score for every image:
    a constant predictor, whose AUROC is 0.5 by construction) or when its test AUROC's CI
    contains 0.5 (or lies below it): its numbers cannot be compared with another cell's.
    """
    import numpy as np
    import pandas as pd

    positive = str(metrics.get("positive", "covid"))
    pred = ClassifyRunFolder(run_dir).predictions
    if pred.is_file():
        df = pd.read_csv(pred)
        col = f"p_{positive}"
        if col in df.columns and len(df):
            scores = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
            if np.isfinite(scores).any() and float(np.nanmax(scores) - np.nanmin(scores)) < 1e-6:
                return f"constant predictions (p_{positive} = {float(np.nanmean(scores)):.3g})"
    auroc = (metrics.get("headline", metrics) or {}).get("auroc")
    if not isinstance(auroc, dict) or auroc.get("value") is None:
        return "no test AUROC"
    lo, hi = auroc.get("ci_low"), auroc.get("ci_high")
    if lo is None or hi is None or math.isnan(float(lo)) or math.isnan(float(hi)):
        return ""
    if float(lo) <= 0.5:
        return f"test AUROC CI [{float(lo):.3g}, {float(hi):.3g}] reaches 0.5"
    return ""


def n_learned(grp: pd.DataFrame) -> int:
    if "did_not_learn" not in grp.columns:
        return len(grp)
    return int((grp["did_not_learn"].fillna("").astype(str) == "").sum())


def learned_text(n_learned: Any, n_seeds: Any) -> str:
    """``yes``, or ``DID NOT LEARN`` with how many seeds did not (k of n)."""
    try:
        k, n = int(n_learned), int(n_seeds)
    except (TypeError, ValueError):
        return "?"
    if k >= n:
        return "yes"
    return DID_NOT_LEARN.upper() if k == 0 else f"{DID_NOT_LEARN.upper()} ({n - k} of {n} seeds)"
