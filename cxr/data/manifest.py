"""The manifest: one row per image, the contract between every stage.

Columns (all required; empty strings where a value is unknown):

============== ==========================================================
image_path     path to the image file; relative paths are relative to the
               manifest file's folder (written that way when possible)
patient_id     normalised patient identifier, prefixed by the dataset so two
               collections never share an id by accident
label          covid | pneumonia | normal | other
label_detail   finer finding, e.g. bacterial, viral, covid-19, lung opacity
view           pa | ap | ap-supine | lateral | unknown | empty (not recorded),
               normalised by :func:`cxr.data.views.normalise_view` (older
               manifests with ``PA``, ``AP SUPINE``, ``LL`` read the same)
offset_days    days from a per-patient reference; empty if unknown
dataset        which collection the image came from (provenance)
origin         real | gan
split          train | val | test | empty (not yet split)
width, height  decoded image size in pixels
content_hash   sha256 of the file bytes (exact-duplicate detection, cache key)
============== ==========================================================

Optional columns are kept when present (``OPTIONAL_COLUMNS``): perceptual hash,
mask paths (from the phantom generator or the masks a collection ships) with
their provenance, expert severity scores, and GAN provenance written by
``cxr gan synth`` (source image, source patient, augmentation seed,
checkpoint hash, lineage record of :mod:`cxr.data.leakage.lineage`).

Mask provenance (``lung_mask_source``, ``lesion_mask_source``) is one of
:data:`MASK_SOURCES`: ``manual`` (drawn or checked by people: a ground truth),
``dataset-model`` (shipped by the collection but made by a model, e.g.
lungVAE), ``predicted`` (made by cxr's own segmenter), ``phantom`` (exact, from
the phantom generator). A metric that needs ground truth uses ``manual`` and
``phantom`` masks only. Severity columns are numbers (empty where unscored):
``severity_extent`` (geographic extent, 0-8) and ``severity_opacity`` (0-6), the
mean of three raters (Cohen et al., Cureus 2020).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cxr.data.views import normalise_view
from cxr.runtime.errors import ManifestError
from cxr.runtime.files import atomic_open

LABELS: tuple[str, ...] = ("covid", "pneumonia", "normal", "other")
ORIGINS: tuple[str, ...] = ("real", "gan")
SPLITS: tuple[str, ...] = ("train", "val", "test", "")

COLUMNS: tuple[str, ...] = (
    "image_path",
    "patient_id",
    "label",
    "label_detail",
    "view",
    "offset_days",
    "dataset",
    "origin",
    "split",
    "width",
    "height",
    "content_hash",
)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "phash",  # perceptual hash (hex) for near-duplicate grouping
    "phash_crops",  # perceptual hashes of centre crops (hex, space-separated): trimmed copies
    "thumb",  # 32x32 uint8 thumbnail (base64): confirms near-duplicate candidates
    "duplicate_group",  # id shared by exact/near duplicates (set by split)
    "lung_mask_path",  # phantom ground truth
    "lesion_mask_path",  # phantom ground truth
    "lung_mask_source",  # manual | dataset-model | predicted | phantom
    "lesion_mask_source",  # manual | dataset-model | predicted | phantom
    "lung_mask_flag",  # why cxr lungs predict rejected its mask (implausible), else empty
    "severity_extent",  # expert geographic extent score, 0-8 (number)
    "severity_opacity",  # expert opacity score, 0-6 (number)
    "source_image",  # GAN provenance: the translated source image
    "source_patient",  # GAN provenance: its patient
    "aug_seed",  # GAN provenance: seed of the pre-translation augmentation
    "checkpoint_hash",  # GAN provenance: sha256 of the generator checkpoint
    "gan_lineage",  # GAN provenance: file recording the patients that trained the GAN
)
MASK_SOURCES: tuple[str, ...] = ("manual", "dataset-model", "predicted", "phantom")
#: optional columns held as numbers (NaN where empty), not strings
NUMERIC_OPTIONAL: tuple[str, ...] = ("aug_seed", "severity_extent", "severity_opacity")
_STR_COLUMNS = (
    "image_path",
    "patient_id",
    "label",
    "label_detail",
    "view",
    "dataset",
    "origin",
    "split",
    "content_hash",
)
_PATH_COLUMNS = ("image_path", "lung_mask_path", "lesion_mask_path", "source_image", "gan_lineage")


def new_manifest(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Build a manifest DataFrame from row dicts, filling defaults and column order."""
    df = pd.DataFrame(list(rows))
    defaults: dict[str, Any] = {
        "label_detail": "",
        "view": "",
        "offset_days": float("nan"),
        "origin": "real",
        "split": "",
        "width": 0,
        "height": 0,
        "content_hash": "",
    }
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = defaults.get(col, "")
        elif col in defaults:
            # rows built from dicts that lack a key get NaN: give them the default too
            df[col] = df[col].where(df[col].notna(), defaults[col])
    return _normalise(df)


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col in _STR_COLUMNS:
        df[col] = df[col].fillna("").astype(str).str.strip()
    df["label"] = df["label"].str.lower()
    df["origin"] = df["origin"].str.lower()
    df["split"] = df["split"].str.lower()
    df["view"] = df["view"].map(normalise_view)
    df["offset_days"] = pd.to_numeric(df["offset_days"], errors="coerce")
    for col in ("width", "height"):
        df[col] = pd.to_numeric(df[col], errors="coerce").fillna(0).astype("int64")
    for col in OPTIONAL_COLUMNS:
        if col not in df.columns:
            continue
        if col in NUMERIC_OPTIONAL:
            if col != "aug_seed":  # aug_seed keeps the type its writer gave it
                df[col] = pd.to_numeric(df[col].replace("", float("nan")), errors="coerce")
        else:
            df[col] = df[col].fillna("").astype(str)
    extra = [c for c in df.columns if c not in COLUMNS]
    return df[list(COLUMNS) + extra].reset_index(drop=True)


