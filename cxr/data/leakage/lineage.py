"""GAN lineage: which patients and images trained a CycleGAN, and the guard that none is evaluated.

A GAN trained on one split and used after a re-split (or with an external set
that shares patients) carries the evaluated patients' anatomy into training
through its generator, even though every synthetic row's ``source_patient`` is
a train patient: the leakage Roberts et al. (Nat. Mach. Intell. 3, 2021) warn
about, one step removed. So ``cxr gan train`` records a :class:`GanLineage` in
its checkpoint: the patients of every image in its two domains, their
duplicate groups, and the content hashes of those images and of every image in
the same duplicate groups (group ids are numbered per manifest; hashes are
stable across manifests and re-splits). Synthetic manifests point to the
record (column ``gan_lineage``, a ``gan_lineage.json`` beside the manifest).

:func:`check_gan_lineage` is the pure check: given the record (or ``None``
for a checkpoint without one) and the evaluation rows by name (validation,
test, an external set), it raises :class:`~cxr.runtime.errors.LeakageError` with one
line naming how many patients/images overlap and one example, or returns a
:class:`LineageCheck` describing what was verified (or trusted).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxr.runtime.errors import CheckpointError, LeakageError

if TYPE_CHECKING:
    import pandas as pd

LINEAGE_FILE = "gan_lineage.json"  # written beside a synthetic manifest
TRUST_FLAG = "--trust-gan-lineage"


@dataclass(frozen=True)
class GanLineage:
    """What trained a GAN: patients, duplicate groups, image hashes (with their duplicates)."""

    patients: frozenset[str]
    duplicate_groups: frozenset[str]  # ids in the training manifest (informational)
    images: frozenset[str]  # content_hash of each training image and of its duplicates
    manifest_key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "n_patients": len(self.patients),
            "n_duplicate_groups": len(self.duplicate_groups),
            "n_images": len(self.images),
            "manifest_key": self.manifest_key,
            "patients": sorted(self.patients),
            "duplicate_groups": sorted(self.duplicate_groups),
            "images": sorted(self.images),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "GAN lineage") -> GanLineage:
        try:
            return cls(
                patients=frozenset(str(p) for p in d["patients"]),
                duplicate_groups=frozenset(str(g) for g in d.get("duplicate_groups", ())),
                images=frozenset(str(h) for h in d.get("images", ())),
                manifest_key=str(d.get("manifest_key", "")),
            )
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{where}: malformed lineage record ({exc!r})") from None

    @property
    def digest(self) -> str:
        """sha256 of the canonical record (names this training set in logs)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def record_lineage(trained: pd.DataFrame, manifest: pd.DataFrame) -> GanLineage:
    """The lineage of a GAN trained on the rows ``trained`` of ``manifest``."""
    import pandas as pd

    from cxr.data.manifest import manifest_key

    def col(df: pd.DataFrame, name: str) -> pd.Series:
        if name in df.columns:
            return df[name].fillna("").astype(str)
        return pd.Series([""] * len(df), index=df.index, dtype=str)

    groups = set(col(trained, "duplicate_group")) - {""}
    same_group = col(manifest, "duplicate_group").isin(groups) if groups else None
    hashes = set(col(trained, "content_hash"))
    if same_group is not None:
        hashes |= set(col(manifest, "content_hash")[same_group.to_numpy()])
    return GanLineage(
        patients=frozenset(set(col(trained, "patient_id")) - {""}),
        duplicate_groups=frozenset(groups),
        images=frozenset(hashes - {""}),
        manifest_key=manifest_key(trained),
    )


@dataclass(frozen=True)
class LineageCheck:
    """Outcome of :func:`check_gan_lineage` (failures raise instead)."""

    gan: str  # the GAN's identity (checkpoint sha256) or path
    verified: bool  # a lineage record was compared with the evaluation rows
    trusted: bool  # no record; accepted because the user passed --trust-gan-lineage
    n_patients: int = 0  # patients that trained the GAN
    checked: tuple[str, ...] = ()  # names of the evaluation sets compared

    def summary(self) -> str:
        if self.trusted:
            return (f"GAN lineage NOT verified: {self.gan} has no record of its training "
                    f"patients; accepted because of {TRUST_FLAG}")
        sets = ", ".join(self.checked) or "no evaluation set"
        return (f"GAN lineage verified: none of the {self.n_patients} patients that trained "
                f"{self.gan} (or their duplicate images) is in {sets}")

    def to_dict(self) -> dict[str, Any]:
        return {"gan": self.gan, "verified": self.verified, "trusted_without_record": self.trusted,
                "n_training_patients": self.n_patients, "checked": list(self.checked),
                "summary": self.summary()}


