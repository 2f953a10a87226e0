"""Radiographic views: one normalised spelling, and which rows a view policy keeps.

Collections spell the projection differently: covid-chestxray's ``view`` column
(``PA``, ``AP``, ``AP Supine``, ``AP semi erect``, ``L``), Hannover's
``projection`` (``ap`` / ``pa``), DICOM's ViewPosition (0018,5101: ``PA``, ``AP``,
``LL``, ``RL``, ``LLD``, ...). The manifest's ``view`` column holds one of
:data:`VIEWS`: ``pa``, ``ap``, ``ap-supine``, ``lateral``, ``unknown`` (a value
that names no projection cxr knows, e.g. an oblique), or empty (the collection
does not say).

Lateral radiographs are a different picture of the chest, not an augmentation
of a frontal one: a classifier, a CycleGAN or a shortcut probe trained on frontal
images and fed laterals learns or measures the projection, not the disease. So
every stage that selects rows (classify, gan train / synth, audit shortcuts) calls
:func:`view_keep` with its ``views`` setting: ``frontal`` (the default) keeps
``pa``, ``ap``, ``ap-supine`` and the rows whose view is unknown or empty (most
collections do not record it, and they are frontal in practice), and leaves the
``lateral`` rows out, counted; ``all`` keeps every row.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from cxr.runtime.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

VIEWS: tuple[str, ...] = ("pa", "ap", "ap-supine", "lateral", "unknown", "")
FRONTAL: frozenset[str] = frozenset({"pa", "ap", "ap-supine"})
VIEW_POLICIES: tuple[str, ...] = ("frontal", "all")

#: compact spelling (lower case, letters only) -> normalised view
_SPELLINGS: dict[str, str] = {
    "pa": "pa", "posteroanterior": "pa", "paerect": "pa", "paupright": "pa",
    "ap": "ap", "anteroposterior": "ap", "aperect": "ap", "apupright": "ap",
    "apsemierect": "ap", "apsemiupright": "ap", "apsitting": "ap", "apportable": "ap",
    "apsupine": "ap-supine", "supine": "ap-supine", "aps": "ap-supine", "apsup": "ap-supine",
    "supineap": "ap-supine", "aplying": "ap-supine",
    "l": "lateral", "lat": "lateral", "lateral": "lateral", "ll": "lateral", "rl": "lateral",
    "lld": "lateral", "rld": "lateral", "leftlateral": "lateral", "rightlateral": "lateral",
    "laterallateral": "lateral", "lateraldecubitus": "lateral",
}
#: values that mean "not recorded" rather than an unknown projection
_EMPTY = {"", "nan", "none", "null", "na", "n/a", "<na>", "unknown", "unk", "?"}


def normalise_view(raw: object) -> str:
    """One of :data:`VIEWS` for a view as a collection or DICOM spells it.

    ``"AP Supine"`` -> ``ap-supine``, ``"L"`` / ``"LL"`` -> ``lateral``,
    ``"AP semi erect"`` -> ``ap``, ``""`` -> ``""``, ``"Axial"`` -> ``unknown``.
    """
    text = "" if raw is None else str(raw).strip().lower()
    if text in _EMPTY:
        return "unknown" if text in ("unknown", "unk") else ""
    if text in VIEWS:
        return text
    key = re.sub(r"[^a-z]", "", text)
    return _SPELLINGS.get(key, "unknown")


def check_views_policy(policy: str) -> str:
    """``policy`` if it is one of :data:`VIEW_POLICIES`, else a one-line ConfigError."""
    if policy not in VIEW_POLICIES:
        raise ConfigError(f"--views {policy!r}: expected one of {', '.join(VIEW_POLICIES)}")
    return policy


def view_keep(df: pd.DataFrame, policy: str = "frontal") -> np.ndarray:
    """Boolean mask over ``df``'s rows: True where ``policy`` keeps the row.

    A manifest without a ``view`` column keeps every row.
    """
    check_views_policy(policy)
    if policy == "all" or "view" not in df.columns:
        return np.ones(len(df), dtype=bool)
    views = df["view"].map(normalise_view)
    return (views != "lateral").to_numpy()


def views_left_out(df: pd.DataFrame, policy: str = "frontal") -> dict[str, int]:
    """``{view: rows}`` that ``policy`` leaves out (empty when it keeps all)."""
    keep = view_keep(df, policy)
    if keep.all():
        return {}
    dropped = df.loc[~keep, "view"].map(normalise_view).value_counts()
    return {f"{k} view": int(v) for k, v in dropped.items()}


def select_views(df: pd.DataFrame, policy: str = "frontal") -> tuple[pd.DataFrame, dict[str, int]]:
    """(the rows ``policy`` keeps, re-indexed; ``{"<view> view": rows left out}``)."""
    keep = view_keep(df, policy)
    return df[keep].reset_index(drop=True), views_left_out(df, policy)