_MISSING_IDS = ("", "nan", "none", "null", "<na>")


def validate(df: pd.DataFrame, *, check_files: bool = True, source: str = "manifest") -> None:
    """Raise :class:`ManifestError` naming the first bad column or row."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"{source}: missing column(s) {', '.join(missing)}")

    def row_error(mask: pd.Series, what: str) -> None:
        if bool(mask.any()):
            i = int(mask.to_numpy().nonzero()[0][0])
            raise ManifestError(
                f"{source}: row {i + 2} ({str(df['image_path'].iat[i]) or '<no path>'}): {what}"
            )

    labels = df["label"].astype(str)
    row_error(~labels.isin(LABELS), f"unknown label (valid: {', '.join(LABELS)})")
    origins = df["origin"].astype(str)
    row_error(~origins.isin(ORIGINS), f"unknown origin (valid: {', '.join(ORIGINS)})")
    splits = df["split"].astype(str)
    row_error(~splits.isin(SPLITS), "unknown split (valid: train, val, test, empty)")
    row_error(df["image_path"].astype(str).str.len() == 0, "empty image_path")
    for col in ("lung_mask_source", "lesion_mask_source"):
        if col in df.columns:
            row_error(~df[col].astype(str).isin((*MASK_SOURCES, "")),
                      f"unknown {col} (valid: {', '.join(MASK_SOURCES)}, empty)")
    pids = df["patient_id"].astype(str).str.strip()
    row_error(pids.str.len() == 0, "empty patient_id")
    # "NaN" or "dataset:nan" is a lost value written out by a spreadsheet or pandas, not an id:
    # all such rows would count as one patient and pass the patient-level split checks
    bare = pids.str.rsplit(":", n=1).str[-1].str.strip().str.lower()
    row_error(bare.isin(_MISSING_IDS), "patient_id is a missing-value marker, not an id")
    dup = df["image_path"].duplicated(keep="first")
    row_error(dup, "duplicate image_path")
    if check_files:
        exists = df["image_path"].map(lambda p: Path(p).is_file())
        row_error(~exists, "file not found")


def _resolve(df: pd.DataFrame, base: Path) -> pd.DataFrame:
    df = df.copy()
    for col in _PATH_COLUMNS:
        if col in df.columns:
            df[col] = df[col].map(
                lambda p: "" if not p else str(p) if Path(p).is_absolute() else str(base / p)
            )
    return df


def _relativise(df: pd.DataFrame, base: Path) -> pd.DataFrame:
    df = df.copy()
    # a symlinked image keeps its own path (its label comes from where the link sits), so
    # paths are normalised, never resolved; the base is tried as given and resolved
    bases = dict.fromkeys((Path(os.path.abspath(base)), base.resolve()))
    for col in _PATH_COLUMNS:
        if col not in df.columns:
            continue

        def rel(p: str) -> str:
            if not p:
                return ""
            full = Path(os.path.abspath(p))
            for b in bases:
                try:
                    return str(full.relative_to(b))
                except ValueError:
                    continue
            return str(full)

        df[col] = df[col].map(rel)
    return df


def _check_numeric(df: pd.DataFrame, col: str, kind: str, path: Path) -> None:
    values = df[col].astype(str)
    bad = pd.to_numeric(values, errors="coerce").isna() & (values != "")
    if bool(bad.any()):
        i = int(bad.to_numpy().nonzero()[0][0])
        raise ManifestError(f"{path}: row {i + 2}: column {col} is not {kind} ({values.iat[i]!r})")


def load_manifest(path: str | Path, *, check_files: bool = True) -> pd.DataFrame:
    """Read and validate a manifest CSV; paths come back absolute."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {', '.join(missing)}")
    for col in ("width", "height"):
        _check_numeric(df, col, "an integer", path)
    _check_numeric(df, "offset_days", "a number", path)
    for col in NUMERIC_OPTIONAL:
        if col in df.columns and col != "aug_seed":
            _check_numeric(df, col, "a number", path)
    df = _normalise(_resolve(df, path.parent.resolve()))
    validate(df, check_files=check_files, source=str(path))
    return df


def save_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Validate (without touching files) and write atomically; paths relative when possible."""
    path = Path(path)
    df = _normalise(df)
    validate(df, check_files=False, source=str(path))
    out = _relativise(df, path.parent)
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        out.to_csv(fh, index=False, float_format="%g", lineterminator="\n")
    return path


def manifest_key(df: pd.DataFrame, *extra: object) -> str:
    """A short stable hash of the images a manifest names (path + content), plus ``extra``.

    Used as a cache key: any change to the set, order or content of images changes it.
    """
    h = hashlib.sha256()
    for p, c in zip(df["image_path"].astype(str), df["content_hash"].astype(str), strict=True):
        h.update(p.encode())
        h.update(b"\0")
        h.update(c.encode())
        h.update(b"\n")
    for e in extra:
        h.update(repr(e).encode())
    return h.hexdigest()[:16]
