"""Patient-level, label-stratified train/val/test split that keeps duplicates together.

Splitting by image instead of by patient, and ignoring that public collections
share images, are the two leaks behind many over-optimistic COVID-19 CXR
results (Roberts et al., Nat. Mach. Intell. 2021; DeGrave, Janizek & Lee,
"AI for radiographic COVID-19 detection selects shortcuts over signal",
Nat. Mach. Intell. 2021). The procedure:

1. **Duplicate groups** (:mod:`cxr.data.duplicates.grouping`): real images with identical
   ``content_hash``, or whose perceptual hashes (whole image or trimmed
   borders) are within ``near_duplicate_bits`` *and* whose aligned thumbnail
   correlation reaches ``duplicate_min_corr``, form a ``duplicate_group``;
   missing hashes are computed from the files. A group whose members carry
   different labels is a **label conflict** (:mod:`cxr.data.duplicates.conflicts`),
   handled by ``on_conflict`` (default ``exclude``: left out of every split)
   and listed in ``<manifest>.conflicts.csv``.
2. **Split groups**: union-find over patients - two patients sharing a
   duplicate image become one group, so the whole group lands in one split.
3. **Stratification**: each group is labelled by its most severe image label
   (covid > pneumonia > other > normal), and within each label the groups are
   dealt greedily, largest first and otherwise in seeded random order, to the
   split whose patient count is furthest below its target - the
   StratifiedGroupKFold idea (scikit-learn) for a single hold-out split.
   A label with at least 3 patients gets at least one patient in val and in
   test (when those fractions are > 0); otherwise a warning is reported.
4. **GAN rows** (``origin=gan``) always stay in ``train``; the group holding
   their ``source_patient`` is pinned to train so no synthetic image is derived
   from an evaluation patient.

The same input and seed give the same output; :func:`cxr.data.leakage.checks.check_leakage`
runs on the result, and :func:`cxr.data.leakage.confounding.source_confounding` on the whole
manifest and on the test split (their warnings join the report's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cxr.config import SplitConfig
from cxr.data.duplicates.conflicts import (
    apply_policy,
    check_policy,
    label_conflicts,
    patients_with_two_labels,
)
from cxr.data.duplicates.grouping import find_duplicates
from cxr.data.duplicates.hashing import UnionFind
from cxr.data.leakage.checks import LeakageReport, check_leakage
from cxr.data.leakage.confounding import (
    ConfoundingReport,
    source_confounding,
    test_confounding_warnings,
)
from cxr.runtime.errors import ConfigError, LeakageError, ManifestError

if TYPE_CHECKING:
    import pandas as pd

SEVERITY: tuple[str, ...] = ("covid", "pneumonia", "other", "normal")  # most severe first
_ORDER = ("train", "val", "test")


@dataclass
class SplitReport:
    """Outcome of :func:`split_manifest`; ``counts`` has split, label, images, patients."""

    counts: pd.DataFrame
    duplicate_groups: int
    cross_dataset_groups: int
    duplicate_images: int
    merged_patient_groups: int
    pinned_patients: int
    hashes_computed: int
    near_rejected: int
    leakage: LeakageReport
    warnings: list[str] = field(default_factory=list)  # includes confounding.warnings
    confounding: ConfoundingReport | None = None  # label x dataset, whole manifest
    test_confounding: ConfoundingReport | None = None  # label x dataset, test split only
    near_candidates: int = 0
    conflict_groups: int = 0
    on_conflict: str = "exclude"
    conflicts: pd.DataFrame | None = None  # rows of conflicting groups (CONFLICT_COLUMNS)
    two_label_patients: int = 0
    conflicts_path: Path | None = None
    without_crop_hashes: int = 0  # rows of an older index: trimmed copies may be missed
    near_seconds: dict[str, float] = field(default_factory=dict)  # duplicate search, wall
    near_cpu_seconds: dict[str, float] = field(default_factory=dict)  # and process CPU


def check_fractions(val: float, test: float) -> None:
    """Raise :class:`ConfigError` unless ``0 <= val``, ``0 <= test`` and ``val + test < 1``."""
    if not (val >= 0 and test >= 0):
        raise ConfigError(f"--val and --test must be >= 0 (got val={val}, test={test})")
    if not val + test < 1:
        raise ConfigError(f"--val + --test must be < 1 (got {val} + {test} = {val + test:g})")


def _targets(n: int, val: float, test: float) -> dict[str, float]:
    want = {"val": val * n, "test": test * n}
    if n >= 3:
        for s, frac in (("val", val), ("test", test)):
            if frac > 0:
                want[s] = max(want[s], 1.0)
    want["train"] = n - want["val"] - want["test"]
    return want


def _assign(
    groups: list[tuple[int, list[str], str, bool]], cfg: SplitConfig, warnings: list[str]
) -> dict[str, str]:
    """Deal split groups (id, patients, stratum, pinned) to splits; patient -> split."""
    rng = np.random.default_rng(cfg.seed)
    out: dict[str, str] = {}
    for stratum in SEVERITY:
        members = [g for g in groups if g[2] == stratum]
        if not members:
            continue
        n = sum(len(g[1]) for g in members)
        want = _targets(n, cfg.val, cfg.test)
        have = dict.fromkeys(_ORDER, 0)
        keys = rng.permutation(len(members))
        order = sorted(range(len(members)), key=lambda k: (-len(members[k][1]), keys[k]))
        order = [k for k in order if members[k][3]] + [k for k in order if not members[k][3]]
        for k in order:
            _, patients, _, pinned = members[k]
            if pinned:
                dest = "train"
            else:
                dest = max(_ORDER, key=lambda s: (want[s] - have[s], -_ORDER.index(s)))
            have[dest] += len(patients)
            for p in patients:
                out[p] = dest
        if n < 3 and (cfg.val > 0 or cfg.test > 0):
            warnings.append(
                f"label {stratum!r} has only {n} patient(s); val/test cannot all contain it"
            )
        else:
            empty = [s for s, f in (("val", cfg.val), ("test", cfg.test)) if f > 0 and not have[s]]
            if empty:
                warnings.append(
                    f"label {stratum!r}: no patient in {' and '.join(empty)} "
                    f"({n} patients in {len(members)} split groups; duplicates tie them together)"
                )
    return out


def split_manifest(
    df: pd.DataFrame, cfg: SplitConfig, *, progress: bool = False
) -> tuple[pd.DataFrame, SplitReport]:
    """Assign ``split`` and ``duplicate_group`` (see the module docstring); row order kept."""
    import pandas as pd

    check_fractions(cfg.val, cfg.test)
    check_policy(cfg.on_conflict)
    df = df.reset_index(drop=True).copy()
    for col in ("phash", "duplicate_group", "source_patient"):
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].fillna("").astype(str)
    real = (df["origin"].astype(str) == "real").to_numpy()
    real_pos = np.flatnonzero(real)
    if not len(real_pos):
        raise ManifestError("manifest has no real (origin=real) rows to split")
    dups = find_duplicates(
        df, real_pos, max_bits=cfg.near_duplicate_bits, min_corr=cfg.duplicate_min_corr,
        progress=progress,
    )
    dup_groups = dups.groups
    group_col = [""] * len(df)
    for g, rows in enumerate(dup_groups, start=1):
        for r in rows:
            group_col[r] = f"dup-{g:05d}"
    df["duplicate_group"] = group_col
    cross = sum(df["dataset"].iloc[rows].nunique() > 1 for rows in dup_groups)

    patients = sorted(set(df["patient_id"].iloc[real_pos]))
    pidx = {p: i for i, p in enumerate(patients)}
    uf = UnionFind(len(patients))
    for rows in dup_groups:
        ids = [pidx[df["patient_id"].iat[r]] for r in rows]
        for other in ids[1:]:
            uf.union(ids[0], other)

    gan_pos = np.flatnonzero(~real)
    pinned: set[str] = set()
    for r in gan_pos.tolist():
        src = str(df["source_patient"].iat[r])
        if src not in pidx:
            raise LeakageError(
                f"row {r + 2} ({df['image_path'].iat[r]}): GAN image's source_patient "
                f"{src or '<empty>'!r} is not a real patient of this manifest"
            )
        pinned.add(src)

    worst = {p: len(SEVERITY) for p in patients}
    for r in real_pos.tolist():
        p, lab = str(df["patient_id"].iat[r]), str(df["label"].iat[r])
        worst[p] = min(worst[p], SEVERITY.index(lab) if lab in SEVERITY else len(SEVERITY) - 1)
    by_root: dict[int, list[str]] = {}
    for p in patients:
        by_root.setdefault(uf.find(pidx[p]), []).append(p)
    groups = [
        (root, ps, SEVERITY[min(worst[p] for p in ps)], any(p in pinned for p in ps))
        for root, ps in sorted(by_root.items(), key=lambda kv: kv[1][0])
    ]
    warnings: list[str] = []
    largest = max(len(g[1]) for g in groups)
    if largest > 2 and largest > 0.05 * len(patients):
        warnings.append(
            f"duplicates chain {largest} of {len(patients)} patients into one split group; "
            "check the duplicate groups or lower near_duplicate_bits"
        )
    where = _assign(groups, cfg, warnings)
    split = [where[p] if real[i] else "train" for i, p in enumerate(df["patient_id"])]
    df["split"] = split
    conflicting = label_conflicts(df, dup_groups)
    conflicts = apply_policy(df, conflicting, cfg.on_conflict)
    if conflicting:
        warnings.append(
            f"{len(conflicting)} duplicate group(s) ({len(conflicts)} images) carry different "
            f"labels; on-conflict {cfg.on_conflict}: "
            f"{int((conflicts['action'] == 'excluded').sum())} image(s) left out of every split"
        )
    two_labels = patients_with_two_labels(df)
    if two_labels:
        warnings.append(
            f"{len(two_labels)} patient(s) carry two labels, e.g. {', '.join(two_labels[:3])}"
        )

    leak = check_leakage(df)
    confounding = source_confounding(df)
    warnings.extend(confounding.warnings)
    test_conf = source_confounding(df, split="test")
    warnings.extend(test_confounding_warnings(test_conf))
    counts = (
        df.assign(n=1)
        .groupby(["split", "label"], sort=True)
        .agg(images=("n", "sum"), patients=("patient_id", "nunique"))
        .reset_index()
    )
    report = SplitReport(
        counts=pd.DataFrame(counts),
        duplicate_groups=len(dup_groups),
        cross_dataset_groups=int(cross),
        duplicate_images=sum(len(m) for m in dup_groups),
        merged_patient_groups=sum(len(g[1]) > 1 for g in groups),
        pinned_patients=len(pinned),
        hashes_computed=dups.decoded,
        near_rejected=dups.rejected,
        leakage=leak,
        warnings=warnings,
        confounding=confounding,
        test_confounding=test_conf,
        near_candidates=dups.candidates,
        conflict_groups=len(conflicting),
        on_conflict=cfg.on_conflict,
        conflicts=conflicts,
        two_label_patients=len(two_labels),
        without_crop_hashes=dups.without_crop_hashes,
        near_seconds=dups.seconds,
        near_cpu_seconds=dups.cpu_seconds,
    )
    return df, report


def split_file(
    manifest: str | Path, cfg: SplitConfig, out: str | Path | None = None, *, progress: bool = True
) -> tuple[Path, SplitReport]:
    """Load ``manifest``, split it, save to ``out`` (default: in place, atomically)."""
    from cxr.data.duplicates.conflicts import conflicts_report_path
    from cxr.data.manifest import load_manifest, save_manifest
    from cxr.runtime.files import atomic_open

    check_fractions(cfg.val, cfg.test)
    check_policy(cfg.on_conflict)
    df = load_manifest(manifest, check_files=False)
    df, report = split_manifest(df, cfg, progress=progress)
    dest = Path(out) if out is not None else Path(manifest)
    save_manifest(df, dest)
    report_path = conflicts_report_path(dest)
    if report.conflicts is not None and len(report.conflicts):
        with atomic_open(report_path, "w", encoding="utf-8", newline="") as fh:
            report.conflicts.to_csv(fh, index=False, lineterminator="\n")
        report.conflicts_path = report_path
    else:
        report_path.unlink(missing_ok=True)  # a stale report would describe another split
    return dest, report