def check_gan_lineage(
    lineage: GanLineage | None,
    evaluation: Mapping[str, pd.DataFrame],
    *,
    gan: str = "the GAN",
    trust: bool = False,
) -> LineageCheck:
    """Refuse when a patient or a (duplicate) image of ``evaluation`` trained the GAN.

    ``evaluation`` maps a name ("validation", "test", "external set X") to its
    rows (``patient_id`` and, when present, ``content_hash`` and
    ``duplicate_group``). A row leaks if its patient trained the GAN, if its
    image hash is a training image or a duplicate of one, or if it shares a
    duplicate group (within its own frame) with such an image. ``lineage=None``
    (a checkpoint without a record) raises unless ``trust``.
    """
    names = tuple(evaluation)
    if lineage is None:
        if not trust:
            raise LeakageError(
                f"{gan} has no record of the patients it was trained on (trained before "
                f"lineage was recorded?); re-train it with `cxr gan train` or pass {TRUST_FLAG}"
            )
        return LineageCheck(gan=gan, verified=False, trusted=True, checked=names)
    bad_patients: dict[str, str] = {}  # patient -> set name
    bad_images: dict[str, str] = {}  # image path -> set name
    for name, df in evaluation.items():
        if df.empty:
            continue
        pid = df["patient_id"].fillna("").astype(str)
        for p in sorted(set(pid[pid.isin(lineage.patients)])):
            bad_patients.setdefault(p, name)
        if "content_hash" not in df.columns:
            continue
        hit = df["content_hash"].fillna("").astype(str).isin(lineage.images).to_numpy()
        if "duplicate_group" in df.columns and hit.any():
            grp = df["duplicate_group"].fillna("").astype(str)
            hit_groups = set(grp[hit]) - {""}
            hit = hit | grp.isin(hit_groups).to_numpy()
        for path in df["image_path"].astype(str)[hit]:
            bad_images.setdefault(path, name)
    if bad_patients:
        first = min(bad_patients)
        where = sorted(set(bad_patients.values()))
        extra = f" and {len(bad_images)} images duplicating its training images" \
            if bad_images else ""
        raise LeakageError(
            f"{len(bad_patients)} patients in {' / '.join(where)} trained {gan} "
            f"(e.g. {first!r} in {bad_patients[first]}){extra}; re-train the GAN on this "
            "split's train set (or evaluate on the split it was trained with)"
        )
    if bad_images:
        first = min(bad_images)
        raise LeakageError(
            f"{len(bad_images)} images in {' / '.join(sorted(set(bad_images.values())))} are "
            f"training images of {gan} or duplicates of them (e.g. {Path(first).name} in "
            f"{bad_images[first]}); re-train the GAN on this split's train set"
        )
    return LineageCheck(gan=gan, verified=True, trusted=False, n_patients=len(lineage.patients),
                        checked=names)


def read_lineage_file(path: str | Path) -> tuple[GanLineage | None, dict[str, Any]]:
    """``gan_lineage.json`` beside a synthetic manifest: (record or None, the whole file)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the GAN lineage record ({exc})") from None
    rec = data.get("lineage")
    return (None if rec is None else GanLineage.from_dict(rec, where=str(path))), data


def synthetic_lineage(
    gan_rows: pd.DataFrame, manifest: str | Path
) -> tuple[GanLineage | None, str]:
    """The lineage of the GAN that made ``gan_rows`` (one synthetic manifest) and its identity.

    Rows carry ``checkpoint_hash`` (the GAN's identity) and ``gan_lineage`` (the
    record's file). Rows from several GANs, or without a record, give ``None``
    for the record when any row lacks one (the caller refuses unless trusted).
    """
    if gan_rows.empty:
        return None, str(manifest)
    ckpts = sorted(set(gan_rows["checkpoint_hash"].fillna("").astype(str))
                   if "checkpoint_hash" in gan_rows.columns else {""})
    ident = ", ".join(f"GAN {h[:12]}" if h else f"a GAN of {manifest}" for h in ckpts)
    if "gan_lineage" not in gan_rows.columns:
        return None, ident
    files = gan_rows["gan_lineage"].fillna("").astype(str)
    if bool((files == "").any()):
        return None, ident
    records = [read_lineage_file(f)[0] for f in sorted(set(files))]
    if any(r is None for r in records):
        return None, ident
    merged = GanLineage(
        patients=frozenset().union(*(r.patients for r in records if r)),
        duplicate_groups=frozenset().union(*(r.duplicate_groups for r in records if r)),
        images=frozenset().union(*(r.images for r in records if r)),
    )
    return merged, ident


def check_gan_rows(
    gan_rows: pd.DataFrame,
    evaluation: Mapping[str, pd.DataFrame],
    *,
    source: str | Path = "the synthetic manifest",
    trust: bool = False,
) -> LineageCheck | None:
    """:func:`check_gan_lineage` for the GAN(s) that made ``gan_rows`` (``None`` without any)."""
    if gan_rows.empty:
        return None
    lineage, ident = synthetic_lineage(gan_rows, source)
    return check_gan_lineage(lineage, evaluation, gan=ident, trust=trust)
