"""Sweep results: one row per cell, the mean over seeds, and the paired gain over ratio 0.

(Over 300 lines: the three tables share their column conventions and are read back by
the summary and the report; the statistics themselves live in :mod:`cxr.stats`.)

* ``results.csv``: one row per cell (arm, seed, status, headline metrics with
  their CIs from the cell's ``metrics.json``, run dir).
* ``summary.csv``: per backbone x loss x arm (x held-out ``fold`` of a
  leave-one-dataset-out sweep), mean of each headline metric over
  seeds (and split seeds) with a Student-t interval *over seeds* — it measures
  training variability, not test-set sampling error.
* ``comparisons.csv``: every cell against its reference (same backbone, loss,
  seed and split, ratio 0, no baseline) on the same test images: AUROC
  difference with a patient-level paired bootstrap CI, DeLong's p, McNemar's
  exact p for accuracy (see :mod:`cxr.stats.compare`).
* ``gains.csv``: per backbone x loss x arm (x fold), the mean paired AUROC gain
  over seeds with a t-interval, and how many seeds DeLong calls significant;
  for leave-one-dataset-out sweeps also pooled over folds (:func:`pooled_over_folds`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxr.pipelines.ablate.grid import DONE, ERROR, CellTask
from cxr.pipelines.ablate.learning import DID_NOT_LEARN, learned_text, learning_verdict, n_learned
from cxr.pipelines.classify.run_folder import ClassifyRunFolder
from cxr.runtime.errors import CxrError
from cxr.stats.compare import delong_test, mcnemar_exact, paired_bootstrap_auc, t_interval

if TYPE_CHECKING:
    import pandas as pd

CELL_COLUMNS = ("key", "backbone", "arm", "ratio", "loss", "seed", "baseline", "split_seed",
                "fold")
# fold: the held-out collection of a leave-one-dataset-out sweep ("" otherwise)
GROUP = ["backbone", "loss", "arm", "ratio", "baseline", "fold"]
_CI_SUFFIXES = ("_lo", "_hi")
def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of metrics.json as flat columns.

    ``{"auroc": {"value": .9, "ci_low": .85, "ci_high": .95}}`` becomes
    ``auroc``, ``auroc_lo``, ``auroc_hi``; other nesting joins keys with ``_``.
    """
    out: dict[str, float] = {}
    for key, val in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(val, bool):
            continue
        if isinstance(val, (int, float)):
            out[name] = float(val)
        elif isinstance(val, (list, tuple)) and len(val) == 2 and name.endswith("ci"):
            base = name[: -len("_ci")] if name.endswith("_ci") else name
            out[f"{base}_lo"], out[f"{base}_hi"] = float(val[0]), float(val[1])
        elif isinstance(val, dict):
            point = next((val[k] for k in ("value", "estimate", "point", "mean") if k in val), None)
            lo = next((val[k] for k in ("ci_low", "lo", "low", "lower") if k in val), None)
            hi = next((val[k] for k in ("ci_high", "hi", "high", "upper") if k in val), None)
            ci = val.get("ci")
            if isinstance(ci, (list, tuple)) and len(ci) == 2:
                lo, hi = ci
            if isinstance(point, (int, float)):
                out[name] = float(point)
                if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
                    out[f"{name}_lo"], out[f"{name}_hi"] = float(lo), float(hi)
            else:
                out.update(flatten_metrics(val, prefix=f"{name}_"))
    return out


