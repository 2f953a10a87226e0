"""Label conflicts: one radiograph, two labels.

When collections copy each other, the same image can arrive labelled
differently (e.g. "Normal" in one collection and "Pneumonia" in another).
Training on both labels teaches noise, and evaluating on either rewards a
guess. :func:`label_conflicts` lists every duplicate group whose real members
carry more than one label; :func:`apply_policy` decides what the split does:

* ``exclude`` (default): every row of a conflicting group is left out of the
  split (``split`` empty: not used for training or evaluation);
* ``keep-majority``: rows with the group's most frequent label are kept, the
  others left out; a tie leaves the whole group out;
* ``error``: refuse to split, naming the first conflicting group.

:func:`patients_with_two_labels` counts patients whose images carry more than
one label (a radiologist's later finding may differ, but it is worth a look).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from cxr.runtime.errors import CxrError

if TYPE_CHECKING:
    import pandas as pd

POLICIES: tuple[str, ...] = ("exclude", "keep-majority", "error")
CONFLICT_COLUMNS = ("duplicate_group", "image_path", "dataset", "patient_id", "label", "action")


class LabelConflictError(CxrError):
    """Duplicates carry different labels and the policy is ``error``."""


def check_policy(policy: str) -> None:
    from cxr.runtime.errors import ConfigError

    if policy not in POLICIES:
        raise ConfigError(f"on_conflict {policy!r} is not one of {', '.join(POLICIES)}")


def label_conflicts(df: pd.DataFrame, groups: list[list[int]]) -> list[list[int]]:
    """The groups (row positions) whose members carry more than one label."""
    labels = df["label"].astype(str).to_numpy()
    return [g for g in groups if len({labels[r] for r in g}) > 1]


def apply_policy(df: pd.DataFrame, conflicts: list[list[int]], policy: str) -> pd.DataFrame:
    """Blank ``split`` of the rows the policy leaves out; return the conflict report rows."""
    import pandas as pd

    check_policy(policy)
    rows = []
    labels = df["label"].astype(str).to_numpy()
    if conflicts and policy == "error":
        g = conflicts[0]
        found = ", ".join(f"{df['image_path'].iat[r]} ({labels[r]})" for r in g[:3])
        raise LabelConflictError(
            f"{len(conflicts)} duplicate group(s) carry different labels, e.g. {found}; "
            "fix the labels or split with --on-conflict exclude|keep-majority"
        )
    split = df["split"].to_numpy(dtype=object).copy()
    for g in conflicts:
        counts = Counter(labels[r] for r in g).most_common()
        tie = len(counts) > 1 and counts[0][1] == counts[1][1]
        keep = counts[0][0] if policy == "keep-majority" and not tie else None
        for r in g:
            action = "kept" if labels[r] == keep else "excluded"
            if action == "excluded":
                split[r] = ""
            rows.append({
                "duplicate_group": str(df["duplicate_group"].iat[r]),
                "image_path": str(df["image_path"].iat[r]),
                "dataset": str(df["dataset"].iat[r]),
                "patient_id": str(df["patient_id"].iat[r]),
                "label": labels[r],
                "action": action,
            })
    df["split"] = split
    return pd.DataFrame(rows, columns=list(CONFLICT_COLUMNS))


def patients_with_two_labels(df: pd.DataFrame) -> list[str]:
    """Real patients whose images carry more than one label (sorted)."""
    real = df[df["origin"].astype(str) == "real"]
    n = real.groupby("patient_id")["label"].nunique()
    return sorted(str(p) for p in n[n > 1].index)


def conflicts_report_path(out: str | Path) -> Path:
    """``manifest.csv`` -> ``manifest.conflicts.csv`` (same folder)."""
    p = Path(out)
    return p.with_name(f"{p.stem}.conflicts.csv")
