"""Leakage check: the last gate before any model sees a split manifest.

Data leakage between training and evaluation inflated many published COVID-19
chest X-ray results: images of one patient in both train and test, the same
image copied between public collections, and synthetic images derived from
test patients (Roberts et al., "Common pitfalls and recommendations for using
machine learning to detect and prognosticate for COVID-19 using chest
radiographs and CT scans", Nature Machine Intelligence 3, 2021; Kapoor &
Narayanan, "Leakage and the reproducibility crisis in ML-based science",
Patterns 4, 2023). :func:`check_leakage` refuses a manifest where

1. a patient has images in two splits,
2. a row with ``origin != real`` (GAN output) is outside ``train``,
3. a GAN row's ``source_patient`` is not a train patient,
4. a ``duplicate_group`` (exact or near-duplicate images, set by
   :mod:`cxr.data.split`) or an identical ``content_hash`` spans two splits.

Rows with an empty split are not used by training or evaluation and are only
counted. Row numbers in messages are CSV line numbers (header = line 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cxr.runtime.errors import LeakageError

if TYPE_CHECKING:
    import pandas as pd

_USED = ("train", "val", "test")


@dataclass(frozen=True)
class LeakageReport:
    """What :func:`check_leakage` verified (it raises instead of reporting failures)."""

    rows: int
    unsplit_rows: int
    patients: dict[str, int] = field(default_factory=dict)
    gan_rows: int = 0
    duplicate_groups: int = 0

    def summary(self) -> str:
        per = ", ".join(f"{s} {self.patients.get(s, 0)}" for s in _USED)
        extra = f", {self.unsplit_rows} unsplit rows ignored" if self.unsplit_rows else ""
        return (
            f"leakage check passed: no patient in two splits (patients: {per}); "
            f"{self.gan_rows} GAN rows all in train from train patients; "
            f"{self.duplicate_groups} duplicate groups each within one split{extra}"
        )


def _row(df: pd.DataFrame, pos: int) -> str:
    return f"row {pos + 2} ({df['image_path'].iat[pos]})"


def _spanning(df: pd.DataFrame, col: str, used: pd.Series) -> tuple[str, list[str], int] | None:
    """First value of ``col`` whose used rows sit in more than one split."""
    sub = df.loc[used & (df[col].astype(str) != ""), [col, "split"]]
    if sub.empty:
        return None
    n_splits = sub.groupby(col, sort=True)["split"].nunique()
    bad = n_splits[n_splits > 1]
    if bad.empty:
        return None
    value = str(bad.index[0])
    rows = sub[sub[col] == value]
    splits = sorted(set(rows["split"]))
    first_other = rows[rows["split"] != rows["split"].iat[0]]
    pos = int(first_other.index[0])  # df has a RangeIndex (reset in check_leakage)
    return value, splits, pos


def check_leakage(df: pd.DataFrame) -> LeakageReport:
    """Raise :class:`LeakageError` naming the patient/row on any leak; else report what passed."""
    df = df.reset_index(drop=True)
    split = df["split"].astype(str)
    origin = df["origin"].astype(str)
    used = split.isin(_USED)

    hit = _spanning(df, "patient_id", used)
    if hit is not None:
        pid, splits, pos = hit
        raise LeakageError(
            f"patient {pid!r} has images in several splits ({', '.join(splits)}), "
            f"e.g. {_row(df, pos)}; re-run `cxr data split`"
        )

    synthetic = origin != "real"
    bad = synthetic & used & (split != "train")
    if bool(bad.any()):
        pos = int(bad.to_numpy().nonzero()[0][0])
        raise LeakageError(
            f"{_row(df, pos)}: origin={origin.iat[pos]} is in split {split.iat[pos]!r}; "
            "synthetic images may only be used for training"
        )

    gan_used = synthetic & used
    if bool(gan_used.any()):
        if "source_patient" not in df.columns:
            pos = int(gan_used.to_numpy().nonzero()[0][0])
            raise LeakageError(
                f"{_row(df, pos)}: GAN row without a source_patient column; "
                "cannot prove its source is a train patient"
            )
        train_rows = used & ~synthetic & (split == "train")
        train_patients = set(df.loc[train_rows, "patient_id"].astype(str))
        src = df["source_patient"].fillna("").astype(str)
        bad = gan_used & ~src.isin(train_patients)
        if bool(bad.any()):
            pos = int(bad.to_numpy().nonzero()[0][0])
            who = src.iat[pos] or "<empty>"
            raise LeakageError(
                f"{_row(df, pos)}: GAN image derived from patient {who!r}, "
                "which is not a train patient"
            )

    n_groups = 0
    if "duplicate_group" in df.columns:
        hit = _spanning(df, "duplicate_group", used)
        if hit is not None:
            gid, splits, pos = hit
            raise LeakageError(
                f"duplicate group {gid!r} spans splits {', '.join(splits)}, "
                f"e.g. {_row(df, pos)}; re-run `cxr data split`"
            )
        groups = df.loc[used, "duplicate_group"].astype(str)
        n_groups = int(groups[groups != ""].nunique())

    hit = _spanning(df, "content_hash", used)
    if hit is not None:
        digest, splits, pos = hit
        raise LeakageError(
            f"identical image (content_hash {digest[:12]}...) appears in splits "
            f"{', '.join(splits)}, e.g. {_row(df, pos)}; re-run `cxr data split`"
        )

    patients = {
        s: int(df.loc[split == s, "patient_id"].astype(str).nunique()) for s in _USED
    }
    return LeakageReport(
        rows=len(df),
        unsplit_rows=int((~used).sum()),
        patients=patients,
        gan_rows=int(gan_used.sum()),
        duplicate_groups=n_groups,
    )