TEXT_COLUMNS = (
    "key",
    "backbone",
    "arm",
    "loss",
    "baseline",
    "split_seed",
    "fold",
    "status",
    "error",
    "run_dir",
)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read results/summary/comparison CSVs: numbers as floats (blank = NaN), text as str."""
    import pandas as pd

    df = pd.read_csv(path)
    for col in TEXT_COLUMNS:
        if col in df.columns:
            df[col] = df[col].fillna("").astype(str).str.replace(r"\.0$", "", regex=True)
    return df


def cell_status(run_dir: str | Path) -> str:
    d = Path(run_dir)
    if (d / DONE).is_file():
        return "done"
    if (d / ERROR).is_file():
        return "failed"
    return "pending"


def collect_results(
    tasks: Sequence[CellTask], errors: dict[str, str] | None = None
) -> pd.DataFrame:
    """One row per cell, in grid order; metrics from each finished cell's metrics.json."""
    import pandas as pd

    rows = []
    for t in tasks:
        c = t.cell
        row: dict[str, Any] = {
            "key": t.key,
            "backbone": c.backbone,
            "arm": c.arm,
            "ratio": c.ratio,
            "loss": c.loss,
            "seed": c.seed,
            "baseline": c.baseline,
            "split_seed": "" if c.split_seed is None else c.split_seed,
            "fold": c.fold,
            "status": cell_status(t.run_dir),
            "seconds": math.nan,
            "error": (errors or {}).get(t.key, ""),
            "did_not_learn": "",
        }
        d = Path(t.run_dir)
        if row["status"] == "done":
            row["seconds"] = json.loads((d / DONE).read_text()).get("seconds", math.nan)
            folder = ClassifyRunFolder(d)
            if folder.metrics.is_file():
                metrics = folder.read_metrics()
                # cxr classify: the headline metrics (value + patient-bootstrap CI) are enough,
                # plus the within-source AUROC where a test collection holds both classes
                row.update(flatten_metrics(metrics.get("headline", metrics)))
                row["did_not_learn"] = learning_verdict(d, metrics)
                within = metrics.get("within_source")
                if isinstance(within, dict) and isinstance(within.get("auroc"), dict):
                    row.update(flatten_metrics({"within_source_auroc": within["auroc"]}))
        elif row["status"] == "failed" and not row["error"]:
            lines = (d / ERROR).read_text().strip().splitlines()
            row["error"] = lines[-1] if lines else "failed"
        row["run_dir"] = str(d)
        rows.append(row)
    df = pd.DataFrame(rows)
    tail = ["run_dir"]
    cols = [c for c in df.columns if c not in tail] + tail
    return df[cols]


def metric_columns(df: pd.DataFrame) -> list[str]:
    """Headline metric columns (point estimates, not CI bounds) present in results."""
    skip = set(CELL_COLUMNS) | {"status", "seconds", "error", "run_dir", "did_not_learn"}
    cols = [c for c in df.columns if c not in skip and not c.endswith(_CI_SUFFIXES)]
    return [c for c in cols if df[c].dtype.kind in "fi"]


