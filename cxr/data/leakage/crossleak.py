"""Leakage between a model's development data and a separate evaluation set.

:func:`cxr.data.leakage.checks.check_leakage` guards the splits *inside* one manifest.
An external test set (a second manifest, or a held-out collection) needs the
same two guarantees against the data the model was developed on (Roberts et
al., Nat. Mach. Intell. 3, 2021): no patient of the development data in the
evaluation set, and no radiograph of it either — public collections copy each
other, re-encoded or resized (Cohen et al. 2020). :func:`check_disjoint` refuses
an evaluation set that shares

1. a patient (``patient_id``, and a GAN row's ``source_patient``), or
2. a duplicate group: an identical file (``content_hash``) or a near copy
   (resized, re-encoded, windowed, trimmed), found and confirmed exactly as
   :mod:`cxr.data.split` groups duplicates (:func:`cxr.data.duplicates.grouping.find_duplicates`).

``duplicate_group`` ids are not compared: they are numbered per split run and
mean nothing across manifests; the hashes they were made from are. Missing
hashes are computed from the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cxr.runtime.errors import LeakageError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class DisjointReport:
    """What :func:`check_disjoint` verified."""

    name: str
    dev_patients: int
    eval_patients: int
    eval_images: int

    def summary(self) -> str:
        return (f"{self.name}: {self.eval_images} images of {self.eval_patients} patients share "
                f"no patient and no duplicate image with the {self.dev_patients} development "
                "patients")


def duplicate_pairs(dev: pd.DataFrame, other: pd.DataFrame, *, max_bits: int | None = None,
                    min_corr: float | None = None) -> list[tuple[int, int]]:
    """``(dev row, other row)`` positions of images that are the same radiograph.

    ``max_bits`` / ``min_corr`` default to :class:`cxr.config.SplitConfig`'s, so an
    external set is held to the same notion of "copy" as the splits.
    """
    import numpy as np
    import pandas as pd

    from cxr.config import SplitConfig
    from cxr.data.duplicates.grouping import SIGNATURE_COLUMNS, find_duplicates

    cfg = SplitConfig()
    cols = ["image_path", "content_hash", *SIGNATURE_COLUMNS]
    both = pd.concat([df.reindex(columns=cols).fillna("").astype(str) for df in (dev, other)],
                     ignore_index=True)
    res = find_duplicates(
        both, np.arange(len(both)),
        max_bits=cfg.near_duplicate_bits if max_bits is None else max_bits,
        min_corr=cfg.duplicate_min_corr if min_corr is None else min_corr,
    )
    n = len(dev)
    out = []
    for group in res.groups:
        devs = [r for r in group if r < n]
        out += [(devs[0], r - n) for r in group if r >= n] if devs else []
    return sorted(out, key=lambda p: p[1])


def copy_pairs_table(dev: pd.DataFrame, other: pd.DataFrame, *,
                     max_bits: int | None = None) -> pd.DataFrame:
    """Images of ``other`` that are copies of ``dev``'s real images, one row per pair.

    Columns: ``image_path`` / ``label`` / ``dataset`` of the evaluated image, the same of the
    development image (``dev_*``), and ``label_conflict`` (1 when the two copies carry
    different labels: one radiograph, two labels, e.g. COVID-19 in one collection and a
    pediatric viral pneumonia in another).
    """
    import pandas as pd

    dev = dev.reset_index(drop=True)
    other = other.reset_index(drop=True)
    real = dev[dev["origin"].astype(str) == "real"].reset_index(drop=True)
    rows = []
    for i, j in duplicate_pairs(real, other, max_bits=max_bits):
        a, b = other.iloc[j], real.iloc[i]
        rows.append({
            "row": j, "image_path": a["image_path"], "label": a["label"],
            "dataset": a.get("dataset", ""), "dev_image_path": b["image_path"],
            "dev_label": b["label"], "dev_dataset": b.get("dataset", ""),
            "label_conflict": int(str(a["label"]) != str(b["label"])),
        })
    cols = ["row", "image_path", "label", "dataset", "dev_image_path", "dev_label",
            "dev_dataset", "label_conflict"]
    return pd.DataFrame(rows, columns=cols).drop_duplicates("row").reset_index(drop=True)


def check_patients_disjoint(dev: pd.DataFrame, other: pd.DataFrame, *, name: str,
                            dev_name: str = "training") -> tuple[set[str], pd.Series]:
    """Raise :class:`LeakageError` if ``other`` holds a patient of ``dev`` (GAN sources too)."""
    dev = dev.reset_index(drop=True)
    other = other.reset_index(drop=True)
    dev_patients = set(dev["patient_id"].astype(str))
    if "source_patient" in dev.columns:
        src = dev["source_patient"].fillna("").astype(str)
        dev_patients |= set(src[src != ""])
    pids = other["patient_id"].astype(str)
    shared = sorted(set(pids) & dev_patients)
    if shared:
        row = int(pids[pids == shared[0]].index[0])
        raise LeakageError(
            f"{name}: {len(shared)} patient(s) of the {dev_name} data also appear here, e.g. "
            f"{shared[0]!r} (row {row + 2}, {other['image_path'].iat[row]}); "
            "an external set must hold other patients"
        )
    return dev_patients, pids


def check_disjoint(dev: pd.DataFrame, other: pd.DataFrame, *, name: str,
                   dev_name: str = "training", max_bits: int | None = None) -> DisjointReport:
    """Raise :class:`LeakageError` (how many, one example) if ``other`` shares a patient/image."""
    dev = dev.reset_index(drop=True)
    other = other.reset_index(drop=True)
    dev_patients, pids = check_patients_disjoint(dev, other, name=name, dev_name=dev_name)
    real = dev[dev["origin"].astype(str) == "real"].reset_index(drop=True)
    pairs = duplicate_pairs(real, other, max_bits=max_bits)
    if pairs:
        i, j = pairs[0]
        raise LeakageError(
            f"{name}: {len({j for _, j in pairs})} image(s) duplicate {dev_name} images, e.g. "
            f"{other['image_path'].iat[j]} is the same radiograph as {real['image_path'].iat[i]} "
            "(identical file or confirmed near copy)"
        )
    return DisjointReport(name, len(dev_patients), int(pids.nunique()), len(other))
