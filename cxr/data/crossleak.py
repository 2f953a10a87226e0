"""Leakage between a model's development data and a separate evaluation set.

:func:`cxr.data.leakage.check_leakage` guards the splits *inside* one manifest.
An external test set (a second manifest, or a held-out collection) needs the
same two guarantees against the data the model was developed on (Roberts et
al., Nat. Mach. Intell. 3, 2021): no patient of the development data in the
evaluation set, and no radiograph of it either — public collections copy each
other, re-encoded or resized (Cohen et al. 2020). :func:`check_disjoint` refuses
an evaluation set that shares

1. a patient (``patient_id``, and a GAN row's ``source_patient``), or
2. a duplicate group: an identical file (``content_hash``) or a near-identical
   image (64-bit perceptual hashes within ``max_bits`` bits, confirmed on the
   256-bit hash exactly as :mod:`cxr.data.split` groups duplicates).

``duplicate_group`` ids are not compared: they are numbered per split run and
mean nothing across manifests; the hashes they were made from are. Missing
hashes are computed from the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cxr.errors import LeakageError

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


def _hashes(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    from cxr.data.dedup import compute_phash
    from cxr.fsutil import sha256_file

    content, ph = [], []
    for path, c, p in zip(df["image_path"].astype(str),
                          df.get("content_hash", [""] * len(df)),
                          df.get("phash", [""] * len(df)), strict=True):
        content.append(str(c) if isinstance(c, str) and c else sha256_file(path))
        ph.append(str(p) if isinstance(p, str) and p else compute_phash(path))
    return content, ph


def duplicate_pairs(dev: pd.DataFrame, other: pd.DataFrame, *,
                    max_bits: int = 4) -> list[tuple[int, int]]:
    """``(dev row, other row)`` positions of images that are the same radiograph."""
    from cxr.data.dedup import compute_fine_phash, duplicate_components

    c_dev, p_dev = _hashes(dev)
    c_oth, p_oth = _hashes(other)
    paths = dev["image_path"].astype(str).tolist() + other["image_path"].astype(str).tolist()
    fine: dict[int, Any] = {}

    def confirm(i: int, j: int) -> bool:
        for k in (i, j):
            if k not in fine:
                fine[k] = compute_fine_phash(paths[k])
        return bool(fine[i] - fine[j] <= 4 * max_bits)

    comp = duplicate_components(c_dev + c_oth, p_dev + p_oth, max_bits, confirm)
    n = len(dev)
    first_dev: dict[int, int] = {}
    for i in range(n):
        first_dev.setdefault(comp[i], i)
    return [(first_dev[comp[n + j]], j) for j in range(len(other)) if comp[n + j] in first_dev]


def check_disjoint(dev: pd.DataFrame, other: pd.DataFrame, *, name: str,
                   dev_name: str = "training", max_bits: int = 4) -> DisjointReport:
    """Raise :class:`LeakageError` (how many, one example) if ``other`` shares a patient/image."""
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
    real = dev[dev["origin"].astype(str) == "real"].reset_index(drop=True)
    pairs = duplicate_pairs(real, other, max_bits=max_bits)
    if pairs:
        i, j = pairs[0]
        raise LeakageError(
            f"{name}: {len({j for _, j in pairs})} image(s) duplicate {dev_name} images, e.g. "
            f"{other['image_path'].iat[j]} is the same radiograph as {real['image_path'].iat[i]} "
            f"(identical file or perceptual hash within {max_bits} bits)"
        )
    return DisjointReport(name, len(dev_patients), int(pids.nunique()), len(other))