def summarise(results: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval over seeds for each metric, per backbone x loss x arm."""
    import pandas as pd

    done = results[results["status"] == "done"]
    metrics = metric_columns(done)
    rows = []
    for keys, grp in done.groupby(GROUP, sort=False, dropna=False):
        row = dict(zip(GROUP, keys, strict=True))
        row["n_seeds"] = len(grp)
        row["n_learned"] = n_learned(grp)
        for m in metrics:
            # every headline metric (accuracy, AUROC, sensitivity, ECE, ...) lives in [0, 1]
            row[m], row[f"{m}_lo"], row[f"{m}_hi"] = t_interval(
                grp[m].to_numpy(), confidence, bounds=(0.0, 1.0)
            )
        rows.append(row)
    return pd.DataFrame(
        rows, columns=[*GROUP, "n_seeds", "n_learned"]
        + [f"{m}{s}" for m in metrics for s in ("", "_lo", "_hi")],
    )


def _predictions(run_dir: str, positive: str) -> pd.DataFrame:
    import pandas as pd

    path = ClassifyRunFolder(run_dir).predictions
    if not path.is_file():
        raise CxrError(f"{path}: missing (the cell finished without predictions)")
    df = pd.read_csv(path, dtype={"image_path": str, "patient_id": str, "label": str})
    need = {"image_path", "patient_id", "label", "prediction", f"p_{positive}"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise CxrError(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def compare_pair(
    ref_dir: str, run_dir: str, *, positive: str, n_boot: int, confidence: float, seed: int = 0
) -> dict[str, float]:
    """Paired statistics of one cell against its reference on the same test images."""
    a = _predictions(ref_dir, positive)
    b = _predictions(run_dir, positive)
    if set(a["image_path"]) != set(b["image_path"]):
        raise CxrError(f"{run_dir}: its test images differ from the reference {ref_dir}")
    b = b.set_index("image_path").loc[a["image_path"]].reset_index()
    y = (a["label"] == positive).to_numpy().astype(int)
    pa, pb = a[f"p_{positive}"].to_numpy(float), b[f"p_{positive}"].to_numpy(float)
    dl = delong_test(y, pa, pb)
    boot = paired_bootstrap_auc(
        y, pa, pb, a["patient_id"].to_numpy(), n_resamples=n_boot, confidence=confidence, seed=seed
    )
    mc = mcnemar_exact(
        (a["prediction"] == a["label"]).to_numpy(), (b["prediction"] == b["label"]).to_numpy()
    )
    return {
        "auroc_ref": dl.auc_a,
        "auroc": dl.auc_b,
        "auroc_diff": dl.diff,
        "auroc_diff_lo": boot.ci_low,
        "auroc_diff_hi": boot.ci_high,
        "delong_p": dl.p_value,
        "acc_ref": mc.acc_a,
        "acc": mc.acc_b,
        "acc_diff": mc.acc_b - mc.acc_a,
        "mcnemar_b": mc.b,
        "mcnemar_c": mc.c,
        "mcnemar_p": mc.p_value,
        "n_test": int(y.size),
    }


def compare_to_reference(
    results: pd.DataFrame, *, positive: str = "covid", n_boot: int = 1000, confidence: float = 0.95
) -> pd.DataFrame:
    """Each finished non-reference cell against its seed-paired ratio-0 reference."""
    import pandas as pd

    done = results[results["status"] == "done"]
    pair_on = ["backbone", "loss", "seed", "split_seed", "fold"]
    refs = done[(done["ratio"] == 0) & (done["baseline"] == "")]
    ref_of = {tuple(r[pair_on]): r["run_dir"] for _, r in refs.iterrows()}
    why = (done.set_index("run_dir")["did_not_learn"].fillna("").astype(str).to_dict()
           if "did_not_learn" in done.columns else {})
    rows = []
    for _, r in done.iterrows():
        if r["ratio"] == 0 and r["baseline"] == "":
            continue
        ref = ref_of.get(tuple(r[pair_on]))
        if ref is None:
            continue
        row = {k: r[k] for k in (*GROUP, "seed", "split_seed")}
        row.update(
            compare_pair(ref, r["run_dir"], positive=positive, n_boot=n_boot, confidence=confidence)
        )
        # a gain over (or of) a cell that learned nothing is not a comparison
        row["comparable"] = int(not why.get(ref, "") and not why.get(r["run_dir"], ""))
        rows.append(row)
    cols = [
        *GROUP,
        "seed",
        "split_seed",
        "auroc_ref",
        "auroc",
        "auroc_diff",
        "auroc_diff_lo",
        "auroc_diff_hi",
        "delong_p",
        "acc_ref",
        "acc",
        "acc_diff",
        "mcnemar_b",
        "mcnemar_c",
        "mcnemar_p",
        "n_test",
        "comparable",
    ]
    return pd.DataFrame(rows, columns=cols)


def gains(comparisons: pd.DataFrame, confidence: float = 0.95, alpha: float = 0.05) -> pd.DataFrame:
    """Mean paired AUROC/accuracy gain over seeds (t-interval) per backbone x loss x arm."""
    import pandas as pd

    rows = []
    for keys, grp in comparisons.groupby(GROUP, sort=False, dropna=False):
        row = dict(zip(GROUP, keys, strict=True))
        row["n_seeds"] = len(grp)
        for m in ("auroc_diff", "acc_diff"):
            row[m], row[f"{m}_lo"], row[f"{m}_hi"] = t_interval(
                grp[m].to_numpy(), confidence, bounds=(-1.0, 1.0)
            )
        row["delong_significant"] = int((grp["delong_p"] < alpha).sum())
        row["mcnemar_significant"] = int((grp["mcnemar_p"] < alpha).sum())
        row["n_comparable"] = (int(grp["comparable"].sum()) if "comparable" in grp.columns
                               else len(grp))
        rows.append(row)
    cols = [
        *GROUP,
        "n_seeds",
        "auroc_diff",
        "auroc_diff_lo",
        "auroc_diff_hi",
        "acc_diff",
        "acc_diff_lo",
        "acc_diff_hi",
        "delong_significant",
        "mcnemar_significant",
        "n_comparable",
    ]
    return pd.DataFrame(rows, columns=cols)


POOLED_FOLD = "all held-out"


def pooled_over_folds(
    comparisons: pd.DataFrame, confidence: float = 0.95, alpha: float = 0.05
) -> pd.DataFrame:
    """Gain on held-out collections, paired by seed: per seed the mean gain over folds,
    then a t-interval over seeds (``fold`` = :data:`POOLED_FOLD`). Empty without folds."""
    import pandas as pd

    lodo = comparisons[comparisons["fold"].astype(str) != ""]
    keys = [g for g in GROUP if g != "fold"]
    rows = []
    for k, grp in lodo.groupby(keys, sort=False, dropna=False):
        per_seed = grp.groupby("seed")[["auroc_diff", "acc_diff"]].mean()
        row = dict(zip(keys, k, strict=True)) | {"fold": POOLED_FOLD, "n_seeds": len(per_seed),
                                                 "n_folds": int(grp["fold"].nunique())}
        for m in ("auroc_diff", "acc_diff"):
            row[m], row[f"{m}_lo"], row[f"{m}_hi"] = t_interval(
                per_seed[m].to_numpy(), confidence, bounds=(-1.0, 1.0)
            )
        row["delong_significant"] = int((grp["delong_p"] < alpha).sum())
        row["mcnemar_significant"] = int((grp["mcnemar_p"] < alpha).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _ci_text(v: float, lo: float, hi: float, digits: int) -> str:
    """``value [lo, hi]`` in cxr's one number format (``digits`` significant digits)."""
    from cxr.runtime.fmt import fmt_ci

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if lo is None or hi is None or math.isnan(float(lo)) or math.isnan(float(hi)):
        return fmt_ci(v, sig=digits)
    return fmt_ci(v, lo, hi, sig=digits)


def display_table(
    df: pd.DataFrame,
    keys: Sequence[str],
    metrics: Sequence[str],
    digits: int = 3,
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """Readable table: key columns, then one ``value [lo, hi]`` text column per metric."""
    import pandas as pd

    from cxr.runtime.fmt import fmt_num

    out = pd.DataFrame({k: df[k].astype(str) for k in keys if k in df.columns})
    # a key column that is empty in every row (split_seed of a sweep on the given split)
    out = out[[c for c in out.columns if (out[c].str.strip() != "").any()]]
    for m in metrics:
        if m not in df.columns:
            continue
        lo = df[f"{m}_lo"] if f"{m}_lo" in df.columns else pd.Series(math.nan, index=df.index)
        hi = df[f"{m}_hi"] if f"{m}_hi" in df.columns else pd.Series(math.nan, index=df.index)
        out[m] = [
            _ci_text(float(v), float(a), float(b), digits)
            for v, a, b in zip(df[m], lo, hi, strict=True)
        ]
    for e in extra:
        if e in df.columns:
            out[e] = [fmt_num(v) for v in df[e]]
    if "n_learned" in df.columns and "n_seeds" in df.columns:
        out["learned"] = [learned_text(k, n) for k, n in zip(df["n_learned"], df["n_seeds"],
                                                             strict=True)]
    # a gain over (or of) a cell that learned nothing is never shown as a comparison
    if "n_comparable" in df.columns and "n_seeds" in df.columns:
        bad = (pd.to_numeric(df["n_comparable"], errors="coerce").fillna(0)
               < pd.to_numeric(df["n_seeds"], errors="coerce")).to_numpy()
    elif "comparable" in df.columns:
        bad = (pd.to_numeric(df["comparable"], errors="coerce").fillna(1) == 0).to_numpy()
    else:
        bad = None
    if bad is not None and bad.any():
        for m in ("auroc_diff", "acc_diff"):
            if m in out.columns:
                out.loc[bad, m] = f"not a comparison ({DID_NOT_LEARN})"
    return out
